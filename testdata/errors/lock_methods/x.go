package x

// Guarded has Lock and Unlock on its pointer: go vet takes it for a lock.
//
//livedict:store
type Guarded struct{ N int }

func (g *Guarded) Lock()   {}
func (g *Guarded) Unlock() {}

package x

//livedict:store
type Account struct {
	Name  string
	Guard Guard `livedict:"-"`
}

// Guard has Lock and Unlock on its pointer: go vet takes it for a lock.
type Guard struct{ held bool }

func (g *Guard) Lock()   { g.held = true }
func (g *Guard) Unlock() { g.held = false }

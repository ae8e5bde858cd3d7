package x

//livedict:store

type Cut struct{ N int }

//livedict:store

// Documented has a doc comment of its own.
type Documented struct{ N int }

//livedict:store
type Kept struct{ N int }

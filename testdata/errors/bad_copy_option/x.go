package x

//livedict:store key=string copy=no
type T struct{ Tags []string }

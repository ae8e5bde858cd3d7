package x

//livedict:store key=float64
type T struct{ A int }

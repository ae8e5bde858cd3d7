package x

//livedict:store key=string key=int
type T struct{ A int }

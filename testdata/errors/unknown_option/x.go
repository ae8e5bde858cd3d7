package x

//livedict:store key=string color=blue
type T struct{ A int }

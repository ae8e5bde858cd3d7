package x

//livedict:stor key=string
type T struct{ A int }

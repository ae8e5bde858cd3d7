package x

//livedict:store ttl
type T struct{ A int }

package x

//livedict:store ttl=soon
type T struct{ A int }

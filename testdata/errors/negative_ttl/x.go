package x

//livedict:store ttl=-5m
type T struct{ A int }

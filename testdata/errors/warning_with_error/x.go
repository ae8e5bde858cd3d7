package x

// livedict:store
type Draft struct{ A int }

//livedict:store ttl=1m ttl=1h
type T struct{ A int }

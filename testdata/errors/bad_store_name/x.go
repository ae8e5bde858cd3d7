package x

//livedict:store name=lower
type T struct{ A int }

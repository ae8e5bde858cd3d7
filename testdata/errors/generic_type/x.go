package x

//livedict:store
type T[V any] struct{ A V }

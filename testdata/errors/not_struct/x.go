package x

//livedict:store
type T []string

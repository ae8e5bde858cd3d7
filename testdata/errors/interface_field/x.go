package x

//livedict:store
type T struct {
	V any
}

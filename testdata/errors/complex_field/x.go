package x

//livedict:store
type T struct {
	Z complex128
}

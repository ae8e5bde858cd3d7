package x

//livedict:store
type T struct {
	In Inner
}

type Inner struct {
	Ptr *func()
}

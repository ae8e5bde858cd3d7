package x

//livedict:store
type T struct {
	F func() error
}

package x

//livedict:store
type T struct {
	A int
	C chan int
}

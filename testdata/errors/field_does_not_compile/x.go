package x

//livedict:store
type T struct {
	A Missing
}

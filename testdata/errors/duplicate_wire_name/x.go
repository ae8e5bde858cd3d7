package x

//livedict:store
type T struct {
	A string `livedict:"name"`
	B string `livedict:"name"`
}

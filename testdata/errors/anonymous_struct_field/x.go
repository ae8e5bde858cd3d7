package x

//livedict:store
type T struct {
	S struct{ A int }
}

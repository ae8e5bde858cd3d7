package x

//livedict:store key=uuid.UUID
type T struct {
	N int
}

package x

// Size is declared outside the annotated type, and does not compile.
type Size undefinedSize

//livedict:store
type T struct {
	S Size
}

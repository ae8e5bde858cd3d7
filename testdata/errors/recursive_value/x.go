package x

//livedict:store
type Node struct {
	Name string
	Next Node // by value: the type would be infinitely large
}

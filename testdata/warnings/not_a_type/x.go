package x

//livedict:store
func NewThing() {}

//livedict:store
var Default = 1

//livedict:store
const Limit = 2

//livedict:store
type Kept struct {
	//livedict:store
	N int
}

func local() {
	//livedict:store
	type inner struct{ N int }
	_ = inner{}
}

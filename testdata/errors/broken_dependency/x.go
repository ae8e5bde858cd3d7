package x

import "github.com/livedict/livedict/testdata/errors/broken_dependency/dep"

//livedict:store
type T struct {
	L dep.Level
	N int
}

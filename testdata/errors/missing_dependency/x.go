package x

import "github.com/livedict/livedict/testdata/errors/missing_dependency/gone"

//livedict:store
type T struct {
	G gone.Thing
}

package x

import "github.com/livedict/livedict/testdata/errors/broken_dependency_wrapped/dep"

// Wait is declared over a type of a dependency that does not compile.
type Wait dep.Level

//livedict:store
type T struct {
	W Wait
}

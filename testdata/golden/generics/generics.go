package generics

import "database/sql"

// Pair is a generic struct of this package.
type Pair[K comparable, V any] struct {
	Key K
	Val V
}

// List is a generic slice type.
type List[T any] []T

// Ranked uses instantiated generic types of this package and another.
//
//livedict:store
type Ranked struct {
	Top   Pair[string, int]
	Pairs []Pair[string, []byte]
	Names List[string]
	Alias sql.Null[string]
}

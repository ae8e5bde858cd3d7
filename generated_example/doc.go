// Package generated_example shows livedict stores generated from annotated
// structs: run `go generate ./generated_example/` after changing a type, and
// `go run ./generated_example/demo` to see the stores at work.
package generated_example

//go:generate go tool livedictgen

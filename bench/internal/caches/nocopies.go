package caches

import "github.com/livedict/livedict"

// withoutCopiesOption is livedict.WithoutCopies. It has a file of its own
// because the bench runner, when it builds these benchmarks against a tree
// from before WithoutCopies (cmd/runbench, changes.go), puts one in its
// place that returns nil.
func withoutCopiesOption() livedict.Option { return livedict.WithoutCopies() }

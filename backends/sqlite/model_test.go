package sqlite_test

import (
	"testing"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/conformance"
)

// TestModel checks SQLite against the reference model of the conformance
// package; every sequence, and every attempt to shrink a failing one, gets
// a new database file.
func TestModel(t *testing.T) {
	conformance.RunModel(t, conformance.Harness{
		Name:   "sqlite",
		Shared: true,
		Open:   func(t *testing.T) backend.Backend { return openTemp(t) },
	})
}

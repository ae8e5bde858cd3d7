package redis_test

import (
	"testing"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/redistest"
)

// TestModel checks Redis against the reference model of the conformance
// package. The sequences share one server; every sequence, and every
// attempt to shrink a failing one, gets a backend with a key prefix of its
// own, so each starts empty.
func TestModel(t *testing.T) {
	url, _ := redistest.Server(t)
	c := newClient(t, url)
	conformance.RunModel(t, conformance.Harness{
		Name:   "redis",
		Shared: true,
		Open:   func(t *testing.T) backend.Backend { return newBackend(t, c) },
	})
}

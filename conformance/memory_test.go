package conformance_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/memory"
	"github.com/livedict/livedict/conformance"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMemoryDefault runs the suite on the store default: a private memory
// backend per store.
func TestMemoryDefault(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Name: "memory (default)",
		Open: func(*testing.T) backend.Backend { return nil },
	})
}

// TestMemoryTyped runs the suite on a memory backend passed with
// WithBackend: the store uses it typed, without serialization.
func TestMemoryTyped(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Name: "memory (typed)",
		Open: openMemory,
	})
}

// byteBackend hides the *memory.Backend from the store, which then goes
// through its codec adapter and the byte buckets, as with SQLite and Redis.
type byteBackend struct{ backend.Backend }

// TestMemoryBytes runs the suite on the byte path of the memory backend.
func TestMemoryBytes(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Name: "memory (bytes)",
		Open: func(t *testing.T) backend.Backend { return byteBackend{openMemory(t)} },
		Raw: func(t *testing.T, b backend.Backend, bucket string) backend.Bucket[string, []byte] {
			raw, err := b.Bucket(context.Background(), backend.BucketConfig{Name: bucket})
			if err != nil {
				t.Fatalf("memory Bucket(%q): %v", bucket, err)
			}
			t.Cleanup(func() { raw.Close() })
			return raw
		},
	})
}

func openMemory(t *testing.T) backend.Backend {
	m := memory.New()
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("memory Close: %v", err)
		}
	})
	return m
}

// TestModel checks the store default, a private memory backend per store,
// against the reference model.
func TestModel(t *testing.T) {
	conformance.RunModel(t, conformance.Harness{Name: "memory"})
}

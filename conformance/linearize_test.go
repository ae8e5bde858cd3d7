package conformance_test

import (
	"context"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
)

// TestLinearizableMemory checks histories of concurrent clients on the
// memory backend, typed and through its byte path.
func TestLinearizableMemory(t *testing.T) {
	d := time.Second
	if conformance.Long() {
		d = 20 * time.Second
	}
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) []livedict.Option
	}{
		{"typed", func(t *testing.T) []livedict.Option { return []livedict.Option{livedict.WithBackend(openMemory(t))} }},
		{"bytes", func(t *testing.T) []livedict.Option {
			return []livedict.Option{livedict.WithBackend(byteBackend{openMemory(t)})}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := engine.New(conformance.ItemCodec(), tc.opts(t)...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			h := conformance.RecordHistory(context.Background(), s, conformance.HistoryConfig{Clients: 6, Keys: 3, Duration: d, MaxOpsEach: 3000})
			st := conformance.CheckHistory(t, h, time.Minute)
			t.Logf("checked %v", st)
		})
	}
}

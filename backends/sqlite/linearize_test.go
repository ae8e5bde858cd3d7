package sqlite_test

import (
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
)

// TestLinearizable checks a history of concurrent clients, on two stores
// sharing one backend, with porcupine.
func TestLinearizable(t *testing.T) {
	d := time.Second
	if conformance.Long() {
		d = 20 * time.Second
	}
	b := openTemp(t)
	var all []conformance.HistoryOp
	done := make(chan []conformance.HistoryOp)
	for i := range 2 {
		s, err := engine.New(conformance.ItemCodec(), livedict.WithBackend(b))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		go func() {
			done <- conformance.RecordHistory(bg, s, conformance.HistoryConfig{Clients: 3, Keys: 3, Duration: d, FirstID: 3 * i, Seed: 1})
		}()
	}
	for range 2 {
		all = append(all, <-done...)
	}
	t.Logf("checked %v", conformance.CheckHistory(t, all, time.Minute))
}

package main

import (
	"testing"
	"time"
)

func TestMedianRun(t *testing.T) {
	run := func(p99 time.Duration, stale int64, err string) expiryResult {
		return expiryResult{Cache: "livedict", Keys: 10, Fired: 10, P99: p99, Max: 2 * p99, Reads: 100, StaleReads: stale, Error: err}
	}
	for _, tc := range []struct {
		name      string
		runs      []expiryResult
		wantP99   time.Duration
		wantStale int64
	}{
		{"one run", []expiryResult{run(7, 1, "")}, 7, 1},
		{"three", []expiryResult{run(10, 0, ""), run(2, 1, ""), run(5, 0, "")}, 5, 1},
		{"two: the lower", []expiryResult{run(9, 0, ""), run(3, 0, "")}, 3, 0},
		{"a failed run counts as the latest", []expiryResult{run(1, 0, "boom"), run(4, 0, ""), run(8, 2, "")}, 8, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := medianRun(tc.runs)
			if m.P99 != tc.wantP99 {
				t.Errorf("median run's p99 = %v, want %v", m.P99, tc.wantP99)
			}
			if _, stale := m.allStale(); stale != tc.wantStale {
				t.Errorf("stale reads over all runs = %d, want %d", stale, tc.wantStale)
			}
			if len(tc.runs) > 1 && len(m.Runs) != len(tc.runs) {
				t.Errorf("Runs has %d runs, want %d", len(m.Runs), len(tc.runs))
			}
		})
	}
}

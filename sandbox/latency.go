package sandbox

import (
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds of a hook's latency buckets, from 5µs
// to 10s in 1-2.5-5 steps; a last bucket counts the calls that took longer.
var LatencyBounds = [...]time.Duration{
	5 * time.Microsecond, 10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Latency is how long a hook's calls took: those that returned, in time or
// late, panicking or not (a call still running is not in it yet).
type Latency struct {
	Count uint64
	Sum   time.Duration
	// Buckets[i] counts the calls that took at most LatencyBounds[i] and
	// more than the bound before it; the last counts those over them all.
	Buckets [len(LatencyBounds) + 1]uint64
}

// latency is a hook's histogram: counters that a call's worker adds to.
type latency struct {
	sum     atomic.Int64
	buckets [len(LatencyBounds) + 1]atomic.Uint64
}

func (l *latency) record(d time.Duration) {
	i := 0
	for i < len(LatencyBounds) && d > LatencyBounds[i] {
		i++
	}
	l.buckets[i].Add(1)
	l.sum.Add(int64(d))
}

// Latency returns the hook's call latencies so far.
func (h *Hook) Latency() Latency {
	var out Latency
	// The count is the buckets' sum, so that a call recorded while they are
	// read cannot make the two disagree.
	for i := range h.lat.buckets {
		out.Buckets[i] = h.lat.buckets[i].Load()
		out.Count += out.Buckets[i]
	}
	out.Sum = time.Duration(h.lat.sum.Load())
	return out
}

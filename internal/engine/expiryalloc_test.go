package engine

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedict/livedict"
)

// grantLike is a small value with references, shaped like the expiry
// benchmark's Grant: what an expiry event carries to its hook.
type grantLike struct {
	User string
	N    uint32
	At   time.Time
}

// expiryAllocs sets n keys whose deadlines fall due over spread, lead after
// the insertion started, on the real clock, with one OnExpire hook, and
// returns the heap allocations (count and bytes) per expired key made
// from the end of the insertion until the hook heard every key. An
// insertion that outlasts the lead (a slow machine, the race detector) is
// tried again with twice the lead.
func expiryAllocs(tb testing.TB, n int, lead, spread time.Duration) (allocs, bytes float64) {
	for {
		allocs, bytes, ok := expiryAllocsOnce(tb, n, lead, spread)
		if ok {
			return allocs, bytes
		}
		lead *= 2
	}
}

func expiryAllocsOnce(tb testing.TB, n int, lead, spread time.Duration) (allocs, bytes float64, ok bool) {
	key, parse := StringKey[string]()
	s, err := New(Codec[string, grantLike]{TypeName: "grantLike", Bucket: "g", KeyString: key, ParseKey: parse})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	var heard atomic.Int64
	if _, err := s.OnExpire(func(_ context.Context, _ string, v grantLike) {
		if v.N < uint32(n) {
			heard.Add(1)
		}
	}); err != nil {
		tb.Fatal(err)
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "g:" + strconv.Itoa(i)
	}
	slot := rand.New(rand.NewPCG(1, 2)).Perm(n)
	ctx := context.Background()
	start := time.Now()
	for i, k := range keys {
		d := start.Add(lead + time.Duration(slot[i])*spread/time.Duration(n))
		ttl := max(time.Until(d), time.Millisecond)
		if err := s.Set(ctx, k, grantLike{User: k, N: uint32(i), At: d}, livedict.TTL(ttl)); err != nil {
			tb.Fatal(err)
		}
	}
	if time.Since(start) > lead {
		return 0, 0, false
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for guard := time.Now().Add(lead + spread + 10*time.Second); heard.Load() < int64(n); time.Sleep(time.Millisecond) {
		if time.Now().After(guard) {
			tb.Fatalf("heard %d of %d keys", heard.Load(), n)
		}
	}
	runtime.ReadMemStats(&m1)
	return float64(m1.Mallocs-m0.Mallocs) / float64(n), float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n), true
}

// BenchmarkExpiryAllocs reports the heap allocations the expiry of a key
// costs, from the sweep to its OnExpire hook, in steady state:
//
//	go test ./internal/engine -run '^$' -bench ExpiryAllocs -benchtime 1x
func BenchmarkExpiryAllocs(b *testing.B) {
	for range b.N {
		allocs, bytes := expiryAllocs(b, 100_000, 300*time.Millisecond, 500*time.Millisecond)
		b.ReportMetric(allocs, "allocs/key")
		b.ReportMetric(bytes, "B/key")
	}
}

// TestExpiryAllocations: in steady state an expired key costs its hook
// call no heap allocation of its own (the calls' contexts come a slab at a
// time), so that a large expiry gives the garbage collector nothing to do.
// Before, each key cost two objects and about 210 bytes.
func TestExpiryAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("real time")
	}
	allocs, bytes := expiryAllocs(t, 20_000, 300*time.Millisecond, 300*time.Millisecond)
	t.Logf("%.4f allocations, %.1f bytes per expired key", allocs, bytes)
	if allocs > 0.1 {
		t.Errorf("%.4f allocations per expired key, want at most 0.1", allocs)
	}
}

// Package throughput measures the caches side by side under the workload of
// otter's throughput harness: a cache filled with every key beforehand, keys
// drawn from a Zipf distribution and scrambled so the hot ones spread over
// shards, parallel goroutines that each interleave reads and writes in the
// exact proportion of the case, and a one-hour TTL on every write.
//
// The bench runner (go run ./cmd/runbench) measures it by rotation, all the
// caches of a value type in one process (TestRotate, in rotate_test.go);
// the benchmarks below run each case alone, as the runner's changes section
// does for livedict's rows against an older tree:
//
//	go test ./throughput -run '^$' -bench . -benchtime 1s
package throughput

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/livedict/livedict/bench/internal/caches"
	"github.com/livedict/livedict/bench/model"
)

const (
	numKeys = 1 << 16
	// streamLen is the length of the precomputed key stream; goroutines start
	// at different offsets in it.
	streamLen = 1 << 20
	ttl       = time.Hour
	// parallelism times GOMAXPROCS goroutines run: more goroutines than
	// cores, so that a goroutine blocked on a lock leaves others to run.
	parallelism = 4
)

var (
	keys   = makeKeys()
	stream = zipfStream()
)

func makeKeys() []string {
	k := make([]string, numKeys)
	for i := range k {
		k[i] = "session:" + strconv.Itoa(i)
	}
	return k
}

// zipfStream draws key indexes from a Zipf distribution (s=1.01, as a skewed
// web workload) and maps them through a fixed permutation, so that the
// hottest keys are not also neighbours in the key space. The seed is fixed:
// every cache sees the same stream.
func zipfStream() []int32 {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.01, 1, numKeys-1)
	perm := r.Perm(numKeys)
	s := make([]int32, streamLen)
	for i := range s {
		s[i] = int32(perm[z.Uint64()])
	}
	return s
}

// isRead spreads reads evenly through a goroutine's operations: over every
// 100 consecutive operations (4 for 75%, 2 for 50%) exactly reads% are reads.
func isRead(i, reads int) bool { return (i*reads)%100 < reads }

func BenchmarkSession(b *testing.B) {
	values := make([]model.Session, 64)
	for i := range values {
		values[i] = model.SampleSession(i)
	}
	run(b, caches.All(caches.OpenSession, true), values)
}

// BenchmarkGrant repeats the workload with a small value without
// references: livedict then copies values by assignment, like every other
// cache, and what remains is the cost of the store itself.
func BenchmarkGrant(b *testing.B) {
	values := make([]model.Grant, 64)
	for i := range values {
		values[i] = model.Grant{UserID: "user-" + strconv.Itoa(i), Scope: uint32(i), ExpiresAt: time.Now().Add(ttl)}
	}
	run(b, caches.All(caches.OpenGrant, true), values)
}

func run[V any](b *testing.B, specs []caches.Spec[V], values []V) {
	for _, reads := range []int{100, 75, 50, 0} {
		for _, spec := range specs {
			// One filled cache serves every call of the benchmark function
			// (testing calls it again with a larger b.N): filling it again
			// each time would take longer than the measurement.
			var c caches.Cache[V]
			b.Run("reads="+strconv.Itoa(reads)+"%/"+spec.Name, func(b *testing.B) {
				if c == nil {
					var err error
					if c, err = spec.New(caches.Config[V]{Capacity: numKeys, TTL: ttl}); err != nil {
						b.Fatal(err)
					}
					for i, k := range keys {
						c.Set(k, values[i%len(values)])
					}
				}
				c.Settle()
				// Start every call from a collected heap: the garbage of the
				// previous one is not this one's to pay for.
				runtime.GC()
				var hits, gets countSum
				b.SetParallelism(parallelism)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					var h, g int64
					pos := rand.IntN(streamLen)
					for i := 0; pb.Next(); i++ {
						k := keys[stream[pos]]
						if pos++; pos == streamLen {
							pos = 0
						}
						if isRead(i, reads) {
							g++
							if _, ok := c.Get(k); ok {
								h++
							}
						} else {
							c.Set(k, values[i%len(values)])
						}
					}
					hits.add(h)
					gets.add(g)
				})
				b.StopTimer()
				if n := gets.load(); n > 0 {
					b.ReportMetric(100*float64(hits.load())/float64(n), "hit%")
				}
			})
			if c != nil {
				c.Close()
			}
		}
	}
}

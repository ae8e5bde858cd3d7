package throughput

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedict/livedict/bench/internal/caches"
	"github.com/livedict/livedict/bench/internal/rusage"
	"github.com/livedict/livedict/bench/model"
)

// TestRotate compares caches under the throughput workload in one process,
// by rotation: every round runs each cache for one short slice, in an order
// that changes from round to round, and the ratio of the first cache to each
// other one is taken per round. On a busy machine the load changes from one
// second to the next; within a round the contenders meet nearly the same
// load, so the median of the per-round ratios holds where whole runs one
// after the other do not. It runs only when asked:
//
//	go test ./throughput -run TestRotate -rotate -rotate.caches livedict,otter -rotate.rounds 30
//
// and prints, per read share, each cache's median ns/op and the median ratio
// of the first cache to every other, with its interquartile range: of wall
// time per operation (throughput), and of the process's CPU time per
// operation, which the other processes of a busy machine do not inflate.
func TestRotate(t *testing.T) {
	if !*rotate {
		t.Skip("runs with -rotate")
	}
	names := strings.Split(*rotateCaches, ",")
	var reads []int
	for _, f := range strings.Split(*rotateReads, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r < 0 || r > 100 {
			t.Fatalf("-rotate.reads: bad share %q", f)
		}
		reads = append(reads, r)
	}
	switch *rotateValue {
	case "grant":
		values := make([]model.Grant, 64)
		for i := range values {
			values[i] = model.Grant{UserID: "user-" + strconv.Itoa(i), Scope: uint32(i), ExpiresAt: time.Now().Add(ttl)}
		}
		rotateAll(t, caches.All(caches.OpenGrant, true), names, reads, values)
	case "session":
		values := make([]model.Session, 64)
		for i := range values {
			values[i] = model.SampleSession(i)
		}
		rotateAll(t, caches.All(caches.OpenSession, true), names, reads, values)
	default:
		t.Fatalf("-rotate.value: %q is neither grant nor session", *rotateValue)
	}
}

var (
	rotate       = flag.Bool("rotate", false, "run TestRotate")
	rotateCaches = flag.String("rotate.caches", "livedict,otter", "caches to rotate; ratios are of the first to each other")
	rotateReads  = flag.String("rotate.reads", "100,75,50,0", "read shares (percent) to measure")
	rotateValue  = flag.String("rotate.value", "grant", "value type: grant or session")
	rotateRounds = flag.Int("rotate.rounds", 20, "rounds; each runs every cache for one slice")
	rotateSlice  = flag.Duration("rotate.slice", 100*time.Millisecond, "how long one cache runs in a round")
)

func rotateAll[V any](t *testing.T, all []caches.Spec[V], names []string, reads []int, values []V) {
	specs := make([]caches.Spec[V], len(names))
	for i, n := range names {
		s, err := caches.Find(all, strings.TrimSpace(n))
		if err != nil {
			t.Fatal(err)
		}
		specs[i] = s
	}
	cs := make([]caches.Cache[V], len(specs))
	for i, spec := range specs {
		c, err := spec.New(caches.Config[V]{Capacity: numKeys, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		for j, k := range keys {
			c.Set(k, values[j%len(values)])
		}
		c.Settle()
		cs[i] = c
		defer c.Close()
	}
	for _, r := range reads {
		// nsop[c][round], wall and CPU
		nsop := make([][]float64, len(cs))
		cpuop := make([][]float64, len(cs))
		order := make([]int, len(cs))
		for i := range order {
			order[i] = i
		}
		for round := range *rotateRounds {
			// Rotate who goes first, so that none always follows the same one.
			for k := range order {
				order[k] = (k + round) % len(cs)
			}
			for _, i := range order {
				cs[i].Settle()
				runtime.GC()
				wall, cpu := slice(cs[i], r, values, *rotateSlice)
				nsop[i] = append(nsop[i], wall)
				cpuop[i] = append(cpuop[i], cpu)
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "reads=%d%%:", r)
		for i, spec := range specs {
			fmt.Fprintf(&b, "\n  %-14s %7.1f ns/op %7.1f CPU ns/op", spec.Name, median(nsop[i]), median(cpuop[i]))
		}
		for i := 1; i < len(specs); i++ {
			fmt.Fprintf(&b, "\n  %s/%s: wall %s, CPU %s", specs[0].Name, specs[i].Name, ratio(nsop[0], nsop[i]), ratio(cpuop[0], cpuop[i]))
		}
		t.Log(b.String())
	}
}

// ratio formats the median and interquartile range of the per-round ratios
// a[k]/b[k].
func ratio(a, b []float64) string {
	rs := make([]float64, len(a))
	for k := range rs {
		rs[k] = a[k] / b[k]
	}
	q1, q2, q3 := quartiles(rs)
	return fmt.Sprintf("median %.3f (IQR %.3f-%.3f)", q2, q1, q3)
}

// slice runs the workload of run on c for about d with 4 goroutines per
// core and returns the wall time and the process's CPU time per operation
// over all goroutines.
func slice[V any](c caches.Cache[V], reads int, values []V, d time.Duration) (wall, cpu float64) {
	var (
		stop atomic.Bool
		ops  atomic.Int64
		wg   sync.WaitGroup
	)
	n := parallelism * runtime.GOMAXPROCS(0)
	cpu0 := rusage.Process()
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pos := rand.IntN(streamLen)
			i := 0
			for !stop.Load() {
				// Check the stop flag once per 64 operations.
				for range 64 {
					k := keys[stream[pos]]
					if pos++; pos == streamLen {
						pos = 0
					}
					if isRead(i, reads) {
						c.Get(k)
					} else {
						c.Set(k, values[i%len(values)])
					}
					i++
				}
			}
			ops.Add(int64(i))
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed, used := time.Since(start), rusage.Process()-cpu0
	return float64(elapsed) / float64(ops.Load()), float64(used) / float64(ops.Load())
}

func median(x []float64) float64 {
	_, m, _ := quartiles(x)
	return m
}

// quartiles returns the first quartile, the median and the third quartile
// of x (nearest rank).
func quartiles(x []float64) (q1, q2, q3 float64) {
	s := slices.Clone(x)
	slices.Sort(s)
	at := func(p float64) float64 { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return at(0.25), at(0.5), at(0.75)
}

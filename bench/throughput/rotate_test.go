package throughput

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedict/livedict/bench/internal/caches"
	"github.com/livedict/livedict/bench/internal/rotate"
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
//
// A contender is a cache name, of the value type -rotate.value, or
// value:name to mix value types in one rotation (grant:livedict,
// session:livedict); "all" is every cache of -rotate.value. With
// -rotate.json FILE the test also writes every slice to FILE (package
// internal/rotate's Throughput), which the bench runner reads.
func TestRotate(t *testing.T) {
	if !*rotateOn {
		t.Skip("runs with -rotate")
	}
	var reads []int
	for _, f := range strings.Split(*rotateReads, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r < 0 || r > 100 {
			t.Fatalf("-rotate.reads: bad share %q", f)
		}
		reads = append(reads, r)
	}
	var names []string
	for _, n := range strings.Split(*rotateCaches, ",") {
		n = strings.TrimSpace(n)
		value, name, ok := strings.Cut(n, ":")
		if !ok {
			value, name = *rotateValue, n
		}
		if name != "all" {
			names = append(names, value+":"+name)
			continue
		}
		for _, s := range caches.All(caches.OpenGrant, true) {
			names = append(names, value+":"+s.Name)
		}
	}
	cs := make([]contender, len(names))
	for i, n := range names {
		c, err := newContender(n)
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c
		defer c.close()
	}
	out := rotate.Throughput{Contenders: names, Rounds: *rotateRounds, Slice: *rotateSlice,
		Goroutines: parallelism * runtime.GOMAXPROCS(0), GC: *rotateGC}
	// The last forced collection: its CPU time, the heap it left live, and
	// the count of bytes allocated when it ended.
	var gcCPU time.Duration
	var live, allocated uint64
	for _, r := range reads {
		slices := make([][]rotate.Slice, len(cs))
		for round := range *rotateRounds {
			// Rotate who goes first, so that none always follows the same one.
			for k := range cs {
				i := (k + round) % len(cs)
				cs[i].settle()
				// Start every slice from a collected heap: the garbage of the
				// previous one is not this one's to pay for. Less than 2% of
				// the live heap is left for the next slice (a collection of a
				// large heap takes longer than the slice).
				if now, _, _ := readAllocs(); *rotateGC && (live == 0 || now-allocated > live/50) {
					cpu0 := rusage.Process()
					runtime.GC()
					gcCPU = rusage.Process() - cpu0
					live = liveHeap()
					allocated, _, _ = readAllocs()
				}
				s := cs[i].slice(r, *rotateSlice)
				if *rotateGC && live > 0 {
					// The collector's share of this slice's garbage, less
					// the collections that ran within it.
					share := s.AllocBytes*float64(s.Ops)/float64(live) - float64(s.GCs)
					s.GC = share * float64(gcCPU) / float64(s.Ops)
				}
				slices[i] = append(slices[i], s)
			}
		}
		out.Reads = append(out.Reads, rotate.ThroughputReads{Reads: r, Slices: slices})
		t.Log(summary(r, names, slices))
	}
	if *rotateJSON != "" {
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*rotateJSON, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	rotateOn     = flag.Bool("rotate", false, "run TestRotate")
	rotateCaches = flag.String("rotate.caches", "livedict,otter", "caches to rotate (name, value:name, or all); ratios are of the first to each other")
	rotateReads  = flag.String("rotate.reads", "100,75,50,0", "read shares (percent) to measure")
	rotateValue  = flag.String("rotate.value", "grant", "value type of the caches named without one: grant or session")
	rotateRounds = flag.Int("rotate.rounds", 20, "rounds; each runs every cache for one slice")
	rotateSlice  = flag.Duration("rotate.slice", 100*time.Millisecond, "how long one cache runs in a round")
	rotateGC     = flag.Bool("rotate.gc", true, "collect the heap before every slice, outside its time, and charge each slice the collector's share of its garbage")
	rotateJSON   = flag.String("rotate.json", "", "write every slice to this file as JSON")
)

// summary is the text TestRotate logs for one read share.
func summary(reads int, names []string, s [][]rotate.Slice) string {
	field := func(i int, f func(rotate.Slice) float64) []float64 {
		v := make([]float64, len(s[i]))
		for k, x := range s[i] {
			v[k] = f(x)
		}
		return v
	}
	wall := func(x rotate.Slice) float64 { w, _ := x.WithGC(); return w }
	cpu := func(x rotate.Slice) float64 { _, c := x.WithGC(); return c }
	ratio := func(a, b []float64) string {
		q1, q2, q3 := rotate.Quartiles(rotate.Ratios(a, b))
		return fmt.Sprintf("median %.3f (IQR %.3f-%.3f)", q2, q1, q3)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "reads=%d%%:", reads)
	for i, n := range names {
		fmt.Fprintf(&b, "\n  %-30s %7.1f ns/op %7.1f CPU ns/op (collector's share %+5.1f%%) %7.1f B/op", n,
			rotate.Median(field(i, wall)), rotate.Median(field(i, cpu)),
			100*rotate.Median(field(i, func(x rotate.Slice) float64 { return x.GC / x.CPU })),
			rotate.Median(field(i, func(x rotate.Slice) float64 { return x.AllocBytes })))
	}
	for i := 1; i < len(names); i++ {
		fmt.Fprintf(&b, "\n  %s/%s: wall %s, CPU %s", names[0], names[i],
			ratio(field(0, wall), field(i, wall)), ratio(field(0, cpu), field(i, cpu)))
	}
	return b.String()
}

// contender is a filled cache of either value type.
type contender interface {
	slice(reads int, d time.Duration) rotate.Slice
	settle()
	close()
}

func newContender(name string) (contender, error) {
	value, cache, _ := strings.Cut(name, ":")
	switch value {
	case "grant":
		values := make([]model.Grant, 64)
		for i := range values {
			values[i] = model.Grant{UserID: "user-" + strconv.Itoa(i), Scope: uint32(i), ExpiresAt: time.Now().Add(ttl)}
		}
		return fill(append(caches.All(caches.OpenGrant, true), caches.Copying(func(g model.Grant) model.Grant { return g })), cache, values)
	case "session":
		values := make([]model.Session, 64)
		for i := range values {
			values[i] = model.SampleSession(i)
		}
		return fill(append(caches.All(caches.OpenSession, true), caches.Copying(model.CopySession)), cache, values)
	}
	return nil, fmt.Errorf("%s: the value type is neither grant nor session", name)
}

type filled[V any] struct {
	c      caches.Cache[V]
	values []V
}

func fill[V any](all []caches.Spec[V], name string, values []V) (contender, error) {
	spec, err := caches.Find(all, name)
	if err != nil {
		return nil, err
	}
	c, err := spec.New(caches.Config[V]{Capacity: numKeys, TTL: ttl})
	if err != nil {
		return nil, err
	}
	for j, k := range keys {
		c.Set(k, values[j%len(values)])
	}
	c.Settle()
	return &filled[V]{c, values}, nil
}

func (f *filled[V]) settle() { f.c.Settle() }
func (f *filled[V]) close()  { f.c.Close() }

var allocMetrics = []metrics.Sample{
	{Name: "/gc/heap/allocs:bytes"},
	{Name: "/gc/heap/allocs:objects"},
	{Name: "/gc/cycles/total:gc-cycles"},
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func readAllocs() (bytes, objects, cycles uint64) {
	s := make([]metrics.Sample, len(allocMetrics))
	copy(s, allocMetrics)
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
}

// slice runs the workload of run on the cache for about d with 4
// goroutines per core and returns the wall time and the process's CPU time
// per operation over all goroutines.
func (f *filled[V]) slice(reads int, d time.Duration) rotate.Slice {
	var (
		stop            atomic.Bool
		ops, gets, hits atomic.Int64
		wg              sync.WaitGroup
		c, values       = f.c, f.values
		n               = parallelism * runtime.GOMAXPROCS(0)
	)
	bytes0, objs0, gc0 := readAllocs()
	cpu0 := rusage.Process()
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pos := rand.IntN(streamLen)
			i := 0
			var g, h int64
			for !stop.Load() {
				// Check the stop flag once per 64 operations.
				for range 64 {
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
					i++
				}
			}
			ops.Add(int64(i))
			gets.Add(g)
			hits.Add(h)
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed, used := time.Since(start), rusage.Process()-cpu0
	bytes1, objs1, gc1 := readAllocs()
	o := float64(ops.Load())
	return rotate.Slice{
		Wall: float64(elapsed) / o, CPU: float64(used) / o,
		Ops: ops.Load(), Gets: gets.Load(), Hits: hits.Load(),
		AllocBytes: float64(bytes1-bytes0) / o, Allocs: float64(objs1-objs0) / o,
		GCs: int64(gc1 - gc0),
	}
}

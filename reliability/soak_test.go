package reliability

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedict/livedict"
	ex "github.com/livedict/livedict/generated_example"
)

// histogram counts latencies in buckets a quarter of a power of two wide:
// enough for p50/p99 within 19%, in constant memory for any run length.
type histogram struct {
	counts [64 * 4]uint64
	n      uint64
	max    time.Duration
}

func (h *histogram) add(d time.Duration) {
	ns := uint64(max(d, 1))
	exp := 63 - bits.LeadingZeros64(ns)
	frac := 0
	if exp >= 2 {
		frac = int(ns>>(exp-2)) & 3
	}
	h.counts[exp*4+frac]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the upper edge of the bucket holding quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	want := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= want && c > 0 {
			exp, frac := i/4, i%4
			return time.Duration((uint64(4+frac+1) << exp) / 4)
		}
	}
	return h.max
}

// sample is one look at the process during the soak.
type sample struct {
	at         time.Duration
	goroutines int
	heapMB     float64 // live heap after a GC
	// byCreator counts the goroutines by the function that started them.
	byCreator map[string]int
}

// goroutinesByCreator counts the process's goroutines by the function
// that started each ("created by" in a stack dump; "main" for those no
// function started), so that a soak that ends with more goroutines than it
// began with says which kind grew.
func goroutinesByCreator() map[string]int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := make(map[string]int)
	for _, g := range strings.Split(string(buf), "\n\n") {
		creator := "main"
		if _, after, ok := strings.Cut(g, "\ncreated by "); ok {
			creator, _, _ = strings.Cut(after, "\n")
			creator, _, _ = strings.Cut(creator, " in goroutine")
		}
		out[creator]++
	}
	return out
}

// grewBy lists the creators with more goroutines in b than in a, and by
// how many.
func grewBy(a, b map[string]int) string {
	var out []string
	for k, n := range b {
		if n > a[k] {
			out = append(out, fmt.Sprintf("%s +%d", k, n-a[k]))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// TestSoak runs 8 goroutines at 90% reads over a store pre-filled with
// keys whose TTLs fall due during the run (writers set them again), and
// samples goroutines and heap over time: both must stay flat. The short
// version runs seconds; LIVEDICT_LONG=1 runs 1,000,000 keys for 10 minutes
// (LIVEDICT_SOAK_DURATION changes it) on each backend.
func TestSoak(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			keys, dur := tg.shortKeys, envDuration(t, "LIVEDICT_SOAK_DURATION", 3*time.Second)
			if long() {
				keys, dur = 1_000_000, envDuration(t, "LIVEDICT_SOAK_DURATION", 10*time.Minute)
			}
			soak(t, tg.uri(t), keys, dur)
		})
	}
}

func soak(t *testing.T, uri string, keys int, dur time.Duration) {
	ctx := context.Background()
	s, err := ex.NewSessionStore(storeOpts(uri)...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var expired atomic.Int64
	s.OnExpire(func(context.Context, string, ex.Session) { expired.Add(1) })

	// TTLs spread over the run (and a little past it), so keys expire, are
	// swept and reported all along.
	ttl := func(r *rand.Rand) time.Duration {
		return time.Second + time.Duration(r.Int64N(int64(dur)))
	}
	value := func(i int) ex.Session {
		return ex.Session{UserID: fmt.Sprint("user-", i), Roles: []string{"reader"}, Meta: map[string]string{"n": fmt.Sprint(i)}, CreatedAt: time.Now()}
	}
	start := time.Now()
	fill := 64 // concurrent writers: the durable backends batch them
	var wg sync.WaitGroup
	var fillErr atomic.Value
	for w := range fill {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := w; i < keys; i += fill {
				if err := s.Set(ctx, fmt.Sprint("k", i), value(i), livedict.TTL(ttl(r))); err != nil {
					fillErr.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := fillErr.Load().(error); err != nil {
		t.Fatalf("pre-fill: %v", err)
	}
	t.Logf("pre-filled %d keys in %v", keys, time.Since(start).Round(time.Millisecond))

	const workers = 8
	hists := make([]histogram, workers)
	var ops, hits, opErrs atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 2))
			h := &hists[w]
			for n := 0; ; n++ {
				if n%64 == 0 {
					select {
					case <-stop:
						return
					default:
					}
				}
				i := r.IntN(keys)
				key := fmt.Sprint("k", i)
				begin := time.Now()
				var err error
				if r.IntN(10) < 9 {
					var ok bool
					_, ok, err = s.Get(ctx, key)
					if ok {
						hits.Add(1)
					}
				} else {
					err = s.Set(ctx, key, value(i), livedict.TTL(ttl(r)))
				}
				h.add(time.Since(begin))
				ops.Add(1)
				if err != nil {
					opErrs.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}

	var samples []sample
	take := func() {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		samples = append(samples, sample{time.Since(start), runtime.NumGoroutine(), float64(ms.HeapAlloc) / (1 << 20), goroutinesByCreator()})
	}
	every := dur / 10
	begin := time.Now()
	for time.Since(begin) < dur {
		take()
		time.Sleep(min(every, dur-time.Since(begin)))
	}
	take()
	close(stop)
	wg.Wait()

	var all histogram
	for i := range hists {
		all.merge(&hists[i])
	}
	if err, _ := firstErr.Load().(error); err != nil {
		t.Fatalf("%d of %d operations failed; the first: %v", opErrs.Load(), ops.Load(), err)
	}
	var line strings.Builder
	for _, sm := range samples {
		fmt.Fprintf(&line, " %v:%dg/%.0fMB", sm.at.Round(time.Second), sm.goroutines, sm.heapMB)
	}
	elapsed := time.Since(begin)
	t.Logf("%d keys, %d workers at 90%% reads for %v: %d ops (%.0f/s), hit ratio %.2f, p50 %v, p99 %v, max %v, %d expiries heard",
		keys, workers, elapsed.Round(time.Second), ops.Load(), float64(ops.Load())/elapsed.Seconds(),
		float64(hits.Load())/float64(max(1, ops.Load()*9/10)), all.quantile(0.5), all.quantile(0.99), all.max.Round(time.Microsecond), expired.Load())
	t.Logf("time:goroutines/heap:%s", line.String())

	// Flat: in the last third of the run the typical (median) sample holds
	// no more goroutines than the first third's peak (pools and database
	// connections come and go, so one sample may be higher) but for a few
	// that a store starts once it has work for them, which may first come
	// late in a short run (the renewal of expiry claims runs while a store
	// holds claims, and the first keys fall due a while in); a leak, one
	// goroutine per operation or per expiry, is thousands. And a live
	// heap within half again of the first third's peak (expired keys are
	// replaced, never piled up).
	third := max(1, len(samples)/3)
	first, last := samples[:third], samples[len(samples)-third:]
	var g0 int
	var h0 float64
	peak := first[0]
	for _, sm := range first {
		if sm.goroutines > g0 {
			peak = sm
		}
		g0, h0 = max(g0, sm.goroutines), max(h0, sm.heapMB)
	}
	end := samples[len(samples)-1]
	if grew := grewBy(peak.byCreator, end.byCreator); grew != "" {
		t.Logf("goroutines at the end beyond the first third's peak, by the function that started them: %s", grew)
	}
	g1 := median(last, func(sm sample) float64 { return float64(sm.goroutines) })
	h1 := median(last, func(sm sample) float64 { return sm.heapMB })
	const startedLate = 3
	if g1 > float64(g0+startedLate) {
		t.Errorf("goroutines grew: at most %d in the first third of the run, a median of %.0f in the last (%d may start late); at the end, by the function that started them: %s",
			g0, g1, startedLate, grewBy(peak.byCreator, end.byCreator))
	}
	if h1 > h0*1.5+16 {
		t.Errorf("live heap grew: at most %.0fMB in the first third of the run, a median of %.0fMB in the last", h0, h1)
	}
	if expired.Load() == 0 {
		t.Errorf("no OnExpire heard although TTLs fell due during the run")
	}
}

func median(ss []sample, of func(sample) float64) float64 {
	vs := make([]float64, len(ss))
	for i, sm := range ss {
		vs[i] = of(sm)
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

// TestGoroutinesByCreator: the soak's count of goroutines by creator sees
// three goroutines that one function started.
func TestGoroutinesByCreator(t *testing.T) {
	before := goroutinesByCreator()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	startParked(&wg, stop, 3)
	defer func() { close(stop); wg.Wait() }()
	grew := grewBy(before, goroutinesByCreator())
	const want = "github.com/livedict/livedict/reliability.startParked +3"
	if grew != want {
		t.Fatalf("grewBy = %q, want %q", grew, want)
	}
}

func startParked(wg *sync.WaitGroup, stop chan struct{}, n int) {
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); <-stop }()
	}
}

package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/livedict/livedict/sandbox"
)

var bg = context.Background()

// Hook timeouts. long is for hooks meant to return: they must not time out
// even on a loaded machine. short is for hooks meant to time out.
const (
	long  = 10 * time.Second
	short = 20 * time.Millisecond
)

// mustSubmit submits c and fails the test on any error.
func mustSubmit(t *testing.T, p *sandbox.Pool, shard uint64, c sandbox.Call) {
	t.Helper()
	if err := p.Submit(bg, shard, c); err != nil {
		t.Fatalf("Submit: %v", err)
	}
}

func TestOrderPerShard(t *testing.T) {
	defer goleak.VerifyNone(t)
	// 16 keys on 4 shards: every shard interleaves the calls of 4 keys,
	// submitted concurrently, through a small queue so Submit often waits.
	const workers, keys, perKey = 4, 16, 500
	p := sandbox.New(sandbox.Config{Workers: workers, QueueSize: 8})
	h := sandbox.NewHook(1, "order", long)

	var (
		mu      sync.Mutex
		seen    = make([][]int, keys)
		active  [workers]atomic.Int32
		overlap atomic.Bool
		wg      sync.WaitGroup
	)
	for k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perKey {
				err := p.Submit(bg, uint64(k), sandbox.Call{Hook: h, Key: fmt.Sprint(k), Fn: func(context.Context) {
					a := &active[k%workers]
					if a.Add(1) != 1 {
						overlap.Store(true)
					}
					mu.Lock()
					seen[k] = append(seen[k], i)
					mu.Unlock()
					a.Add(-1)
				}})
				if err != nil {
					t.Errorf("Submit: %v", err)
					return
				}
			}
		}()
	}
	within(t, "submitters", wg.Wait)
	within(t, "Close", p.Close)

	want := make([]int, perKey)
	for i := range want {
		want[i] = i
	}
	for k := range keys {
		if diff := cmp.Diff(want, seen[k]); diff != "" {
			t.Errorf("key %d: calls not run once each in submission order (-want +got):\n%s", k, diff)
		}
	}
	if overlap.Load() {
		t.Error("two calls of one shard ran at the same time")
	}
	checkBalanced(t, p.Stats())
}

func TestPanicsAreContained(t *testing.T) {
	const panics, goodEvery = 10000, 100
	var (
		reported atomic.Int64
		first    atomic.Pointer[sandbox.Failure]
		served   atomic.Int64
	)
	p := sandbox.New(sandbox.Config{
		Workers:          4,
		QueueSize:        64,
		BreakerThreshold: 1 << 30, // count every panic: no tripping here
		OnFailure: func(f sandbox.Failure) {
			if f.Kind == sandbox.FailPanic {
				reported.Add(1)
				first.CompareAndSwap(nil, &f)
			}
		},
	})
	defer p.Close()
	bad := sandbox.NewHook(1, "bad", long)
	good := sandbox.NewHook(2, "good", long)
	errBoom := errors.New("boom")

	within(t, "submitting", func() {
		for i := range panics {
			mustSubmit(t, p, uint64(i), sandbox.Call{Hook: bad, Key: "k", Fn: func(context.Context) { panic(errBoom) }})
			if i%goodEvery == 0 {
				mustSubmit(t, p, uint64(i), sandbox.Call{Hook: good, Key: "k", Fn: func(context.Context) { served.Add(1) }})
			}
		}
	})
	within(t, "Close", p.Close)

	st := p.Stats()
	if st.Panics != panics || reported.Load() != panics {
		t.Errorf("Panics = %d, reported %d, want %d", st.Panics, reported.Load(), panics)
	}
	if served.Load() != panics/goodEvery || st.Completed != panics/goodEvery {
		t.Errorf("good hook ran %d times (Completed %d), want %d", served.Load(), st.Completed, panics/goodEvery)
	}
	if st.Tripped != 0 || !bad.Enabled() {
		t.Errorf("breaker tripped (Tripped %d) despite the huge threshold", st.Tripped)
	}
	checkBalanced(t, st)

	f := first.Load()
	if f == nil {
		t.Fatal("no panic reported")
	}
	if f.HookID != 1 || f.HookName != "bad" || f.Key != "k" {
		t.Errorf("failure identifies hook %d %q key %q, want 1 \"bad\" \"k\"", f.HookID, f.HookName, f.Key)
	}
	if !errors.Is(f.Err, errBoom) {
		t.Errorf("panic error %v does not unwrap to the panic value", f.Err)
	}
	// The message carries the value and the stack of the panicking goroutine.
	for _, want := range []string{"boom", "goroutine ", "TestPanicsAreContained"} {
		if !strings.Contains(f.Err.Error(), want) {
			t.Errorf("panic error does not contain %q:\n%v", want, f.Err)
		}
	}
}

func TestTimeout(t *testing.T) {
	for _, tc := range []struct {
		name       string
		honoursCtx bool // the hook returns when its ctx ends, or never until released
	}{
		{"hook honours ctx", true},
		{"hook ignores ctx", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			p := sandbox.New(sandbox.Config{Workers: 2, OnFailure: rec.add})
			defer p.Close()
			release := make(chan struct{})
			defer close(release) // before Close, which would wait for the runaway

			slow := sandbox.NewHook(1, "slow", short)
			fast := sandbox.NewHook(2, "fast", long)
			ctxErr := make(chan error, 1)
			mustSubmit(t, p, 0, sandbox.Call{Hook: slow, Key: "k", Fn: func(ctx context.Context) {
				if tc.honoursCtx {
					<-ctx.Done()
					ctxErr <- ctx.Err()
					return
				}
				<-release
			}})
			// Queued behind the slow call on its shard, and on another shard.
			sameShard, otherShard := make(chan struct{}), make(chan struct{})
			mustSubmit(t, p, 0, sandbox.Call{Hook: fast, Fn: func(context.Context) { close(sameShard) }})
			mustSubmit(t, p, 1, sandbox.Call{Hook: fast, Fn: func(context.Context) { close(otherShard) }})
			within(t, "call on another shard", func() { <-otherShard })
			within(t, "call queued behind the slow one", func() { <-sameShard })

			if st := p.Stats(); st.Timeouts != 1 {
				t.Errorf("Timeouts = %d, want 1", st.Timeouts)
			}
			if tc.honoursCtx {
				if err := <-ctxErr; !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("hook ctx.Err() = %v, want DeadlineExceeded", err)
				}
			} else {
				if st := p.Stats(); st.Runaway != 1 {
					t.Errorf("Runaway = %d while the hook is stuck, want 1", st.Runaway)
				}
				release <- struct{}{} // let the runaway return
			}
			eventually(t, "runaway returns", func() bool { return p.Stats().Runaway == 0 })

			fs := rec.failures()
			if len(fs) != 1 || fs[0].Kind != sandbox.FailTimeout || fs[0].HookID != 1 || fs[0].Key != "k" {
				t.Fatalf("failures = %+v, want one FailTimeout of hook 1, key k", fs)
			}
			if !errors.Is(fs[0].Err, context.DeadlineExceeded) {
				t.Errorf("timeout error %v does not wrap DeadlineExceeded", fs[0].Err)
			}
			within(t, "Close", p.Close)
			checkBalanced(t, p.Stats())
		})
	}
}

type ctxKey struct{}

func TestHookContext(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := sandbox.New(sandbox.Config{Workers: 1})
	h := sandbox.NewHook(1, "ctx", short)

	type result struct {
		inHook, hasDeadline  bool
		err                  error // the call's ctx.Err() once Done
		derivedErr, valueErr error // contexts derived from it, directly and through WithValue
		afterFuncRan         bool
	}
	res := make(chan result, 1)
	mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: func(ctx context.Context) {
		var r result
		r.inHook = sandbox.InHook(ctx)
		_, r.hasDeadline = ctx.Deadline()
		derived, cancel := context.WithCancel(ctx)
		defer cancel()
		viaValue, cancel2 := context.WithTimeout(context.WithValue(ctx, ctxKey{}, 1), time.Hour)
		defer cancel2()
		ran := make(chan struct{})
		context.AfterFunc(ctx, func() { close(ran) })
		<-ctx.Done()
		r.err = ctx.Err()
		<-derived.Done()
		r.derivedErr = derived.Err()
		<-viaValue.Done()
		r.valueErr = viaValue.Err()
		<-ran
		r.afterFuncRan = true
		res <- r
	}})
	// A call that returns normally: its context is cancelled afterwards.
	kept := make(chan context.Context, 1)
	mustSubmit(t, p, 0, sandbox.Call{Hook: sandbox.NewHook(2, "returns", long), Fn: func(ctx context.Context) { kept <- ctx }})

	var r result
	within(t, "hook result", func() { r = <-res })
	want := result{
		inHook: true, hasDeadline: true, afterFuncRan: true,
		err: context.DeadlineExceeded, derivedErr: context.DeadlineExceeded, valueErr: context.DeadlineExceeded,
	}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(result{}), cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
		t.Errorf("hook context (-want +got):\n%s", diff)
	}
	within(t, "Close", p.Close)
	ctx := <-kept
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("context of a returned call: Err() = %v, want Canceled", ctx.Err())
	}
	if sandbox.InHook(bg) {
		t.Error("InHook(Background) = true")
	}
}

func TestStuckHookBoundsGoroutines(t *testing.T) {
	for _, tc := range []struct {
		name       string
		threshold  int
		maxRunaway int
		trips      bool
	}{
		// The breaker switches the stuck hook off; every shard keeps
		// serving other hooks meanwhile. Calls that started before the
		// trip still become runaways: MaxRunaway leaves room for them.
		{"breaker trips", 2, 16, true},
		// The breaker never trips: runaways pile up to MaxRunaway, then
		// no call starts, queues fill, and Drop applies.
		{"runaway limit", 1 << 30, 6, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const workers, calls = 4, 10000
			maxRunaway := tc.maxRunaway
			base := runtime.NumGoroutine()
			// The pool's own goroutines, plus the one running within, plus
			// slack for the runtime's and the testing package's helpers.
			bound := base + workers + maxRunaway + 1 + 1 + 2
			p := sandbox.New(sandbox.Config{
				Workers:          workers,
				QueueSize:        8,
				Overflow:         sandbox.Drop,
				MaxRunaway:       maxRunaway,
				BreakerThreshold: tc.threshold,
			})
			defer p.Close()
			release := make(chan struct{})
			released := false
			defer func() {
				if !released {
					close(release)
				}
			}()
			stuck := sandbox.NewHook(1, "stuck", short)
			good := sandbox.NewHook(2, "good", long)

			var peakG, peakR int
			sample := func() {
				peakG = max(peakG, runtime.NumGoroutine())
				peakR = max(peakR, int(p.Stats().Runaway))
			}
			submitStuck := func() {
				for i := range calls {
					err := p.Submit(bg, uint64(i), sandbox.Call{Hook: stuck, Key: "stuck", Fn: block(nil, release)})
					if err != nil && !errors.Is(err, sandbox.ErrDropped) {
						t.Errorf("Submit: %v", err)
						return
					}
					if i%100 == 0 {
						sample()
					}
				}
			}
			// serveGood checks that every shard runs a good call.
			serveGood := func() {
				for shard := range uint64(workers) {
					done := make(chan struct{})
					within(t, "good call served", func() {
						// A queue may still be full of stuck calls being skipped.
						for p.Submit(bg, shard, sandbox.Call{Hook: good, Fn: func(context.Context) { close(done) }}) != nil {
							time.Sleep(time.Millisecond)
						}
						<-done
					})
				}
			}

			within(t, "submitting stuck calls", submitStuck)
			if tc.trips {
				eventually(t, "breaker trips", stuck.Tripped)
				serveGood()
			} else {
				eventually(t, "runaways reach MaxRunaway", func() bool { return p.Stats().Runaway >= int64(maxRunaway) })
			}
			within(t, "submitting more stuck calls", submitStuck)
			sample()
			t.Logf("peak goroutines %d (bound %d), peak runaways %d", peakG, bound, peakR)

			if peakG > bound {
				t.Errorf("peak goroutines %d, want <= %d", peakG, bound)
			}
			if peakR > maxRunaway {
				t.Errorf("peak runaways %d, want <= %d", peakR, maxRunaway)
			}
			st := p.Stats()
			if tc.trips {
				if st.Tripped != 1 || st.Skipped == 0 {
					t.Errorf("Tripped = %d, Skipped = %d; want 1 and > 0", st.Tripped, st.Skipped)
				}
			} else if st.Tripped != 0 || st.Dropped == 0 || st.Runaway != int64(maxRunaway) {
				t.Errorf("Tripped = %d, Dropped = %d, Runaway = %d; want 0, > 0, %d", st.Tripped, st.Dropped, st.Runaway, maxRunaway)
			}

			// Once the stuck calls return, everything works again.
			close(release)
			released = true
			stuck.SetEnabled(false) // skip the queued stuck calls: quicker
			serveGood()
			within(t, "Close", p.Close)
			eventually(t, "runaways return", func() bool { return p.Stats().Runaway == 0 })
			checkBalanced(t, p.Stats())
		})
	}
}

func TestBreaker(t *testing.T) {
	panicky := func(ran *atomic.Int64) func(context.Context) {
		return func(context.Context) {
			ran.Add(1)
			panic("flaky")
		}
	}

	t.Run("trips after threshold, SetEnabled resets", func(t *testing.T) {
		rec := &recorder{}
		p := sandbox.New(sandbox.Config{Workers: 1, BreakerThreshold: 3, OnFailure: rec.add})
		defer p.Close()
		h := sandbox.NewHook(7, "flaky", long)
		var ran atomic.Int64
		fail := sandbox.Call{Hook: h, Key: "k", Fn: panicky(&ran)}

		for range 3 {
			mustSubmit(t, p, 0, fail)
		}
		eventually(t, "breaker trips", h.Tripped)
		if h.Enabled() {
			t.Error("tripped hook is still Enabled")
		}
		eventually(t, "three panics", func() bool { return p.Stats().Panics == 3 })

		// Calls of a tripped hook are skipped.
		mustSubmit(t, p, 0, fail)
		if st := p.Stats(); st.Skipped != 1 || st.Tripped != 1 || ran.Load() != 3 {
			t.Errorf("after trip: Skipped %d, Tripped %d, ran %d; want 1, 1, 3", st.Skipped, st.Tripped, ran.Load())
		}
		if n := rec.count(sandbox.FailTripped); n != 1 {
			t.Errorf("FailTripped reported %d times, want 1", n)
		}

		// SetEnabled(true) resets the count: two more failures do not trip.
		h.SetEnabled(true)
		if !h.Enabled() || h.Tripped() {
			t.Fatalf("after SetEnabled(true): Enabled %v, Tripped %v", h.Enabled(), h.Tripped())
		}
		mustSubmit(t, p, 0, fail)
		mustSubmit(t, p, 0, fail)
		eventually(t, "two more panics", func() bool { return p.Stats().Panics == 5 })
		if h.Tripped() {
			t.Error("tripped after 2 failures following a reset")
		}
		mustSubmit(t, p, 0, fail)
		eventually(t, "breaker trips again", h.Tripped)
		within(t, "Close", p.Close)
		checkBalanced(t, p.Stats())
	})

	t.Run("success resets the count", func(t *testing.T) {
		p := sandbox.New(sandbox.Config{Workers: 1, BreakerThreshold: 3})
		defer p.Close()
		h := sandbox.NewHook(1, "h", long)
		var ran atomic.Int64
		fail := sandbox.Call{Hook: h, Fn: panicky(&ran)}
		ok := sandbox.Call{Hook: h, Fn: noop}
		for _, c := range []sandbox.Call{fail, fail, ok, fail, fail} {
			mustSubmit(t, p, 0, c)
		}
		eventually(t, "five calls", func() bool { st := p.Stats(); return st.Panics+st.Completed == 5 })
		if h.Tripped() {
			t.Fatal("tripped although no 3 failures were consecutive")
		}
		mustSubmit(t, p, 0, fail)
		eventually(t, "third consecutive failure trips", h.Tripped)
	})

	t.Run("timeouts count", func(t *testing.T) {
		rec := &recorder{}
		p := sandbox.New(sandbox.Config{Workers: 1, BreakerThreshold: 2, OnFailure: rec.add})
		defer p.Close()
		h := sandbox.NewHook(1, "slow", short)
		for range 2 {
			mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: func(ctx context.Context) { <-ctx.Done() }})
		}
		eventually(t, "breaker trips", h.Tripped)
		within(t, "Close", p.Close)
		if st := p.Stats(); st.Timeouts != 2 || st.Tripped != 1 {
			t.Errorf("Timeouts %d, Tripped %d; want 2, 1", st.Timeouts, st.Tripped)
		}
		if n := rec.count(sandbox.FailTripped); n != 1 {
			t.Errorf("FailTripped reported %d times, want 1", n)
		}
	})

	t.Run("disabled hook skipped at submit and at start", func(t *testing.T) {
		p := sandbox.New(sandbox.Config{Workers: 1})
		defer p.Close()
		other := sandbox.NewHook(1, "other", long)
		h := sandbox.NewHook(2, "h", long)
		started, release := make(chan struct{}, 1), make(chan struct{})
		mustSubmit(t, p, 0, sandbox.Call{Hook: other, Fn: block(started, release)})
		within(t, "blocker starts", func() { <-started })

		var ran atomic.Int64
		count := sandbox.Call{Hook: h, Fn: func(context.Context) { ran.Add(1) }}
		for range 3 {
			mustSubmit(t, p, 0, count) // queued while h is enabled
		}
		h.SetEnabled(false)
		if h.Enabled() || h.Tripped() {
			t.Errorf("after SetEnabled(false): Enabled %v, Tripped %v; want false, false", h.Enabled(), h.Tripped())
		}
		mustSubmit(t, p, 0, count) // skipped right away
		close(release)
		within(t, "Close", p.Close)
		st := p.Stats()
		if ran.Load() != 0 || st.Skipped != 4 {
			t.Errorf("disabled hook ran %d times, Skipped %d; want 0, 4", ran.Load(), st.Skipped)
		}
		checkBalanced(t, st)
	})
}

func TestOverflow(t *testing.T) {
	// fill returns a one-worker pool whose worker is stuck in a call and
	// whose one-slot queue is full. Closing release unsticks it.
	fill := func(t *testing.T, cfg sandbox.Config) (p *sandbox.Pool, h *sandbox.Hook, release chan struct{}) {
		t.Helper()
		cfg.Workers, cfg.QueueSize = 1, 1
		p = sandbox.New(cfg)
		h = sandbox.NewHook(1, "h", long)
		started := make(chan struct{}, 1)
		release = make(chan struct{})
		mustSubmit(t, p, 0, sandbox.Call{Hook: h, Key: "blocker", Fn: block(started, release)})
		within(t, "blocker starts", func() { <-started })
		mustSubmit(t, p, 0, sandbox.Call{Hook: h, Key: "queued", Fn: noop})
		return p, h, release
	}

	t.Run("drop", func(t *testing.T) {
		rec := &recorder{}
		p, h, release := fill(t, sandbox.Config{Overflow: sandbox.Drop, OnFailure: rec.add})
		defer p.Close()
		defer close(release)
		var err error
		within(t, "Submit", func() { err = p.Submit(bg, 0, sandbox.Call{Hook: h, Key: "dropped", Fn: noop}) })
		if !errors.Is(err, sandbox.ErrDropped) {
			t.Errorf("Submit to a full queue: %v, want ErrDropped", err)
		}
		fs := rec.failures()
		if len(fs) != 1 || fs[0].Kind != sandbox.FailDropped || fs[0].Key != "dropped" || !errors.Is(fs[0].Err, sandbox.ErrDropped) {
			t.Errorf("failures = %+v, want one FailDropped for key dropped", fs)
		}
		if st := p.Stats(); st.Dropped != 1 || st.Queued != 1 {
			t.Errorf("Dropped %d, Queued %d; want 1, 1", st.Dropped, st.Queued)
		}
	})

	t.Run("block waits for room", func(t *testing.T) {
		p, h, release := fill(t, sandbox.Config{Overflow: sandbox.Block})
		defer p.Close()
		ran := make(chan struct{})
		errc := make(chan error, 1)
		go func() { errc <- p.Submit(bg, 0, sandbox.Call{Hook: h, Fn: func(context.Context) { close(ran) }}) }()
		close(release) // the worker moves on and makes room
		within(t, "waiting Submit", func() {
			if err := <-errc; err != nil {
				t.Errorf("Submit: %v", err)
			}
			<-ran
		})
		if st := p.Stats(); st.Dropped != 0 {
			t.Errorf("Dropped = %d, want 0", st.Dropped)
		}
	})

	t.Run("block honours ctx", func(t *testing.T) {
		p, h, release := fill(t, sandbox.Config{Overflow: sandbox.Block})
		defer p.Close()
		defer close(release)
		expiring, cancel := context.WithTimeout(bg, 20*time.Millisecond)
		defer cancel()
		cancelled, cancel2 := context.WithCancel(bg)
		cancel2()
		for _, tc := range []struct {
			ctx  context.Context
			want error
		}{
			{expiring, context.DeadlineExceeded},
			{cancelled, context.Canceled},
		} {
			var err error
			within(t, "Submit", func() { err = p.Submit(tc.ctx, 0, sandbox.Call{Hook: h, Fn: noop}) })
			if !errors.Is(err, tc.want) {
				t.Errorf("Submit = %v, want an error wrapping %v", err, tc.want)
			}
		}
		if st := p.Stats(); st.Submitted != 2 || st.Dropped != 0 {
			t.Errorf("Submitted %d, Dropped %d; want 2, 0 (rejected calls are not counted)", st.Submitted, st.Dropped)
		}
	})

	t.Run("submit from a hook never blocks", func(t *testing.T) {
		p := sandbox.New(sandbox.Config{Workers: 1, QueueSize: 1, Overflow: sandbox.Block})
		defer p.Close()
		h := sandbox.NewHook(1, "reentrant", long)
		errs := make(chan []error, 1)
		mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: func(ctx context.Context) {
			c := sandbox.Call{Hook: h, Fn: noop}
			errs <- []error{
				p.Submit(ctx, 0, c), // there is room
				p.Submit(ctx, 0, c), // full, and only this very call could make room
				p.Submit(context.WithValue(ctx, ctxKey{}, 1), 0, c), // derived contexts count too
			}
		}})
		var got []error
		within(t, "hook submitting to its own full queue", func() { got = <-errs })
		want := []error{nil, sandbox.ErrDropped, sandbox.ErrDropped}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
			t.Errorf("Submit errors from inside a hook (-want +got):\n%s", diff)
		}
		within(t, "Close", p.Close)
		if st := p.Stats(); st.Dropped != 2 {
			t.Errorf("Dropped = %d, want 2", st.Dropped)
		}
	})
}

func TestClose(t *testing.T) {
	t.Run("idempotent and concurrent", func(t *testing.T) {
		defer goleak.VerifyNone(t)
		p := sandbox.New(sandbox.Config{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.Close()
			}()
		}
		within(t, "concurrent Close", wg.Wait)
		within(t, "another Close", p.Close)
		err := p.Submit(bg, 0, sandbox.Call{Hook: sandbox.NewHook(1, "h", 0), Fn: noop})
		if !errors.Is(err, sandbox.ErrClosed) {
			t.Errorf("Submit after Close = %v, want ErrClosed", err)
		}
	})

	t.Run("runs queued calls", func(t *testing.T) {
		defer goleak.VerifyNone(t)
		p := sandbox.New(sandbox.Config{Workers: 1, QueueSize: 100})
		h := sandbox.NewHook(1, "h", long)
		started, release := make(chan struct{}, 1), make(chan struct{})
		mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: block(started, release)})
		within(t, "blocker starts", func() { <-started })
		var ran atomic.Int64
		for range 50 {
			mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: func(context.Context) { ran.Add(1) }})
		}

		closed := make(chan struct{})
		go func() {
			p.Close()
			close(closed)
		}()
		// A disabled hook's call is skipped, not queued, until Close
		// has started: then it gets ErrClosed.
		off := sandbox.NewHook(2, "off", 0)
		off.SetEnabled(false)
		eventually(t, "Submit sees Close", func() bool {
			return errors.Is(p.Submit(bg, 0, sandbox.Call{Hook: off, Fn: noop}), sandbox.ErrClosed)
		})
		if n := ran.Load(); n != 0 {
			t.Fatalf("%d queued calls ran while the blocker was running", n)
		}
		close(release)
		within(t, "Close", func() { <-closed })
		if n := ran.Load(); n != 50 {
			t.Errorf("Close ran %d of 50 queued calls", n)
		}
		checkBalanced(t, p.Stats())
	})

	t.Run("releases a waiting Submit", func(t *testing.T) {
		defer goleak.VerifyNone(t)
		p := sandbox.New(sandbox.Config{Workers: 1, QueueSize: 1})
		h := sandbox.NewHook(1, "h", long)
		started, release := make(chan struct{}, 1), make(chan struct{})
		mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: block(started, release)})
		within(t, "blocker starts", func() { <-started })
		mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: noop})

		errc := make(chan error, 1)
		go func() { errc <- p.Submit(bg, 0, sandbox.Call{Hook: h, Fn: noop}) }()
		closed := make(chan struct{})
		go func() {
			p.Close()
			close(closed)
		}()
		within(t, "waiting Submit returns", func() {
			if err := <-errc; !errors.Is(err, sandbox.ErrClosed) {
				t.Errorf("waiting Submit = %v, want ErrClosed", err)
			}
		})
		close(release)
		within(t, "Close", func() { <-closed })
		checkBalanced(t, p.Stats())
	})

	t.Run("concurrent with Submit", func(t *testing.T) {
		defer goleak.VerifyNone(t)
		p := sandbox.New(sandbox.Config{Workers: 4, QueueSize: 16})
		h := sandbox.NewHook(1, "h", long)
		var accepted, ran atomic.Int64
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					err := p.Submit(bg, uint64(g+i), sandbox.Call{Hook: h, Fn: func(context.Context) { ran.Add(1) }})
					switch {
					case err == nil:
						accepted.Add(1)
					case errors.Is(err, sandbox.ErrClosed):
						return
					default:
						t.Errorf("Submit: %v", err)
						return
					}
				}
			}()
		}
		stopStats := make(chan struct{})
		wg.Add(1)
		go func() { // Stats is safe concurrently with everything
			defer wg.Done()
			for {
				select {
				case <-stopStats:
					return
				default:
					_ = p.Stats()
					runtime.Gosched()
				}
			}
		}()
		eventually(t, "calls flowing", func() bool { return accepted.Load() > 1000 })
		within(t, "Close", p.Close)
		close(stopStats)
		within(t, "submitters see ErrClosed", wg.Wait)
		if accepted.Load() != ran.Load() {
			t.Errorf("accepted %d calls, ran %d", accepted.Load(), ran.Load())
		}
		checkBalanced(t, p.Stats())
	})

	t.Run("does not wait forever for runaways", func(t *testing.T) {
		p := sandbox.New(sandbox.Config{Workers: 1})
		h := sandbox.NewHook(1, "stuck", short)
		release := make(chan struct{})
		mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: block(nil, release)})
		eventually(t, "call times out", func() bool { return p.Stats().Runaway == 1 })
		within(t, "Close", p.Close)
		if st := p.Stats(); st.Runaway != 1 {
			t.Errorf("Runaway after Close = %d, want 1", st.Runaway)
		}
		close(release)
		eventually(t, "runaway returns", func() bool { return p.Stats().Runaway == 0 })
		checkBalanced(t, p.Stats())
	})

	t.Run("drops the queue when runaways hold every slot", func(t *testing.T) {
		rec := &recorder{}
		p := sandbox.New(sandbox.Config{Workers: 1, MaxRunaway: 1, OnFailure: rec.add})
		h := sandbox.NewHook(1, "stuck", short)
		release := make(chan struct{})
		defer close(release)
		mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: block(nil, release)})
		eventually(t, "call times out", func() bool { return p.Stats().Runaway == 1 })
		for range 3 {
			mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: noop})
		}
		within(t, "Close", p.Close)
		if st := p.Stats(); st.Dropped != 3 || st.Runaway != 1 {
			t.Errorf("Dropped %d, Runaway %d; want 3, 1", st.Dropped, st.Runaway)
		}
		if n := rec.count(sandbox.FailDropped); n != 3 {
			t.Errorf("FailDropped reported %d times, want 3", n)
		}
	})
}

func TestRunInline(t *testing.T) {
	errBoom := errors.New("inline boom")
	for _, tc := range []struct {
		name     string
		fn       func(ctx context.Context)
		disabled bool
		timeout  time.Duration // 0: long
		want     sandbox.Stats
		wantKind sandbox.FailureKind // 0: no failure
	}{
		{
			name: "ok",
			fn:   noop,
			want: sandbox.Stats{Submitted: 1, Completed: 1},
		},
		{
			name:     "panic",
			fn:       func(context.Context) { panic(errBoom) },
			want:     sandbox.Stats{Submitted: 1, Panics: 1},
			wantKind: sandbox.FailPanic,
		},
		{
			name:     "timeout",
			fn:       func(ctx context.Context) { <-ctx.Done() },
			timeout:  short,
			want:     sandbox.Stats{Submitted: 1, Timeouts: 1},
			wantKind: sandbox.FailTimeout,
		},
		{
			name:     "disabled",
			fn:       noop,
			disabled: true,
			want:     sandbox.Stats{Submitted: 1, Skipped: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			p := sandbox.New(sandbox.Config{OnFailure: rec.add})
			defer p.Close()
			timeout := tc.timeout
			if timeout == 0 {
				timeout = long
			}
			h := sandbox.NewHook(1, "inline", timeout)
			h.SetEnabled(!tc.disabled)

			var ran, inHook, hasValue, hasDeadline bool
			caller := context.WithValue(bg, ctxKey{}, "v")
			within(t, "RunInline", func() {
				p.RunInline(caller, sandbox.Call{Hook: h, Key: "k", Fn: func(ctx context.Context) {
					ran, inHook = true, sandbox.InHook(ctx)
					hasValue = ctx.Value(ctxKey{}) == "v"
					_, hasDeadline = ctx.Deadline()
					tc.fn(ctx)
				}})
			})
			if ran == tc.disabled {
				t.Errorf("Fn ran: %v, want %v", ran, !tc.disabled)
			}
			if ran && !(inHook && hasValue && hasDeadline) {
				t.Errorf("inline ctx: InHook %v, caller's value %v, deadline %v; want all true", inHook, hasValue, hasDeadline)
			}
			if diff := cmp.Diff(tc.want, p.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			fs := rec.failures()
			switch {
			case tc.wantKind == 0 && len(fs) != 0:
				t.Errorf("unexpected failures %+v", fs)
			case tc.wantKind != 0 && (len(fs) != 1 || fs[0].Kind != tc.wantKind || fs[0].Key != "k"):
				t.Errorf("failures = %+v, want one %v for key k", fs, tc.wantKind)
			case tc.wantKind == sandbox.FailPanic && !errors.Is(fs[0].Err, errBoom):
				t.Errorf("panic error %v does not unwrap to the panic value", fs[0].Err)
			}
		})
	}

	t.Run("breaker", func(t *testing.T) {
		p := sandbox.New(sandbox.Config{BreakerThreshold: 2})
		defer p.Close()
		h := sandbox.NewHook(1, "inline", 0)
		var ran int
		c := sandbox.Call{Hook: h, Fn: func(context.Context) { ran++; panic("no") }}
		for range 3 {
			p.RunInline(bg, c)
		}
		if !h.Tripped() || ran != 2 {
			t.Errorf("Tripped %v, ran %d; want true, 2", h.Tripped(), ran)
		}
	})
}

// syncBuffer is a strings.Builder safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestFailureReports(t *testing.T) {
	var logs syncBuffer
	var calls atomic.Int64
	p := sandbox.New(sandbox.Config{
		Workers: 1,
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		OnFailure: func(sandbox.Failure) {
			calls.Add(1)
			panic("OnFailure is broken too")
		},
	})
	defer p.Close()
	h := sandbox.NewHook(42, "reporter", long)
	slow := sandbox.NewHook(43, "slow", short)
	mustSubmit(t, p, 0, sandbox.Call{Hook: h, Key: "key1", Fn: func(context.Context) { panic("boom") }})
	mustSubmit(t, p, 0, sandbox.Call{Hook: slow, Key: "key2", Fn: func(ctx context.Context) { <-ctx.Done() }})
	done := make(chan struct{})
	mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: func(context.Context) { close(done) }})
	within(t, "pool keeps working after OnFailure panics", func() { <-done })
	within(t, "Close", p.Close)

	if calls.Load() != 2 {
		t.Errorf("OnFailure called %d times, want 2", calls.Load())
	}
	out := logs.String()
	for _, want := range []string{
		`level=ERROR msg="sandbox: hook failed" kind=panic hook_id=42 hook=reporter key=key1 error="sandbox: hook \"reporter\" panicked: boom`,
		`level=WARN msg="sandbox: hook failed" kind=timeout hook_id=43 hook=slow key=key2 error=`,
		`level=ERROR msg="sandbox: OnFailure panicked"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s\nlog:\n%s", want, out)
		}
	}
}

func TestGoexit(t *testing.T) {
	rec := &recorder{}
	p := sandbox.New(sandbox.Config{Workers: 1, OnFailure: rec.add})
	defer p.Close()
	h := sandbox.NewHook(1, "goexit", long)
	mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: func(context.Context) { runtime.Goexit() }})
	done := make(chan struct{})
	mustSubmit(t, p, 0, sandbox.Call{Hook: h, Fn: func(context.Context) { close(done) }})
	within(t, "shard serves the next call", func() { <-done })
	within(t, "Close", p.Close)
	if st := p.Stats(); st.Panics != 1 || st.Completed != 1 {
		t.Errorf("Panics %d, Completed %d; want 1, 1", st.Panics, st.Completed)
	}
	if fs := rec.failures(); len(fs) != 1 || fs[0].Kind != sandbox.FailPanic || !strings.Contains(fs[0].Err.Error(), "Goexit") {
		t.Errorf("failures = %+v, want one FailPanic mentioning Goexit", fs)
	}
}

func TestStrings(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		sandbox.FailPanic:      "panic",
		sandbox.FailTimeout:    "timeout",
		sandbox.FailTripped:    "tripped",
		sandbox.FailDropped:    "dropped",
		sandbox.FailureKind(9): "FailureKind(9)",
		sandbox.Block:          "block",
		sandbox.Drop:           "drop",
	} {
		if got := v.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

func TestNewHookDefaults(t *testing.T) {
	h := sandbox.NewHook(3, "h", 0)
	if h.ID() != 3 || h.Name() != "h" || h.Timeout() != 2*time.Second || !h.Enabled() || h.Tripped() {
		t.Errorf("NewHook(3, h, 0) = id %d name %q timeout %v enabled %v tripped %v",
			h.ID(), h.Name(), h.Timeout(), h.Enabled(), h.Tripped())
	}
}

func BenchmarkSubmit(b *testing.B) {
	p := sandbox.New(sandbox.Config{})
	h := sandbox.NewHook(1, "noop", 0)
	c := sandbox.Call{Hook: h, Key: "k", Fn: noop}
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		shard := next.Add(1) // each goroutine its own key, as the store would
		for pb.Next() {
			if err := p.Submit(bg, shard, c); err != nil {
				b.Error(err)
				return
			}
		}
	})
	p.Close() // inside the timing: ns/op covers running the calls too
}

func BenchmarkRunInline(b *testing.B) {
	p := sandbox.New(sandbox.Config{})
	defer p.Close()
	c := sandbox.Call{Hook: sandbox.NewHook(1, "noop", 0), Key: "k", Fn: noop}
	b.ReportAllocs()
	for b.Loop() {
		p.RunInline(bg, c)
	}
}

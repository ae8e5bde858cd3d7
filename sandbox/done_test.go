package sandbox_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedict/livedict/sandbox"
)

// TestDoneOncePerCall checks that Done runs exactly once whatever becomes
// of a call: the store acknowledges expiry events with it.
func TestDoneOncePerCall(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tests := []struct {
		name    string
		fn      func(context.Context)
		disable bool
		inline  bool
	}{
		{"returns", func(context.Context) {}, false, false},
		{"panics", func(context.Context) { panic("boom") }, false, false},
		{"times out", func(context.Context) { <-release }, false, false},
		{"skipped", func(context.Context) {}, true, false},
		{"inline", func(context.Context) {}, false, true},
		{"inline panics", func(context.Context) { panic("boom") }, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := sandbox.New(sandbox.Config{Workers: 1, BreakerThreshold: 100})
			defer p.Close()
			h := sandbox.NewHook(1, tt.name, 20*time.Millisecond)
			if tt.disable {
				h.SetEnabled(false)
			}
			var done atomic.Int32
			c := sandbox.Call{Hook: h, Key: "k", Fn: tt.fn, Done: func() { done.Add(1) }}
			if tt.inline {
				p.RunInline(context.Background(), c)
			} else if err := p.Submit(context.Background(), 0, c); err != nil {
				t.Fatal(err)
			}
			eventually(t, "Done called", func() bool { return done.Load() > 0 })
			// A later call on the same shard has run: nothing of the first
			// can still be pending.
			flushed := make(chan struct{})
			if err := p.Submit(context.Background(), 0, sandbox.Call{Hook: sandbox.NewHook(2, "flush", time.Second), Fn: func(context.Context) { close(flushed) }}); err != nil {
				t.Fatal(err)
			}
			within(t, "flush call", func() { <-flushed })
			if n := done.Load(); n != 1 {
				t.Fatalf("Done called %d times, want 1", n)
			}
		})
	}
	t.Run("dropped", func(t *testing.T) {
		p := sandbox.New(sandbox.Config{Workers: 1, QueueSize: 1, Overflow: sandbox.Drop})
		block := make(chan struct{})
		h := sandbox.NewHook(1, "block", time.Minute)
		var done atomic.Int32
		started := make(chan struct{})
		_ = p.Submit(context.Background(), 0, sandbox.Call{Hook: h, Fn: func(context.Context) { close(started); <-block }})
		<-started
		_ = p.Submit(context.Background(), 0, sandbox.Call{Hook: h, Fn: func(context.Context) {}}) // fills the queue
		err := p.Submit(context.Background(), 0, sandbox.Call{Hook: h, Fn: func(context.Context) {}, Done: func() { done.Add(1) }})
		if err != sandbox.ErrDropped || done.Load() != 1 {
			t.Fatalf("dropped call: err %v, Done called %d times; want ErrDropped and 1", err, done.Load())
		}
		close(block)
		p.Close()
	})
}

// TestContextPerCall: a worker reuses its task from call to call and takes
// the calls' contexts from slabs, yet each call has a context of its own,
// which ends when the call returns and stays ended: a hook may keep it.
func TestContextPerCall(t *testing.T) {
	p := sandbox.New(sandbox.Config{Workers: 1})
	defer p.Close()
	h := sandbox.NewHook(1, "kept", time.Minute)
	const calls = 1000 // several slabs
	ctxs := make([]context.Context, calls)
	deadlines := make([]time.Time, calls)
	var live atomic.Int32 // calls that found their context live while running
	for i := range calls {
		if err := p.Submit(context.Background(), 0, sandbox.Call{Hook: h, Fn: func(ctx context.Context) {
			ctxs[i] = ctx
			deadlines[i], _ = ctx.Deadline()
			if ctx.Err() == nil && sandbox.InHook(ctx) {
				live.Add(1)
			}
			if i%3 == 0 {
				_ = ctx.Done() // some ask for the channel while the call runs
			}
		}}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "calls run", func() bool { return p.Stats().Completed == calls })
	if n := live.Load(); n != calls {
		t.Fatalf("%d of %d calls found their context live", n, calls)
	}
	seen := map[context.Context]bool{}
	for i, ctx := range ctxs {
		if seen[ctx] {
			t.Fatalf("call %d got the context of an earlier call", i)
		}
		seen[ctx] = true
		select {
		case <-ctx.Done():
		default:
			t.Fatalf("call %d: context not done after the call returned", i)
		}
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("call %d: Err() = %v after the call returned, want Canceled", i, ctx.Err())
		}
		if i > 0 && deadlines[i].Before(deadlines[i-1]) {
			t.Fatalf("call %d: deadline %v before the previous call's %v", i, deadlines[i], deadlines[i-1])
		}
		// AfterFunc on an ended context runs at once.
		ran := make(chan struct{})
		context.AfterFunc(ctx, func() { close(ran) })
		within(t, "AfterFunc of an ended context", func() { <-ran })
	}
}

// TestTimeoutsAmongFastCalls: the watchdog times out exactly the calls that
// overrun, never the fast calls that run after them in the same reused
// task, nor those of the workers that replace the timed-out ones.
func TestTimeoutsAmongFastCalls(t *testing.T) {
	p := sandbox.New(sandbox.Config{Workers: 2, BreakerThreshold: 1 << 20})
	defer p.Close()
	fast := sandbox.NewHook(1, "fast", 10*time.Second)
	slow := sandbox.NewHook(2, "slow", 20*time.Millisecond)
	const calls, every = 4000, 400
	var wrong atomic.Int32
	slows := 0
	for i := range calls {
		c := sandbox.Call{Hook: fast, Fn: func(ctx context.Context) {}}
		if i%every == every-1 {
			slows++
			c = sandbox.Call{Hook: slow, Fn: func(ctx context.Context) {
				<-ctx.Done()
				if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
					wrong.Add(1)
				}
			}}
		}
		if err := p.Submit(context.Background(), uint64(i), c); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "calls end", func() bool {
		st := p.Stats()
		return st.Completed+st.Timeouts == calls && st.Runaway == 0
	})
	if st := p.Stats(); st.Timeouts != uint64(slows) || st.Completed != calls-uint64(slows) || wrong.Load() != 0 {
		t.Fatalf("%d timeouts and %d completed of %d calls, %d of them slow; %d slow calls saw another error", st.Timeouts, st.Completed, calls, slows, wrong.Load())
	}
}

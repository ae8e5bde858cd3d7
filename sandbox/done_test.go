package sandbox_test

import (
	"context"
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

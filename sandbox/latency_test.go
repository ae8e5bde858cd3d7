package sandbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/livedict/livedict/sandbox"
)

// TestLatency: every call that returns is counted in the bucket of its
// duration, inline or on the pool, panicking or not.
func TestLatency(t *testing.T) {
	p := sandbox.New(sandbox.Config{Workers: 1, QueueSize: 4})
	defer p.Close()
	h := sandbox.NewHook(1, "slowish", time.Second)
	done := make(chan struct{}, 3)
	finish := func() { done <- struct{}{} }
	p.RunInline(context.Background(), sandbox.Call{Hook: h, Fn: func(context.Context) {}, Done: finish})
	p.Submit(context.Background(), 0, sandbox.Call{Hook: h, Fn: func(context.Context) { time.Sleep(3 * time.Millisecond) }, Done: finish})
	p.Submit(context.Background(), 0, sandbox.Call{Hook: h, Fn: func(context.Context) { panic("x") }, Done: finish})
	for range 3 {
		<-done
	}
	l := h.Latency()
	if l.Count != 3 || l.Sum < 3*time.Millisecond {
		t.Fatalf("Latency after 3 calls = %+v; want count 3 and a sum of at least 3ms", l)
	}
	// The sleeping call is in a bucket above 2.5ms.
	above := uint64(0)
	for i, b := range sandbox.LatencyBounds {
		if b > 2500*time.Microsecond {
			above += l.Buckets[i]
		}
	}
	above += l.Buckets[len(sandbox.LatencyBounds)]
	if above < 1 {
		t.Errorf("no call counted above 2.5ms in %v", l.Buckets)
	}
}

package engine_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/memory"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
)

// prevSpy is a memory backend on its byte path whose buckets record
// whether Puts asked for the previous entry.
type prevSpy struct {
	backend.Backend
	asked, puts atomic.Int64
}

func (b *prevSpy) Bucket(ctx context.Context, cfg backend.BucketConfig) (backend.Bucket[string, []byte], error) {
	raw, err := b.Backend.Bucket(ctx, cfg)
	return &prevSpyBucket{raw, b}, err
}

type prevSpyBucket struct {
	backend.Bucket[string, []byte]
	spy *prevSpy
}

func (b *prevSpyBucket) Put(ctx context.Context, key string, w backend.Write[[]byte], now int64) (backend.WriteResult[string, []byte], error) {
	b.spy.puts.Add(1)
	if w.WantPrev {
		b.spy.asked.Add(1)
	}
	return b.Bucket.Put(ctx, key, w, now)
}

// TestPreviousValueOnlyForOnChange: writes ask the backend for the value
// they replace only while an OnChange hook listens.
func TestPreviousValueOnlyForOnChange(t *testing.T) {
	m := memory.New()
	defer m.Close()
	spy := &prevSpy{Backend: m}
	s, err := engine.New(conformance.ItemCodec(), livedict.WithBackend(spy))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	v := conformance.Item{Name: "v"}
	if _, err := s.OnSet(func(context.Context, string, conformance.Item) {}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "k", v); err != nil {
		t.Fatal(err)
	}
	id, err := s.OnChange(func(context.Context, string, livedict.Change[conformance.Item]) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "k", v); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, "k", func(cur conformance.Item, _ bool) (conformance.Item, bool, error) { return cur, true, nil }); err != nil {
		t.Fatal(err)
	}
	s.RemoveHook(id)
	if err := s.Set(ctx, "k", v); err != nil {
		t.Fatal(err)
	}
	if asked, puts := spy.asked.Load(), spy.puts.Load(); asked != 2 || puts != 4 {
		t.Errorf("%d of %d Puts asked for the previous value; want the 2 made while OnChange listened", asked, puts)
	}
}

// TestStatsPerHook: Stats reports each hook's call latencies, by ID, and
// the hit ratio.
func TestStatsPerHook(t *testing.T) {
	s, err := engine.New(conformance.ItemCodec())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	done := make(chan struct{}, 4)
	set, _ := s.OnSet(func(context.Context, string, conformance.Item) { done <- struct{}{} }, livedict.HookName("audit"))
	get, _ := s.OnGet(func(context.Context, string, conformance.Item) { done <- struct{}{} }, livedict.Inline())
	if err := s.Set(ctx, "k", conformance.Item{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k", "k", "k", "missing"} {
		if _, _, err := s.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		<-done
	}
	st := s.Stats()
	if r := st.HitRatio(); r != 0.75 {
		t.Errorf("HitRatio = %v after 3 hits and a miss, want 0.75", r)
	}
	waitCount := func(id livedict.HookID, want uint64) livedict.HookLatency {
		for range 100 {
			for _, l := range s.Stats().HookLatency {
				if l.ID == id && l.Count == want {
					return l
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("hook %d never reached %d calls: %+v", id, want, s.Stats().HookLatency)
		return livedict.HookLatency{}
	}
	if l := waitCount(set, 1); l.Name != "audit" || l.Event != "OnSet" || len(l.Buckets) != len(livedict.LatencyBounds())+1 {
		t.Errorf("the OnSet hook's latency: %+v", l)
	}
	if l := waitCount(get, 3); l.Event != "OnGet" || l.Name != fmt.Sprintf("OnGet#%d", get) {
		t.Errorf("the OnGet hook's latency: %+v", l)
	}
}

package engine

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/memory"
	"github.com/livedict/livedict/clock"
	"github.com/livedict/livedict/internal/impl"
)

// heldBackend is a memory backend behind the byte path (the store does not
// see a *memory.Backend) whose NextDeadline waits, after it has said so on
// waiting, until release is closed: it parks the store's scheduler outside
// the sweep gate, so that a test controls what the scheduler delivers.
type heldBackend struct {
	*memory.Backend
	waiting chan struct{}
	release chan struct{}
}

func (b *heldBackend) Bucket(ctx context.Context, cfg backend.BucketConfig) (backend.Bucket[string, []byte], error) {
	raw, err := b.Backend.Bucket(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return heldBucket{raw, b}, nil
}

type heldBucket struct {
	backend.Bucket[string, []byte]
	b *heldBackend
}

func (h heldBucket) NextDeadline(ctx context.Context) (int64, bool, error) {
	select {
	case h.b.waiting <- struct{}{}:
	default:
	}
	select {
	case <-h.b.release:
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
	return h.Bucket.NextDeadline(ctx)
}

// intCodec stores ints as decimal text.
func intCodec() Codec[string, int] {
	c := testCodec()
	c.Append = func(dst []byte, v *int) ([]byte, error) { return strconv.AppendInt(dst, int64(*v), 10), nil }
	c.Decode = func(data []byte, v *int) error {
		n, err := strconv.Atoi(string(data))
		*v = n
		return err
	}
	return c
}

// TestSetDeliversOnlyWhatItDisplaced: a Set over an expired, unswept entry
// delivers that entry's expiry itself, before its own OnSet, and leaves the
// rest of the outbox to the scheduler. With n events waiting in the outbox
// and a slow OnExpire hook, the Set queues two hook calls (the displaced
// expiry and its OnSet), not n more; the scheduler delivers the n once it
// runs, each once.
func TestSetDeliversOnlyWhatItDisplaced(t *testing.T) {
	const n = 50
	ctx := context.Background()
	clk := clock.NewFake(time.Unix(1_900_000_000, 0))
	mb := memory.New()
	defer mb.Close()
	hb := &heldBackend{Backend: mb, waiting: make(chan struct{}, 1), release: make(chan struct{})}
	s, err := New(intCodec(), livedict.WithBackend(hb), livedict.WithClock(clk), livedict.WithBucket("order"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	released := false
	defer func() {
		if !released {
			close(hb.release)
		}
	}()
	select {
	case <-hb.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduler did not reach NextDeadline")
	}

	// Plant n expired entries, swept into the outbox while nobody listens,
	// and one more expired entry, k, that no sweep has reached.
	raw, err := mb.Bucket(ctx, backend.BucketConfig{Name: "order"})
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now().UnixMilli()
	for i := range n {
		if _, err := raw.Put(ctx, fmt.Sprint("b", i), backend.Write[[]byte]{Value: []byte(strconv.Itoa(i)), Deadline: now}, now); err != nil {
			t.Fatal(err)
		}
	}
	if moved, err := raw.SweepExpired(ctx, now, n); err != nil || moved != n {
		t.Fatalf("SweepExpired = %d, %v; want %d", moved, err, n)
	}
	if _, err := raw.Put(ctx, "k", backend.Write[[]byte]{Value: []byte("-1"), Deadline: now}, now); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var events []string
	record := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	slow := make(chan struct{})
	if _, err := s.OnExpire(func(_ context.Context, key string, v int) {
		<-slow
		record(fmt.Sprintf("expire %s %d", key, v))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OnSet(func(_ context.Context, key string, v int) {
		record(fmt.Sprintf("set %s %d", key, v))
	}); err != nil {
		t.Fatal(err)
	}

	if err := s.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Hooks.Submitted; got != 2 {
		t.Errorf("the Set queued %d hook calls; want 2, the expiry it displaced and its OnSet (the outbox holds %d more events, the scheduler's to deliver)", got, n)
	}

	close(hb.release)
	released = true
	close(slow)
	waitUntil(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) >= n+2
	})
	// Nothing more arrives: each expiry once.
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(events) != n+2 {
		t.Fatalf("%d hook events, want %d: %v", len(events), n+2, events)
	}
	seen := map[string]int{}
	expireK, setK := -1, -1
	for i, e := range events {
		seen[e]++
		switch e {
		case "expire k -1":
			expireK = i
		case "set k 1":
			setK = i
		}
	}
	for i := range n {
		if e := fmt.Sprintf("expire b%d %d", i, i); seen[e] != 1 {
			t.Errorf("%q delivered %d times, want once", e, seen[e])
		}
	}
	if expireK < 0 || setK < 0 || seen["expire k -1"] != 1 || expireK > setK {
		t.Errorf("events of k: OnExpire of the old value at %d, OnSet of the new at %d (of %v); want the expiry once, first", expireK, setK, events)
	}
}

// TestCodecBucketPutDecodes: the byte adapter decodes the previous entry
// only for a write that asked for it, and decodes a displaced expiry.
func TestCodecBucketPutDecodes(t *testing.T) {
	ctx := context.Background()
	mb := memory.New()
	defer mb.Close()
	raw, err := mb.Bucket(ctx, backend.BucketConfig{Name: "codec"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := impl.Config{Bucket: "codec", Logger: slog.New(slog.DiscardHandler)}
	b, err := newCodecBucket(raw, intCodec(), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", backend.Write[int]{Value: 1, Deadline: 100}, 0); err != nil {
		t.Fatal(err)
	}
	res, err := b.Put(ctx, "k", backend.Write[int]{Value: 2, Deadline: 100}, 0)
	if err != nil || res.Existed || res.Prev.Value != 0 {
		t.Fatalf("Put without WantPrev = %+v, %v; want no previous entry", res, err)
	}
	res, err = b.Put(ctx, "k", backend.Write[int]{Value: 3, KeepTTL: true, WantPrev: true}, 0)
	if err != nil || !res.Existed || res.Prev.Value != 2 || res.Prev.Deadline != 100 {
		t.Fatalf("Put with WantPrev = %+v, %v; want the previous entry, 2 until 100", res, err)
	}
	res, err = b.Put(ctx, "k", backend.Write[int]{Value: 4, ClaimDisplaced: time.Minute}, 100)
	if d := res.Displaced; err != nil || d == nil || d.Key != "k" || d.Value != 3 || d.Deadline != 100 {
		t.Fatalf("Put over an expired entry = %+v (displaced %+v), %v; want the expiry of 3", res, d, err)
	}
}

// TestHookWriteDoesNotWaitForStripe: a write holding its key's stripe waits
// for room in a full hook queue, whose worker runs a hook that writes the
// same key (any key of that stripe would do). The hook's write must not
// wait for the stripe: the writer holding it waits for the hook's worker.
func TestHookWriteDoesNotWaitForStripe(t *testing.T) {
	ctx := context.Background()
	s, err := New(intCodec(), livedict.WithHookWorkers(1), livedict.WithHookQueue(1, livedict.Block),
		livedict.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	started, proceed := make(chan struct{}), make(chan struct{})
	hookWrote := make(chan error, 1)
	if _, err := s.OnSet(func(hctx context.Context, key string, v int) {
		if key != "k" || v != 1 {
			return
		}
		close(started)
		<-proceed
		hookWrote <- s.Set(hctx, "k", 100)
	}, livedict.HookTimeout(time.Hour)); err != nil {
		t.Fatal(err)
	}

	if err := s.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	<-started // the worker is in the hook
	if err := s.Set(ctx, "other", 2); err != nil {
		t.Fatal(err) // its call fills the queue
	}
	wrote := make(chan error, 1)
	go func() { wrote <- s.Set(ctx, "k", 3) }() // takes k's stripe, then waits for room
	stripe := s.ev.stripes[s.hash("k")%uint64(len(s.ev.stripes))]
	waitUntil(t, func() bool { return len(stripe) == 1 })
	close(proceed)

	// A hang guard, not a measure: before the fix, the two waited for each
	// other until the hook's timeout.
	select {
	case err := <-hookWrote:
		if err != nil {
			t.Errorf("the hook's Set: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hook's Set of k is still waiting after 10s, for the stripe held by a Set waiting for the hook's worker")
	}
	if err := <-wrote; err != nil {
		t.Errorf("the Set that waited for room: %v", err)
	}
}

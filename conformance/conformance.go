// Package conformance is the suite every livedict backend must pass. It
// checks, through the store core (internal/engine), the semantics the
// README promises on every backend ("What you get"): TTLs, expiry events,
// hooks, locks, buckets, copies, limits, async operations, Update and Close.
//
// A backend's tests call Run with a Harness:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Harness{
//			Name: "sqlite",
//			Open: func(t *testing.T) backend.Backend { ... fresh, empty, closed in t.Cleanup ... },
//			Shared: true,
//			Raw:  func(t *testing.T, b backend.Backend, bucket string) backend.Bucket[string, []byte] { ... },
//		})
//	}
//
// Time is a fake clock (clock.NewFake) wherever it matters, so the suite
// never sleeps toward a deadline and never asserts on wall-clock durations;
// real time only bounds how long it waits for something that must happen
// (5s), and failing that bound is a failure.
package conformance

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/clock"
	"github.com/livedict/livedict/internal/engine"
)

// Harness describes a backend under test.
type Harness struct {
	// Name names the backend in the test log.
	Name string
	// Open returns a fresh, empty backend for one test and arranges (with
	// t.Cleanup) to close it after the test. A nil Open, or a nil Backend,
	// means the store default: a private memory backend per store.
	Open func(t *testing.T) backend.Backend
	// Shared reports whether the backend is shared by processes (SQLite,
	// Redis). Such backends poll (PollInterval() > 0), so the tests that
	// check the expiry scheduler is idle are skipped.
	Shared bool
	// Raw, when non-nil, returns the byte bucket of a bucket name on a
	// backend Open returned, so that tests can plant records that do not
	// decode and check they are left in place. The harness closes what it
	// opens (t.Cleanup).
	Raw func(t *testing.T, b backend.Backend, bucket string) backend.Bucket[string, []byte]
	// Damage, when non-nil, breaks the stored entry of key in bucket on a
	// backend Open returned, the way fault says, below the byte bucket (a
	// deadline that is not a number, another type in the entry's slot). It
	// reports whether the backend's sweep still meets the entry (its index
	// holds it as due once its deadline passed).
	Damage func(t *testing.T, b backend.Backend, bucket, key string, fault Fault) (swept bool)
}

// Fault is a way Harness.Damage breaks a stored entry.
type Fault int

const (
	// FaultDeadline makes the entry's deadline unreadable as a number.
	FaultDeadline Fault = iota + 1
	// FaultType puts a value of another type than the backend's own in
	// the entry's slot (a Redis string where a hash belongs; SQLite text
	// in the integer deadline column).
	FaultType
)

func (f Fault) String() string {
	switch f {
	case FaultDeadline:
		return "Deadline"
	case FaultType:
		return "Type"
	}
	return "Fault(?)"
}

// Store is the store type the suite tests.
type Store = engine.Store[string, Item]

// epoch is where every fake clock of the suite starts.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// guard bounds every wait of the suite for something that must happen.
const guard = 5 * time.Second

// subtest is one leaf test. serial ones do not run in parallel with their
// siblings (they measure process-wide things such as the goroutine count).
type subtest struct {
	name   string
	fn     func(t *testing.T, f *fixture)
	serial bool
}

// Run runs the conformance suite against the backend h describes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Name == "" {
		t.Fatal("conformance: Harness.Name is empty")
	}
	t.Logf("conformance suite for backend %s", h.Name)
	groups := []struct {
		name  string
		tests []subtest
	}{
		{"TTL", ttlTests},
		{"Expiry", expiryTests},
		{"Hooks", hookTests},
		{"Locks", lockTests},
		{"Buckets", bucketTests},
		{"Values", valueTests},
		{"Limits", limitTests},
		{"Async", asyncTests},
		{"Update", updateTests},
		{"Basics", basicTests},
		{"Close", closeTests},
		{"Records", recordTests},
		{"Unreadable", unreadableTests},
		{"Writes", writeTests},
		{"Edges", edgeTests},
		{"Batches", batchTests},
		{"Loading", loadTests},
		{"Iterators", iterTests},
		{"Sliding", slidingTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, st := range g.tests {
				t.Run(st.name, func(t *testing.T) {
					if !st.serial {
						t.Parallel()
					}
					st.fn(t, newFixture(t, h))
				})
			}
		})
	}
}

// fixture is what one test works with: the backend under test, a fake
// clock, and a way to open stores on them that are closed after the test.
type fixture struct {
	t   *testing.T
	h   Harness
	be  backend.Backend // nil: every store has a private memory backend
	clk *clock.Fake
	log *slog.Logger
}

func newFixture(t *testing.T, h Harness) *fixture {
	f := &fixture{t: t, h: h, clk: clock.NewFake(epoch)}
	// Registered first, so it runs last: after every store has closed.
	w := &testLogWriter{t: t}
	t.Cleanup(w.stop)
	f.log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.Open != nil {
		f.be = h.Open(t)
	}
	return f
}

// child returns a fixture for a subtest of f's test: the same backend (so
// its stores need buckets of their own), a fresh fake clock.
func (f *fixture) child(t *testing.T) *fixture {
	return &fixture{t: t, h: f.h, be: f.be, clk: clock.NewFake(epoch), log: f.log}
}

// store opens a store of Items on the fixture's backend and fake clock;
// opts come last, so they can override both (WithClock(clock.Real)). The
// store is closed when the test ends.
func (f *fixture) store(opts ...livedict.Option) *Store {
	f.t.Helper()
	s, err := f.open(opts...)
	if err != nil {
		f.t.Fatalf("engine.New: %v", err)
	}
	f.t.Cleanup(func() { closeStore(f.t, s) })
	return s
}

// open is store without the checks: the caller closes what it returns.
func (f *fixture) open(opts ...livedict.Option) (*Store, error) {
	all := []livedict.Option{livedict.WithClock(f.clk), livedict.WithLogger(f.log)}
	if f.be != nil {
		all = append(all, livedict.WithBackend(f.be))
	}
	return engine.New(ItemCodec(), append(all, opts...)...)
}

// closeStore closes s, failing the test if Close fails or does not return
// within the guard (a store deadlocked by an earlier failure is left
// behind, and the leak check of the test binary reports its goroutines).
func closeStore(t testing.TB, s *Store) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	timer := time.NewTimer(guard)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-timer.C:
		t.Errorf("Close has not returned after %v (deadlock?)", guard)
	}
}

// raw returns the byte bucket named bucket on the fixture's backend; the
// test is skipped when the harness has no Raw.
func (f *fixture) raw(bucket string) backend.Bucket[string, []byte] {
	f.t.Helper()
	if f.h.Raw == nil || f.be == nil {
		f.t.Skip("the harness gives no raw access to the backend (Harness.Raw)")
	}
	return f.h.Raw(f.t, f.be, bucket)
}

// shared skips the test when stores of the fixture cannot share a backend.
func (f *fixture) needSharedBackend() {
	f.t.Helper()
	if f.be == nil {
		f.t.Skip("every store has a private backend (Harness.Open returns nil): nothing is shared")
	}
}

// nowMs is the fake clock's now in Unix milliseconds.
func (f *fixture) nowMs() int64 { return f.clk.Now().UnixMilli() }

// restTimers waits until the stores of the fixture, with nothing due, hold
// their resting number of fake timers and returns it: 0, or for a shared
// backend whose scheduler polls, what its poll timers settle at.
func (f *fixture) restTimers() int {
	f.t.Helper()
	if !f.h.Shared {
		waitStable(f.t, "no fake timer pending", func() bool { return f.clk.Timers() == 0 })
		return 0
	}
	var n int
	waitStable(f.t, "the poll timers settled", func() bool {
		c := f.clk.Timers()
		ok := c == n && c > 0
		n = c
		return ok
	})
	return n
}

var bg = context.Background()

// jumpClock is a fake clock that, once told, moves by itself the next time
// a store arms a timer, just before arming it, by a part of the timer's
// duration: the store read the time and worked out how long to sleep, and
// meanwhile time went on. A real clock always moves in that window; a fake
// one moved by a test can do so too, by chance. The jump is one-shot.
type jumpClock struct {
	*clock.Fake
	div   atomic.Int64 // the jump is the timer's duration divided by div; 0: not armed
	moved atomic.Int64 // how far the jump moved the clock, once it did
}

// jumpAtNextTimer arms the jump: by d/div for the next timer of duration d.
func (c *jumpClock) jumpAtNextTimer(div int) { c.div.Store(int64(div)) }

// jumped reports whether the jump happened.
func (c *jumpClock) jumped() bool { return c.moved.Load() > 0 }

func (c *jumpClock) maybeJump(d time.Duration) {
	if d <= 0 {
		return
	}
	if div := c.div.Load(); div > 0 && c.div.CompareAndSwap(div, 0) {
		c.Fake.Advance(d / time.Duration(div))
		c.moved.Store(int64(d / time.Duration(div)))
	}
}

func (c *jumpClock) NewTimer(d time.Duration) clock.Timer {
	c.maybeJump(d)
	return &jumpTimer{Timer: c.Fake.NewTimer(d), c: c}
}

type jumpTimer struct {
	clock.Timer
	c *jumpClock
}

func (t *jumpTimer) Reset(d time.Duration) bool {
	t.c.maybeJump(d)
	return t.Timer.Reset(d)
}

// testLogWriter sends a store's log to the test log until stop.
type testLogWriter struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Logf("store log: %s", bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// quietLogger drops everything: for stores whose hooks fail on purpose.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// waitFor polls cond until it holds, and fails the test when it has not
// within the guard.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", guard, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitStable is waitFor for a condition that must then hold on 50
// consecutive polls, a millisecond apart: a state the store settles in,
// rather than passes through.
func waitStable(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for streak := 0; streak < 50; {
		if cond() {
			streak++
		} else {
			streak = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s (to hold on 50 consecutive checks)", guard, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// within runs fn on another goroutine and fails the test with what when fn
// returns an error or has not returned within the guard (a deadlock).
func within(t testing.TB, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	timer := time.NewTimer(guard)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-timer.C:
		t.Fatalf("%s: not done after %v (deadlock?)", what, guard)
	}
}

// event is one hook call as a recorder saw it.
type event struct {
	Kind string // "set", "get", "delete", "expire", "evict", or a test's tag
	Key  string
	Val  Item
}

// recorder collects hook calls; several hooks may share one.
type recorder struct {
	mu     sync.Mutex
	evs    []event
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

// hook returns a hook function that records its calls under kind.
func (r *recorder) hook(kind string) func(context.Context, string, Item) {
	return func(_ context.Context, key string, v Item) { r.add(event{kind, key, v}) }
}

func (r *recorder) add(e event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) events() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.evs)
}

// wait waits until at least n events were recorded and returns them all.
func (r *recorder) wait(t testing.TB, n int) []event {
	t.Helper()
	timer := time.NewTimer(guard)
	defer timer.Stop()
	for {
		if evs := r.events(); len(evs) >= n {
			return evs
		}
		select {
		case <-r.notify:
		case <-timer.C:
			t.Fatalf("waited %v for %d hook events; got %d: %v", guard, n, r.len(), r.events())
		}
	}
}

// waitKey waits until an event of kind on key was recorded.
func (r *recorder) waitKey(t testing.TB, kind, key string) event {
	t.Helper()
	timer := time.NewTimer(guard)
	defer timer.Stop()
	for {
		for _, e := range r.events() {
			if e.Kind == kind && e.Key == key {
				return e
			}
		}
		select {
		case <-r.notify:
		case <-timer.C:
			t.Fatalf("waited %v for a %s event of key %q; got %v", guard, kind, key, r.events())
		}
	}
}

// byKey groups events by key, keeping their order.
func byKey(evs []event) map[string][]event {
	m := make(map[string][]event)
	for _, e := range evs {
		m[e.Key] = append(m[e.Key], e)
	}
	return m
}

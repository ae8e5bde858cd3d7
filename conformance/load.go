package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedict/livedict"
)

// loadTests check read-through loading: GetOrLoad and WithLoader.
var loadTests = []subtest{
	{name: "MissLoadsAndStores", fn: testLoadMiss},
	{name: "ConcurrentMissesLoadOnce", fn: testLoadOnce},
	{name: "StoresOfOneBucketLoadOnce", fn: testLoadOnceAcrossStores},
	{name: "FailedLoadStoresNothing", fn: testLoadFails},
	{name: "PanicIsAnError", fn: testLoadPanics},
	{name: "CallerLeavingKeepsTheLoad", fn: testLoadCallerLeaves},
	{name: "ReadThroughGet", fn: testLoadReadThrough},
	{name: "LoaderOfAnotherType", fn: testLoaderType},
	{name: "CloseCancelsLoad", fn: testLoadClose},
	{name: "RefreshAhead", fn: testRefreshAhead},
	{name: "RefreshOncePerKey", fn: testRefreshOnce},
	{name: "FailedRefreshKeepsValue", fn: testRefreshFails},
}

// counting returns a loader that counts its calls and loads item(key, 1).
func counting(n *atomic.Int64) func(context.Context, string) (Item, error) {
	return func(_ context.Context, key string) (Item, error) {
		n.Add(1)
		return item(key, 1), nil
	}
}

func testLoadMiss(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	hookID(s.OnSet(rec.hook("set")))
	var n atomic.Int64
	v, err := s.GetOrLoad(bg, "k", counting(&n), livedict.TTL(time.Minute))
	if err != nil || v.Name != "k" {
		t.Fatalf("GetOrLoad of a missing key = %+v, %v", v, err)
	}
	wantValue(t, s, "k", item("k", 1))
	wantTTL(t, s, "k", time.Minute, true)
	if v, err = s.GetOrLoad(bg, "k", counting(&n)); err != nil || v.Name != "k" {
		t.Fatalf("GetOrLoad of a stored key = %+v, %v", v, err)
	}
	if n.Load() != 1 {
		t.Errorf("the loader ran %d times for one miss and one hit, want once", n.Load())
	}
	wantEvents(t, "hook events", rec.wait(t, 1), []event{{"set", "k", item("k", 1)}})
	if st := s.Stats(); st.Loads != 1 || st.LoadErrors != 0 || st.Misses != 1 || st.Hits != 2 {
		t.Errorf("Stats: %d loads, %d load errors, %d misses, %d hits; want 1, 0, 1, 2", st.Loads, st.LoadErrors, st.Misses, st.Hits)
	}
}

// loadConcurrently runs GetOrLoad of key from n goroutines spread over the
// stores, with a loader that holds until all of them have missed (or a
// while), and returns how often it ran.
func loadConcurrently(t *testing.T, stores []*Store, n int) int64 {
	var calls atomic.Int64
	var missed sync.WaitGroup
	missed.Add(n)
	release := make(chan struct{})
	go func() { missed.Wait(); close(release) }()
	load := func(_ context.Context, key string) (Item, error) {
		calls.Add(1)
		select {
		case <-release:
		case <-time.After(time.Second):
		}
		return item(key, 7), nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%len(stores)]
			missed.Done()
			v, err := s.GetOrLoad(bg, "hot", load)
			if err == nil && v.N != 7 {
				err = fmt.Errorf("got %+v", v)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("GetOrLoad: %v", err)
		}
	}
	return calls.Load()
}

func testLoadOnce(t *testing.T, f *fixture) {
	s := f.store()
	if calls := loadConcurrently(t, []*Store{s}, 50); calls != 1 {
		t.Errorf("50 concurrent misses of one key ran the loader %d times, want once", calls)
	}
	wantValue(t, s, "hot", item("hot", 7))
}

// testLoadOnceAcrossStores: stores of one bucket on a shared backend, as
// processes would be, load a key once in all, through the key's lock.
func testLoadOnceAcrossStores(t *testing.T, f *fixture) {
	f.needSharedBackend()
	if !f.h.Shared {
		t.Skip("stores of one process share no lock table on this backend")
	}
	a := f.store(livedict.WithBucket("load-across"))
	b := f.store(livedict.WithBucket("load-across"))
	// Lock waits across stores poll on the store clock: keep it moving.
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				f.clk.Advance(time.Millisecond)
			}
		}
	}()
	if calls := loadConcurrently(t, []*Store{a, b}, 40); calls != 1 {
		t.Errorf("40 concurrent misses over two stores ran the loader %d times, want once", calls)
	}
}

func testLoadFails(t *testing.T, f *fixture) {
	s := f.store()
	boom := errors.New("origin down")
	var calls atomic.Int64
	release := make(chan struct{})
	load := func(context.Context, string) (Item, error) {
		calls.Add(1)
		<-release
		return Item{}, boom
	}
	const n = 10
	errs := make(chan error, n)
	for range n {
		go func() { _, err := s.GetOrLoad(bg, "k", load); errs <- err }()
	}
	waitFor(t, "the load to start", func() bool { return calls.Load() == 1 })
	time.Sleep(10 * time.Millisecond) // the others join it
	close(release)
	for range n {
		if err := <-errs; !errors.Is(err, boom) {
			t.Errorf("a caller of a failed load got %v, want its error", err)
		}
	}
	wantMissing(t, s, "k")
	if st := s.Stats(); st.LoadErrors != uint64(calls.Load()) || st.Loads != uint64(calls.Load()) {
		t.Errorf("Stats: %d loads, %d errors; want %d of each", st.Loads, st.LoadErrors, calls.Load())
	}
	// Nothing was cached: the next miss loads again.
	var again atomic.Int64
	if _, err := s.GetOrLoad(bg, "k", counting(&again)); err != nil || again.Load() != 1 {
		t.Errorf("GetOrLoad after a failed load: %v, %d loads; want a new load", err, again.Load())
	}
}

func testLoadPanics(t *testing.T, f *fixture) {
	s := f.store(livedict.WithLogger(quietLogger()))
	_, err := s.GetOrLoad(bg, "k", func(context.Context, string) (Item, error) { panic("bad loader") })
	if !errors.Is(err, livedict.ErrLoadPanic) {
		t.Fatalf("GetOrLoad with a panicking loader: %v, want ErrLoadPanic", err)
	}
	wantMissing(t, s, "k")
	set(t, s, "k", item("k", 1)) // the store carries on
	wantValue(t, s, "k", item("k", 1))
}

func testLoadCallerLeaves(t *testing.T, f *fixture) {
	s := f.store()
	started, release := make(chan struct{}), make(chan struct{})
	load := func(ctx context.Context, key string) (Item, error) {
		close(started)
		select {
		case <-release:
			return item(key, 3), nil
		case <-ctx.Done():
			return Item{}, ctx.Err()
		}
	}
	ctx, cancel := context.WithCancel(bg)
	first := make(chan error, 1)
	go func() { _, err := s.GetOrLoad(ctx, "k", load); first <- err }()
	<-started
	second := make(chan Item, 1)
	go func() { v, _ := s.GetOrLoad(bg, "k", load); second <- v }()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("the caller whose ctx ended got %v, want context.Canceled", err)
	}
	close(release)
	if v := <-second; v.N != 3 {
		t.Errorf("the other caller got %+v, want the loaded value", v)
	}
	wantValue(t, s, "k", item("k", 3))
}

func testLoadReadThrough(t *testing.T, f *fixture) {
	var n atomic.Int64
	s := f.store(livedict.WithLoader(counting(&n)), livedict.WithDefaultTTL(time.Minute))
	v, ok, err := s.Get(bg, "k")
	if err != nil || !ok || v.Name != "k" {
		t.Fatalf("Get with a loader = %+v, %v, %v; want the loaded value", v, ok, err)
	}
	wantTTL(t, s, "k", time.Minute, true)
	if _, _, err := s.Get(bg, "k"); err != nil || n.Load() != 1 {
		t.Errorf("a second Get: %v, %d loads; want a hit", err, n.Load())
	}
	// GetOrLoad's own loader wins over the store's.
	var own atomic.Int64
	if _, err := s.GetOrLoad(bg, "other", counting(&own)); err != nil || own.Load() != 1 || n.Load() != 1 {
		t.Errorf("GetOrLoad with its own loader: %v; its loader ran %d times, the store's %d", err, own.Load(), n.Load())
	}
}

func testLoaderType(t *testing.T, f *fixture) {
	s, err := f.open(livedict.WithLoader(func(context.Context, int) (Item, error) { return Item{}, nil }))
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, livedict.ErrInvalidOption) {
		t.Fatalf("a loader of int keys on a store of string keys: %v, want ErrInvalidOption", err)
	}
}

func testLoadClose(t *testing.T, f *fixture) {
	s := f.store()
	started := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		_, err := s.GetOrLoad(bg, "k", func(ctx context.Context, _ string) (Item, error) {
			close(started)
			<-ctx.Done()
			return Item{}, ctx.Err()
		})
		errs <- err
	}()
	<-started
	closeNow(t, s)
	if err := <-errs; err == nil {
		t.Errorf("GetOrLoad across Close succeeded; want an error")
	}
}

// versioned returns a loader that loads item(key, n) on its n-th call,
// after waiting for gate (when not nil), and fails from call failFrom on
// (when positive).
func versioned(calls *atomic.Int64, gate chan struct{}, failFrom int64) func(context.Context, string) (Item, error) {
	return func(_ context.Context, key string) (Item, error) {
		n := calls.Add(1)
		if gate != nil {
			<-gate
		}
		if failFrom > 0 && n >= failFrom {
			return Item{}, errors.New("origin down")
		}
		return item(key, n), nil
	}
}

// testRefreshAhead: a read within the window before the deadline serves
// the value it found and reloads the key in the background, once; the key
// then never misses.
func testRefreshAhead(t *testing.T, f *fixture) {
	var calls atomic.Int64
	s := f.store(livedict.WithLoader(versioned(&calls, nil, 0)), livedict.WithDefaultTTL(100*time.Millisecond),
		livedict.WithRefreshAhead(30*time.Millisecond))
	if v, ok, err := s.Get(bg, "k"); err != nil || !ok || v.N != 1 {
		t.Fatalf("first Get = %+v, %v, %v; want the first load", v, ok, err)
	}
	f.clk.Advance(50 * time.Millisecond) // 50ms left: outside the window
	if v, _, _ := s.Get(bg, "k"); v.N != 1 || calls.Load() != 1 {
		t.Fatalf("a Get outside the window: value %d, %d loads; want 1 and no reload", v.N, calls.Load())
	}
	f.clk.Advance(30 * time.Millisecond) // 20ms left
	if v, _, _ := s.Get(bg, "k"); v.N != 1 {
		t.Fatalf("a Get in the window returned %d; want the value it found, 1", v.N)
	}
	waitFor(t, "the refresh to store the new value", func() bool { v, _ := get(t, s, "k"); return v.N == 2 })
	wantTTL(t, s, "k", 100*time.Millisecond, true)
	f.clk.Advance(90 * time.Millisecond) // past the first deadline
	if v, ok, _ := s.Get(bg, "k"); !ok || v.N < 2 {
		t.Fatalf("after the old deadline Get = %+v, %v; want the refreshed value", v, ok)
	}
	// The first refresh may still be finishing (it stored the value, and
	// is letting go of the key): a read in the window starts the next one
	// only after that, so read until one has.
	waitFor(t, "the second refresh", func() bool {
		if _, _, err := s.Get(bg, "k"); err != nil {
			t.Fatal(err)
		}
		return s.Stats().Refreshes == 2
	})
	if st := s.Stats(); st.Misses != 1 || st.Loads != 3 {
		t.Errorf("Stats: %d misses, %d loads; want only the first read to miss, and 3 loads", st.Misses, st.Loads)
	}
}

// testRefreshOnce: many reads in the window start one reload.
func testRefreshOnce(t *testing.T, f *fixture) {
	var calls atomic.Int64
	gate := make(chan struct{})
	s := f.store(livedict.WithDefaultTTL(100*time.Millisecond), livedict.WithRefreshAhead(50*time.Millisecond))
	set(t, s, "k", item("k", 0))
	f.clk.Advance(60 * time.Millisecond)
	load := versioned(&calls, gate, 0)
	for range 20 {
		if v, err := s.GetOrLoad(bg, "k", load); err != nil || v.N != 0 {
			t.Fatalf("GetOrLoad in the window = %+v, %v; want the stored value", v, err)
		}
	}
	close(gate)
	waitFor(t, "the refresh", func() bool { v, _ := get(t, s, "k"); return v.N == 1 })
	if n := calls.Load(); n != 1 {
		t.Errorf("20 reads in the window ran the loader %d times, want once", n)
	}
}

// testRefreshFails: a failed refresh leaves the old value, which serves
// until its deadline.
func testRefreshFails(t *testing.T, f *fixture) {
	var calls atomic.Int64
	s := f.store(livedict.WithLoader(versioned(&calls, nil, 2)), livedict.WithDefaultTTL(100*time.Millisecond),
		livedict.WithRefreshAhead(50*time.Millisecond), livedict.WithLogger(quietLogger()))
	if _, _, err := s.Get(bg, "k"); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(60 * time.Millisecond)
	if v, ok, err := s.Get(bg, "k"); err != nil || !ok || v.N != 1 {
		t.Fatalf("Get in the window = %+v, %v, %v", v, ok, err)
	}
	waitFor(t, "the failed refresh", func() bool { return s.Stats().LoadErrors == 1 })
	wantValue(t, s, "k", item("k", 1))
	wantTTL(t, s, "k", 40*time.Millisecond, true)
}

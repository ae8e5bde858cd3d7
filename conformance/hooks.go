package conformance

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedict/livedict/internal/engine"

	"github.com/livedict/livedict"
)

var hookTests = []subtest{
	{name: "Events", fn: testHookEvents},
	{name: "EvictEvent", fn: testEvictEvent},
	{name: "ChangeWithPrevious", fn: testChangeEvents},
	{name: "OrderOneKey", fn: testOrderOneKey},
	{name: "OrderPerKeyConcurrent", fn: testOrderPerKeyConcurrent},
	{name: "ScopedBeforeGlobal", fn: testScopedBeforeGlobal},
	{name: "SeveralAsyncHooksEachOnce", fn: testSeveralAsyncHooks},
	{name: "PanickingHook", fn: testPanickingHook},
	{name: "CallsBackIntoStore", fn: testHooksCallBack},
	{name: "InlineRunBeforeReturn", fn: testInlineHooks},
	{name: "EnableDisableRemove", fn: testEnableDisableRemove},
	// Serial: it bounds the process's goroutine count.
	{name: "HookThatNeverReturns", fn: testHookNeverReturns, serial: true},
}

// testHookEvents: OnSet, OnGet and OnDelete fire with the key and value;
// OnGet only on a hit; OnDelete only when Delete removed a live value.
func testHookEvents(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnSet(rec.hook("set"))
	s.OnGet(rec.hook("get"))
	s.OnDelete(rec.hook("delete"))
	s.OnExpire(rec.hook("expire"))

	set(t, s, "a", item("a1", 1))
	set(t, s, "a", item("a2", 2))
	wantValue(t, s, "a", item("a2", 2))
	wantMissing(t, s, "missing")
	deleted := func(key string, want bool) {
		t.Helper()
		ok, err := s.Delete(bg, key)
		if err != nil || ok != want {
			t.Fatalf("Delete(%q) = %v, %v; want %v, nil", key, ok, err, want)
		}
	}
	deleted("a", true)
	deleted("a", false)
	deleted("missing", false)
	// An expired key is not deleted by Delete: it expires.
	set(t, s, "e", item("e", 3), livedict.TTL(10*time.Millisecond))
	f.clk.Advance(10 * time.Millisecond)
	deleted("e", false)
	wantMissing(t, s, "e")
	rec.waitKey(t, "expire", "e")
	closeNow(t, s)

	got := byKey(rec.events())
	wantEvents(t, "events of a", got["a"], []event{
		{"set", "a", item("a1", 1)},
		{"set", "a", item("a2", 2)},
		{"get", "a", item("a2", 2)},
		{"delete", "a", item("a2", 2)},
	})
	wantEvents(t, "events of e", got["e"], []event{
		{"set", "e", item("e", 3)},
		{"expire", "e", item("e", 3)},
	})
	wantEvents(t, "events of missing", got["missing"], nil)
	if len(got) != 2 {
		t.Fatalf("events for keys other than a and e: %v", got)
	}
}

// testEvictEvent: OnEvict fires with the key and value a size limit pushed
// out, and nothing else fires it.
func testEvictEvent(t *testing.T, f *fixture) {
	s := f.store(livedict.WithMaxKeys(2, livedict.EvictLRU))
	rec := newRecorder()
	s.OnEvict(rec.hook("evict"))
	set(t, s, "a", item("a", 1))
	set(t, s, "b", item("b", 2))
	set(t, s, "b", item("b2", 3))
	if ok, err := s.Delete(bg, "b"); !ok || err != nil {
		t.Fatalf("Delete(b) = %v, %v", ok, err)
	}
	set(t, s, "c", item("c", 4))
	set(t, s, "d", item("d", 5)) // full: a goes
	rec.wait(t, 1)
	closeNow(t, s)
	wantEvents(t, "OnEvict events", rec.events(), []event{{"evict", "a", item("a", 1)}})
}

// testOrderOneKey: the OnSet hook of 1,000 Sets of one key sees them in
// order.
func testOrderOneKey(t *testing.T, f *fixture) {
	const n = 1000
	s := f.store()
	rec := newRecorder()
	s.OnSet(rec.hook("set"))
	for i := range n {
		set(t, s, "k", Item{N: int64(i)})
	}
	evs := rec.wait(t, n)
	for i, e := range evs {
		if e.Val.N != int64(i) {
			t.Fatalf("OnSet event %d carries value %d: events of one key out of order", i, e.Val.N)
		}
	}
}

// testOrderPerKeyConcurrent: goroutines writing each their own key; each
// key's OnSet events arrive in that key's order.
func testOrderPerKeyConcurrent(t *testing.T, f *fixture) {
	const writers, n = 4, 250
	s := f.store()
	rec := newRecorder()
	s.OnSet(rec.hook("set"))
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if err := s.Set(bg, fmt.Sprint("g", w), Item{N: int64(i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Set: %v", err)
	}
	got := byKey(rec.wait(t, writers*n))
	for w := range writers {
		key := fmt.Sprint("g", w)
		if len(got[key]) != n {
			t.Fatalf("%d OnSet events for %s, want %d", len(got[key]), key, n)
		}
		for i, e := range got[key] {
			if e.Val.N != int64(i) {
				t.Fatalf("OnSet event %d of %s carries value %d: out of order", i, key, e.Val.N)
			}
		}
	}
}

// testScopedBeforeGlobal: a ForKey hook runs only for its key, and before the
// global hooks of the same event, whatever the registration order.
func testScopedBeforeGlobal(t *testing.T, f *fixture) {
	for _, mode := range []struct {
		name string
		opts []livedict.HookOption
	}{
		{"Async", nil},
		{"Inline", []livedict.HookOption{livedict.Inline()}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			f := f.child(t)
			s := f.store(livedict.WithBucket("scoped-" + mode.name))
			rec := newRecorder()
			s.OnSet(rec.hook("global"), mode.opts...)
			s.OnSet(rec.hook("scoped"), append([]livedict.HookOption{engine.ForKey("a")}, mode.opts...)...)
			s.OnSet(rec.hook("global2"), mode.opts...)
			const n = 20
			for i := range n {
				set(t, s, "a", Item{N: int64(i)})
				set(t, s, "b", Item{N: int64(i)})
			}
			closeNow(t, s)
			got := byKey(rec.events())
			var wantA, wantB []event
			for i := range n {
				v := Item{N: int64(i)}
				wantA = append(wantA, event{"scoped", "a", v}, event{"global", "a", v}, event{"global2", "a", v})
				wantB = append(wantB, event{"global", "b", v}, event{"global2", "b", v})
			}
			wantEvents(t, "hook calls for a", got["a"], wantA)
			wantEvents(t, "hook calls for b", got["b"], wantB)
		})
	}
}

// testSeveralAsyncHooks (regression): three async hooks on one event each
// run exactly once per event.
func testSeveralAsyncHooks(t *testing.T, f *fixture) {
	const hooks, n = 3, 100
	s := f.store()
	var counts [hooks]atomic.Int64
	for i := range hooks {
		s.OnSet(func(context.Context, string, Item) { counts[i].Add(1) })
	}
	for i := range n {
		set(t, s, fmt.Sprint("k", i%10), item("v", int64(i)))
	}
	waitFor(t, "every hook to see every Set", func() bool {
		for i := range hooks {
			if counts[i].Load() < n {
				return false
			}
		}
		return true
	})
	closeNow(t, s)
	for i := range hooks {
		if got := counts[i].Load(); got != n {
			t.Errorf("hook %d ran %d times for %d Sets", i, got, n)
		}
	}
}

// hookErrors collects what WithHookErrorHandler receives.
type hookErrors struct {
	mu    sync.Mutex
	kinds map[string]int
	first map[string]livedict.HookError
	any   *livedict.HookError
}

func newHookErrors() *hookErrors {
	return &hookErrors{kinds: map[string]int{}, first: map[string]livedict.HookError{}}
}

func (h *hookErrors) handle(e livedict.HookError) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kinds[e.Kind]++
	if _, ok := h.first[e.Kind]; !ok {
		h.first[e.Kind] = e
	}
	if h.any == nil {
		h.any = &e
	}
}

// failed returns the first failure reported, if any.
func (h *hookErrors) failed() *livedict.HookError {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.any
}

func (h *hookErrors) get(kind string) (int, livedict.HookError) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.kinds[kind], h.first[kind]
}

// testPanickingHook: a hook that panics on each of 10,000 Sets never fails a
// Set; its panics are reported with their stack until the breaker switches
// it off, once; the rest of its calls are skipped.
func testPanickingHook(t *testing.T, f *fixture) {
	const n = 10_000
	herr := newHookErrors()
	s := f.store(livedict.WithHookErrorHandler(herr.handle), livedict.WithLogger(quietLogger()))
	s.OnSet(func(context.Context, string, Item) { panic("conformance: hook panic") }, livedict.HookName("panicker"))
	v := item("v", 1)
	for i := range n {
		if err := s.Set(bg, fmt.Sprint("k", i%100), v); err != nil {
			t.Fatalf("Set %d with a panicking hook: %v", i, err)
		}
	}
	waitFor(t, "every call to panic or be skipped", func() bool {
		st := s.Stats().Hooks
		return st.Panics+st.Skipped >= n
	})
	st := s.Stats().Hooks
	if st.Panics+st.Skipped != n || st.Panics == 0 || st.Skipped == 0 || st.Tripped != 1 {
		t.Fatalf("Stats().Hooks = %+v; want Panics+Skipped = %d, some of each, Tripped = 1", st, n)
	}
	if st.Completed != 0 || st.Timeouts != 0 || st.Dropped != 0 {
		t.Fatalf("Stats().Hooks = %+v; want no completed, timed-out or dropped calls", st)
	}
	waitFor(t, "the breaker trip to be reported", func() bool { c, _ := herr.get("tripped"); return c > 0 })
	panics, pe := herr.get("panic")
	if uint64(panics) != st.Panics {
		t.Errorf("error handler got %d panics, Stats counts %d", panics, st.Panics)
	}
	if pe.Err == nil || !strings.Contains(pe.Err.Error(), "conformance: hook panic") || !strings.Contains(pe.Err.Error(), "goroutine") {
		t.Errorf("panic HookError %v: want the panic value and a stack", pe)
	}
	if pe.HookName != "panicker" || pe.HookID == 0 || !strings.HasPrefix(pe.Key, "k") {
		t.Errorf("panic HookError names hook %q #%d, key %q; want panicker, its id, a key k..", pe.HookName, pe.HookID, pe.Key)
	}
	tripped, te := herr.get("tripped")
	if tripped != 1 || te.HookName != "panicker" {
		t.Errorf("error handler got %d trips (%v), want 1 for hook panicker", tripped, te)
	}
}

// testHookNeverReturns: a hook that blocks forever, with a 20ms timeout,
// neither fails nor blocks 1,000 Sets, and the store's goroutines stay
// bounded; the timeouts are counted.
func testHookNeverReturns(t *testing.T, f *fixture) {
	const n = 1000
	base := runtime.NumGoroutine()
	// Far below one goroutine per call; above what a bounded pool owns
	// (workers, a watchdog, runaways up to a fixed cap).
	bound := base + max(4, runtime.GOMAXPROCS(0)) + 100
	herr := newHookErrors()
	s := f.store(livedict.WithHookErrorHandler(herr.handle), livedict.WithLogger(quietLogger()))
	// Registered after the store, so it runs before the store's Close:
	// the stuck calls return and Close need not wait for them.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s.OnSet(func(context.Context, string, Item) { <-release }, livedict.HookTimeout(20*time.Millisecond))

	peak := 0
	sample := func() {
		peak = max(peak, runtime.NumGoroutine())
	}
	for i := range n {
		if err := s.Set(bg, fmt.Sprint("k", i%50), item("v", int64(i))); err != nil {
			t.Fatalf("Set %d with a stuck hook: %v", i, err)
		}
		if i%10 == 0 {
			sample()
		}
	}
	waitFor(t, "every hook call to be accounted for", func() bool {
		sample()
		st := s.Stats().Hooks
		return st.Queued == 0 && st.Completed+st.Panics+st.Timeouts+st.Dropped+st.Skipped >= n
	})
	if peak > bound {
		t.Errorf("%d goroutines at the peak, %d before the store: want at most %d", peak, base, bound)
	}
	st := s.Stats().Hooks
	if st.Timeouts == 0 || st.Completed != 0 {
		t.Errorf("Stats().Hooks = %+v: want timeouts and no completed call", st)
	}
	if c, e := herr.get("timeout"); c == 0 || !errors.Is(e.Err, context.DeadlineExceeded) {
		t.Errorf("error handler got %d timeouts (first: %v), want some, wrapping context.DeadlineExceeded", c, e)
	}
}

// testHooksCallBack: hooks that call Set, Get, Delete, Has, TTL, Len and
// Update on their own store, on their own key and others, do not deadlock:
// async or inline, with the ctx the hook was given or with another one (a
// hook may well use context.Background()), OnExpire hooks included.
func testHooksCallBack(t *testing.T, f *fixture) {
	for _, mode := range []struct {
		name     string
		opts     []livedict.HookOption
		otherCtx bool
	}{
		{"Async/HookCtx", nil, false},
		{"Async/OtherCtx", nil, true},
		{"Inline/HookCtx", []livedict.HookOption{livedict.Inline()}, false},
		{"Inline/OtherCtx", []livedict.HookOption{livedict.Inline()}, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			f := f.child(t)
			herr := newHookErrors()
			s := f.store(livedict.WithBucket("callback-"+strings.ReplaceAll(mode.name, "/", "-")),
				livedict.WithHookErrorHandler(herr.handle))
			// until waits for cond, or fails at once when a hook failed.
			until := func(what string, cond func() bool) {
				t.Helper()
				waitFor(t, what, func() bool { return cond() || herr.failed() != nil })
				if e := herr.failed(); e != nil {
					t.Fatalf("waiting for %s: a hook failed: %v", what, e)
				}
			}
			opts := func(key string) []livedict.HookOption {
				return append([]livedict.HookOption{engine.ForKey(key)}, mode.opts...)
			}
			use := func(hookCtx context.Context) context.Context {
				if mode.otherCtx {
					return bg
				}
				return hookCtx
			}
			errs := make(chan error, 100)
			check := func(what string, err error) {
				if err != nil {
					errs <- fmt.Errorf("%s: %w", what, err)
				}
			}
			var runs atomic.Int64
			var again, reget atomic.Bool
			s.OnSet(func(ctx context.Context, key string, v Item) {
				ctx = use(ctx)
				_, _, err := s.Get(ctx, "a")
				check("Get(a)", err)
				if again.CompareAndSwap(false, true) {
					check("Set(a)", s.Set(ctx, "a", item("again", 2))) // the same key: this hook runs again
					check("Set(b)", s.Set(ctx, "b", item("b", 3)))
					_, err := s.Delete(ctx, "c")
					check("Delete(c)", err)
					_, err = s.Has(ctx, "a")
					check("Has(a)", err)
					_, _, err = s.TTL(ctx, "a")
					check("TTL(a)", err)
					_, err = s.Len(ctx)
					check("Len", err)
					check("Update(d)", s.Update(ctx, "d", func(cur Item, _ bool) (Item, bool, error) {
						cur.N++
						return cur, true, nil
					}))
				}
				runs.Add(1)
			}, opts("a")...)
			s.OnGet(func(ctx context.Context, key string, v Item) {
				if reget.CompareAndSwap(false, true) {
					_, _, err := s.Get(use(ctx), key) // the same key and event
					check("Get from OnGet", err)
				}
			}, opts("a")...)
			s.OnDelete(func(ctx context.Context, key string, v Item) {
				check("Set(c2) from OnDelete", s.Set(use(ctx), "c2", v))
				_, err := s.Delete(use(ctx), key)
				check("Delete(c) from OnDelete", err)
			}, opts("c")...)
			s.OnExpire(func(ctx context.Context, key string, v Item) {
				check("Update(d) from OnExpire", s.Update(use(ctx), "d", func(cur Item, _ bool) (Item, bool, error) {
					cur.N++
					return cur, true, nil
				}))
				// Bring the key back, as a cache refreshing itself would.
				check("Set(e) from OnExpire", s.Set(use(ctx), key, item("reborn", 5), livedict.NoExpiry()))
			}, opts("e")...)

			set(t, s, "c", item("c", 4))
			within(t, "Set(a) with hooks calling back into the store", func() error {
				return s.Set(bg, "a", item("a", 1))
			})
			until("the OnSet hook of a to run twice", func() bool { return runs.Load() >= 2 })
			until("the OnDelete hook of c to copy it to c2", func() bool { return has(t, s, "c2") })
			within(t, "Get(a) with a hook calling Get", func() error {
				_, _, err := s.Get(bg, "a")
				return err
			})
			until("the OnGet hook to run", reget.Load)
			set(t, s, "e", item("e", 6), livedict.TTL(10*time.Millisecond))
			f.clk.Advance(10 * time.Millisecond)
			until("the OnExpire hook of e to set it again", func() bool {
				v, ok := get(t, s, "e")
				return ok && v.Name == "reborn"
			})
			within(t, "Set(a) after the OnExpire hook ran", func() error { return s.Set(bg, "a", item("a", 7)) })
			until("the OnSet hook of a to run a third time", func() bool { return runs.Load() >= 3 })
			if d := mustGet(t, s, "d"); d.N != 2 {
				t.Errorf("the hooks' Updates of d ran %d times, want 2", d.N)
			}
			closeNow(t, s)
			close(errs)
			for err := range errs {
				t.Errorf("store call from a hook: %v", err)
			}
		})
	}
}

// testInlineHooks: Inline hooks have run when the operation returns.
func testInlineHooks(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnSet(rec.hook("set"), livedict.Inline())
	s.OnGet(rec.hook("get"), livedict.Inline())
	s.OnDelete(rec.hook("delete"), livedict.Inline())
	s.OnEvict(rec.hook("evict"), livedict.Inline())
	var want []event
	step := func(what string, op func(), add ...event) {
		t.Helper()
		op()
		want = append(want, add...)
		wantEvents(t, "inline hook calls after "+what, rec.events(), want)
	}
	step("Set", func() { set(t, s, "a", item("a", 1)) }, event{"set", "a", item("a", 1)})
	step("Get", func() { wantValue(t, s, "a", item("a", 1)) }, event{"get", "a", item("a", 1)})
	step("Get of a missing key", func() { wantMissing(t, s, "b") })
	step("Update", func() {
		err := s.Update(bg, "a", func(cur Item, _ bool) (Item, bool, error) { cur.N = 2; return cur, true, nil })
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
	}, event{"set", "a", func() Item { v := item("a", 1); v.N = 2; return v }()})
	step("Delete", func() {
		if ok, err := s.Delete(bg, "a"); !ok || err != nil {
			t.Fatalf("Delete(a) = %v, %v", ok, err)
		}
	}, event{"delete", "a", func() Item { v := item("a", 1); v.N = 2; return v }()})
}

// testEnableDisableRemove: SetHookEnabled stops and restarts a hook;
// RemoveHook stops it for good; both report whether the hook exists.
func testEnableDisableRemove(t *testing.T, f *fixture) {
	s := f.store()
	var calls atomic.Int64
	id := hookID(s.OnSet(func(context.Context, string, Item) { calls.Add(1) }, livedict.Inline()))
	var other atomic.Int64
	s.OnSet(func(context.Context, string, Item) { other.Add(1) }, livedict.Inline())
	steps := []struct {
		name      string
		op        func() bool // nil: no hook call
		wantOK    bool
		wantCalls int64
	}{
		{"enabled", nil, true, 1},
		{"SetHookEnabled(false)", func() bool { return s.SetHookEnabled(id, false) }, true, 1},
		{"SetHookEnabled(false) again", func() bool { return s.SetHookEnabled(id, false) }, true, 1},
		{"SetHookEnabled(true)", func() bool { return s.SetHookEnabled(id, true) }, true, 2},
		{"RemoveHook", func() bool { return s.RemoveHook(id) }, true, 2},
		{"RemoveHook again", func() bool { return s.RemoveHook(id) }, false, 2},
		{"SetHookEnabled(true) after RemoveHook", func() bool { return s.SetHookEnabled(id, true) }, false, 2},
		{"SetHookEnabled of an unknown id", func() bool { return s.SetHookEnabled(id+1000, true) }, false, 2},
		{"RemoveHook of an unknown id", func() bool { return s.RemoveHook(id + 1000) }, false, 2},
	}
	for i, st := range steps {
		if st.op != nil {
			if ok := st.op(); ok != st.wantOK {
				t.Fatalf("%s = %v, want %v", st.name, ok, st.wantOK)
			}
		}
		set(t, s, "k", item("v", int64(i)))
		if got := calls.Load(); got != st.wantCalls {
			t.Fatalf("after %s and a Set: the hook ran %d times, want %d", st.name, got, st.wantCalls)
		}
		if got := other.Load(); got != int64(i+1) {
			t.Fatalf("after %s: the other hook ran %d times, want %d", st.name, got, i+1)
		}
	}
}

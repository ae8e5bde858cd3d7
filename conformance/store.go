package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/memory"
)

var bucketTests = []subtest{
	{name: "Isolated", fn: testBucketsIsolated},
	{name: "OneType", fn: testBucketOneType},
}

var valueTests = []subtest{
	{name: "CopiedOnSetAndGet", fn: testValuesCopied},
	{name: "CopiedForHooks", fn: testValuesCopiedForHooks},
	{name: "SharedWithoutCopies", fn: testValuesSharedWithoutCopies},
}

var limitTests = []subtest{
	{name: "RejectNew", fn: testLimitRejectNew},
	{name: "EvictLRU", fn: testLimitEvictLRU},
	{name: "EvictLRUTouchAndExpire", fn: testLimitEvictLRUTouchExpire},
}

var updateTests = []subtest{
	{name: "ConcurrentIncrements", fn: testUpdateConcurrent},
	{name: "CreatesMissingKey", fn: testUpdateCreates},
	{name: "KeepFalseDeletes", fn: testUpdateDeletes},
	{name: "ErrorChangesNothing", fn: testUpdateError},
}

var basicTests = []subtest{
	{name: "LenKeysRangeClear", fn: testLenKeysRangeClear},
	{name: "RangeStops", fn: testRangeStops},
	{name: "RangeCallsStore", fn: testRangeCallsStore},
}

var closeTests = []subtest{
	{name: "Idempotent", fn: testCloseIdempotent},
	{name: "ErrClosedAfterClose", fn: testErrClosedAfterClose},
}

// testBucketsIsolated: two stores on one backend with different buckets
// never see each other's keys, values, counts, clears or expiries.
func testBucketsIsolated(t *testing.T, f *fixture) {
	f.needSharedBackend()
	a := f.store(livedict.WithBucket("alpha"))
	b := f.store(livedict.WithBucket("beta"))
	recA, recB := newRecorder(), newRecorder()
	a.OnExpire(recA.hook("expire"))
	b.OnExpire(recB.hook("expire"))

	set(t, a, "shared", item("in alpha", 1))
	set(t, a, "a1", item("a1", 2))
	set(t, a, "a2", item("a2", 3))
	set(t, b, "shared", item("in beta", 4))
	set(t, b, "b1", item("b1", 5))

	wantValue(t, a, "shared", item("in alpha", 1))
	wantValue(t, b, "shared", item("in beta", 4))
	wantMissing(t, a, "b1")
	wantMissing(t, b, "a1")
	if has(t, a, "b1") || has(t, b, "a2") {
		t.Fatal("Has sees a key of the other bucket")
	}
	wantTTL(t, a, "b1", 0, false)
	wantLen(t, a, 3)
	wantLen(t, b, 2)
	wantKeys(t, a, "a1", "a2", "shared")
	wantKeys(t, b, "b1", "shared")
	if d := cmp.Diff(map[string]Item{"shared": item("in beta", 4), "b1": item("b1", 5)}, contents(t, b)); d != "" {
		t.Fatalf("Range of beta (-want +got):\n%s", d)
	}
	if ok, err := a.Delete(bg, "b1"); ok || err != nil {
		t.Fatalf("alpha Delete(b1) = %v, %v; want false, nil", ok, err)
	}
	wantValue(t, b, "b1", item("b1", 5))

	if err := a.Clear(bg); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	wantLen(t, a, 0)
	wantLen(t, b, 2)
	wantValue(t, b, "shared", item("in beta", 4))

	// Expiries go to the store of their bucket only.
	set(t, a, "ax", item("ax", 6), livedict.TTL(10*time.Millisecond))
	set(t, b, "bx", item("bx", 7), livedict.TTL(10*time.Millisecond))
	f.clk.Advance(10 * time.Millisecond)
	recA.wait(t, 1)
	recB.wait(t, 1)
	wantValue(t, b, "b1", item("b1", 5))
	closeNow(t, a)
	closeNow(t, b)
	wantEvents(t, "alpha's OnExpire", recA.events(), []event{{"expire", "ax", item("ax", 6)}})
	wantEvents(t, "beta's OnExpire", recB.events(), []event{{"expire", "bx", item("bx", 7)}})
}

// mutate changes every reference field of v (and of v.Next) in place.
func mutate(v Item) {
	if len(v.Tags) > 0 {
		v.Tags[0] = "mutated"
	}
	if v.Attrs != nil {
		v.Attrs["n"] = -1000
		v.Attrs["added"] = 1
	}
	if v.Next != nil {
		v.Next.Name = "mutated"
		if v.Next.Attrs != nil {
			v.Next.Attrs["depth"] = -1
		}
		v.Next.Next = &Item{Name: "grown"}
	}
}

// testValuesCopied: mutating a value after Set, after Get, during Range or
// after Async().Set never changes what is stored.
func testValuesCopied(t *testing.T, f *fixture) {
	s := f.store()
	want := item("v", 1)

	v := item("v", 1)
	set(t, s, "k", v)
	mutate(v)
	wantValue(t, s, "k", want)

	got := mustGet(t, s, "k")
	mutate(got)
	wantValue(t, s, "k", want)

	if err := s.Range(bg, func(_ string, v Item) bool { mutate(v); return true }); err != nil {
		t.Fatalf("Range: %v", err)
	}
	wantValue(t, s, "k", want)

	v = item("v", 1)
	fut := s.Async().Set(bg, "async", v)
	mutate(v) // the Set may not have run yet
	if _, err := fut.Wait(bg); err != nil {
		t.Fatalf("Async().Set: %v", err)
	}
	wantValue(t, s, "async", want)

	lk, err := s.Async().Get(bg, "k").Wait(bg)
	if err != nil || !lk.Found {
		t.Fatalf("Async().Get = %+v, %v", lk, err)
	}
	mutate(lk.Value)
	wantValue(t, s, "k", want)

	err = s.Update(bg, "k", func(cur Item, _ bool) (Item, bool, error) {
		next := cur
		return next, true, nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	// fn's result is the caller's too.
	var kept Item
	err = s.Update(bg, "u", func(Item, bool) (Item, bool, error) { kept = item("v", 1); return kept, true, nil })
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	mutate(kept)
	wantValue(t, s, "u", want)
}

// testValuesSharedWithoutCopies: with WithoutCopies, the typed memory
// backend keeps the value Set was given and hands that one to Get, so a
// mutation after Set shows in what is stored (the promise the program made
// is broken here on purpose, to see that nothing was copied); hooks get the
// value Set was given on every backend. SQLite, Redis and the memory
// backend's byte path decode every read afresh: there Get is unchanged.
func testValuesSharedWithoutCopies(t *testing.T, f *fixture) {
	s := f.store(livedict.WithoutCopies())
	heard := make(chan Item, 1)
	if _, err := s.OnSet(func(_ context.Context, _ string, v Item) { heard <- v }, livedict.Inline()); err != nil {
		t.Fatal(err)
	}
	v := item("v", 1)
	set(t, s, "k", v)
	wantValue(t, s, "k", item("v", 1))
	got := mustGet(t, s, "k")
	hooked := <-heard
	shared := &got.Tags[0] == &v.Tags[0]
	_, typed := f.be.(*memory.Backend)
	if inProcess := f.be == nil || typed; shared != inProcess {
		t.Fatalf("Get shares the slice Set was given: %v; want %v on this backend", shared, inProcess)
	}
	// A hook hears the value the write was given, on every backend.
	if &hooked.Tags[0] != &v.Tags[0] {
		t.Errorf("the OnSet hook got a copy of the value Set was given; without copies it gets that value")
	}
	mutate(v)
	if shared {
		if got := mustGet(t, s, "k"); got.Tags[0] != "mutated" {
			t.Errorf("after mutating the value given to Set, Get returns Tags %q; without copies it is that value", got.Tags)
		}
	} else {
		wantValue(t, s, "k", item("v", 1))
	}
}

type hookFunc = func(context.Context, string, Item)

// testValuesCopiedForHooks: every hook gets a copy of its own. Of two hooks
// of one event, inline or async, one mutates the value it got: that changes
// neither what the other hook gets, nor what is stored, nor what the caller
// of Set or Get has.
func testValuesCopiedForHooks(t *testing.T, f *fixture) {
	want := item("v", 1)
	events := []struct {
		name     string
		register func(s *Store) func(hookFunc, ...livedict.HookOption) (livedict.HookID, error)
		opts     []livedict.Option
		raise    func(t *testing.T, f *fixture, s *Store)
	}{
		{"OnSet", func(s *Store) func(hookFunc, ...livedict.HookOption) (livedict.HookID, error) { return s.OnSet }, nil,
			func(t *testing.T, f *fixture, s *Store) {
				v := item("v", 1)
				set(t, s, "k", v)
				if d := cmp.Diff(want, v); d != "" {
					t.Errorf("OnSet hooks changed the caller's value (-want +got):\n%s", d)
				}
				wantValue(t, s, "k", want)
			}},
		{"OnGet", func(s *Store) func(hookFunc, ...livedict.HookOption) (livedict.HookID, error) { return s.OnGet }, nil,
			func(t *testing.T, f *fixture, s *Store) {
				set(t, s, "k", item("v", 1))
				if d := cmp.Diff(want, mustGet(t, s, "k")); d != "" {
					t.Errorf("OnGet hooks changed what Get returned (-want +got):\n%s", d)
				}
			}},
		{"OnDelete", func(s *Store) func(hookFunc, ...livedict.HookOption) (livedict.HookID, error) { return s.OnDelete }, nil,
			func(t *testing.T, f *fixture, s *Store) {
				set(t, s, "k", item("v", 1))
				if ok, err := s.Delete(bg, "k"); !ok || err != nil {
					t.Fatalf("Delete(k) = %v, %v", ok, err)
				}
			}},
		{"OnEvict", func(s *Store) func(hookFunc, ...livedict.HookOption) (livedict.HookID, error) { return s.OnEvict },
			[]livedict.Option{livedict.WithMaxKeys(1, livedict.EvictLRU)},
			func(t *testing.T, f *fixture, s *Store) {
				set(t, s, "k", item("v", 1))
				set(t, s, "other", item("other", 2))
			}},
		{"OnExpire", func(s *Store) func(hookFunc, ...livedict.HookOption) (livedict.HookID, error) { return s.OnExpire }, nil,
			func(t *testing.T, f *fixture, s *Store) {
				set(t, s, "k", item("v", 1), livedict.TTL(10*time.Millisecond))
				f.clk.Advance(10 * time.Millisecond)
			}},
	}
	for _, ev := range events {
		t.Run(ev.name, func(t *testing.T) {
			f := f.child(t)
			s := f.store(append([]livedict.Option{livedict.WithBucket("hook-copies-" + ev.name)}, ev.opts...)...)
			var mu sync.Mutex
			var problems []string
			var checked atomic.Int32
			mutator := func(_ context.Context, key string, v Item) { mutate(v) }
			checker := func(mode string) hookFunc {
				return func(_ context.Context, key string, v Item) {
					if d := cmp.Diff(want, v); d != "" {
						mu.Lock()
						problems = append(problems, fmt.Sprintf("%s hook got a value another hook mutated (-want +got):\n%s", mode, d))
						mu.Unlock()
					}
					checked.Add(1)
				}
			}
			register := ev.register(s)
			// Hooks of one event run in registration order: each checker
			// runs after a mutator of its kind.
			register(mutator, livedict.Inline())
			register(checker("inline"), livedict.Inline())
			register(mutator)
			register(checker("async"))
			ev.raise(t, f, s)
			waitFor(t, "both checking hooks to run", func() bool { return checked.Load() >= 2 })
			closeNow(t, s)
			if n := checked.Load(); n != 2 {
				t.Errorf("the checking hooks ran %d times, want 2", n)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range problems {
				t.Error(p)
			}
		})
	}
}

// testLimitRejectNew: a store full at 3 keys refuses a 4th with ErrLimit
// and still accepts writes of the keys it has.
func testLimitRejectNew(t *testing.T, f *fixture) {
	s := f.store(livedict.WithMaxKeys(3, livedict.RejectNew))
	for _, k := range []string{"a", "b", "c"} {
		set(t, s, k, item(k, 1))
	}
	if err := s.Set(bg, "d", item("d", 1)); !errors.Is(err, backend.ErrLimit) {
		t.Fatalf("Set of a 4th key: %v, want ErrLimit", err)
	}
	err := s.Update(bg, "d", func(Item, bool) (Item, bool, error) { return item("d", 1), true, nil })
	if !errors.Is(err, backend.ErrLimit) {
		t.Fatalf("Update creating a 4th key: %v, want ErrLimit", err)
	}
	if has(t, s, "d") {
		t.Fatal("the refused key was stored")
	}
	set(t, s, "a", item("a", 2))
	wantValue(t, s, "a", item("a", 2))
	wantLen(t, s, 3)
	if ok, err := s.Delete(bg, "b"); !ok || err != nil {
		t.Fatalf("Delete(b) = %v, %v", ok, err)
	}
	set(t, s, "d", item("d", 1))
	// An expired key does not count.
	set(t, s, "c", item("c", 2), livedict.TTL(10*time.Millisecond))
	f.clk.Advance(10 * time.Millisecond)
	set(t, s, "e", item("e", 1))
	wantKeys(t, s, "a", "d", "e")
}

// testLimitEvictLRU: a store full at 3 keys evicts the least recently used
// key for a new one, counting Gets and Sets as uses, and reports it to
// OnEvict with its value.
func testLimitEvictLRU(t *testing.T, f *fixture) {
	s := f.store(livedict.WithMaxKeys(3, livedict.EvictLRU))
	rec := newRecorder()
	s.OnEvict(rec.hook("evict"), livedict.Inline())
	for _, k := range []string{"a", "b", "c"} {
		set(t, s, k, item(k, 1))
	}
	wantValue(t, s, "a", item("a", 1)) // a is now used more recently than b
	set(t, s, "d", item("d", 1))
	wantEvents(t, "OnEvict after the 4th key", rec.events(), []event{{"evict", "b", item("b", 1)}})
	set(t, s, "a", item("a", 2)) // recency order now: a, d, c
	set(t, s, "e", item("e", 1))
	wantEvents(t, "OnEvict after the 5th key", rec.events(), []event{
		{"evict", "b", item("b", 1)},
		{"evict", "c", item("c", 1)},
	})
	wantKeys(t, s, "a", "d", "e")
	wantValue(t, s, "a", item("a", 2))
	if st := s.Stats(); st.Evicted != 2 {
		t.Fatalf("Stats().Evicted = %d, want 2", st.Evicted)
	}
}

// testLimitEvictLRUTouchExpire: Touch and Expire of a key count as uses of
// it, on every backend, as a Get does, whether or not its deadline moves.
func testLimitEvictLRUTouchExpire(t *testing.T, f *fixture) {
	s := f.store(livedict.WithMaxKeys(3, livedict.EvictLRU))
	rec := newRecorder()
	s.OnEvict(rec.hook("evict"), livedict.Inline())
	for _, k := range []string{"a", "b", "c"} {
		set(t, s, k, item(k, 1), livedict.Idle(time.Hour))
	}
	// Recency order after these, least recent first: c, a, b.
	if ok, err := s.Touch(bg, "a"); err != nil || !ok {
		t.Fatalf("Touch(a) = %v, %v; want true, nil", ok, err)
	}
	if ok, err := s.Expire(bg, "b", livedict.TTL(time.Hour)); err != nil || !ok {
		t.Fatalf("Expire(b) = %v, %v; want true, nil", ok, err)
	}
	set(t, s, "d", item("d", 1))
	wantEvents(t, "OnEvict after Touch(a), Expire(b) and a 4th key", rec.events(), []event{{"evict", "c", item("c", 1)}})
	set(t, s, "e", item("e", 1))
	wantEvents(t, "OnEvict after a 5th key", rec.events(), []event{
		{"evict", "c", item("c", 1)},
		{"evict", "a", item("a", 1)},
	})
	wantKeys(t, s, "b", "d", "e")
}

// asyncTests: the futures of Async() give what the blocking calls give.
var asyncTests = []subtest{
	{name: "SameResultsAsBlocking", fn: testAsyncSameResults},
	{name: "IssueOrderOneKey", fn: testAsyncIssueOrder},
}

// outcome is what one operation gave, for comparing blocking and async.
type outcome struct {
	Val any
	Err string
}

func result(v any, err error) outcome {
	o := outcome{Val: v}
	if err != nil {
		o.Err = err.Error()
	}
	return o
}

// The shapes of the blocking calls' results, as the futures give them.
func done(err error) outcome              { return result(nil, err) }
func doneF(_ struct{}, err error) outcome { return result(nil, err) }
func found(v Item, ok bool, err error) outcome {
	return result(livedict.Lookup[Item]{Value: v, Found: ok}, err)
}
func remaining(d time.Duration, ok bool, err error) outcome {
	return result(livedict.Lookup[time.Duration]{Value: d, Found: ok}, err)
}
func sortedKeys(ks []string, err error) outcome { slices.Sort(ks); return result(ks, err) }

func awaitF[T any](f *livedict.Future[T]) (T, error) {
	ctx, cancel := context.WithTimeout(bg, guard)
	defer cancel()
	return f.Wait(ctx)
}

// testAsyncSameResults runs one script of operations on two stores, one with
// the blocking calls, one with futures, and compares every result.
func testAsyncSameResults(t *testing.T, f *fixture) {
	syn := f.store(livedict.WithBucket("blocking"))
	a := f.store(livedict.WithBucket("async")).Async()
	incr := func(cur Item, ok bool) (Item, bool, error) { cur.N++; return cur, true, nil }
	drop := func(cur Item, ok bool) (Item, bool, error) { return cur, false, nil }
	boom := errors.New("conformance: boom")
	fail := func(Item, bool) (Item, bool, error) { return Item{}, false, boom }
	minute := livedict.TTL(time.Minute)
	steps := []struct {
		name        string
		sync, async func() outcome
	}{
		{"Set a",
			func() outcome { return done(syn.Set(bg, "a", item("a", 1), minute)) },
			func() outcome { return doneF(awaitF(a.Set(bg, "a", item("a", 1), minute))) }},
		{"Set b",
			func() outcome { return done(syn.Set(bg, "b", item("b", 2))) },
			func() outcome { return doneF(awaitF(a.Set(bg, "b", item("b", 2)))) }},
		{"Set with TTL(0)",
			func() outcome { return done(syn.Set(bg, "z", item("z", 0), livedict.TTL(0))) },
			func() outcome { return doneF(awaitF(a.Set(bg, "z", item("z", 0), livedict.TTL(0)))) }},
		{"Get a",
			func() outcome { return found(syn.Get(bg, "a")) },
			func() outcome { return result(awaitF(a.Get(bg, "a"))) }},
		{"Get missing",
			func() outcome { return found(syn.Get(bg, "x")) },
			func() outcome { return result(awaitF(a.Get(bg, "x"))) }},
		{"Has a",
			func() outcome { return result(syn.Has(bg, "a")) },
			func() outcome { return result(awaitF(a.Has(bg, "a"))) }},
		{"Has missing",
			func() outcome { return result(syn.Has(bg, "x")) },
			func() outcome { return result(awaitF(a.Has(bg, "x"))) }},
		{"TTL a",
			func() outcome { return remaining(syn.TTL(bg, "a")) },
			func() outcome { return result(awaitF(a.TTL(bg, "a"))) }},
		{"TTL b",
			func() outcome { return remaining(syn.TTL(bg, "b")) },
			func() outcome { return result(awaitF(a.TTL(bg, "b"))) }},
		{"TTL missing",
			func() outcome { return remaining(syn.TTL(bg, "x")) },
			func() outcome { return result(awaitF(a.TTL(bg, "x"))) }},
		{"Len",
			func() outcome { return result(syn.Len(bg)) },
			func() outcome { return result(awaitF(a.Len(bg))) }},
		{"Keys",
			func() outcome { return sortedKeys(syn.Keys(bg)) },
			func() outcome { return sortedKeys(awaitF(a.Keys(bg))) }},
		{"Update a",
			func() outcome { return done(syn.Update(bg, "a", incr)) },
			func() outcome { return doneF(awaitF(a.Update(bg, "a", incr))) }},
		{"Update with an error",
			func() outcome { return done(syn.Update(bg, "a", fail)) },
			func() outcome { return doneF(awaitF(a.Update(bg, "a", fail))) }},
		{"Get a after Update",
			func() outcome { return found(syn.Get(bg, "a")) },
			func() outcome { return result(awaitF(a.Get(bg, "a"))) }},
		{"Update deleting a",
			func() outcome { return done(syn.Update(bg, "a", drop)) },
			func() outcome { return doneF(awaitF(a.Update(bg, "a", drop))) }},
		{"Delete b",
			func() outcome { return result(syn.Delete(bg, "b")) },
			func() outcome { return result(awaitF(a.Delete(bg, "b"))) }},
		{"Delete missing",
			func() outcome { return result(syn.Delete(bg, "b")) },
			func() outcome { return result(awaitF(a.Delete(bg, "b"))) }},
		{"Set c",
			func() outcome { return done(syn.Set(bg, "c", item("c", 3))) },
			func() outcome { return doneF(awaitF(a.Set(bg, "c", item("c", 3)))) }},
		{"Len before Clear",
			func() outcome { return result(syn.Len(bg)) },
			func() outcome { return result(awaitF(a.Len(bg))) }},
		{"Clear",
			func() outcome { return done(syn.Clear(bg)) },
			func() outcome { return doneF(awaitF(a.Clear(bg))) }},
		{"Len after Clear",
			func() outcome { return result(syn.Len(bg)) },
			func() outcome { return result(awaitF(a.Len(bg))) }},
		{"Keys after Clear",
			func() outcome { return sortedKeys(syn.Keys(bg)) },
			func() outcome { return sortedKeys(awaitF(a.Keys(bg))) }},
	}
	for _, st := range steps {
		want, got := st.sync(), st.async()
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: async result differs from blocking (-blocking +async):\n%s", st.name, d)
		}
	}
}

// testAsyncIssueOrder: 100 Async().Set of one key from one goroutine take
// effect in issue order: once the last is done, Get returns the last value.
func testAsyncIssueOrder(t *testing.T, f *fixture) {
	const n = 100
	s := f.store()
	futures := make([]*livedict.Future[struct{}], n)
	for i := range n {
		futures[i] = s.Async().Set(bg, "k", Item{Name: "v", N: int64(i)})
	}
	if _, err := awaitF(futures[n-1]); err != nil {
		t.Fatalf("last Async().Set: %v", err)
	}
	wantValue(t, s, "k", Item{Name: "v", N: n - 1})
	for i, fu := range futures {
		if _, err := awaitF(fu); err != nil {
			t.Fatalf("Async().Set %d: %v", i, err)
		}
	}
	wantValue(t, s, "k", Item{Name: "v", N: n - 1})
}

// testUpdateConcurrent: 8 goroutines x 100 Update increments lose none.
func testUpdateConcurrent(t *testing.T, f *fixture) {
	const goroutines, n = 8, 100
	s := f.store()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				err := s.Update(bg, "counter", func(cur Item, ok bool) (Item, bool, error) {
					if !ok {
						cur = Item{Name: "counter", Tags: []string{}}
					}
					cur.N++
					cur.Tags = append(cur.Tags, "x")
					return cur, true, nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Update: %v", err)
	}
	got := mustGet(t, s, "counter")
	if got.N != goroutines*n || len(got.Tags) != goroutines*n {
		t.Fatalf("counter N = %d with %d tags after %d Update increments", got.N, len(got.Tags), goroutines*n)
	}
}

// testUpdateCreates: Update of a missing key sees exists false and creates
// it, with the SetOptions given.
func testUpdateCreates(t *testing.T, f *fixture) {
	s := f.store()
	err := s.Update(bg, "k", func(cur Item, exists bool) (Item, bool, error) {
		if exists {
			return cur, false, errors.New("exists is true for a missing key")
		}
		if d := cmp.Diff(Item{}, cur); d != "" {
			return cur, false, fmt.Errorf("current value of a missing key is not zero: %s", d)
		}
		return item("new", 1), true, nil
	}, livedict.TTL(time.Second))
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	wantValue(t, s, "k", item("new", 1))
	wantTTL(t, s, "k", time.Second, true)
	err = s.Update(bg, "k", func(cur Item, exists bool) (Item, bool, error) {
		if !exists {
			return cur, false, errors.New("exists is false for a stored key")
		}
		cur.N = 2
		return cur, true, nil
	}, livedict.KeepTTL())
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	wantTTL(t, s, "k", time.Second, true)
	if got := mustGet(t, s, "k"); got.N != 2 {
		t.Fatalf("N = %d after Update, want 2", got.N)
	}
}

// testUpdateDeletes: Update returning keep=false deletes the key and fires
// OnDelete with the value it held; on a missing key it does nothing.
func testUpdateDeletes(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnDelete(rec.hook("delete"), livedict.Inline())
	set(t, s, "k", item("k", 1))
	drop := func(cur Item, _ bool) (Item, bool, error) { return Item{}, false, nil }
	if err := s.Update(bg, "k", drop); err != nil {
		t.Fatalf("Update(keep=false): %v", err)
	}
	wantMissing(t, s, "k")
	if err := s.Update(bg, "missing", drop); err != nil {
		t.Fatalf("Update(keep=false) of a missing key: %v", err)
	}
	wantMissing(t, s, "missing")
	wantEvents(t, "OnDelete events", rec.events(), []event{{"delete", "k", item("k", 1)}})
	if st := s.Stats(); st.Deletes != 1 {
		t.Fatalf("Stats().Deletes = %d, want 1", st.Deletes)
	}
}

// testUpdateError: an error from fn is returned as is, and nothing changes:
// no write, no event, on a stored key or a missing one.
func testUpdateError(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnSet(rec.hook("set"), livedict.Inline())
	s.OnDelete(rec.hook("delete"), livedict.Inline())
	set(t, s, "k", item("k", 1), livedict.TTL(time.Minute))
	boom := errors.New("conformance: boom")
	for _, key := range []string{"k", "missing"} {
		for _, keep := range []bool{true, false} {
			err := s.Update(bg, key, func(cur Item, _ bool) (Item, bool, error) {
				cur.N = 99
				return cur, keep, boom
			}, livedict.TTL(time.Hour))
			if err != boom {
				t.Fatalf("Update(%q) with fn failing (keep=%v): error %v, want fn's error as is", key, keep, err)
			}
		}
	}
	wantValue(t, s, "k", item("k", 1))
	wantTTL(t, s, "k", time.Minute, true)
	wantMissing(t, s, "missing")
	wantEvents(t, "hook events", rec.events(), []event{{"set", "k", item("k", 1)}})
}

// testLenKeysRangeClear: the basics of Len, Keys, Range and Clear.
func testLenKeysRangeClear(t *testing.T, f *fixture) {
	s := f.store()
	wantLen(t, s, 0)
	wantKeys(t, s)
	if got := contents(t, s); len(got) != 0 {
		t.Fatalf("Range of an empty store visited %v", got)
	}
	want := map[string]Item{}
	for i := range 5 {
		k := fmt.Sprint("k", i)
		want[k] = item(k, int64(i))
		set(t, s, k, want[k])
	}
	set(t, s, "k0", item("k0", 100)) // a re-set does not add a key
	want["k0"] = item("k0", 100)
	wantLen(t, s, 5)
	wantKeys(t, s, "k0", "k1", "k2", "k3", "k4")
	if d := cmp.Diff(want, contents(t, s)); d != "" {
		t.Fatalf("Range (-want +got):\n%s", d)
	}
	if ok, err := s.Delete(bg, "k1"); !ok || err != nil {
		t.Fatalf("Delete(k1) = %v, %v", ok, err)
	}
	wantLen(t, s, 4)
	wantKeys(t, s, "k0", "k2", "k3", "k4")
	if err := s.Clear(bg); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	wantLen(t, s, 0)
	wantKeys(t, s)
	wantMissing(t, s, "k0")
	if got := contents(t, s); len(got) != 0 {
		t.Fatalf("Range after Clear visited %v", got)
	}
	set(t, s, "after", item("after", 1))
	wantKeys(t, s, "after")
}

// testRangeStops: Range stops as soon as fn returns false.
func testRangeStops(t *testing.T, f *fixture) {
	s := f.store()
	for i := range 50 {
		set(t, s, fmt.Sprint("k", i), item("v", int64(i)))
	}
	visits := 0
	if err := s.Range(bg, func(string, Item) bool { visits++; return false }); err != nil {
		t.Fatalf("Range: %v", err)
	}
	if visits != 1 {
		t.Fatalf("Range went on for %d calls after fn returned false", visits-1)
	}
	visits = 0
	if err := s.Range(bg, func(string, Item) bool { visits++; return visits < 10 }); err != nil {
		t.Fatalf("Range: %v", err)
	}
	if visits != 10 {
		t.Fatalf("Range made %d calls, want 10", visits)
	}
}

// testRangeCallsStore: fn may call the store, reading and writing.
func testRangeCallsStore(t *testing.T, f *fixture) {
	s := f.store()
	for i := range 10 {
		set(t, s, fmt.Sprint("k", i), item("v", int64(i)))
	}
	within(t, "Range with fn calling the store", func() error {
		var ferr error
		err := s.Range(bg, func(k string, v Item) bool {
			if len(k) > 3 { // a copy made by an earlier call; Range may or may not see it
				return true
			}
			got, ok, err := s.Get(bg, k)
			switch {
			case err != nil:
				ferr = err
			case !ok || !cmp.Equal(got, v):
				ferr = fmt.Errorf("Get(%q) in Range = %+v, %v; Range gave %+v", k, got, ok, v)
			default:
				ferr = errors.Join(s.Set(bg, k+"-copy", v), s.Update(bg, k, func(cur Item, _ bool) (Item, bool, error) {
					cur.Name = "updated"
					return cur, true, nil
				}))
				if _, err := s.Len(bg); err != nil {
					ferr = err
				}
			}
			return ferr == nil
		})
		return errors.Join(err, ferr)
	})
	wantLen(t, s, 20)
	for i := range 10 {
		k := fmt.Sprint("k", i)
		wantValue(t, s, k+"-copy", item("v", int64(i)))
		if got := mustGet(t, s, k); got.Name != "updated" {
			t.Fatalf("%s not updated from Range: %+v", k, got)
		}
	}
}

// testCloseIdempotent: Close returns nil however often, and from several
// goroutines at once.
func testCloseIdempotent(t *testing.T, f *fixture) {
	s := f.store()
	s.OnSet(func(context.Context, string, Item) {})
	set(t, s, "k", item("k", 1), livedict.TTL(time.Minute))
	s.Async().Set(bg, "j", item("j", 1))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.Close() }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Close %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close again: %v", err)
	}
}

// testErrClosedAfterClose: every operation after Close returns ErrClosed,
// blocking or async, whether the async view was used before or not.
func testErrClosedAfterClose(t *testing.T, f *fixture) {
	for _, usedAsync := range []bool{false, true} {
		t.Run(fmt.Sprintf("asyncUsedBefore=%v", usedAsync), func(t *testing.T) {
			f := f.child(t)
			s := f.store(livedict.WithBucket(fmt.Sprint("closed-", usedAsync)))
			set(t, s, "k", item("k", 1))
			if usedAsync {
				if _, err := awaitF(s.Async().Set(bg, "a", item("a", 1))); err != nil {
					t.Fatalf("Async().Set: %v", err)
				}
			}
			closeNow(t, s)
			a := s.Async()
			incr := func(cur Item, _ bool) (Item, bool, error) { return cur, true, nil }
			ops := []struct {
				name string
				call func() error
			}{
				{"Set", func() error { return s.Set(bg, "k", item("k", 2)) }},
				{"Get", func() error { _, _, err := s.Get(bg, "k"); return err }},
				{"Has", func() error { _, err := s.Has(bg, "k"); return err }},
				{"TTL", func() error { _, _, err := s.TTL(bg, "k"); return err }},
				{"Delete", func() error { _, err := s.Delete(bg, "k"); return err }},
				{"Update", func() error { return s.Update(bg, "k", incr) }},
				{"Len", func() error { _, err := s.Len(bg); return err }},
				{"Keys", func() error { _, err := s.Keys(bg); return err }},
				{"Range", func() error { return s.Range(bg, func(string, Item) bool { return true }) }},
				{"Clear", func() error { return s.Clear(bg) }},
				{"Lock", func() error { _, err := s.Lock(bg, "k"); return err }},
				{"TryLock", func() error { _, _, err := s.TryLock(bg, "k"); return err }},
				{"Async.Set", func() error { _, err := awaitF(a.Set(bg, "k", item("k", 2))); return err }},
				{"Async.Get", func() error { _, err := awaitF(a.Get(bg, "k")); return err }},
				{"Async.Has", func() error { _, err := awaitF(a.Has(bg, "k")); return err }},
				{"Async.TTL", func() error { _, err := awaitF(a.TTL(bg, "k")); return err }},
				{"Async.Delete", func() error { _, err := awaitF(a.Delete(bg, "k")); return err }},
				{"Async.Update", func() error { _, err := awaitF(a.Update(bg, "k", incr)); return err }},
				{"Async.Len", func() error { _, err := awaitF(a.Len(bg)); return err }},
				{"Async.Keys", func() error { _, err := awaitF(a.Keys(bg)); return err }},
				{"Async.Clear", func() error { _, err := awaitF(a.Clear(bg)); return err }},
			}
			for _, op := range ops {
				var err error
				within(t, op.name+" after Close", func() error { err = op.call(); return nil })
				if !errors.Is(err, backend.ErrClosed) {
					t.Errorf("%s after Close: %v, want ErrClosed", op.name, err)
				}
			}
			// Hook registration and Stats do not fail either.
			id := hookID(s.OnSet(func(context.Context, string, Item) {}))
			s.SetHookEnabled(id, false)
			s.RemoveHook(id)
			_ = s.Stats()
		})
	}
}

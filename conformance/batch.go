package conformance

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
)

// batchTests check GetMany, SetMany and DeleteMany: each key's result is
// the single operation's, hooks fire per key, and a key that fails does
// not fail the others.
var batchTests = []subtest{
	{name: "SameAsSingleOperations", fn: testBatchSameAsSingle},
	{name: "HooksPerKey", fn: testBatchHooks},
	{name: "LimitFailsOnlyItsKeys", fn: testBatchLimit},
	{name: "BadOptionWritesNothing", fn: testBatchBadOption},
	{name: "TTLAndExpiry", fn: testBatchTTL},
	{name: "Empty", fn: testBatchEmpty},
	{name: "UnreadableFailsOnlyItsKey", fn: testBatchUnreadable},
}

func testBatchSameAsSingle(t *testing.T, f *fixture) {
	s := f.store()
	set(t, s, "old", item("old", 1))
	set(t, s, "gone", item("gone", 1), livedict.TTL(10*time.Millisecond))
	f.clk.Advance(10 * time.Millisecond)
	items := map[string]Item{"a": item("a", 1), "b": item("b", 2), "old": item("old", 2)}
	if err := s.SetMany(bg, items); err != nil {
		t.Fatalf("SetMany: %v", err)
	}
	for k, v := range items {
		wantValue(t, s, k, v)
	}
	keys := []string{"a", "missing", "b", "gone", "a", "old"}
	got, err := s.GetMany(bg, keys)
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	var want []livedict.Lookup[Item]
	for _, k := range keys {
		v, ok := get(t, s, k)
		want = append(want, livedict.Lookup[Item]{Value: v, Found: ok})
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GetMany differs from Get key by key (-Get +GetMany):\n%s", d)
	}
	deleted, err := s.DeleteMany(bg, []string{"a", "missing", "gone", "old", "a"})
	if err != nil {
		t.Fatalf("DeleteMany: %v", err)
	}
	// The second "a" finds it deleted by the first, as two Deletes would.
	if d := cmp.Diff([]bool{true, false, false, true, false}, deleted); d != "" {
		t.Errorf("DeleteMany results (-want +got):\n%s", d)
	}
	wantKeys(t, s, "b")
}

func testBatchHooks(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	hookID(s.OnSet(rec.hook("set")))
	hookID(s.OnGet(rec.hook("get")))
	hookID(s.OnDelete(rec.hook("delete")))
	if err := s.SetMany(bg, map[string]Item{"a": item("a", 1), "b": item("b", 2)}); err != nil {
		t.Fatalf("SetMany: %v", err)
	}
	if _, err := s.GetMany(bg, []string{"a", "none", "b"}); err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	if _, err := s.DeleteMany(bg, []string{"b", "none"}); err != nil {
		t.Fatalf("DeleteMany: %v", err)
	}
	got := rec.wait(t, 5)
	slices.SortFunc(got, func(a, b event) int {
		return strings.Compare(a.Kind+a.Key, b.Kind+b.Key)
	})
	wantEvents(t, "hook events of the batches", got, []event{
		{"delete", "b", item("b", 2)},
		{"get", "a", item("a", 1)}, {"get", "b", item("b", 2)},
		{"set", "a", item("a", 1)}, {"set", "b", item("b", 2)},
	})
	// Per key, the events keep the order of the operations.
	for key, evs := range byKey(rec.events()) {
		if d := cmp.Diff(kinds(evs), map[string][]string{"a": {"set a", "get a"}, "b": {"set b", "get b", "delete b"}}[key]); d != "" {
			t.Errorf("events of %s in order (-want +got):\n%s", key, d)
		}
	}
	st := s.Stats()
	if st.Hits != 2 || st.Misses != 1 || st.Sets != 2 || st.Deletes != 1 {
		t.Errorf("Stats after the batches: %d hits, %d misses, %d sets, %d deletes; want 2, 1, 2, 1", st.Hits, st.Misses, st.Sets, st.Deletes)
	}
}

func testBatchLimit(t *testing.T, f *fixture) {
	s := f.store(livedict.WithMaxKeys(3, livedict.RejectNew))
	set(t, s, "a", item("a", 1))
	items := map[string]Item{"a": item("a", 2), "b": item("b", 1), "c": item("c", 1), "d": item("d", 1), "e": item("e", 1)}
	err := s.SetMany(bg, items)
	var be *livedict.BatchError[string]
	if !errors.As(err, &be) || !errors.Is(err, backend.ErrLimit) {
		t.Fatalf("SetMany of 4 new keys into a bucket with room for 2: %v, want a *BatchError matching ErrLimit", err)
	}
	if len(be.Errs) != 2 {
		t.Errorf("%d keys failed (%v), want the 2 that found no room", len(be.Errs), be)
	}
	wantValue(t, s, "a", item("a", 2))
	wantLen(t, s, 3)
	for k := range be.Errs {
		if has(t, s, k) {
			t.Errorf("key %s failed with %v but is stored", k, be.Errs[k])
		}
	}
}

func testBatchBadOption(t *testing.T, f *fixture) {
	s := f.store()
	err := s.SetMany(bg, map[string]Item{"a": item("a", 1)}, livedict.TTL(time.Microsecond))
	if !errors.Is(err, backend.ErrInvalidTTL) {
		t.Fatalf("SetMany with TTL(1µs): %v, want ErrInvalidTTL", err)
	}
	var be *livedict.BatchError[string]
	if errors.As(err, &be) {
		t.Errorf("a bad option is the call's error, not a key's: %v", err)
	}
	wantMissing(t, s, "a")
}

func testBatchTTL(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	hookID(s.OnExpire(rec.hook("expire")))
	if err := s.SetMany(bg, map[string]Item{"a": item("a", 1), "b": item("b", 2)}, livedict.TTL(50*time.Millisecond)); err != nil {
		t.Fatalf("SetMany: %v", err)
	}
	wantTTL(t, s, "a", 50*time.Millisecond, true)
	f.clk.Advance(50 * time.Millisecond)
	got := rec.wait(t, 2)
	slices.SortFunc(got, func(a, b event) int { return strings.Compare(a.Key, b.Key) })
	wantEvents(t, "OnExpire events", got, []event{{"expire", "a", item("a", 1)}, {"expire", "b", item("b", 2)}})
}

func testBatchEmpty(t *testing.T, f *fixture) {
	s := f.store()
	if err := s.SetMany(bg, nil); err != nil {
		t.Errorf("SetMany(nil): %v", err)
	}
	if got, err := s.GetMany(bg, nil); err != nil || len(got) != 0 {
		t.Errorf("GetMany(nil) = %v, %v", got, err)
	}
	if got, err := s.DeleteMany(bg, []string{}); err != nil || len(got) != 0 {
		t.Errorf("DeleteMany([]) = %v, %v", got, err)
	}
}

// testBatchUnreadable: a record the backend cannot read fails its own key
// in GetMany and DeleteMany, with the RecordError Get and Delete give, and
// the other keys' results stand.
func testBatchUnreadable(t *testing.T, f *fixture) {
	const bucket = "batch-unreadable"
	s := f.store(livedict.WithBucket(bucket), livedict.WithLogger(quietLogger()))
	set(t, s, "bad", item("bad", 1), livedict.TTL(time.Hour))
	f.damage(bucket, "bad", FaultDeadline)
	set(t, s, "good", item("good", 1))

	got, err := s.GetMany(bg, []string{"good", "bad"})
	var be *livedict.BatchError[string]
	if !errors.As(err, &be) || len(be.Errs) != 1 {
		t.Fatalf("GetMany: %v, want a *BatchError for the one unreadable key", err)
	}
	wantCorrupt(t, "GetMany", be.Errs["bad"], "bad")
	if !got[0].Found || got[0].Value.Name != "good" || got[1].Found {
		t.Errorf("GetMany = %+v; want good found and bad not", got)
	}
	deleted, err := s.DeleteMany(bg, []string{"bad", "good"})
	if !errors.As(err, &be) || len(be.Errs) != 1 {
		t.Fatalf("DeleteMany: %v, want a *BatchError for the one unreadable key", err)
	}
	wantCorrupt(t, "DeleteMany", be.Errs["bad"], "bad")
	// As Delete does: the unreadable record is removed, as asked.
	if d := cmp.Diff([]bool{true, true}, deleted); d != "" {
		t.Errorf("DeleteMany results (-want +got):\n%s", d)
	}
	wantLen(t, s, 0)
}

package conformance

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict"
)

// iterTests check All and AllKeys: the same keys and values as Range, an
// early break, a loop body that writes, and records that do not decode.
var iterTests = []subtest{
	{name: "SameAsRange", fn: testIterSameAsRange},
	{name: "BreakStops", fn: testIterBreak},
	{name: "BodyCallsStore", fn: testIterBodyWrites},
	{name: "UnreadableReported", fn: testIterUnreadable},
}

// fill sets n keys k000.. (several pages of every backend's Range).
func fill(t *testing.T, s *Store, n int) map[string]Item {
	t.Helper()
	want := map[string]Item{}
	for i := range n {
		k := fmt.Sprintf("k%03d", i)
		want[k] = item(k, int64(i))
	}
	if err := s.SetMany(bg, want); err != nil {
		t.Fatalf("SetMany: %v", err)
	}
	return want
}

func testIterSameAsRange(t *testing.T, f *fixture) {
	s := f.store()
	want := fill(t, s, 600)
	all, done := s.All(bg)
	got := maps.Collect(all)
	if err := done(); err != nil {
		t.Fatalf("All: %v", err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("All differs from what was set (-want +got):\n%s", d)
	}
	keys, done := s.AllKeys(bg)
	gotKeys := slices.Sorted(keys)
	if err := done(); err != nil {
		t.Fatalf("AllKeys: %v", err)
	}
	if d := cmp.Diff(slices.Sorted(maps.Keys(want)), gotKeys); d != "" {
		t.Errorf("AllKeys (-want +got):\n%s", d)
	}
}

func testIterBreak(t *testing.T, f *fixture) {
	s := f.store()
	fill(t, s, 50)
	all, done := s.All(bg)
	n := 0
	for range all {
		n++
		if n == 3 {
			break
		}
	}
	if err := done(); err != nil || n != 3 {
		t.Errorf("a loop that breaks at the third key: %d keys, error %v", n, err)
	}
}

func testIterBodyWrites(t *testing.T, f *fixture) {
	s := f.store()
	want := fill(t, s, 20)
	all, done := s.All(bg)
	for k, v := range all {
		v.N += 1000
		set(t, s, k, v)
	}
	if err := done(); err != nil {
		t.Fatalf("All: %v", err)
	}
	for k, v := range want {
		v.N += 1000
		wantValue(t, s, k, v)
	}
}

func testIterUnreadable(t *testing.T, f *fixture) {
	const bucket = "iter-unreadable"
	s := f.store(livedict.WithBucket(bucket), livedict.WithLogger(quietLogger()))
	want := fill(t, s, 10)
	f.damage(bucket, "k004", FaultDeadline)
	delete(want, "k004")
	all, done := s.All(bg)
	got := maps.Collect(all)
	wantCorrupt(t, "All", done(), "k004")
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("All with an unreadable record yields the others (-want +got):\n%s", d)
	}
}

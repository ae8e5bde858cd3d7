package conformance

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livedict/livedict"
)

// item returns an Item that uses every kind of field.
func item(name string, n int64) Item {
	return Item{
		Name:  name,
		N:     n,
		Tags:  []string{name, "tag-" + strconv.FormatInt(n, 10)},
		Attrs: map[string]int{"n": int(n), "len": len(name)},
		Next:  &Item{Name: name + ".next", N: -n, Tags: []string{}, Attrs: map[string]int{"depth": 1}},
	}
}

func set(t testing.TB, s *Store, key string, v Item, opts ...livedict.SetOption) {
	t.Helper()
	if err := s.Set(bg, key, v, opts...); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

// get returns the value of key, failing the test on an error.
func get(t testing.TB, s *Store, key string) (Item, bool) {
	t.Helper()
	v, ok, err := s.Get(bg, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v, ok
}

// wantValue checks that key holds want.
func wantValue(t testing.TB, s *Store, key string, want Item) {
	t.Helper()
	got, ok := get(t, s, key)
	if !ok {
		t.Fatalf("Get(%q): missing, want %+v", key, want)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Get(%q) (-want +got):\n%s", key, d)
	}
}

// wantMissing checks that Get does not find key.
func wantMissing(t testing.TB, s *Store, key string) {
	t.Helper()
	if got, ok := get(t, s, key); ok {
		t.Fatalf("Get(%q) = %+v, want no value", key, got)
	}
}

func has(t testing.TB, s *Store, key string) bool {
	t.Helper()
	ok, err := s.Has(bg, key)
	if err != nil {
		t.Fatalf("Has(%q): %v", key, err)
	}
	return ok
}

// wantTTL checks TTL(key) against want and found.
func wantTTL(t testing.TB, s *Store, key string, want time.Duration, found bool) {
	t.Helper()
	d, ok, err := s.TTL(bg, key)
	if err != nil {
		t.Fatalf("TTL(%q): %v", key, err)
	}
	if d != want || ok != found {
		t.Fatalf("TTL(%q) = %v, %v; want %v, %v", key, d, ok, want, found)
	}
}

func length(t testing.TB, s *Store) int {
	t.Helper()
	n, err := s.Len(bg)
	if err != nil {
		t.Fatalf("Len: %v", err)
	}
	return n
}

// keys returns the store's keys, sorted.
func keys(t testing.TB, s *Store) []string {
	t.Helper()
	ks, err := s.Keys(bg)
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	slices.Sort(ks)
	return ks
}

// contents returns what Range visits.
func contents(t testing.TB, s *Store) map[string]Item {
	t.Helper()
	m := map[string]Item{}
	err := s.Range(bg, func(k string, v Item) bool {
		if _, dup := m[k]; dup {
			t.Errorf("Range visited %q twice", k)
		}
		m[k] = v
		return true
	})
	if err != nil {
		t.Fatalf("Range: %v", err)
	}
	return m
}

func wantKeys(t testing.TB, s *Store, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	got := keys(t, s)
	if got == nil {
		got = []string{}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Keys (-want +got):\n%s", d)
	}
}

func wantLen(t testing.TB, s *Store, want int) {
	t.Helper()
	if got := length(t, s); got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
}

// wantEvents compares recorded events with want.
func wantEvents(t testing.TB, what string, got, want []event) {
	t.Helper()
	if want == nil {
		want = []event{}
	}
	if got == nil {
		got = []event{}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("%s (-want +got):\n%s", what, d)
	}
}

// closeNow closes s before the end of the test, which also waits for every
// queued hook call: afterwards a recorder's events are final, so a test can
// check that an event did not happen.
func closeNow(t testing.TB, s *Store) {
	t.Helper()
	closeStore(t, s)
	if t.Failed() {
		t.FailNow()
	}
}

// hookID is the id of a hook registration that must succeed.
func hookID(id livedict.HookID, err error) livedict.HookID {
	if err != nil {
		panic(fmt.Sprintf("conformance: registering a hook: %v", err))
	}
	return id
}

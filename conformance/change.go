package conformance

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict"
)

// changeEvent is one OnChange call.
type changeEvent struct {
	Key string
	Ch  livedict.Change[Item]
}

// testChangeEvents: OnChange hears each write that stores a value with the
// live value it replaced: none for a new key, an expired one, or one
// deleted before; the last value otherwise. Set, SetMany and Update alike.
func testChangeEvents(t *testing.T, f *fixture) {
	s := f.store()
	var mu sync.Mutex
	var got []changeEvent
	hookID(s.OnChange(func(_ context.Context, key string, ch livedict.Change[Item]) {
		mu.Lock()
		got = append(got, changeEvent{key, ch})
		mu.Unlock()
	}, livedict.Inline()))
	set(t, s, "a", item("a1", 1))
	set(t, s, "a", item("a2", 2))
	if err := s.Update(bg, "a", func(cur Item, _ bool) (Item, bool, error) { cur.N++; return cur, true, nil }); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := s.SetMany(bg, map[string]Item{"a": item("a4", 4)}); err != nil {
		t.Fatalf("SetMany: %v", err)
	}
	set(t, s, "gone", item("g1", 1), livedict.TTL(10*time.Millisecond))
	f.clk.Advance(10 * time.Millisecond)
	set(t, s, "gone", item("g2", 2))
	if _, err := s.Delete(bg, "gone"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	set(t, s, "gone", item("g3", 3))

	none := Item{}
	updated := item("a2", 2)
	updated.N++
	want := []changeEvent{
		{"a", livedict.Change[Item]{Value: item("a1", 1), Prev: none, Existed: false}},
		{"a", livedict.Change[Item]{Value: item("a2", 2), Prev: item("a1", 1), Existed: true}},
		{"a", livedict.Change[Item]{Value: updated, Prev: item("a2", 2), Existed: true}},
		{"a", livedict.Change[Item]{Value: item("a4", 4), Prev: updated, Existed: true}},
		{"gone", livedict.Change[Item]{Value: item("g1", 1), Existed: false}},
		{"gone", livedict.Change[Item]{Value: item("g2", 2), Existed: false}}, // the old one had expired
		{"gone", livedict.Change[Item]{Value: item("g3", 3), Existed: false}}, // deleted before
	}
	mu.Lock()
	defer mu.Unlock()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("OnChange events (-want +got):\n%s", d)
	}
}

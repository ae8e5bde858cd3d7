package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/livedict/livedict/backend"
)

// writeTests check what a backend's Put reports, on its byte buckets
// (Harness.Raw): the previous entry only when asked, and the displaced
// expiry claimed by the writer.
var writeTests = []subtest{
	{name: "PrevOnlyWhenAsked", fn: testPrevOnlyWhenAsked},
	{name: "DisplacedUnclaimed", fn: testDisplacedUnclaimed},
	{name: "DisplacedClaimedByWriter", fn: testDisplacedClaimed},
	{name: "DisplacedByFailedWrite", fn: testDisplacedByFailedWrite},
	{name: "DisplacedRedeliveredAfterCrash", fn: testDisplacedAfterCrash},
}

func rawPut(t testing.TB, raw backend.Bucket[string, []byte], key string, w backend.Write[[]byte], now int64) backend.WriteResult[string, []byte] {
	t.Helper()
	res, err := raw.Put(bg, key, w, now)
	if err != nil {
		t.Fatalf("raw Put(%q): %v", key, err)
	}
	return res
}

// testPrevOnlyWhenAsked: Put reports the live entry it replaced when the
// write sets WantPrev, and nothing otherwise.
func testPrevOnlyWhenAsked(t *testing.T, f *fixture) {
	raw := f.raw("prev")
	now := f.nowMs()
	if res := rawPut(t, raw, "k", backend.Write[[]byte]{Value: []byte("v1"), Deadline: now + 1000, WantPrev: true}, now); res.Existed {
		t.Fatalf("Put of a new key with WantPrev reported a previous entry: %+v", res)
	}
	if res := rawPut(t, raw, "k", backend.Write[[]byte]{Value: []byte("v2"), Deadline: now + 2000}, now); res.Existed || res.Prev.Value != nil || res.Prev.Version != 0 {
		t.Fatalf("Put without WantPrev reported the previous entry: %+v", res)
	}
	cur, ok, err := raw.Get(bg, "k", now)
	if err != nil || !ok {
		t.Fatalf("raw Get(k) = %v, %v", ok, err)
	}
	res := rawPut(t, raw, "k", backend.Write[[]byte]{Value: []byte("v3"), KeepTTL: true, WantPrev: true}, now)
	if !res.Existed || string(res.Prev.Value) != "v2" || res.Prev.Deadline != now+2000 || res.Prev.Version != cur.Version {
		t.Fatalf("Put with WantPrev reported %+v (existed %v); want v2, deadline %d, version %d", res.Prev, res.Existed, now+2000, cur.Version)
	}
	// An expired entry is not a previous one: it expires.
	res = rawPut(t, raw, "k", backend.Write[[]byte]{Value: []byte("v4"), WantPrev: true}, now+2000)
	if res.Existed || !res.ExpiredMoved || res.Displaced != nil {
		t.Fatalf("Put with WantPrev over an expired entry reported %+v; want no previous entry, the expiry moved to the outbox", res)
	}
}

// testDisplacedUnclaimed: without ClaimDisplaced, an expired entry a Put
// displaces goes to the outbox, where ClaimExpired finds it.
func testDisplacedUnclaimed(t *testing.T, f *fixture) {
	raw := f.raw("unclaimed")
	now := f.nowMs()
	rawPut(t, raw, "k", backend.Write[[]byte]{Value: []byte("old"), Deadline: now + 10}, now)
	res := rawPut(t, raw, "k", backend.Write[[]byte]{Value: []byte("new")}, now+10)
	if !res.ExpiredMoved || res.Displaced != nil {
		t.Fatalf("Put over an expired entry = %+v; want it moved to the outbox, not handed back", res)
	}
	evs, err := raw.ClaimExpired(bg, now+10, 100, time.Minute)
	if err != nil || len(evs) != 1 || evs[0].Key != "k" || string(evs[0].Value) != "old" || evs[0].Deadline != now+10 {
		t.Fatalf("ClaimExpired = %+v, %v; want the expiry of k with its old value", evs, err)
	}
	if err := raw.AckExpired(bg, []string{evs[0].ID}); err != nil {
		t.Fatalf("AckExpired: %v", err)
	}
}

// testDisplacedClaimed: with ClaimDisplaced, Put hands the displaced expiry
// back claimed: no ClaimExpired, of this handle or another, gets it within
// the lease, and AckExpired removes it.
func testDisplacedClaimed(t *testing.T, f *fixture) {
	raw := f.raw("claimed")
	now := f.nowMs()
	rawPut(t, raw, "k", backend.Write[[]byte]{Value: []byte("old"), Deadline: now + 10}, now)
	rawPut(t, raw, "other", backend.Write[[]byte]{Value: []byte("x"), Deadline: now + 10}, now)
	if n, err := raw.SweepExpired(bg, now+10, 1); err != nil || n != 1 {
		// The sweep takes "k" or "other"; whichever is left is displaced
		// below.
		t.Fatalf("SweepExpired = %d, %v; want 1", n, err)
	}
	swept, err := raw.ClaimExpired(bg, now+10, 100, time.Minute)
	if err != nil || len(swept) != 1 {
		t.Fatalf("ClaimExpired after the sweep = %+v, %v; want one event", swept, err)
	}
	key, old := "k", "old"
	if swept[0].Key == "k" {
		key, old = "other", "x"
	}
	res := rawPut(t, raw, key, backend.Write[[]byte]{Value: []byte("new"), ClaimDisplaced: time.Minute}, now+10)
	d := res.Displaced
	// A shared backend delivers an unacknowledged event again, so its
	// events need an ID; the memory backend's need none (Expired.ID).
	if !res.ExpiredMoved || d == nil || f.h.Shared && d.ID == "" || d.Key != key || string(d.Value) != old || d.Deadline != now+10 {
		t.Fatalf("Put with ClaimDisplaced over an expired entry = %+v (displaced %+v); want the expiry of %s with value %q, deadline %d", res, d, key, old, now+10)
	}
	if d.ID != "" && d.ID == swept[0].ID {
		t.Fatalf("the displaced event has the ID %q of another event", d.ID)
	}
	other := f.raw("claimed")
	for name, b := range map[string]backend.Bucket[string, []byte]{"the writer's handle": raw, "another handle": other} {
		if evs, err := b.ClaimExpired(bg, now+20, 100, time.Minute); err != nil || len(evs) != 0 {
			t.Fatalf("ClaimExpired on %s within the lease = %+v, %v; want nothing: the writer holds the event", name, evs, err)
		}
	}
	if err := raw.AckExpired(bg, []string{swept[0].ID, d.ID}); err != nil {
		t.Fatalf("AckExpired: %v", err)
	}
	wantValueRaw(t, raw, key, "new", now+10)
	if f.h.Shared {
		later := now + time.Hour.Milliseconds()
		if evs, err := other.ClaimExpired(bg, later, 100, time.Millisecond); err != nil || len(evs) != 0 {
			t.Fatalf("ClaimExpired past the lease after the ack = %+v, %v; want nothing", evs, err)
		}
	}
}

// testDisplacedByFailedWrite: a conditional Put that fails with
// ErrConflict after displacing an expired entry still reports, and hands
// back, what it displaced.
func testDisplacedByFailedWrite(t *testing.T, f *fixture) {
	raw := f.raw("failed")
	now := f.nowMs()
	rawPut(t, raw, "k", backend.Write[[]byte]{Value: []byte("old"), Deadline: now + 10}, now)
	cur, ok, err := raw.Get(bg, "k", now)
	if err != nil || !ok {
		t.Fatalf("raw Get(k) = %v, %v", ok, err)
	}
	// The write expects the version it read before the entry expired.
	res, err := raw.Put(bg, "k", backend.Write[[]byte]{Value: []byte("new"), Conditional: true, IfVersion: cur.Version, ClaimDisplaced: time.Minute}, now+10)
	if !errors.Is(err, backend.ErrConflict) {
		t.Fatalf("conditional Put over an expired entry: %v, want ErrConflict", err)
	}
	if d := res.Displaced; !res.ExpiredMoved || d == nil || d.Key != "k" || string(d.Value) != "old" {
		t.Fatalf("failed Put = %+v (displaced %+v); want the expiry of k it displaced", res, d)
	}
	if _, ok, err := raw.Get(bg, "k", now); ok || err != nil {
		t.Fatalf("raw Get(k) after the failed write = %v, %v; want nothing", ok, err)
	}
	if err := raw.AckExpired(bg, []string{res.Displaced.ID}); err != nil {
		t.Fatalf("AckExpired: %v", err)
	}
}

// testDisplacedAfterCrash: a displaced expiry whose writer never
// acknowledged it (its process died) is handed out again once its claim
// lease has passed, to another handle: at-least-once.
func testDisplacedAfterCrash(t *testing.T, f *fixture) {
	if !f.h.Shared {
		t.Skip("a backend that loses everything with its process has nothing to hand out again")
	}
	const lease = time.Second
	writer := f.raw("crash")
	now := f.nowMs()
	rawPut(t, writer, "k", backend.Write[[]byte]{Value: []byte("old"), Deadline: now + 10}, now)
	res := rawPut(t, writer, "k", backend.Write[[]byte]{Value: []byte("new"), ClaimDisplaced: lease}, now+10)
	if res.Displaced == nil {
		t.Fatalf("Put with ClaimDisplaced over an expired entry = %+v; want the displaced expiry", res)
	}
	// The writer dies with the event in hand.
	if err := writer.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	other := f.raw("crash")
	if evs, err := other.ClaimExpired(bg, now+20, 100, lease); err != nil || len(evs) != 0 {
		t.Fatalf("ClaimExpired within the lease = %+v, %v; want nothing", evs, err)
	}
	// Past the lease by the callers' clock (SQLite) and by the server's
	// idle time (Redis).
	after := now + 10 + lease.Milliseconds()
	var evs []backend.Expired[string, []byte]
	waitFor(t, "the displaced expiry to be handed out again", func() bool {
		var err error
		evs, err = other.ClaimExpired(bg, after, 100, lease)
		if err != nil {
			t.Fatalf("ClaimExpired: %v", err)
		}
		return len(evs) > 0
	})
	if len(evs) != 1 || evs[0].Key != "k" || string(evs[0].Value) != "old" || evs[0].Deadline != now+10 {
		t.Fatalf("ClaimExpired after the lease = %+v; want the expiry of k with its old value", evs)
	}
	if err := other.AckExpired(bg, []string{evs[0].ID}); err != nil {
		t.Fatalf("AckExpired: %v", err)
	}
	later := after + time.Hour.Milliseconds()
	if evs, err := other.ClaimExpired(bg, later, 100, time.Millisecond); err != nil || len(evs) != 0 {
		t.Fatalf("ClaimExpired after the ack = %+v, %v; want nothing", evs, err)
	}
}

func wantValueRaw(t testing.TB, raw backend.Bucket[string, []byte], key, want string, now int64) {
	t.Helper()
	e, ok, err := raw.Get(bg, key, now)
	if err != nil || !ok || string(e.Value) != want {
		t.Fatalf("raw Get(%q) = %q, %v, %v; want %q", key, e.Value, ok, err, want)
	}
}

package conformance

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livedict/livedict"
)

var expiryTests = []subtest{
	{name: "OnceWithLastValue", fn: testExpireOnceWithLastValue},
	{name: "DeleteThenSetStillExpires", fn: testDeleteThenSetStillExpires},
	{name: "SetWithoutThenWithTTLExpires", fn: testSetWithoutThenWithTTL},
	{name: "SweepKeepsValueSetAgain", fn: testSweepKeepsValueSetAgain},
	{name: "ExpireBeforeNextSetEvent", fn: testExpireBeforeNextSet},
	{name: "ClearDropsPending", fn: testClearDropsPending},
	{name: "ClearDropsEarlierStoresEvents", fn: testClearDropsEarlierStoresEvents},
	{name: "DeliveredToLaterHook", fn: testDeliveredToLaterHook},
	{name: "AckedBeforeClose", fn: testAckedBeforeClose},
	{name: "BacklogBeyondRetention", fn: testBacklogBeyondRetention},
	{name: "Retention", fn: testRetention},
	{name: "ClockMovesWhileArming", fn: testClockMovesWhileArming},
	{name: "OneTimerForManyKeys", fn: testOneTimerForManyKeys},
	{name: "SchedulerIdle", fn: testSchedulerIdle},
}

// testExpireOnceWithLastValue: OnExpire fires once per expired key, with the
// value it last held.
func testExpireOnceWithLastValue(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	set(t, s, "k", item("v1", 1), livedict.TTL(10*time.Millisecond))
	set(t, s, "k", item("v2", 2), livedict.TTL(10*time.Millisecond))
	set(t, s, "j", item("j1", 3), livedict.TTL(20*time.Millisecond))
	set(t, s, "j", item("j2", 4), livedict.KeepTTL())
	f.clk.Advance(10 * time.Millisecond)
	rec.waitKey(t, "expire", "k")
	f.clk.Advance(10 * time.Millisecond)
	rec.waitKey(t, "expire", "j")
	f.clk.Advance(time.Hour)
	closeNow(t, s)
	wantEvents(t, "OnExpire events", rec.events(), []event{
		{"expire", "k", item("v2", 2)},
		{"expire", "j", item("j2", 4)},
	})
}

// testDeleteThenSetStillExpires (regression): a Delete between two Sets with
// a TTL does not suppress the second expiry, and the deleted value never
// expires.
func testDeleteThenSetStillExpires(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	set(t, s, "k", item("v1", 1), livedict.TTL(10*time.Millisecond))
	if ok, err := s.Delete(bg, "k"); !ok || err != nil {
		t.Fatalf("Delete(k) = %v, %v; want true, nil", ok, err)
	}
	set(t, s, "k", item("v2", 2), livedict.TTL(20*time.Millisecond))
	// A deleted key with a pending deadline must not fire.
	set(t, s, "gone", item("gone", 3), livedict.TTL(10*time.Millisecond))
	if ok, err := s.Delete(bg, "gone"); !ok || err != nil {
		t.Fatalf("Delete(gone) = %v, %v; want true, nil", ok, err)
	}
	f.clk.Advance(10 * time.Millisecond)
	wantValue(t, s, "k", item("v2", 2))
	f.clk.Advance(10 * time.Millisecond)
	rec.wait(t, 1)
	closeNow(t, s)
	wantEvents(t, "OnExpire events", rec.events(), []event{{"expire", "k", item("v2", 2)}})
}

// testSetWithoutThenWithTTL (regression): a TTL-less Set followed by a Set
// with a TTL expires, and one with a TTL followed by a TTL-less one does not.
func testSetWithoutThenWithTTL(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	set(t, s, "k", item("v1", 1))
	set(t, s, "k", item("v2", 2), livedict.TTL(10*time.Millisecond))
	set(t, s, "forever", item("f1", 3), livedict.TTL(10*time.Millisecond))
	set(t, s, "forever", item("f2", 4))
	f.clk.Advance(10 * time.Millisecond)
	rec.wait(t, 1)
	wantValue(t, s, "forever", item("f2", 4))
	closeNow(t, s)
	wantEvents(t, "OnExpire events", rec.events(), []event{{"expire", "k", item("v2", 2)}})
}

// testSweepKeepsValueSetAgain (regression): a key set again right after its
// deadline, racing the sweep, keeps its new value; its old value expires
// exactly once.
func testSweepKeepsValueSetAgain(t *testing.T, f *fixture) {
	const n = 20
	s := f.store()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	for i := range n {
		set(t, s, fmt.Sprint("k", i), item("old", int64(i)), livedict.TTL(10*time.Millisecond))
	}
	f.clk.Advance(10 * time.Millisecond)
	for i := range n {
		set(t, s, fmt.Sprint("k", i), item("new", int64(i)), livedict.NoExpiry())
	}
	for i := range n {
		wantValue(t, s, fmt.Sprint("k", i), item("new", int64(i)))
	}
	rec.wait(t, n)
	f.clk.Advance(time.Hour)
	for i := range n {
		wantValue(t, s, fmt.Sprint("k", i), item("new", int64(i)))
	}
	wantLen(t, s, n)
	closeNow(t, s)
	got := byKey(rec.events())
	for i := range n {
		key := fmt.Sprint("k", i)
		wantEvents(t, "OnExpire events of "+key, got[key], []event{{"expire", key, item("old", int64(i))}})
	}
	if len(got) != n {
		t.Fatalf("OnExpire fired for %d keys, want %d: %v", len(got), n, got)
	}
}

// testExpireBeforeNextSet: hooks of one key see its events in order, and a
// key's expiry happens before the Set that follows it: OnExpire of the old
// value comes before OnSet of the new one, however the Set races the
// delivery of the expiry. The keys are set again as soon as the sweep has
// counted them, last swept first, while the expiries are being delivered.
func testExpireBeforeNextSet(t *testing.T, f *fixture) {
	const rounds, n = 5, 100
	s := f.store()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	s.OnSet(rec.hook("set"))
	key := func(round, i int) string { return fmt.Sprintf("r%dk%d", round, i) }
	for round := range rounds {
		for i := range n {
			set(t, s, key(round, i), item("old", int64(i)), livedict.TTL(10*time.Millisecond))
		}
		f.clk.Advance(10 * time.Millisecond)
		for i := n - 1; i >= 0; i-- {
			set(t, s, key(round, i), item("new", int64(i)), livedict.NoExpiry())
		}
	}
	rec.wait(t, 3*n*rounds)
	closeNow(t, s)
	got := byKey(rec.events())
	var bad []string
	for round := range rounds {
		for i := range n {
			k := key(round, i)
			want := []event{
				{"set", k, item("old", int64(i))},
				{"expire", k, item("old", int64(i))},
				{"set", k, item("new", int64(i))},
			}
			if !cmp.Equal(want, got[k]) {
				bad = append(bad, k)
			}
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%d of %d keys got their hook events out of order (%v); %s got %v, want set old, expire old, set new",
			len(bad), rounds*n, bad, bad[0], kinds(got[bad[0]]))
	}
}

func kinds(evs []event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind+" "+e.Val.Name)
	}
	return out
}

// testClearDropsPending: Clear drops the expiries nobody delivered yet: an
// event that waits in the outbox for a listener, and a key that expired
// and may not be swept yet. A hook registered afterwards gets neither, and
// no OnDelete fires; a key that expires after the Clear is reported as
// usual.
func testClearDropsPending(t *testing.T, f *fixture) {
	s := f.store()
	set(t, s, "swept", item("swept", 1), livedict.TTL(10*time.Millisecond))
	f.clk.Advance(10 * time.Millisecond)
	waitFor(t, "Stats().Expired to reach 1", func() bool { return s.Stats().Expired >= 1 })
	set(t, s, "unswept", item("unswept", 2), livedict.TTL(10*time.Millisecond))
	set(t, s, "live", item("live", 3))
	f.clk.Advance(10 * time.Millisecond)
	if err := s.Clear(bg); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	wantLen(t, s, 0)
	clearedThenExpire(t, f, s)
}

// clearedThenExpire registers OnExpire and OnDelete hooks on s, just
// cleared, lets one new key expire, and checks that its expiry is the only
// event, once s has closed (and so delivered everything it claimed).
func clearedThenExpire(t *testing.T, f *fixture, s *Store) {
	t.Helper()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	s.OnDelete(rec.hook("delete"))
	set(t, s, "after", item("after", 4), livedict.TTL(10*time.Millisecond))
	f.clk.Advance(10 * time.Millisecond)
	rec.waitKey(t, "expire", "after")
	closeNow(t, s)
	wantEvents(t, "hook events", rec.events(), []event{{"expire", "after", item("after", 4)}})
}

// testClearDropsEarlierStoresEvents: expiries a store swept and left in
// the outbox, with no hook listening, do not outlive a Clear by the next
// store of the bucket (the next run of a program).
func testClearDropsEarlierStoresEvents(t *testing.T, f *fixture) {
	f.needSharedBackend()
	first := f.store()
	set(t, first, "old", item("old", 1), livedict.TTL(10*time.Millisecond))
	set(t, first, "old-unswept", item("old-unswept", 2), livedict.TTL(20*time.Millisecond))
	f.clk.Advance(10 * time.Millisecond)
	waitFor(t, "Stats().Expired to reach 1", func() bool { return first.Stats().Expired >= 1 })
	closeNow(t, first)
	f.clk.Advance(10 * time.Millisecond)

	next := f.store()
	if err := next.Clear(bg); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	wantLen(t, next, 0)
	clearedThenExpire(t, f, next)
}

// testDeliveredToLaterHook: expiries that happened while no OnExpire hook
// existed go to the first one registered afterwards.
func testDeliveredToLaterHook(t *testing.T, f *fixture) {
	const n = 5
	s := f.store()
	var want []event
	for i := range n {
		key := fmt.Sprint("k", i)
		set(t, s, key, item(key, int64(i)), livedict.TTL(time.Duration(10+i)*time.Millisecond))
		want = append(want, event{"expire", key, item(key, int64(i))})
	}
	f.clk.Advance(time.Second)
	waitFor(t, fmt.Sprintf("Stats().Expired to reach %d", n), func() bool { return s.Stats().Expired >= n })
	for i := range n {
		wantMissing(t, s, fmt.Sprint("k", i))
	}
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	rec.wait(t, n)
	closeNow(t, s)
	got := rec.events()
	slices.SortFunc(got, func(a, b event) int { return strings.Compare(a.Key, b.Key) })
	wantEvents(t, "OnExpire events", got, want)
}

// testAckedBeforeClose: a store that delivered an expiry and then closed
// has acknowledged it, so a later store of the bucket, past every claim
// lease, does not get it again. The rounds give a Close racing the
// scheduler's last acknowledgement many chances to show.
func testAckedBeforeClose(t *testing.T, f *fixture) {
	f.needSharedBackend()
	const rounds = 12
	for i := range rounds {
		s := f.store(livedict.WithBucket("acked"))
		rec := newRecorder()
		s.OnExpire(rec.hook("expire"))
		key := fmt.Sprint("k", i)
		set(t, s, key, item(key, int64(i)), livedict.TTL(10*time.Millisecond))
		f.clk.Advance(10 * time.Millisecond)
		rec.wait(t, 1)
		closeNow(t, s)
	}
	f.clk.Advance(time.Hour) // past any claim lease kept by the fake clock
	s := f.store(livedict.WithBucket("acked"))
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	// A sentinel expiring now is claimed after anything older, so once it
	// arrives, a redelivery would have arrived too.
	set(t, s, "sentinel", item("sentinel", 0), livedict.TTL(time.Millisecond))
	f.clk.Advance(time.Millisecond)
	rec.wait(t, 1)
	closeNow(t, s)
	if got := rec.events(); len(got) != 1 || got[0].Key != "sentinel" {
		t.Fatalf("a store opened after %d delivered and closed rounds got %v; want only the sentinel", rounds, got)
	}
}

// testBacklogBeyondRetention: with a hook listening, more keys falling due
// at once than the retention keeps are all delivered, once each: the
// retention bounds events that wait for a listener, not a backlog one is
// taking.
func testBacklogBeyondRetention(t *testing.T, f *fixture) {
	const n, keep = 60, 7
	s := f.store(livedict.WithExpiryRetention(keep))
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	var want []event
	for i := range n {
		key := fmt.Sprintf("k%02d", i)
		set(t, s, key, item(key, int64(i)), livedict.TTL(10*time.Millisecond))
		want = append(want, event{"expire", key, item(key, int64(i))})
	}
	f.clk.Advance(10 * time.Millisecond)
	rec.wait(t, n)
	closeNow(t, s)
	got := rec.events()
	slices.SortFunc(got, func(a, b event) int { return strings.Compare(a.Key, b.Key) })
	wantEvents(t, "OnExpire events", got, want)
	if d := s.Stats().ExpiredDropped; d != 0 {
		t.Errorf("Stats().ExpiredDropped = %d with a hook listening", d)
	}
}

// testRetention: with WithExpiryRetention(3), of 5 expiries nobody heard,
// 3 are delivered to a later hook and 2 are dropped and counted.
func testRetention(t *testing.T, f *fixture) {
	const n, keep = 5, 3
	s := f.store(livedict.WithExpiryRetention(keep))
	values := map[string]Item{}
	for i := range n {
		key := fmt.Sprint("k", i)
		values[key] = item(key, int64(i))
		set(t, s, key, values[key], livedict.TTL(time.Duration(10+i)*time.Millisecond))
	}
	f.clk.Advance(time.Second)
	waitFor(t, fmt.Sprintf("Stats().Expired to reach %d", n), func() bool { return s.Stats().Expired >= n })
	if got := s.Stats().ExpiredDropped; got != n-keep {
		t.Fatalf("Stats().ExpiredDropped = %d before any hook, want %d", got, n-keep)
	}
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	rec.wait(t, keep)
	closeNow(t, s)
	got := rec.events()
	if len(got) != keep {
		t.Fatalf("OnExpire got %d events, want %d: %v", len(got), keep, got)
	}
	seen := map[string]bool{}
	for _, e := range got {
		want, ok := values[e.Key]
		if !ok || seen[e.Key] {
			t.Fatalf("unexpected or repeated event %+v in %v", e, got)
		}
		seen[e.Key] = true
		wantEvents(t, "event of "+e.Key, []event{e}, []event{{"expire", e.Key, want}})
	}
	if got := s.Stats().ExpiredDropped; got != n-keep {
		t.Fatalf("Stats().ExpiredDropped = %d, want %d", got, n-keep)
	}
}

// testClockMovesWhileArming: the clock moves on between the moment the
// scheduler reads it to work out how long to sleep and the moment it arms
// its timer (a real clock always does), all the way to the deadline or half
// way there. The key must expire as soon as the clock reaches its deadline.
func testClockMovesWhileArming(t *testing.T, f *fixture) {
	if f.h.Shared {
		t.Skip("a shared backend's scheduler arms poll timers too: the jump would not hit the deadline's")
	}
	for _, div := range []int{1, 2} {
		t.Run(fmt.Sprintf("by 1/%d of the wait", div), func(t *testing.T) {
			f := f.child(t)
			jc := &jumpClock{Fake: f.clk}
			s := f.store(livedict.WithClock(jc), livedict.WithBucket(fmt.Sprint("jump-", div)))
			rec := newRecorder()
			s.OnExpire(rec.hook("expire"))
			// Let the scheduler settle after the registration woke it.
			waitStable(t, "the scheduler to sleep without a timer", func() bool { return f.clk.Timers() == 0 })
			jc.jumpAtNextTimer(div)
			const ttl = 10 * time.Millisecond
			set(t, s, "k", item("k", 1), livedict.TTL(ttl))
			waitFor(t, "the clock to jump as the scheduler arms its timer", jc.jumped)
			if moved := time.Duration(jc.moved.Load()); moved != ttl/time.Duration(div) {
				t.Fatalf("the scheduler armed its first timer for %v, want the deadline, %v", moved*time.Duration(div), ttl)
			}
			f.clk.Advance(ttl - ttl/time.Duration(div))
			wantMissing(t, s, "k")
			rec.waitKey(t, "expire", "k")
		})
	}
}

// testOneTimerForManyKeys: the store waits for its next deadline with one
// timer, not one per key.
func testOneTimerForManyKeys(t *testing.T, f *fixture) {
	s := f.store()
	base := f.restTimers()
	for i := range 100 {
		set(t, s, fmt.Sprint("k", i), item("v", int64(i)), livedict.TTL(time.Duration(i+1)*time.Second))
	}
	if f.h.Shared {
		// A polling scheduler may wait on its poll timer instead.
		waitStable(t, "at most one scheduler timer", func() bool { return f.clk.Timers() <= max(base, 1) })
		return
	}
	waitStable(t, "exactly one fake timer (the scheduler's)", func() bool { return f.clk.Timers() == 1 })
	// After the first deadline passes it still waits on one timer.
	f.clk.Advance(time.Second)
	waitFor(t, "the first key to be swept", func() bool { return s.Stats().Expired >= 1 })
	waitStable(t, "exactly one fake timer (the scheduler's)", func() bool { return f.clk.Timers() == 1 })
}

// testSchedulerIdle: with nothing due the scheduler holds no timer at all (no
// polling ticker); it wakes again for a new deadline.
func testSchedulerIdle(t *testing.T, f *fixture) {
	if f.h.Shared {
		t.Skip("a shared backend's scheduler polls for other processes' deadlines")
	}
	s := f.store()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	waitStable(t, "no fake timer on a new store", func() bool { return f.clk.Timers() == 0 })
	set(t, s, "forever", item("forever", 0))
	waitStable(t, "no fake timer with only keys that never expire", func() bool { return f.clk.Timers() == 0 })
	for round := range 2 {
		for i := range 3 {
			set(t, s, fmt.Sprint("k", i), item("v", int64(i)), livedict.TTL(time.Duration(10*(i+1))*time.Millisecond))
		}
		f.clk.Advance(30 * time.Millisecond)
		rec.wait(t, 3*(round+1))
		waitStable(t, "no fake timer once everything expired and was delivered", func() bool { return f.clk.Timers() == 0 })
	}
}

package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
)

var slidingTests = []subtest{
	{name: "ReadPushesDeadline", fn: testReadPushesDeadline},
	{name: "TenthRule", fn: testTenthRule},
	{name: "PeeksDoNotPush", fn: testPeeksDoNotPush},
	{name: "EveryReadPushes", fn: testEveryReadPushes},
	{name: "ExpiresOnceWithValue", fn: testSlidingExpiresOnce},
	{name: "KeepTTLKeepsSliding", fn: testKeepTTLKeepsSliding},
	{name: "SetWithTTLStopsSliding", fn: testSetWithTTLStopsSliding},
	{name: "DefaultIdle", fn: testDefaultIdle},
	{name: "InvalidIdle", fn: testInvalidIdle},
	{name: "Touch", fn: testTouch},
	{name: "Expire", fn: testExpire},
	{name: "ExpireEarlierFiresOnce", fn: testExpireEarlierFiresOnce},
	{name: "TouchAndExpireRaiseNoHooks", fn: testTouchExpireNoHooks},
	{name: "AsyncTouchAndExpire", fn: testAsyncTouchExpire},
	{name: "SharedBucket", fn: testSlidingSharedBucket},
}

// testReadPushesDeadline: a Get of a sliding key moves its deadline to its
// idle time after the read; without reads it expires then.
func testReadPushesDeadline(t *testing.T, f *fixture) {
	s := f.store()
	set(t, s, "k", item("k", 1), livedict.Idle(10*time.Second))
	wantTTL(t, s, "k", 10*time.Second, true)
	f.clk.Advance(5 * time.Second)
	wantValue(t, s, "k", item("k", 1))
	wantTTL(t, s, "k", 10*time.Second, true)
	f.clk.Advance(10*time.Second - time.Millisecond)
	if !has(t, s, "k") {
		t.Fatal("a sliding key expired before its idle time after the last read")
	}
	f.clk.Advance(time.Millisecond)
	wantMissing(t, s, "k")
}

// testTenthRule: a read moves the deadline only once that moves it by a
// tenth of the idle time or more, so that most reads of a hot key write
// nothing.
func testTenthRule(t *testing.T, f *fixture) {
	s := f.store()
	set(t, s, "k", item("k", 1), livedict.Idle(10*time.Second))
	f.clk.Advance(999 * time.Millisecond)
	wantValue(t, s, "k", item("k", 1))
	wantTTL(t, s, "k", 10*time.Second-999*time.Millisecond, true)
	f.clk.Advance(time.Millisecond)
	wantValue(t, s, "k", item("k", 1))
	wantTTL(t, s, "k", 10*time.Second, true)
}

// testPeeksDoNotPush: Has, TTL, Len, Keys, Range and All look at a sliding
// key without moving its deadline.
func testPeeksDoNotPush(t *testing.T, f *fixture) {
	s := f.store()
	set(t, s, "k", item("k", 1), livedict.Idle(10*time.Second))
	f.clk.Advance(5 * time.Second)
	has(t, s, "k")
	wantTTL(t, s, "k", 5*time.Second, true)
	wantLen(t, s, 1)
	wantKeys(t, s, "k")
	contents(t, s)
	seq, errf := s.All(bg)
	for range seq {
	}
	if err := errf(); err != nil {
		t.Fatalf("All: %v", err)
	}
	wantTTL(t, s, "k", 5*time.Second, true)
}

// testEveryReadPushes: GetMany and a GetOrLoad that hits read as Get does,
// and so does a Get through a store-wide loader.
func testEveryReadPushes(t *testing.T, f *fixture) {
	loads := 0
	loader := func(context.Context, string) (Item, error) { loads++; return item("loaded", 9), nil }
	s := f.store(livedict.WithLoader(loader))
	for _, k := range []string{"a", "b", "c", "d"} {
		set(t, s, k, item(k, 1), livedict.Idle(10*time.Second))
	}
	f.clk.Advance(5 * time.Second)
	got, err := s.GetMany(bg, []string{"a", "b", "missing-but-not-loaded"})
	if err != nil || !got[0].Found || !got[1].Found || got[2].Found {
		t.Fatalf("GetMany = %v, %v; want a and b found, the third not", got, err)
	}
	if v, err := s.GetOrLoad(bg, "c", loader); err != nil || !cmp.Equal(v, item("c", 1)) {
		t.Fatalf("GetOrLoad(c) = %v, %v; want the stored value", v, err)
	}
	wantValue(t, s, "d", item("d", 1))
	if loads != 0 {
		t.Fatalf("the loader ran %d times for keys that were there", loads)
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		wantTTL(t, s, k, 10*time.Second, true)
	}
}

// testSlidingExpiresOnce: a sliding key read for a while expires once,
// with its value, after its idle time without reads.
func testSlidingExpiresOnce(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	set(t, s, "k", item("k", 1), livedict.Idle(100*time.Millisecond))
	for range 10 {
		f.clk.Advance(50 * time.Millisecond)
		wantValue(t, s, "k", item("k", 1))
	}
	if n := rec.len(); n != 0 {
		t.Fatalf("%d expiries of a key read every half of its idle time", n)
	}
	f.clk.Advance(100 * time.Millisecond)
	rec.waitKey(t, "expire", "k")
	f.clk.Advance(time.Hour)
	closeNow(t, s)
	wantEvents(t, "OnExpire events", rec.events(), []event{{"expire", "k", item("k", 1)}})
}

// testKeepTTLKeepsSliding: a write with KeepTTL keeps a sliding key's
// deadline, and the key stays sliding.
func testKeepTTLKeepsSliding(t *testing.T, f *fixture) {
	s := f.store()
	set(t, s, "k", item("v1", 1), livedict.Idle(10*time.Second))
	f.clk.Advance(5 * time.Second)
	set(t, s, "k", item("v2", 2), livedict.KeepTTL())
	wantTTL(t, s, "k", 5*time.Second, true)
	wantValue(t, s, "k", item("v2", 2))
	wantTTL(t, s, "k", 10*time.Second, true)
}

// testSetWithTTLStopsSliding: a key written again with a TTL has a fixed
// deadline from then on.
func testSetWithTTLStopsSliding(t *testing.T, f *fixture) {
	s := f.store()
	set(t, s, "k", item("v1", 1), livedict.Idle(10*time.Second))
	set(t, s, "k", item("v2", 2), livedict.TTL(10*time.Second))
	f.clk.Advance(5 * time.Second)
	wantValue(t, s, "k", item("v2", 2))
	wantTTL(t, s, "k", 5*time.Second, true)
	if err := s.Update(bg, "k", func(Item, bool) (Item, bool, error) { return item("v3", 3), true, nil }, livedict.Idle(time.Second)); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(500 * time.Millisecond)
	wantValue(t, s, "k", item("v3", 3))
	wantTTL(t, s, "k", time.Second, true)
}

// testDefaultIdle: WithDefaultIdle makes a Set without options sliding;
// a TTL given still fixes the deadline, and giving both defaults is an
// error.
func testDefaultIdle(t *testing.T, f *fixture) {
	s := f.store(livedict.WithDefaultIdle(10 * time.Second))
	set(t, s, "default", item("default", 1))
	set(t, s, "fixed", item("fixed", 2), livedict.TTL(time.Minute))
	f.clk.Advance(5 * time.Second)
	wantValue(t, s, "default", item("default", 1))
	wantValue(t, s, "fixed", item("fixed", 2))
	wantTTL(t, s, "default", 10*time.Second, true)
	wantTTL(t, s, "fixed", 55*time.Second, true)
	for _, opts := range [][]livedict.Option{
		{livedict.WithDefaultTTL(time.Minute), livedict.WithDefaultIdle(time.Minute)},
		{livedict.WithDefaultIdle(time.Minute), livedict.WithDefaultTTL(time.Minute)},
		{livedict.WithDefaultIdle(0)},
		{livedict.WithDefaultIdle(time.Microsecond)},
	} {
		if s, err := f.open(opts...); !errors.Is(err, backend.ErrInvalidOption) {
			if s != nil {
				s.Close()
			}
			t.Errorf("New with %d options: error %v, want ErrInvalidOption", len(opts), err)
		}
	}
}

// testInvalidIdle: an idle time outside 1ms..MaxTTL is ErrInvalidTTL, Idle
// with another expiry option is ErrInvalidOption, and neither stores.
func testInvalidIdle(t *testing.T, f *fixture) {
	s := f.store()
	for _, d := range []time.Duration{0, -time.Second, 500 * time.Microsecond, livedict.MaxTTL + time.Hour} {
		if err := s.Set(bg, "k", item("k", 1), livedict.Idle(d)); !errors.Is(err, backend.ErrInvalidTTL) {
			t.Errorf("Set with Idle(%v): error %v, want ErrInvalidTTL", d, err)
		}
	}
	for _, opt := range []livedict.SetOption{livedict.TTL(time.Second), livedict.NoExpiry(), livedict.KeepTTL()} {
		if err := s.Set(bg, "k", item("k", 1), livedict.Idle(time.Second), opt); !errors.Is(err, backend.ErrInvalidOption) {
			t.Errorf("Set with Idle and another expiry: error %v, want ErrInvalidOption", err)
		}
	}
	wantLen(t, s, 0)
}

// testTouch: Touch pushes a sliding key's deadline whatever the tenth rule
// says, leaves a fixed deadline alone, and reports whether the key is live.
func testTouch(t *testing.T, f *fixture) {
	s := f.store()
	set(t, s, "sliding", item("s", 1), livedict.Idle(10*time.Second))
	set(t, s, "fixed", item("f", 2), livedict.TTL(10*time.Second))
	set(t, s, "forever", item("e", 3), livedict.NoExpiry())
	set(t, s, "short", item("x", 4), livedict.TTL(time.Millisecond))
	f.clk.Advance(100 * time.Millisecond)
	touch := func(key string, want bool) {
		t.Helper()
		if ok, err := s.Touch(bg, key); ok != want || err != nil {
			t.Fatalf("Touch(%q) = %v, %v; want %v, nil", key, ok, err, want)
		}
	}
	touch("sliding", true)
	touch("fixed", true)
	touch("forever", true)
	touch("short", false)
	touch("missing", false)
	wantTTL(t, s, "sliding", 10*time.Second, true)
	wantTTL(t, s, "fixed", 10*time.Second-100*time.Millisecond, true)
	wantTTL(t, s, "forever", 0, true)
	wantValue(t, s, "sliding", item("s", 1))
	wantLen(t, s, 3)
}

// testExpire: Expire gives a live key a new expiry and keeps its value; it
// reports false for a missing key, refuses KeepTTL and checks durations.
func testExpire(t *testing.T, f *fixture) {
	s := f.store(livedict.WithDefaultTTL(time.Hour))
	set(t, s, "k", item("k", 1), livedict.TTL(time.Minute))
	expire := func(key string, want bool, opts ...livedict.SetOption) {
		t.Helper()
		if ok, err := s.Expire(bg, key, opts...); ok != want || err != nil {
			t.Fatalf("Expire(%q) = %v, %v; want %v, nil", key, ok, err, want)
		}
	}
	expire("k", true, livedict.TTL(10*time.Second))
	wantTTL(t, s, "k", 10*time.Second, true)
	expire("k", true, livedict.NoExpiry())
	wantTTL(t, s, "k", 0, true)
	expire("k", true)
	wantTTL(t, s, "k", time.Hour, true)
	expire("k", true, livedict.Idle(5*time.Second))
	f.clk.Advance(2 * time.Second)
	wantValue(t, s, "k", item("k", 1))
	wantTTL(t, s, "k", 5*time.Second, true)
	expire("missing", false, livedict.TTL(time.Second))
	if _, err := s.Expire(bg, "k", livedict.KeepTTL()); !errors.Is(err, backend.ErrInvalidOption) {
		t.Errorf("Expire with KeepTTL: error %v, want ErrInvalidOption", err)
	}
	if _, err := s.Expire(bg, "k", livedict.TTL(0)); !errors.Is(err, backend.ErrInvalidTTL) {
		t.Errorf("Expire with TTL(0): error %v, want ErrInvalidTTL", err)
	}
	wantTTL(t, s, "k", 5*time.Second, true)
	// The version stayed: an Update's compare-and-swap sees no other writer.
	if err := s.Update(bg, "k", func(cur Item, ok bool) (Item, bool, error) { return item("k2", cur.N+1), ok, nil }); err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "k", item("k2", 2))
}

// testExpireEarlierFiresOnce: a deadline brought forward by Expire fires
// OnExpire once, then, with the value.
func testExpireEarlierFiresOnce(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	set(t, s, "k", item("k", 1), livedict.TTL(time.Hour))
	if ok, err := s.Expire(bg, "k", livedict.TTL(10*time.Millisecond)); !ok || err != nil {
		t.Fatalf("Expire = %v, %v", ok, err)
	}
	f.clk.Advance(10 * time.Millisecond)
	rec.waitKey(t, "expire", "k")
	wantMissing(t, s, "k")
	f.clk.Advance(2 * time.Hour)
	closeNow(t, s)
	wantEvents(t, "OnExpire events", rec.events(), []event{{"expire", "k", item("k", 1)}})
}

// testTouchExpireNoHooks: Touch and Expire rewrite no value: no OnSet,
// OnChange or OnGet fires.
func testTouchExpireNoHooks(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnSet(rec.hook("set"), livedict.Inline())
	s.OnGet(rec.hook("get"), livedict.Inline())
	s.OnChange(func(ctx context.Context, key string, ch livedict.Change[Item]) {
		rec.hook("change")(ctx, key, ch.Value)
	}, livedict.Inline())
	set(t, s, "k", item("k", 1), livedict.Idle(time.Second))
	s.Touch(bg, "k")
	s.Expire(bg, "k", livedict.TTL(time.Minute))
	closeNow(t, s)
	wantEvents(t, "events", rec.events(), []event{{"set", "k", item("k", 1)}, {"change", "k", item("k", 1)}})
}

// testAsyncTouchExpire: the async view has Touch and Expire.
func testAsyncTouchExpire(t *testing.T, f *fixture) {
	s := f.store()
	set(t, s, "k", item("k", 1), livedict.Idle(10*time.Second))
	f.clk.Advance(time.Second)
	if ok, err := s.Async().Touch(bg, "k").Wait(bg); !ok || err != nil {
		t.Fatalf("Async Touch = %v, %v", ok, err)
	}
	wantTTL(t, s, "k", 10*time.Second, true)
	if ok, err := s.Async().Expire(bg, "k", livedict.NoExpiry()).Wait(bg); !ok || err != nil {
		t.Fatalf("Async Expire = %v, %v", ok, err)
	}
	wantTTL(t, s, "k", 0, true)
}

// testSlidingSharedBucket: a read through one store pushes the deadline
// another store of the bucket sees; on SQLite and Redis, the stores could
// be in two processes.
func testSlidingSharedBucket(t *testing.T, f *fixture) {
	f.needSharedBackend()
	a := f.store(livedict.WithBucket("sliding-shared"))
	b := f.store(livedict.WithBucket("sliding-shared"))
	set(t, a, "k", item("k", 1), livedict.Idle(10*time.Second))
	f.clk.Advance(5 * time.Second)
	wantValue(t, b, "k", item("k", 1))
	wantTTL(t, a, "k", 10*time.Second, true)
	f.clk.Advance(9 * time.Second)
	if !has(t, a, "k") {
		t.Fatal("the read through the other store did not push the deadline")
	}
}

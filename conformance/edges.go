package conformance

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/clock"
	"github.com/livedict/livedict/internal/engine"
)

// The edges of TTLs and leases: shorter than the store's millisecond,
// longer than its deadlines can hold, and what TTL reports right after a
// Set.
var edgeTests = []subtest{
	{name: "SubMillisecondTTL", fn: testSubMillisecondTTL},
	{name: "SubMillisecondLease", fn: testSubMillisecondLease},
	{name: "LeaseFromBetweenMilliseconds", fn: testLeaseBetweenMilliseconds},
	{name: "HugeTTL", fn: testHugeTTL},
	{name: "HugeLease", fn: testHugeLease},
	{name: "DeadlineLimit", fn: testDeadlineLimit},
	{name: "TTLNeverReportsMore", fn: testTTLNeverReportsMore},
	{name: "TTLNeverReportsMoreRealClock", fn: testTTLNeverReportsMoreReal},
}

// subMs are durations under the store's millisecond.
var subMs = []time.Duration{time.Nanosecond, time.Microsecond, 500 * time.Microsecond, 900 * time.Microsecond, time.Millisecond - 1}

// tooLong are durations no deadline can hold: a little over MaxTTL, the
// ~240 years of the issue, and the largest Duration.
var tooLong = []time.Duration{livedict.MaxTTL + time.Millisecond, 240 * 365 * 24 * time.Hour, 292 * 365 * 24 * time.Hour, math.MaxInt64}

// wantErrNaming checks that err matches target and names what.
func wantErrNaming(t testing.TB, what string, err, target error, name string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
		return
	}
	if !strings.Contains(err.Error(), name) {
		t.Errorf("%s: error %q does not name %s", what, err, name)
	}
}

// openErr opens a store that must fail with target, naming name.
func (f *fixture) openErr(what string, target error, name string, opts ...livedict.Option) {
	f.t.Helper()
	all := []livedict.Option{livedict.WithClock(f.clk), livedict.WithLogger(f.log)}
	if f.be != nil {
		all = append(all, livedict.WithBackend(f.be))
	}
	s, err := engine.New(ItemCodec(), append(all, opts...)...)
	if err == nil {
		closeStore(f.t, s)
	}
	wantErrNaming(f.t, what, err, target, name)
}

// wantNothingStored checks that key is absent, and that an hour later
// OnExpire has reported only want.
func wantNothingStored(t *testing.T, f *fixture, s *Store, rec *recorder, key string, want []event) {
	t.Helper()
	if has(t, s, key) {
		t.Errorf("a write that failed stored %q", key)
	}
	f.clk.Advance(time.Hour)
	closeNow(t, s)
	wantEvents(t, "OnExpire events", rec.events(), want)
}

// testSubMillisecondTTL: deadlines are whole milliseconds, so a TTL under
// one is ErrInvalidTTL (TTL) or ErrInvalidOption (WithDefaultTTL), and a
// TTL of exactly one millisecond is kept for a millisecond.
func testSubMillisecondTTL(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	set(t, s, "existing", item("old", 1), livedict.NoExpiry())
	for _, d := range subMs {
		wantErrNaming(t, "Set with TTL("+d.String()+")", s.Set(bg, "new", item("new", 2), livedict.TTL(d)), backend.ErrInvalidTTL, "TTL(")
		wantErrNaming(t, "Set of an existing key with TTL("+d.String()+")", s.Set(bg, "existing", item("new", 2), livedict.TTL(d)), backend.ErrInvalidTTL, "TTL(")
		err := s.Update(bg, "new", func(Item, bool) (Item, bool, error) { return item("new", 2), true, nil }, livedict.TTL(d))
		wantErrNaming(t, "Update with TTL("+d.String()+")", err, backend.ErrInvalidTTL, "TTL(")
		_, err = s.Async().Set(bg, "new", item("new", 2), livedict.TTL(d)).Wait(bg)
		wantErrNaming(t, "Async().Set with TTL("+d.String()+")", err, backend.ErrInvalidTTL, "TTL(")
		f.openErr("WithDefaultTTL("+d.String()+")", backend.ErrInvalidOption, "WithDefaultTTL", livedict.WithDefaultTTL(d), livedict.WithBucket("sub-ms-default"))
	}
	wantValue(t, s, "existing", item("old", 1))
	wantTTL(t, s, "existing", 0, true)

	set(t, s, "one", item("one", 3), livedict.TTL(time.Millisecond))
	wantTTL(t, s, "one", time.Millisecond, true)
	f.clk.Advance(time.Millisecond - 1)
	wantValue(t, s, "one", item("one", 3))
	f.clk.Advance(1)
	wantMissing(t, s, "one")
	rec.waitKey(t, "expire", "one")
	wantNothingStored(t, f, s, rec, "new", []event{{"expire", "one", item("one", 3)}})
}

// testSubMillisecondLease: lease ends are whole milliseconds, so a lease
// under one would end at once and exclude nobody: Lease(d) and Extend(d)
// with d under a millisecond are ErrInvalidOption, and take nothing.
func testSubMillisecondLease(t *testing.T, f *fixture) {
	s := f.store()
	for _, d := range subMs {
		_, ok, err := s.TryLock(bg, "k", livedict.Lease(d))
		wantErrNaming(t, "TryLock with Lease("+d.String()+")", err, backend.ErrInvalidOption, "Lease")
		if ok {
			t.Fatalf("TryLock with Lease(%v) took the key", d)
		}
		_, err = s.Lock(bg, "k", livedict.Lease(d))
		wantErrNaming(t, "Lock with Lease("+d.String()+")", err, backend.ErrInvalidOption, "Lease")
	}
	// Nothing was taken: the key is free.
	l := tryLock(t, s, "k", true, livedict.Lease(time.Second))
	for _, d := range subMs {
		wantErrNaming(t, "Extend("+d.String()+")", l.Extend(bg, d), backend.ErrInvalidOption, "Extend")
	}
	if want := epoch.Add(time.Second); !l.Deadline().Equal(want) {
		t.Fatalf("Deadline() after refused Extends = %v, want %v", l.Deadline(), want)
	}
	// The shortest lease excludes for its whole length, issue 13's 50 rounds.
	for i := range 50 {
		key := "round-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		held := tryLock(t, s, key, true, livedict.Lease(time.Millisecond))
		tryLock(t, s, key, false, livedict.Lease(time.Millisecond))
		unlock(t, held)
	}
	unlock(t, l)
}

// testLeaseBetweenMilliseconds: a lease taken between two milliseconds
// lasts at least its length: it ends at the first millisecond at or after
// now+lease, and Deadline says so.
func testLeaseBetweenMilliseconds(t *testing.T, f *fixture) {
	s := f.store()
	f.clk.Advance(900 * time.Microsecond)
	l := tryLock(t, s, "k", true, livedict.Lease(time.Millisecond))
	if want := epoch.Add(2 * time.Millisecond); !l.Deadline().Equal(want) {
		t.Errorf("Deadline() = %v, want %v (now+lease, rounded up to a millisecond)", l.Deadline(), want)
	}
	f.clk.Advance(200 * time.Microsecond) // 0.2ms into a 1ms lease
	tryLock(t, s, "k", false)
	f.clk.Advance(799 * time.Microsecond) // 0.999ms into it
	tryLock(t, s, "k", false)
	f.clk.Advance(101 * time.Microsecond) // at its deadline
	unlock(t, tryLock(t, s, "k", true))

	// Extend from between two milliseconds rounds up too.
	l = tryLock(t, s, "e", true, livedict.Lease(time.Second))
	f.clk.Advance(300 * time.Microsecond)
	if err := l.Extend(bg, 5*time.Millisecond); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	want := f.clk.Now().Add(5 * time.Millisecond).Truncate(time.Millisecond).Add(time.Millisecond)
	if !l.Deadline().Equal(want) {
		t.Errorf("Deadline() after Extend(5ms) = %v, want %v", l.Deadline(), want)
	}
	f.clk.Advance(5*time.Millisecond - time.Microsecond)
	tryLock(t, s, "e", false)
	unlock(t, l)
}

// testHugeTTL: a TTL above MaxTTL is ErrInvalidTTL, naming the limit; it
// stores nothing and never raises OnExpire (it used to overflow into a
// deadline in the past). MaxTTL itself works.
func testHugeTTL(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	set(t, s, "existing", item("old", 1), livedict.NoExpiry())
	for _, d := range tooLong {
		wantErrNaming(t, "Set with TTL("+d.String()+")", s.Set(bg, "new", item("new", 2), livedict.TTL(d)), backend.ErrInvalidTTL, livedict.MaxTTL.String())
		wantErrNaming(t, "Set of an existing key with TTL("+d.String()+")", s.Set(bg, "existing", item("new", 2), livedict.TTL(d)), backend.ErrInvalidTTL, livedict.MaxTTL.String())
		err := s.Update(bg, "new", func(Item, bool) (Item, bool, error) { return item("new", 2), true, nil }, livedict.TTL(d))
		wantErrNaming(t, "Update with TTL("+d.String()+")", err, backend.ErrInvalidTTL, "TTL(")
		f.openErr("WithDefaultTTL("+d.String()+")", backend.ErrInvalidOption, "WithDefaultTTL", livedict.WithDefaultTTL(d), livedict.WithBucket("huge-default"))
	}
	wantValue(t, s, "existing", item("old", 1))
	wantTTL(t, s, "existing", 0, true)

	set(t, s, "max", item("max", 3), livedict.TTL(livedict.MaxTTL))
	wantTTL(t, s, "max", livedict.MaxTTL, true)
	d := livedict.MaxTTL - 10*time.Millisecond
	set(t, s, "near", item("near", 4), livedict.TTL(d))
	wantTTL(t, s, "near", d, true)
	def := f.store(livedict.WithBucket("huge-ok"), livedict.WithDefaultTTL(livedict.MaxTTL))
	set(t, def, "k", item("k", 5))
	wantTTL(t, def, "k", livedict.MaxTTL, true)
	f.clk.Advance(time.Hour)
	wantValue(t, s, "max", item("max", 3))
	wantNothingStored(t, f, s, rec, "new", nil)
}

// testHugeLease: a lease or an Extend above MaxTTL is ErrInvalidOption and
// takes nothing.
func testHugeLease(t *testing.T, f *fixture) {
	s := f.store()
	for _, d := range tooLong {
		_, ok, err := s.TryLock(bg, "k", livedict.Lease(d))
		wantErrNaming(t, "TryLock with Lease("+d.String()+")", err, backend.ErrInvalidOption, livedict.MaxTTL.String())
		if ok {
			t.Fatalf("TryLock with Lease(%v) took the key", d)
		}
	}
	l := tryLock(t, s, "k", true, livedict.Lease(livedict.MaxTTL))
	if want := epoch.Add(livedict.MaxTTL); !l.Deadline().Equal(want) {
		t.Errorf("Deadline() = %v, want %v", l.Deadline(), want)
	}
	for _, d := range tooLong {
		wantErrNaming(t, "Extend("+d.String()+")", l.Extend(bg, d), backend.ErrInvalidOption, livedict.MaxTTL.String())
	}
	f.clk.Advance(time.Hour)
	tryLock(t, s, "k", false)
	unlock(t, l)
}

// testDeadlineLimit: deadlines and lease ends stay before 2250-01-01 UTC,
// whatever the clock says; a TTL or lease that would cross it is refused
// like one that is too long.
func testDeadlineLimit(t *testing.T, f *fixture) {
	limit := time.Date(2250, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(limit.Add(-time.Hour))
	s := f.store(livedict.WithClock(clk), livedict.WithBucket("deadline-limit"))
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	wantErrNaming(t, "Set with a deadline past the limit", s.Set(bg, "k", item("k", 1), livedict.TTL(2*time.Hour)), backend.ErrInvalidTTL, "2250")
	set(t, s, "ok", item("ok", 2), livedict.TTL(time.Hour))
	wantTTL(t, s, "ok", time.Hour, true)
	_, ok, err := s.TryLock(bg, "l", livedict.Lease(2*time.Hour))
	wantErrNaming(t, "TryLock with a lease end past the limit", err, backend.ErrInvalidOption, "2250")
	if ok {
		t.Fatal("TryLock with a lease end past the limit took the key")
	}
	l := tryLock(t, s, "l", true, livedict.Lease(time.Minute))
	wantErrNaming(t, "Extend past the limit", l.Extend(bg, 2*time.Hour), backend.ErrInvalidOption, "2250")
	unlock(t, l)

	def := f.store(livedict.WithClock(clk), livedict.WithBucket("deadline-limit-default"), livedict.WithDefaultTTL(2*time.Hour))
	wantErrNaming(t, "Set with a default TTL past the limit", def.Set(bg, "k", item("k", 3)), backend.ErrInvalidTTL, "2250")
	if has(t, s, "k") || has(t, def, "k") {
		t.Error("a write past the deadline limit stored its key")
	}
	clk.Advance(30 * time.Minute)
	closeNow(t, s)
	wantEvents(t, "OnExpire events", rec.events(), nil)
}

// testTTLNeverReportsMore: TTL never reports more than the TTL set, from
// whatever point between two milliseconds the Set was made, while the value
// stays readable for its whole TTL; it reports whole milliseconds.
func testTTLNeverReportsMore(t *testing.T, f *fixture) {
	ttls := []time.Duration{time.Millisecond, 2 * time.Millisecond, 10 * time.Millisecond, time.Second, time.Hour}
	offs := []time.Duration{0, time.Microsecond, 221 * time.Microsecond, 500 * time.Microsecond, 779 * time.Microsecond, 999 * time.Microsecond}
	for i, off := range offs {
		for j, ttl := range ttls {
			f := f.child(t)
			f.clk.Advance(off)
			s := f.store(livedict.WithBucket(fmt.Sprintf("report-%d-%d", i, j)))
			set(t, s, "k", item("k", 1), livedict.TTL(ttl))
			// Readers at these times after the Set, in order.
			laters := []time.Duration{0, 1, off, time.Millisecond - off, time.Millisecond, ttl / 2, ttl - time.Millisecond, ttl - 1}
			slices.Sort(laters)
			at := time.Duration(0)
			for _, later := range slices.Compact(laters) {
				if later < 0 || later >= ttl {
					continue
				}
				f.clk.Advance(later - at)
				at = later
				d, ok, err := s.TTL(bg, "k")
				if err != nil || !ok {
					t.Fatalf("Set at +%v with TTL(%v), TTL %v later: %v, %v, %v; want the key readable", off, ttl, later, d, ok, err)
				}
				if d > ttl || d > ttl-later.Truncate(time.Millisecond) || d <= 0 {
					t.Errorf("Set at +%v with TTL(%v), TTL %v later = %v: more than the TTL set, or not positive", off, ttl, later, d)
				}
				if d%time.Millisecond != 0 {
					t.Errorf("Set at +%v with TTL(%v), TTL %v later = %v: not whole milliseconds", off, ttl, later, d)
				}
				if left := ttl - later; d < left-time.Millisecond {
					t.Errorf("Set at +%v with TTL(%v), TTL %v later = %v: more than a millisecond under the %v left", off, ttl, later, d, left)
				}
			}
			// Readable for its whole TTL, gone at the next millisecond.
			f.clk.Advance(ttl - 1 - at)
			wantValue(t, s, "k", item("k", 1))
			f.clk.Advance(time.Millisecond + 1)
			wantMissing(t, s, "k")
		}
	}
}

// testTTLNeverReportsMoreRealClock is issue 13's observation on the real
// clock: right after Set(TTL(1s)), TTL is at most 1s.
func testTTLNeverReportsMoreReal(t *testing.T, f *fixture) {
	s := f.store(livedict.WithClock(clock.Real))
	for i := range 200 {
		set(t, s, "k", item("k", int64(i)), livedict.TTL(time.Second))
		d, ok, err := s.TTL(bg, "k")
		if err != nil || !ok {
			t.Fatalf("TTL right after Set: %v, %v, %v", d, ok, err)
		}
		if d > time.Second || d <= 0 {
			t.Fatalf("round %d: TTL right after Set(TTL(1s)) = %v, want at most 1s", i, d)
		}
	}
}

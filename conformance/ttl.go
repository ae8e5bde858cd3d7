package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
)

var ttlTests = []subtest{
	{name: "ReadAtDeadline", fn: testReadAtDeadline},
	{name: "MillisecondPrecision", fn: testMillisecondPrecision},
	{name: "ResetLongerReplacesDeadline", fn: testResetLonger},
	{name: "ResetShorterReplacesDeadline", fn: testResetShorter},
	{name: "KeepTTLKeepsDeadline", fn: testKeepTTLKeepsDeadline},
	{name: "KeepTTLOptions", fn: testKeepTTLOptions},
	{name: "DefaultTTL", fn: testDefaultTTL},
	{name: "InvalidTTL", fn: testInvalidTTL},
	{name: "Remaining", fn: testTTLRemaining},
}

// testReadAtDeadline: once the clock reaches a key's deadline no read
// returns it, whether or not the expiry sweep has run yet. Each reader is
// checked on a fresh store, right after the clock moves.
func testReadAtDeadline(t *testing.T, f *fixture) {
	readers := []struct {
		name  string
		check func(t *testing.T, s *Store)
	}{
		{"Get", func(t *testing.T, s *Store) { wantMissing(t, s, "k") }},
		{"Has", func(t *testing.T, s *Store) {
			if has(t, s, "k") {
				t.Fatal("Has(k) = true after the deadline")
			}
		}},
		{"TTL", func(t *testing.T, s *Store) { wantTTL(t, s, "k", 0, false) }},
		{"Len", func(t *testing.T, s *Store) { wantLen(t, s, 1) }},
		{"Keys", func(t *testing.T, s *Store) { wantKeys(t, s, "live") }},
		{"Range", func(t *testing.T, s *Store) {
			if got := contents(t, s); len(got) != 1 || got["live"].Name != "live" {
				t.Fatalf("Range visited %v, want only the key live", got)
			}
		}},
	}
	for _, r := range readers {
		t.Run(r.name, func(t *testing.T) {
			// Each reader has its own clock: the subtests share the backend only.
			f := f.child(t)
			s := f.store(livedict.WithBucket("read-at-deadline-" + r.name))
			set(t, s, "live", item("live", 1), livedict.NoExpiry())
			// Several keys, so a store that sweeps lazily on read is caught
			// on the ones it has not reached.
			for _, k := range []string{"k", "k2", "k3"} {
				set(t, s, k, item(k, 2), livedict.TTL(10*time.Millisecond))
			}
			f.clk.Advance(9 * time.Millisecond)
			wantValue(t, s, "k", item("k", 2))
			f.clk.Advance(time.Millisecond)
			r.check(t, s)
		})
	}
}

// testMillisecondPrecision: a value is readable for its whole TTL and gone
// at the first millisecond boundary at or after it, sub-second TTLs
// included.
func testMillisecondPrecision(t *testing.T, f *fixture) {
	s := f.store()
	ttls := []time.Duration{
		time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 1500 * time.Microsecond,
		10 * time.Millisecond, 250 * time.Millisecond, 999 * time.Millisecond,
		time.Second, 1001 * time.Millisecond, 2500 * time.Millisecond,
	}
	for _, ttl := range ttls {
		key := "ttl-" + ttl.String()
		set(t, s, key, item(key, 1), livedict.TTL(ttl))
		// Readable until the last millisecond boundary before the TTL,
		// gone from the first one at or after it.
		gone := (ttl + time.Millisecond - 1) / time.Millisecond * time.Millisecond
		before := gone - time.Millisecond
		f.clk.Advance(before)
		if !has(t, s, key) {
			t.Fatalf("TTL(%v): gone %v after Set, want readable until %v", ttl, before, ttl)
		}
		f.clk.Advance(gone - before)
		if has(t, s, key) {
			t.Fatalf("TTL(%v): still readable %v after Set", ttl, gone)
		}
	}
	// The example of the design, to the letter.
	set(t, s, "five", item("five", 5), livedict.TTL(5*time.Millisecond))
	f.clk.Advance(4 * time.Millisecond)
	wantValue(t, s, "five", item("five", 5))
	f.clk.Advance(time.Millisecond)
	wantMissing(t, s, "five")
}

// testResetLonger: re-setting a key with a longer TTL replaces its deadline:
// it does not expire at the old one, and no OnExpire fires for it. A
// sentinel key that does expire proves the scheduler ran past the old
// deadline.
func testResetLonger(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	set(t, s, "k", item("v1", 1), livedict.TTL(10*time.Millisecond))
	set(t, s, "k", item("v2", 2), livedict.TTL(time.Hour))
	set(t, s, "sentinel", item("sentinel", 3), livedict.TTL(20*time.Millisecond))
	f.clk.Advance(50 * time.Millisecond)
	rec.waitKey(t, "expire", "sentinel")
	// The sweep that reported the sentinel ran after the old deadline.
	wantValue(t, s, "k", item("v2", 2))
	wantTTL(t, s, "k", time.Hour-50*time.Millisecond, true)
	closeNow(t, s)
	wantEvents(t, "OnExpire events", rec.events(), []event{{"expire", "sentinel", item("sentinel", 3)}})
}

// testResetShorter: re-setting a key with a shorter TTL makes it expire at
// the new deadline, with the new value.
func testResetShorter(t *testing.T, f *fixture) {
	s := f.store()
	rec := newRecorder()
	s.OnExpire(rec.hook("expire"))
	set(t, s, "k", item("v1", 1), livedict.TTL(time.Hour))
	set(t, s, "k", item("v2", 2), livedict.TTL(10*time.Millisecond))
	f.clk.Advance(9 * time.Millisecond)
	wantValue(t, s, "k", item("v2", 2))
	f.clk.Advance(time.Millisecond)
	wantMissing(t, s, "k")
	rec.wait(t, 1)
	closeNow(t, s)
	wantEvents(t, "OnExpire events", rec.events(), []event{{"expire", "k", item("v2", 2)}})
}

// testKeepTTLKeepsDeadline: a Set with KeepTTL changes the value and keeps
// the deadline.
func testKeepTTLKeepsDeadline(t *testing.T, f *fixture) {
	s := f.store(livedict.WithDefaultTTL(time.Hour))
	set(t, s, "k", item("v1", 1), livedict.TTL(10*time.Second))
	f.clk.Advance(4 * time.Second)
	set(t, s, "k", item("v2", 2), livedict.KeepTTL())
	wantValue(t, s, "k", item("v2", 2))
	wantTTL(t, s, "k", 6*time.Second, true)
	f.clk.Advance(6*time.Second - time.Millisecond)
	wantValue(t, s, "k", item("v2", 2))
	f.clk.Advance(time.Millisecond)
	wantMissing(t, s, "k")
}

// testKeepTTLOptions: how KeepTTL, NoExpiry and the default TTL combine.
func testKeepTTLOptions(t *testing.T, f *fixture) {
	const def = time.Minute
	tests := []struct {
		name       string
		defaultTTL bool
		first      []livedict.SetOption // nil: the key is new at the second Set
		second     []livedict.SetOption
		wantTTL    time.Duration // 0: no expiry
	}{
		{"new key with KeepTTL gets the default TTL", true, nil, []livedict.SetOption{livedict.KeepTTL()}, def},
		{"new key with KeepTTL and no default never expires", false, nil, []livedict.SetOption{livedict.KeepTTL()}, 0},
		{"KeepTTL keeps no expiry despite a default", true, []livedict.SetOption{livedict.NoExpiry()}, []livedict.SetOption{livedict.KeepTTL()}, 0},
		{"NoExpiry overrides the default", true, nil, []livedict.SetOption{livedict.NoExpiry()}, 0},
		{"NoExpiry replaces a deadline", true, []livedict.SetOption{livedict.TTL(time.Second)}, []livedict.SetOption{livedict.NoExpiry()}, 0},
		{"no option and no default never expires", false, nil, nil, 0},
		{"no option gets the default TTL", true, nil, nil, def},
		{"no option replaces a deadline with the default", true, []livedict.SetOption{livedict.TTL(time.Second)}, nil, def},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := f.child(t)
			opts := []livedict.Option{livedict.WithBucket("keep-ttl-" + string(rune('a'+i)))}
			if tt.defaultTTL {
				opts = append(opts, livedict.WithDefaultTTL(def))
			}
			s := f.store(opts...)
			if tt.first != nil {
				set(t, s, "k", item("v1", 1), tt.first...)
			}
			set(t, s, "k", item("v2", 2), tt.second...)
			wantTTL(t, s, "k", tt.wantTTL, true)
			if tt.wantTTL == 0 {
				f.clk.Advance(10 * 365 * 24 * time.Hour)
				wantValue(t, s, "k", item("v2", 2))
				return
			}
			f.clk.Advance(tt.wantTTL - time.Millisecond)
			wantValue(t, s, "k", item("v2", 2))
			f.clk.Advance(time.Millisecond)
			wantMissing(t, s, "k")
		})
	}
}

// testDefaultTTL: WithDefaultTTL applies to a Set without a TTL option, and
// a TTL option overrides it.
func testDefaultTTL(t *testing.T, f *fixture) {
	s := f.store(livedict.WithDefaultTTL(time.Minute))
	set(t, s, "default", item("default", 1))
	set(t, s, "given", item("given", 2), livedict.TTL(2*time.Minute))
	wantTTL(t, s, "default", time.Minute, true)
	wantTTL(t, s, "given", 2*time.Minute, true)
	f.clk.Advance(time.Minute - time.Millisecond)
	wantValue(t, s, "default", item("default", 1))
	f.clk.Advance(time.Millisecond)
	wantMissing(t, s, "default")
	wantValue(t, s, "given", item("given", 2))
}

// testInvalidTTL: TTL(0) and TTL(-1) are ErrInvalidTTL, for Set, Update and
// Async().Set, and store nothing.
func testInvalidTTL(t *testing.T, f *fixture) {
	s := f.store()
	set(t, s, "existing", item("old", 1), livedict.NoExpiry())
	writers := []struct {
		name  string
		write func(key string, opt livedict.SetOption) error
	}{
		{"Set", func(key string, opt livedict.SetOption) error { return s.Set(bg, key, item("new", 2), opt) }},
		{"Update", func(key string, opt livedict.SetOption) error {
			return s.Update(bg, key, func(Item, bool) (Item, bool, error) { return item("new", 2), true, nil }, opt)
		}},
		{"AsyncSet", func(key string, opt livedict.SetOption) error {
			_, err := s.Async().Set(bg, key, item("new", 2), opt).Wait(bg)
			return err
		}},
	}
	for _, w := range writers {
		for _, d := range []time.Duration{0, -1, -time.Second} {
			if err := w.write("new", livedict.TTL(d)); !errors.Is(err, backend.ErrInvalidTTL) {
				t.Errorf("%s with TTL(%v) on a new key: error %v, want ErrInvalidTTL", w.name, d, err)
			}
			if err := w.write("existing", livedict.TTL(d)); !errors.Is(err, backend.ErrInvalidTTL) {
				t.Errorf("%s with TTL(%v) on an existing key: error %v, want ErrInvalidTTL", w.name, d, err)
			}
		}
	}
	if has(t, s, "new") {
		t.Error("a write with an invalid TTL stored a new key")
	}
	wantValue(t, s, "existing", item("old", 1))
	wantTTL(t, s, "existing", 0, true)
	wantLen(t, s, 1)
}

// testTTLRemaining: TTL returns the time left, (0, true) for a key without
// expiry and (0, false) for a missing one.
func testTTLRemaining(t *testing.T, f *fixture) {
	s := f.store()
	set(t, s, "k", item("k", 1), livedict.TTL(10*time.Second))
	set(t, s, "forever", item("forever", 2))
	wantTTL(t, s, "k", 10*time.Second, true)
	f.clk.Advance(3 * time.Second)
	wantTTL(t, s, "k", 7*time.Second, true)
	f.clk.Advance(6*time.Second + 999*time.Millisecond)
	wantTTL(t, s, "k", time.Millisecond, true)
	wantTTL(t, s, "forever", 0, true)
	wantTTL(t, s, "missing", 0, false)
	if d := cmp.Diff(item("forever", 2), mustGet(t, s, "forever")); d != "" {
		t.Fatalf("TTL changed the value (-want +got):\n%s", d)
	}
}

func mustGet(t testing.TB, s *Store, key string) Item {
	t.Helper()
	v, ok := get(t, s, key)
	if !ok {
		t.Fatalf("Get(%q): missing", key)
	}
	return v
}

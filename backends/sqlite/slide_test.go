package sqlite_test

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/sqlite"
	"github.com/livedict/livedict/conformance"
)

// slideNow is the time of the sliding tests' operations, and slideIdle
// their idle time.
const (
	slideNow  = int64(1_000_000)
	slideIdle = int64(1000)
)

// slideBuckets are the kinds of bucket whose Touch and Retime take
// different paths: one UPDATE outside a transaction, and in an EvictLRU
// bucket, a transaction that also stamps the entry as used.
var slideBuckets = []struct {
	name  string
	limit backend.Limit
}{
	{"plain", backend.Limit{}},
	{"lru", backend.Limit{MaxKeys: 100, Policy: backend.EvictLRU}},
}

func mustPut(t *testing.T, raw backend.Bucket[string, []byte], key string, w backend.Write[[]byte], now int64) backend.WriteResult[string, []byte] {
	t.Helper()
	res, err := raw.Put(bg, key, w, now)
	if err != nil {
		t.Fatalf("Put(%q, %+v) at %d: %v", key, w, now, err)
	}
	return res
}

// mustEntry returns the live entry of key at now.
func mustEntry(t *testing.T, raw backend.Bucket[string, []byte], key string, now int64) backend.Entry[[]byte] {
	t.Helper()
	e, ok, err := raw.Get(bg, key, now)
	if err != nil || !ok {
		t.Fatalf("Get(%q) at %d = %+v, %v, %v; want the entry", key, now, e, ok, err)
	}
	return e
}

// checkNextDeadline checks the bucket's NextDeadline: want, or none for 0.
func checkNextDeadline(t *testing.T, raw backend.Bucket[string, []byte], want int64) {
	t.Helper()
	d, ok, err := raw.NextDeadline(bg)
	if err != nil || ok != (want != 0) || d != want {
		t.Fatalf("NextDeadline = %d, %v, %v; want %d, %v", d, ok, err, want, want != 0)
	}
}

// accessed reads the access stamp of key in bucket under the backend.
func accessed(t *testing.T, path, bucket, key string) (n int64) {
	t.Helper()
	if err := plainDB(t, path).QueryRow(`SELECT accessed FROM livedict_entries WHERE bucket = ? AND key = ?`, bucket, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTouch: Touch slides a sliding entry to now+idle when that is later
// than its deadline, and leaves every other deadline alone; it reports
// whether the key is live; the value and version stay, so writes
// conditional on the version read before the touch succeed; an EvictLRU
// bucket stamps the touched entry as used, others do not.
func TestTouch(t *testing.T) {
	const now, idle = slideNow, slideIdle
	sliding := &backend.Write[[]byte]{Value: []byte("s"), Deadline: now + idle, Idle: idle}
	cases := []struct {
		name   string
		write  *backend.Write[[]byte] // at now; nil: no key
		retime []int64                // deadline and idle Retime gives after the write
		at     int64                  // the touch's now
		live   bool
		want   int64 // the deadline after the touch
	}{
		{name: "slides", write: sliding, at: now + 300, live: true, want: now + 300 + idle},
		{name: "slides from the edge", write: sliding, at: now + idle - 1, live: true, want: now + 2*idle - 1},
		{name: "same now", write: sliding, at: now, live: true, want: now + idle},
		{name: "earlier now", write: sliding, at: now - 500, live: true, want: now + idle},
		{name: "deadline past now+idle", write: sliding, retime: []int64{now + 5*idle, idle}, at: now + 10, live: true, want: now + 5*idle},
		{name: "fixed", write: &backend.Write[[]byte]{Value: []byte("f"), Deadline: now + idle}, at: now + 500, live: true, want: now + idle},
		{name: "no expiry", write: &backend.Write[[]byte]{Value: []byte("n")}, at: now + 500, live: true, want: 0},
		// As the memory backend's slide: a read of a sliding entry gives
		// it now+idle, whatever it had.
		{name: "no expiry, sliding", write: sliding, retime: []int64{0, idle}, at: now + 500, live: true, want: now + 500 + idle},
		{name: "now+idle overflows", write: sliding, retime: []int64{now + idle, math.MaxInt64 - 100}, at: now + 500, live: true, want: now + idle},
		{name: "absent", at: now},
		{name: "expired", write: sliding, at: now + idle},
		{name: "long expired", write: sliding, at: now + 3*idle},
	}
	b := openTemp(t)
	for _, bt := range slideBuckets {
		for i, c := range cases {
			t.Run(bt.name+"/"+c.name, func(t *testing.T) {
				name := bt.name + "/" + c.name
				raw := rawBucket(t, b, backend.BucketConfig{Name: name, Limit: bt.limit})
				if c.write == nil {
					if live, err := raw.Touch(bg, "k", c.at); live || err != nil {
						t.Fatalf("Touch of an absent key = %v, %v; want false", live, err)
					}
					if _, ok, err := raw.Get(bg, "k", c.at); ok || err != nil {
						t.Fatalf("Get after Touch of an absent key = %v, %v; want nothing", ok, err)
					}
					return
				}
				mustPut(t, raw, "k", *c.write, now)
				if c.retime != nil {
					if ok, err := raw.Retime(bg, "k", c.retime[0], c.retime[1], now); !ok || err != nil {
						t.Fatalf("Retime = %v, %v", ok, err)
					}
				}
				before := mustEntry(t, raw, "k", now)
				stamp := accessed(t, b.Path(), name, "k")
				live, err := raw.Touch(bg, "k", c.at)
				if err != nil || live != c.live {
					t.Fatalf("Touch at %d = %v, %v; want %v", c.at, live, err, c.live)
				}
				// Read before anything else: a Get stamps too, in EvictLRU.
				if stamped := accessed(t, b.Path(), name, "k") != stamp; stamped != (c.live && bt.limit.MaxKeys > 0) {
					t.Errorf("Touch changed the access stamp: %v; want %v (a live entry in EvictLRU only)", stamped, !stamped)
				}
				if !c.live {
					// The expired entry stays as it was, for the sweep.
					if _, ok, err := raw.Get(bg, "k", c.at); ok || err != nil {
						t.Fatalf("Get of the expired key after Touch = %v, %v; want nothing", ok, err)
					}
					if d := cmp.Diff(before, mustEntry(t, raw, "k", now)); d != "" {
						t.Fatalf("Touch of an expired key changed it (-before +after):\n%s", d)
					}
					if n, err := raw.SweepExpired(bg, c.at, 10); n != 1 || err != nil {
						t.Fatalf("SweepExpired = %d, %v; want 1", n, err)
					}
					return
				}
				want := before
				want.Deadline = c.want
				if d := cmp.Diff(want, mustEntry(t, raw, "k", now)); d != "" {
					t.Fatalf("entry after Touch (-want +got):\n%s", d)
				}
				checkNextDeadline(t, raw, c.want)
				// The version read before the touch is the key's version.
				if i%2 == 0 {
					if err := raw.DeleteIf(bg, "k", before.Version, now); err != nil {
						t.Fatalf("DeleteIf at the version before the touch: %v", err)
					}
					return
				}
				mustPut(t, raw, "k", backend.Write[[]byte]{Value: []byte("next"), KeepTTL: true, Conditional: true, IfVersion: before.Version}, now)
				if e := mustEntry(t, raw, "k", now); e.Deadline != c.want || e.Idle != before.Idle || string(e.Value) != "next" {
					t.Fatalf("after a KeepTTL Put at the version before the touch: %+v; want deadline %d, idle %d", e, c.want, before.Idle)
				}
			})
		}
	}
	// Deadlines moved in and out of the partial index on deadline > 0.
	checkIntegrity(t, b.Path())
}

// TestRetime: Retime gives a live entry the deadline and idle time given,
// keeping value and version, and reports whether there was one; a
// deadline at or before now expires the entry, which the sweep then moves
// to the outbox once, with its value.
func TestRetime(t *testing.T) {
	const now, idle = slideNow, slideIdle
	sliding := &backend.Write[[]byte]{Value: []byte("s"), Deadline: now + idle, Idle: idle}
	fixed := &backend.Write[[]byte]{Value: []byte("f"), Deadline: now + idle}
	cases := []struct {
		name           string
		write          *backend.Write[[]byte] // at now; nil: no key
		deadline, idle int64                  // given to Retime at now
		live           bool
		// touch, when set, is the now of a Touch after the Retime, which
		// must leave the deadline at touched.
		touch, touched int64
	}{
		{name: "to no expiry", write: sliding, deadline: 0, idle: 0, live: true},
		{name: "to later", write: fixed, deadline: now + 5*idle, live: true, touch: now + 10, touched: now + 5*idle},
		{name: "to sliding", write: fixed, deadline: now + idle, idle: 200, live: true, touch: now + 900, touched: now + 1100},
		{name: "to fixed", write: sliding, deadline: now + idle, idle: 0, live: true, touch: now + 900, touched: now + idle},
		{name: "to sooner", write: sliding, deadline: now + 10, idle: idle, live: true},
		{name: "to now", write: sliding, deadline: now, idle: idle, live: true},
		{name: "to the past", write: fixed, deadline: now - 1, live: true},
		{name: "absent", deadline: now + idle},
		{name: "expired", write: &backend.Write[[]byte]{Value: []byte("e"), Deadline: now - 5}, deadline: now + idle},
	}
	b := openTemp(t)
	for _, bt := range slideBuckets {
		for _, c := range cases {
			t.Run(bt.name+"/"+c.name, func(t *testing.T) {
				raw := rawBucket(t, b, backend.BucketConfig{Name: bt.name + "/" + c.name, Limit: bt.limit})
				var before backend.Entry[[]byte]
				if c.write != nil {
					mustPut(t, raw, "k", *c.write, now-10)
					before, _, _ = raw.Get(bg, "k", now-10)
				}
				live, err := raw.Retime(bg, "k", c.deadline, c.idle, now)
				if err != nil || live != c.live {
					t.Fatalf("Retime = %v, %v; want %v", live, err, c.live)
				}
				if !c.live {
					if _, ok, err := raw.Get(bg, "k", now); ok || err != nil {
						t.Fatalf("Get after Retime of a key not live = %v, %v; want nothing", ok, err)
					}
					if c.write != nil {
						checkNextDeadline(t, raw, c.write.Deadline) // unchanged
					}
					return
				}
				if c.deadline != 0 && c.deadline <= now {
					checkExpiredOnce(t, raw, now, "k", c.write.Value, c.deadline)
					return
				}
				want := before
				want.Deadline, want.Idle = c.deadline, c.idle
				if d := cmp.Diff(want, mustEntry(t, raw, "k", now)); d != "" {
					t.Fatalf("entry after Retime (-want +got):\n%s", d)
				}
				checkNextDeadline(t, raw, c.deadline)
				if c.deadline == 0 {
					mustEntry(t, raw, "k", now+1000*idle)
					if n, err := raw.SweepExpired(bg, now+1000*idle, 10); n != 0 || err != nil {
						t.Fatalf("SweepExpired of an entry without deadline = %d, %v; want 0", n, err)
					}
				}
				if c.touch != 0 {
					if live, err := raw.Touch(bg, "k", c.touch); !live || err != nil {
						t.Fatalf("Touch after Retime = %v, %v", live, err)
					}
					if e := mustEntry(t, raw, "k", now); e.Deadline != c.touched {
						t.Fatalf("Touch at %d after Retime left deadline %d; want %d", c.touch, e.Deadline, c.touched)
					}
				}
			})
		}
	}
	checkIntegrity(t, b.Path())
}

// checkExpiredOnce checks that key, retimed to deadline at or before now,
// reads as expired, and that the sweep moves it to the outbox once, where
// a claim hands out its event with its value.
func checkExpiredOnce(t *testing.T, raw backend.Bucket[string, []byte], now int64, key string, value []byte, deadline int64) {
	t.Helper()
	if _, ok, err := raw.Get(bg, key, now); ok || err != nil {
		t.Fatalf("Get of the expired key = %v, %v; want nothing", ok, err)
	}
	if n, err := raw.Len(bg, now); n != 0 || err != nil {
		t.Fatalf("Len = %d, %v; want 0", n, err)
	}
	if live, err := raw.Touch(bg, key, now); live || err != nil {
		t.Fatalf("Touch of the expired key = %v, %v; want false", live, err)
	}
	if live, err := raw.Retime(bg, key, now+slideIdle, 0, now); live || err != nil {
		t.Fatalf("Retime of the expired key = %v, %v; want false", live, err)
	}
	checkNextDeadline(t, raw, deadline)
	if n, err := raw.SweepExpired(bg, now, 10); n != 1 || err != nil {
		t.Fatalf("SweepExpired = %d, %v; want 1", n, err)
	}
	if n, err := raw.SweepExpired(bg, now+slideIdle, 10); n != 0 || err != nil {
		t.Fatalf("second SweepExpired = %d, %v; want 0", n, err)
	}
	checkNextDeadline(t, raw, 0)
	evs, err := raw.ClaimExpired(bg, now, 10, time.Minute)
	if err != nil || len(evs) != 1 || evs[0].Key != key || string(evs[0].Value) != string(value) || evs[0].Deadline != deadline {
		t.Fatalf("ClaimExpired = %+v, %v; want the event of %q with %q, deadline %d", evs, err, key, value, deadline)
	}
	if err := raw.AckExpired(bg, []string{evs[0].ID}); err != nil {
		t.Fatal(err)
	}
}

// TestKeepTTLKeepsIdle: a KeepTTL write over a live entry keeps its
// deadline and idle time; over a new or an expired key it takes the
// write's; a write without KeepTTL sets both. Each way a Put can go: the
// one-statement update, the general path (WantPrev, EvictLRU), PutMany.
func TestKeepTTLKeepsIdle(t *testing.T) {
	const now, idle = slideNow, slideIdle
	type putFunc func(raw backend.Bucket[string, []byte], key string, w backend.Write[[]byte]) (backend.WriteResult[string, []byte], error)
	single := func(raw backend.Bucket[string, []byte], key string, w backend.Write[[]byte]) (backend.WriteResult[string, []byte], error) {
		return raw.Put(bg, key, w, now)
	}
	modes := []struct {
		name  string
		limit backend.Limit
		put   putFunc
	}{
		{"in place", backend.Limit{}, single},
		{"want prev", backend.Limit{}, func(raw backend.Bucket[string, []byte], key string, w backend.Write[[]byte]) (backend.WriteResult[string, []byte], error) {
			w.WantPrev = true
			return raw.Put(bg, key, w, now)
		}},
		{"lru", backend.Limit{MaxKeys: 100, Policy: backend.EvictLRU}, single},
		{"batch", backend.Limit{}, func(raw backend.Bucket[string, []byte], key string, w backend.Write[[]byte]) (backend.WriteResult[string, []byte], error) {
			rs, err := raw.(backend.Batcher[string, []byte]).PutMany(bg, []backend.KeyWrite[string, []byte]{{Key: key, Write: w}}, now)
			if err != nil {
				return backend.WriteResult[string, []byte]{}, err
			}
			return rs[0].Result, rs[0].Err
		}},
	}
	b := openTemp(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			raw := rawBucket(t, b, backend.BucketConfig{Name: m.name, Limit: m.limit})
			mustPut(t, raw, "slide", backend.Write[[]byte]{Value: []byte("1"), Deadline: now + idle, Idle: idle}, now-100)
			mustPut(t, raw, "gone", backend.Write[[]byte]{Value: []byte("g"), Deadline: now - 50, Idle: 50}, now-100)
			mustPut(t, raw, "fix", backend.Write[[]byte]{Value: []byte("f"), Deadline: now + idle, Idle: idle}, now-100)
			mustPut(t, raw, "renew", backend.Write[[]byte]{Value: []byte("r"), Deadline: now + idle, Idle: idle}, now-100)
			for _, w := range []struct {
				key      string
				write    backend.Write[[]byte]
				deadline int64 // of the entry after the write
				idle     int64
				moved    bool
			}{
				// In this order, in a plain bucket, the KeepTTL write over
				// slide is the one-statement update outside a transaction,
				// and fix is that update inside one.
				{"renew", backend.Write[[]byte]{Value: []byte("r2"), Deadline: now + 400, Idle: 400}, now + 400, 400, false},
				{"slide", backend.Write[[]byte]{Value: []byte("2"), Deadline: now + 7, KeepTTL: true}, now + idle, idle, false},
				{"new", backend.Write[[]byte]{Value: []byte("n"), Deadline: now + 500, Idle: 500, KeepTTL: true}, now + 500, 500, false},
				{"gone", backend.Write[[]byte]{Value: []byte("g2"), Deadline: now + 700, Idle: 700, KeepTTL: true}, now + 700, 700, true},
				{"fix", backend.Write[[]byte]{Value: []byte("f2"), Deadline: now + 300}, now + 300, 0, false},
			} {
				res, err := m.put(raw, w.key, w.write)
				if err != nil || res.ExpiredMoved != w.moved {
					t.Fatalf("Put(%q, %+v) = %+v, %v; want ExpiredMoved %v", w.key, w.write, res, err, w.moved)
				}
				if res.Existed && res.Prev.Idle == 0 {
					t.Errorf("Put(%q): the previous entry %+v lost its idle time", w.key, res.Prev)
				}
				e := mustEntry(t, raw, w.key, now)
				if e.Deadline != w.deadline || e.Idle != w.idle || string(e.Value) != string(w.write.Value) {
					t.Errorf("after Put(%q, %+v): %+v; want deadline %d, idle %d", w.key, w.write, e, w.deadline, w.idle)
				}
			}
		})
	}
}

// TestReadsCarryIdle: every read that returns an entry returns its idle
// time: Get, GetMany, Range, Delete, DeleteMany, a Put's previous entry,
// and the entries EvictLRU pushed out.
func TestReadsCarryIdle(t *testing.T) {
	const now = slideNow
	b := openTemp(t)
	idles := map[string]int64{"a": 1000, "b": 2000, "c": 0}
	for _, bt := range slideBuckets {
		t.Run(bt.name, func(t *testing.T) {
			raw := rawBucket(t, b, backend.BucketConfig{Name: bt.name, Limit: bt.limit})
			batch := raw.(backend.Batcher[string, []byte])
			for k, idle := range idles {
				mustPut(t, raw, k, backend.Write[[]byte]{Value: []byte(k), Deadline: now + 5000, Idle: idle}, now)
			}
			check := func(how, key string, e backend.Entry[[]byte]) {
				t.Helper()
				if e.Idle != idles[key] || string(e.Value) != key {
					t.Errorf("%s(%q) = %+v; want idle %d", how, key, e, idles[key])
				}
			}
			for k := range idles {
				check("Get", k, mustEntry(t, raw, k, now))
			}
			keys := []string{"a", "b", "c", "missing", "a"}
			rs, err := batch.GetMany(bg, keys, now)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rs {
				if r.Found != (keys[i] != "missing") || r.Err != nil {
					t.Fatalf("GetMany(%q) = %+v", keys[i], r)
				}
				if r.Found {
					check("GetMany", keys[i], r.Entry)
				}
			}
			seen := 0
			if err := raw.Range(bg, now, func(k string, e backend.Entry[[]byte]) bool { check("Range", k, e); seen++; return true }); err != nil || seen != 3 {
				t.Fatalf("Range: %v; saw %d entries, want 3", err, seen)
			}
			res := mustPut(t, raw, "a", backend.Write[[]byte]{Value: []byte("a"), Deadline: now + 5000, Idle: 1000, WantPrev: true}, now)
			if !res.Existed {
				t.Fatalf("Put with WantPrev over a: %+v", res)
			}
			check("Put's Prev", "a", res.Prev)
			e, ok, err := raw.Delete(bg, "a", now)
			if !ok || err != nil {
				t.Fatalf("Delete(a) = %v, %v", ok, err)
			}
			check("Delete", "a", e)
			ds, err := batch.DeleteMany(bg, []string{"b"}, now)
			if err != nil || !ds[0].Found {
				t.Fatalf("DeleteMany(b) = %+v, %v", ds, err)
			}
			check("DeleteMany", "b", ds[0].Entry)
		})
	}
	t.Run("evicted", func(t *testing.T) {
		raw := rawBucket(t, b, backend.BucketConfig{Name: "evict", Limit: backend.Limit{MaxKeys: 1, Policy: backend.EvictLRU}})
		mustPut(t, raw, "a", backend.Write[[]byte]{Value: []byte("a"), Deadline: now + 5000, Idle: 1000}, now)
		res := mustPut(t, raw, "x", backend.Write[[]byte]{Value: []byte("x")}, now)
		if len(res.Evicted) != 1 || res.Evicted[0].Key != "a" || res.Evicted[0].Entry.Idle != 1000 {
			t.Fatalf("Evicted = %+v; want a with idle 1000", res.Evicted)
		}
	})
}

// TestTouchSeenByOtherHandles: another backend on the file, as another
// process would have, and another handle of the bucket see what a Touch
// or Retime did (deadline and NextDeadline), and an entry retimed into
// the past is swept once between all of them.
func TestTouchSeenByOtherHandles(t *testing.T) {
	const now, idle = slideNow, slideIdle
	path := filepath.Join(t.TempDir(), "shared.db")
	cfg := backend.BucketConfig{Name: "shared"}
	a := rawBucket(t, openAt(t, path), cfg)
	otherBackend := openAt(t, path)
	other := rawBucket(t, otherBackend, cfg)
	sibling := rawBucket(t, otherBackend, cfg)
	mustPut(t, a, "k", backend.Write[[]byte]{Value: []byte("v"), Deadline: now + idle, Idle: idle}, now)
	sees := func(h backend.Bucket[string, []byte], deadline int64) {
		t.Helper()
		if e := mustEntry(t, h, "k", now); e.Deadline != deadline || e.Idle != idle {
			t.Fatalf("the other handle reads %+v; want deadline %d, idle %d", e, deadline, idle)
		}
		checkNextDeadline(t, h, deadline)
	}
	sees(other, now+idle)
	if live, err := a.Touch(bg, "k", now+400); !live || err != nil {
		t.Fatalf("Touch = %v, %v", live, err)
	}
	sees(other, now+400+idle)
	sees(sibling, now+400+idle)
	if live, err := other.Touch(bg, "k", now+800); !live || err != nil {
		t.Fatalf("Touch on the other backend = %v, %v", live, err)
	}
	sees(a, now+800+idle)
	if live, err := a.Retime(bg, "k", now-1, idle, now); !live || err != nil {
		t.Fatalf("Retime = %v, %v", live, err)
	}
	moved := 0
	for _, h := range []backend.Bucket[string, []byte]{other, a, sibling} {
		n, err := h.SweepExpired(bg, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		moved += n
	}
	if moved != 1 {
		t.Fatalf("the handles swept %d entries; want 1", moved)
	}
	evs, err := sibling.ClaimExpired(bg, now, 10, time.Minute)
	if err != nil || len(evs) != 1 || evs[0].Key != "k" || string(evs[0].Value) != "v" || evs[0].Deadline != now-1 {
		t.Fatalf("ClaimExpired = %+v, %v; want the event of k", evs, err)
	}
}

// TestTouchInGroup: Touch and Retime queued behind another write run in
// the group's shared transaction, beside Puts, each with its own result.
func TestTouchInGroup(t *testing.T) {
	const now, idle = slideNow, slideIdle
	b := openTemp(t)
	raw := rawBucket(t, b, backend.BucketConfig{Name: "g"})
	mustPut(t, raw, "slide", backend.Write[[]byte]{Value: []byte("s"), Deadline: now + idle, Idle: idle}, now)
	mustPut(t, raw, "fixed", backend.Write[[]byte]{Value: []byte("f"), Deadline: now + idle}, now)
	mustPut(t, raw, "retimed", backend.Write[[]byte]{Value: []byte("r"), Deadline: now + idle}, now)
	release := sqlite.HoldWriter(b)
	type result struct {
		live bool
		err  error
	}
	var results [4]<-chan error
	var got [4]result
	ops := []func() (bool, error){
		func() (bool, error) { return raw.Touch(bg, "slide", now+500) },
		func() (bool, error) { return raw.Touch(bg, "fixed", now+500) },
		func() (bool, error) { return raw.Touch(bg, "absent", now+500) },
		func() (bool, error) { return raw.Retime(bg, "retimed", now+3*idle, 7, now+500) },
	}
	for i, op := range ops {
		results[i] = queue(t, b, func() error {
			var err error
			got[i].live, err = op()
			return err
		})
	}
	put := queue(t, b, func() error {
		_, err := raw.Put(bg, "other", backend.Write[[]byte]{Value: []byte("o")}, now)
		return err
	})
	release()
	for i := range results {
		got[i].err = <-results[i]
	}
	if err := <-put; err != nil {
		t.Fatal(err)
	}
	if want := [4]result{{true, nil}, {true, nil}, {false, nil}, {true, nil}}; got != want {
		t.Fatalf("results %+v; want %+v", got, want)
	}
	for key, want := range map[string][2]int64{"slide": {now + 500 + idle, idle}, "fixed": {now + idle, 0}, "retimed": {now + 3*idle, 7}} {
		if e := mustEntry(t, raw, key, now); e.Deadline != want[0] || e.Idle != want[1] {
			t.Errorf("%s after the group: %+v; want deadline %d, idle %d", key, e, want[0], want[1])
		}
	}
	mustEntry(t, raw, "other", now)
}

// TestTouchConcurrentWithPuts: Touches of a key that Puts rewrite at the
// same time, on a clock that moves forward: every Touch finds the key
// live, and the key ends with the version the Puts alone give it.
func TestTouchConcurrentWithPuts(t *testing.T) {
	const idle = 10 * slideIdle
	b := openTemp(t)
	raw := rawBucket(t, b, backend.BucketConfig{Name: "c"})
	var clock atomic.Int64
	clock.Store(slideNow)
	mustPut(t, raw, "k", backend.Write[[]byte]{Value: []byte("0"), Deadline: slideNow + idle, Idle: idle}, slideNow)
	v0 := mustEntry(t, raw, "k", slideNow).Version
	const goroutines, each = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines*each)
	for g := range goroutines {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range each {
				now := clock.Add(1)
				if _, err := raw.Put(bg, "k", backend.Write[[]byte]{Value: fmt.Appendf(nil, "%d-%d", g, i), Deadline: now + idle, Idle: idle}, now); err != nil {
					errs <- err
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range each {
				now := clock.Add(1)
				if live, err := raw.Touch(bg, "k", now); !live || err != nil {
					errs <- fmt.Errorf("Touch at %d = %v, %v; want true", now, live, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	end := clock.Load()
	e := mustEntry(t, raw, "k", end)
	if e.Version != v0+goroutines*each || e.Idle != idle || e.Deadline <= slideNow+idle || e.Deadline > end+idle {
		t.Fatalf("after the Puts and Touches: %+v; want version %d, idle %d, a deadline in (%d, %d]",
			e, v0+goroutines*each, idle, slideNow+idle, end+idle)
	}
	checkNextDeadline(t, raw, e.Deadline)
	checkIntegrity(t, b.Path())
}

// TestTouchUnreadable: on a record whose deadline or idle time this
// backend cannot read, Touch and Retime return the error Get returns and
// change nothing; a Put replaces the record unless it needs its times
// (KeepTTL).
func TestTouchUnreadable(t *testing.T) {
	const now, idle = slideNow, slideIdle
	b := openTemp(t)
	faults := []struct {
		name   string
		damage func(t *testing.T, bucket string)
	}{
		{"deadline real", func(t *testing.T, bucket string) { damage(t, b, bucket, "k", conformance.FaultDeadline) }},
		{"deadline text", func(t *testing.T, bucket string) { damage(t, b, bucket, "k", conformance.FaultType) }},
		{"idle text", func(t *testing.T, bucket string) {
			if _, err := plainDB(t, b.Path()).Exec(`UPDATE livedict_entries SET idle = 'long' WHERE bucket = ? AND key = 'k'`, bucket); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, bt := range slideBuckets {
		for _, f := range faults {
			t.Run(bt.name+"/"+f.name, func(t *testing.T) {
				name := bt.name + "/" + f.name
				raw := rawBucket(t, b, backend.BucketConfig{Name: name, Limit: bt.limit})
				mustPut(t, raw, "k", backend.Write[[]byte]{Value: []byte("v"), Deadline: now + idle, Idle: idle}, now)
				f.damage(t, name)
				_, _, getErr := raw.Get(bg, "k", now+500)
				var rec *backend.CorruptRecord
				if !errors.As(getErr, &rec) || rec.Key != "k" {
					t.Fatalf("Get of the damaged record: %v; want a CorruptRecord of k", getErr)
				}
				before := fileDump(t, b)
				for op, do := range map[string]func() (bool, error){
					"Touch":  func() (bool, error) { return raw.Touch(bg, "k", now+500) },
					"Retime": func() (bool, error) { return raw.Retime(bg, "k", now+5*idle, 0, now+500) },
				} {
					if live, err := do(); live || errText(err) != errText(getErr) {
						t.Errorf("%s of the damaged record = %v, %v; want false and Get's error %v", op, live, err, getErr)
					}
				}
				if d := cmp.Diff(before, fileDump(t, b)); d != "" {
					t.Errorf("Touch and Retime changed the damaged record (-before +after):\n%s", d)
				}
				if _, err := raw.Put(bg, "k", backend.Write[[]byte]{Value: []byte("w"), KeepTTL: true}, now); errText(err) != errText(getErr) {
					t.Errorf("KeepTTL Put over the damaged record: %v; want %v", err, getErr)
				}
				res, err := raw.Put(bg, "k", backend.Write[[]byte]{Value: []byte("w"), Deadline: now + idle, Idle: idle}, now)
				if err != nil || res.Replaced == nil || res.Replaced.Key != "k" {
					t.Fatalf("Put over the damaged record = %+v, %v; want it Replaced", res, err)
				}
				if live, err := raw.Touch(bg, "k", now+500); !live || err != nil {
					t.Fatalf("Touch of the replaced record = %v, %v", live, err)
				}
			})
		}
	}
}

// TestVersion2FileMigrates: a file of schema version 2, from before
// sliding expiry, is migrated in place when opened: its entries are
// there with their values, deadlines and versions, idle 0 (fixed), and
// the file is at version 3 from then on.
func TestVersion2FileMigrates(t *testing.T) {
	const now = slideNow
	path := filepath.Join(t.TempDir(), "v2.db")
	db := plainDB(t, path)
	if _, err := db.Exec(sqlite.SchemaDDL(2) + `
CREATE TABLE livedict_schema (version INTEGER NOT NULL);
INSERT INTO livedict_schema (version) VALUES (2);
INSERT INTO livedict_buckets (bucket, seq, fence) VALUES ('old', 3, 1);
INSERT INTO livedict_entries (bucket, key, value, deadline, version, accessed) VALUES
	('old', 'fixed', x'0102', 1005000, 3145728, 0),
	('old', 'forever', x'74657874', 0, 2097153, 0),
	('old', 'due', 'd', 999000, 1048576, 0);`); err != nil {
		t.Fatalf("writing a version 2 file: %v", err)
	}
	db.Close()
	hasIdle := func() (n int) {
		t.Helper()
		if err := plainDB(t, path).QueryRow(`SELECT count(*) FROM pragma_table_info('livedict_entries') WHERE name = 'idle'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if hasIdle() != 0 {
		t.Fatal("the version 2 DDL has an idle column")
	}

	raw := rawBucket(t, openAt(t, path), backend.BucketConfig{Name: "old"})
	var v int
	if err := plainDB(t, path).QueryRow(`SELECT version FROM livedict_schema`).Scan(&v); err != nil || v != 3 {
		t.Fatalf("schema version after opening a version 2 file = %d, %v; want 3", v, err)
	}
	if hasIdle() != 1 {
		t.Fatal("the migrated file has no idle column")
	}
	want := map[string]backend.Entry[[]byte]{
		"fixed":   {Value: []byte{1, 2}, Deadline: 1005000, Version: 3 << 20},
		"forever": {Value: []byte("text"), Deadline: 0, Version: 2<<20 + 1},
	}
	got := map[string]backend.Entry[[]byte]{}
	if err := raw.Range(bg, now, func(k string, e backend.Entry[[]byte]) bool { got[k] = e; return true }); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("entries after the migration (-want +got):\n%s", d)
	}
	// The migrated entries are fixed: a touch leaves them.
	if live, err := raw.Touch(bg, "fixed", now+100); !live || err != nil {
		t.Fatalf("Touch of a migrated entry = %v, %v", live, err)
	}
	if e := mustEntry(t, raw, "fixed", now); e.Deadline != 1005000 {
		t.Fatalf("Touch moved the deadline of a fixed entry to %d", e.Deadline)
	}
	if n, err := raw.SweepExpired(bg, now, 10); n != 1 || err != nil {
		t.Fatalf("SweepExpired of the migrated file = %d, %v; want the due entry", n, err)
	}
	// The migrated file takes sliding entries, and a new version (from the
	// counter the file had) on a new key.
	mustPut(t, raw, "new", backend.Write[[]byte]{Value: []byte("n"), Deadline: now + 100, Idle: 100}, now)
	if e := mustEntry(t, raw, "new", now); e.Idle != 100 || e.Version != 4<<20 {
		t.Fatalf("a sliding entry in the migrated file: %+v; want idle 100, version %d", e, 4<<20)
	}
	// Opening it again finds it current.
	openAt(t, path)
}

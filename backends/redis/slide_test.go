package redis_test

// Tests of sliding expiry (Entry.Idle, Touch, Retime). The tables run on
// the memory backend too, the reference for these semantics, so that a
// difference between the two shows as a failure of one of them; the
// checks of what Redis holds (the dl index, the key's own expiry, damaged
// records, the LRU order) run on Redis alone.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/memory"
	"github.com/livedict/livedict/backends/redis"
	"github.com/livedict/livedict/internal/redistest"
)

type rawBk = backend.Bucket[string, []byte]

// slideTarget opens fresh buckets of one backend.
type slideTarget struct {
	name string
	// open returns a bucket of a backend of its own, and that backend
	// when it is Redis (nil for memory).
	open func(t *testing.T, cfg backend.BucketConfig, opts ...redis.Option) (rawBk, *redis.Backend)
}

func memoryTarget() slideTarget {
	return slideTarget{name: "memory", open: func(t *testing.T, cfg backend.BucketConfig, _ ...redis.Option) (rawBk, *redis.Backend) {
		t.Helper()
		mb := memory.New()
		t.Cleanup(func() { mb.Close() })
		bk, err := memory.Open[string, []byte](mb, cfg, memory.Clones(bytes.Clone))
		if err != nil {
			t.Fatal(err)
		}
		return bk, nil
	}}
}

func redisTarget(name string, c goredis.UniversalClient) slideTarget {
	return slideTarget{name: name, open: func(t *testing.T, cfg backend.BucketConfig, opts ...redis.Option) (rawBk, *redis.Backend) {
		t.Helper()
		be := newBackend(t, c, opts...)
		bk, err := be.Bucket(bg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bk.Close() })
		return bk, be
	}}
}

// slideTests run on every target; redisSlideTests on Redis targets only.
var (
	slideTests = []struct {
		name string
		fn   func(t *testing.T, tg slideTarget)
	}{
		{"Touch", testTouch},
		{"Retime", testRetime},
		{"KeepTTLKeepsIdle", testKeepTTLKeepsIdle},
	}
	redisSlideTests = []struct {
		name string
		fn   func(t *testing.T, tg slideTarget)
	}{
		{"ReadsCarryIdle", testReadsCarryIdle},
		{"ReclaimFollowsDeadline", testReclaimFollowsDeadline},
		{"TouchIsAnAccess", testTouchIsAnAccess},
		{"Unreadable", testSlideUnreadable},
	}
)

func runSlide(t *testing.T, tg slideTarget, redisOnly bool) {
	for _, st := range slideTests {
		t.Run(st.name, func(t *testing.T) { st.fn(t, tg) })
	}
	if redisOnly {
		for _, st := range redisSlideTests {
			t.Run(st.name, func(t *testing.T) { st.fn(t, tg) })
		}
	}
}

func TestSlide(t *testing.T) {
	url, _ := redistest.Server(t)
	c := newClient(t, url)
	t.Run("memory", func(t *testing.T) { runSlide(t, memoryTarget(), false) })
	t.Run("redis", func(t *testing.T) { runSlide(t, redisTarget("redis", c), true) })
}

func TestSlideCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the cluster is slow to start; -short skips it")
	}
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: redistest.Cluster(t)})
	t.Cleanup(func() { c.Close() })
	runSlide(t, redisTarget("redis-cluster", c), true)
}

// at turns a deadline relative to base into a stored one: 0 stays "none".
func at(base, rel int64) int64 {
	if rel == 0 {
		return 0
	}
	return base + rel
}

// getEntry reads key at now and fails the test unless it is there.
func getEntry(t *testing.T, bk rawBk, key string, now int64) backend.Entry[[]byte] {
	t.Helper()
	e, ok, err := bk.Get(bg, key, now)
	if err != nil || !ok {
		t.Fatalf("Get(%q) at %d = %v, %v; want the entry", key, now, ok, err)
	}
	return e
}

func put(t *testing.T, bk rawBk, key string, w backend.Write[[]byte], now int64) backend.WriteResult[string, []byte] {
	t.Helper()
	res, err := bk.Put(bg, key, w, now)
	if err != nil {
		t.Fatalf("Put(%q, %+v): %v", key, w, err)
	}
	return res
}

// testTouch: a Touch slides a sliding entry to now+idle when that is
// later, never earlier, leaves fixed deadlines alone, reports live keys
// only, and keeps value and version: a conditional Put on the version
// read before the touch still succeeds, and keeps the touched deadline.
func testTouch(t *testing.T, tg slideTarget) {
	base := time.Now().UnixMilli()
	cases := []struct {
		name           string
		absent         bool
		deadline, idle int64 // of the entry, deadline relative to base
		at             int64 // when the touch happens, relative to base
		live           bool
		want           int64 // the deadline after it, relative to base
	}{
		{name: "sliding slides", deadline: 1000, idle: 1000, at: 400, live: true, want: 1400},
		{name: "sliding just before its deadline", deadline: 1000, idle: 1000, at: 999, live: true, want: 1999},
		{name: "sliding touched at once", deadline: 1000, idle: 1000, at: 0, live: true, want: 1000},
		{name: "deadline later than now+idle stays", deadline: 5000, idle: 1000, at: 400, live: true, want: 5000},
		{name: "fixed deadline stays", deadline: 1000, at: 400, live: true, want: 1000},
		{name: "no expiry stays", at: 400, live: true},
		// An idle time without a deadline (Retime can make one): the
		// memory backend gives it a deadline, and so does Redis.
		{name: "idle without deadline gets one", idle: 1000, at: 400, live: true, want: 1400},
		{name: "expired at its deadline", deadline: 1000, idle: 1000, at: 1000},
		{name: "expired long ago", deadline: 1000, idle: 1000, at: 5000},
		{name: "absent", absent: true, at: 400},
	}
	bk, _ := tg.open(t, backend.BucketConfig{Name: "touch"})
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("k%d", i)
			var before backend.Entry[[]byte]
			if !tc.absent {
				put(t, bk, key, backend.Write[[]byte]{Value: []byte(key), Deadline: at(base, tc.deadline), Idle: tc.idle}, base)
				before = getEntry(t, bk, key, base)
			}
			now := base + tc.at
			live, err := bk.Touch(bg, key, now)
			if err != nil || live != tc.live {
				t.Fatalf("Touch at +%d = %v, %v; want %v", tc.at, live, err, tc.live)
			}
			if tc.absent {
				if _, ok, err := bk.Get(bg, key, base); ok || err != nil {
					t.Fatalf("Touch of an absent key made one: %v, %v", ok, err)
				}
				return
			}
			if !tc.live {
				// Changed nothing: read before its deadline, it is as written.
				if e := getEntry(t, bk, key, base); e.Deadline != before.Deadline || e.Idle != before.Idle || e.Version != before.Version {
					t.Fatalf("after a Touch of the expired entry it reads %+v; want %+v", e, before)
				}
				return
			}
			e := getEntry(t, bk, key, now)
			if e.Deadline != at(base, tc.want) || e.Idle != tc.idle || e.Version != before.Version || string(e.Value) != key {
				t.Fatalf("after Touch: deadline %d, idle %d, version %d, value %q; want %d, %d, %d, %q",
					e.Deadline, e.Idle, e.Version, e.Value, at(base, tc.want), tc.idle, before.Version, key)
			}
			if _, err := bk.Put(bg, key, backend.Write[[]byte]{Value: []byte("cas"), Conditional: true, IfVersion: before.Version, KeepTTL: true}, now); err != nil {
				t.Fatalf("a Put conditional on the version read before the Touch: %v", err)
			}
			if e := getEntry(t, bk, key, now); e.Deadline != at(base, tc.want) || e.Idle != tc.idle || string(e.Value) != "cas" {
				t.Fatalf("after the KeepTTL Put: %+v; want deadline %d, idle %d, value cas", e, at(base, tc.want), tc.idle)
			}
		})
	}
}

// testRetime: Retime sets deadline and idle time of a live entry as given,
// keeping value and version (a DeleteIf on the old version succeeds); a
// deadline at or before now expires the entry, which the sweep then moves
// to the outbox once, with its value.
func testRetime(t *testing.T, tg slideTarget) {
	base := time.Now().UnixMilli()
	cases := []struct {
		name               string
		absent             bool
		deadline, idle     int64 // of the entry, deadline relative to base
		at                 int64 // when Retime runs, relative to base
		toDeadline, toIdle int64 // its arguments, deadline relative to base
		live, expires      bool
	}{
		{name: "to no expiry", deadline: 1000, idle: 1000, at: 400, live: true},
		{name: "to later, sliding", deadline: 1000, at: 400, toDeadline: 9000, toIdle: 2000, live: true},
		{name: "to earlier, fixed", deadline: 1000, idle: 1000, at: 400, toDeadline: 600, live: true},
		{name: "no expiry to a deadline", at: 400, toDeadline: 3000, toIdle: 500, live: true},
		{name: "idle without deadline", deadline: 1000, at: 400, toIdle: 1000, live: true},
		{name: "to now", deadline: 1000, idle: 1000, at: 400, toDeadline: 400, toIdle: 1000, live: true, expires: true},
		{name: "to the past", deadline: 1000, at: 400, toDeadline: 100, live: true, expires: true},
		{name: "expired entry", deadline: 300, at: 400, toDeadline: 9000},
		{name: "absent", absent: true, at: 400, toDeadline: 9000},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bk, be := tg.open(t, backend.BucketConfig{Name: fmt.Sprintf("retime%d", i)})
			const key = "k"
			var before backend.Entry[[]byte]
			if !tc.absent {
				put(t, bk, key, backend.Write[[]byte]{Value: []byte("val"), Deadline: at(base, tc.deadline), Idle: tc.idle}, base)
				before = getEntry(t, bk, key, base)
			}
			now := base + tc.at
			live, err := bk.Retime(bg, key, at(base, tc.toDeadline), tc.toIdle, now)
			if err != nil || live != tc.live {
				t.Fatalf("Retime = %v, %v; want %v", live, err, tc.live)
			}
			switch {
			case tc.absent:
				if n, err := bk.Len(bg, base); n != 0 || err != nil {
					t.Fatalf("Len after a Retime of an absent key = %d, %v", n, err)
				}
			case !tc.live:
				if e := getEntry(t, bk, key, base); e.Deadline != before.Deadline || e.Idle != before.Idle {
					t.Fatalf("a Retime of an expired entry changed it: %+v, was %+v", e, before)
				}
			case !tc.expires:
				e := getEntry(t, bk, key, now)
				if e.Deadline != at(base, tc.toDeadline) || e.Idle != tc.toIdle || e.Version != before.Version || string(e.Value) != "val" {
					t.Fatalf("after Retime: %+v; want deadline %d, idle %d, version %d, value val", e, at(base, tc.toDeadline), tc.toIdle, before.Version)
				}
				// Redis reads the index the Retime moved it in; the memory
				// backend may answer an earlier deadline it has not dropped yet.
				if next, ok, err := bk.NextDeadline(bg); be != nil && (err != nil || ok != (tc.toDeadline != 0) || ok && next != at(base, tc.toDeadline)) {
					t.Fatalf("NextDeadline = %d, %v, %v; want %d", next, ok, err, at(base, tc.toDeadline))
				}
				if err := bk.DeleteIf(bg, key, before.Version, now); err != nil {
					t.Fatalf("DeleteIf on the version read before the Retime: %v", err)
				}
			default:
				if _, ok, err := bk.Get(bg, key, now); ok || err != nil {
					t.Fatalf("Get after a Retime to +%d at +%d = %v, %v; want expired", tc.toDeadline, tc.at, ok, err)
				}
				if n, err := bk.Len(bg, now); n != 0 || err != nil {
					t.Fatalf("Len = %d, %v; want 0", n, err)
				}
				for round, want := range []int{1, 0} {
					if n, err := bk.SweepExpired(bg, now, 100); n != want || err != nil {
						t.Fatalf("SweepExpired round %d = %d, %v; want %d", round, n, err, want)
					}
				}
				evs, err := bk.ClaimExpired(bg, now, 100, time.Minute)
				if err != nil || len(evs) != 1 {
					t.Fatalf("ClaimExpired = %+v, %v; want one event", evs, err)
				}
				if ev := evs[0]; ev.Key != key || string(ev.Value) != "val" || ev.Deadline != at(base, tc.toDeadline) {
					t.Fatalf("event %+v; want key %s, value val, deadline %d", ev, key, at(base, tc.toDeadline))
				}
				if evs[0].ID != "" {
					if err := bk.AckExpired(bg, []string{evs[0].ID}); err != nil {
						t.Fatal(err)
					}
				}
				if evs, err := bk.ClaimExpired(bg, now, 100, time.Minute); err != nil || len(evs) != 0 {
					t.Fatalf("ClaimExpired again = %+v, %v; want none", evs, err)
				}
			}
		})
	}
	t.Run("negative", func(t *testing.T) {
		if tg.name == "memory" {
			t.Skip("the memory backend takes any number")
		}
		bk, _ := tg.open(t, backend.BucketConfig{Name: "retime-negative"})
		put(t, bk, "k", backend.Write[[]byte]{Value: []byte("v")}, base)
		for _, args := range [][2]int64{{-1, 0}, {base + 1000, -1}} {
			if _, err := bk.Retime(bg, "k", args[0], args[1], base); err == nil || !strings.Contains(err.Error(), `"k"`) {
				t.Errorf("Retime(k, %d, %d) = %v; want an error naming the key", args[0], args[1], err)
			}
		}
		if e := getEntry(t, bk, "k", base); e.Deadline != 0 || e.Idle != 0 {
			t.Fatalf("a refused Retime changed the entry: %+v", e)
		}
	})
}

// testKeepTTLKeepsIdle: a KeepTTL write over a live entry keeps its
// deadline and idle time; over no entry it takes its own; a write without
// KeepTTL and without idle makes a sliding entry fixed. WriteResult.Prev
// and Delete's entry carry the idle time.
func testKeepTTLKeepsIdle(t *testing.T, tg slideTarget) {
	base := time.Now().UnixMilli()
	bk, _ := tg.open(t, backend.BucketConfig{Name: "keepttl"})
	put(t, bk, "a", backend.Write[[]byte]{Value: []byte("1"), Deadline: base + 1000, Idle: 1000}, base)
	res := put(t, bk, "a", backend.Write[[]byte]{Value: []byte("2"), Deadline: base + 9000, KeepTTL: true, WantPrev: true}, base+100)
	if !res.Existed || res.Prev.Idle != 1000 || res.Prev.Deadline != base+1000 || string(res.Prev.Value) != "1" {
		t.Fatalf("Prev = %+v, %v; want value 1, deadline +1000, idle 1000", res.Prev, res.Existed)
	}
	if e := getEntry(t, bk, "a", base+100); e.Deadline != base+1000 || e.Idle != 1000 || string(e.Value) != "2" {
		t.Fatalf("after a KeepTTL write: %+v; want deadline +1000, idle 1000, value 2", e)
	}
	put(t, bk, "b", backend.Write[[]byte]{Value: []byte("b"), Deadline: base + 2000, Idle: 500, KeepTTL: true}, base)
	if e := getEntry(t, bk, "b", base); e.Deadline != base+2000 || e.Idle != 500 {
		t.Fatalf("a KeepTTL write of a new key: %+v; want deadline +2000, idle 500", e)
	}
	put(t, bk, "a", backend.Write[[]byte]{Value: []byte("3"), Deadline: base + 3000}, base+200)
	if e := getEntry(t, bk, "a", base+200); e.Deadline != base+3000 || e.Idle != 0 {
		t.Fatalf("a fixed write over a sliding entry: %+v; want deadline +3000, idle 0", e)
	}
	if live, err := bk.Touch(bg, "a", base+2500); !live || err != nil {
		t.Fatalf("Touch(a) = %v, %v", live, err)
	}
	if e := getEntry(t, bk, "a", base+2500); e.Deadline != base+3000 {
		t.Fatalf("a Touch moved the deadline of an entry written fixed: %+v", e)
	}
	e, ok, err := bk.Delete(bg, "b", base)
	if err != nil || !ok || e.Idle != 500 || e.Deadline != base+2000 {
		t.Fatalf("Delete(b) = %+v, %v, %v; want deadline +2000, idle 500", e, ok, err)
	}
}

// testReadsCarryIdle: GetMany, Range, DeleteMany and the entries EvictLRU
// pushes out carry the idle time.
func testReadsCarryIdle(t *testing.T, tg slideTarget) {
	base := time.Now().UnixMilli()
	bk, _ := tg.open(t, backend.BucketConfig{Name: "reads"})
	idle := map[string]int64{"s1": 1000, "s2": 2500, "f": 0}
	for k, i := range idle {
		put(t, bk, k, backend.Write[[]byte]{Value: []byte(k), Deadline: base + 5000, Idle: i}, base)
	}
	many := bk.(backend.Batcher[string, []byte])
	rs, err := many.GetMany(bg, []string{"s1", "none", "s2", "f"}, base)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"s1", "none", "s2", "f"} {
		r := rs[i]
		if r.Err != nil || r.Found != (k != "none") || r.Entry.Idle != idle[k] {
			t.Errorf("GetMany %s = %+v; want idle %d", k, r, idle[k])
		}
	}
	seen := map[string]int64{}
	if err := bk.Range(bg, base, func(k string, e backend.Entry[[]byte]) bool { seen[k] = e.Idle; return true }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != fmt.Sprint(idle) {
		t.Errorf("Range saw idle times %v; want %v", seen, idle)
	}
	ds, err := many.DeleteMany(bg, []string{"s2", "f"}, base)
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Entry.Idle != 2500 || !ds[0].Found || ds[1].Entry.Idle != 0 || !ds[1].Found {
		t.Errorf("DeleteMany = %+v; want idle 2500 and 0", ds)
	}

	lru, _ := tg.open(t, backend.BucketConfig{Name: "reads-lru", Limit: backend.Limit{MaxKeys: 1, Policy: backend.EvictLRU}})
	put(t, lru, "old", backend.Write[[]byte]{Value: []byte("old"), Deadline: base + 5000, Idle: 700}, base)
	if e := getEntry(t, lru, "old", base); e.Idle != 700 {
		t.Errorf("Get in an EvictLRU bucket: %+v; want idle 700", e)
	}
	res := put(t, lru, "new", backend.Write[[]byte]{Value: []byte("new")}, base)
	if len(res.Evicted) != 1 || res.Evicted[0].Key != "old" || res.Evicted[0].Entry.Idle != 700 || res.Evicted[0].Entry.Deadline != base+5000 {
		t.Errorf("Evicted = %+v; want old with deadline +5000, idle 700", res.Evicted)
	}
}

// entryKeys returns the Redis key of the entry of key in bucket and the
// shard's deadline index.
func entryKeys(t *testing.T, be *redis.Backend, bucket, key string) (entry, dl string) {
	t.Helper()
	ek, err := redis.EntryKey(bg, be, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	return ek, strings.TrimSuffix(ek, ":e:"+key) + ":dl"
}

// testReclaimFollowsDeadline: Touch and Retime move the entry's place in
// the deadline index and Redis' own expiry of its key (deadline plus the
// reclaim period, as a Put sets it), and Retime to no expiry removes
// both.
func testReclaimFollowsDeadline(t *testing.T, tg slideTarget) {
	const reclaim = time.Hour
	base := time.Now().UnixMilli()
	bk, be := tg.open(t, backend.BucketConfig{Name: "reclaim"}, redis.WithReclaimAfter(reclaim))
	ek, dl := entryKeys(t, be, "reclaim", "k")
	c := be.Client()
	check := func(step string, deadline, expireAt int64) {
		t.Helper()
		got, err := c.PExpireTime(bg, ek).Result()
		if err != nil {
			t.Fatalf("%s: PEXPIRETIME: %v", step, err)
		}
		if want := time.Duration(expireAt) * time.Millisecond; expireAt < 0 && got >= 0 || expireAt >= 0 && got != want {
			t.Errorf("%s: the key expires at %v; want %v", step, got, want)
		}
		score, err := c.ZScore(bg, dl, "k").Result()
		switch {
		case deadline == 0 && !errors.Is(err, goredis.Nil):
			t.Errorf("%s: the deadline index holds %v, %v; want no entry", step, score, err)
		case deadline != 0 && (err != nil || int64(score) != deadline):
			t.Errorf("%s: the deadline index holds %v, %v; want %d", step, score, err, deadline)
		}
		// PTTL tells the same, counted from the server's now.
		t0 := time.Now().UnixMilli()
		ttl, err := c.PTTL(bg, ek).Result()
		t1 := time.Now().UnixMilli()
		switch {
		case err != nil:
			t.Fatalf("%s: PTTL: %v", step, err)
		case expireAt < 0 && ttl != -1:
			t.Errorf("%s: PTTL %v; want none (-1)", step, ttl)
		case expireAt >= 0 && (ttl.Milliseconds() < expireAt-t1-1 || ttl.Milliseconds() > expireAt-t0+1):
			t.Errorf("%s: PTTL %v; want %dms to %dms", step, ttl, expireAt-t1, expireAt-t0)
		}
	}
	r := reclaim.Milliseconds()
	put(t, bk, "k", backend.Write[[]byte]{Value: []byte("v"), Deadline: base + 1000, Idle: 1000}, base)
	check("Put", base+1000, base+1000+r)
	if live, err := bk.Touch(bg, "k", base+600); !live || err != nil {
		t.Fatalf("Touch = %v, %v", live, err)
	}
	check("Touch", base+1600, base+1600+r)
	if live, err := bk.Retime(bg, "k", base+9000, 0, base+700); !live || err != nil {
		t.Fatalf("Retime = %v, %v", live, err)
	}
	check("Retime later", base+9000, base+9000+r)
	if live, err := bk.Retime(bg, "k", 0, 0, base+800); !live || err != nil {
		t.Fatalf("Retime(0) = %v, %v", live, err)
	}
	check("Retime to no expiry", 0, -1)
	if live, err := bk.Retime(bg, "k", base-r, 0, base+900); !live || err != nil {
		t.Fatalf("Retime(past) = %v, %v", live, err)
	}
	// A deadline more than the reclaim period ago would let Redis delete
	// the key before the sweep moves it: it is reclaimed after now instead.
	check("Retime to the past", base-r, base+900+r)
	if n, err := bk.SweepExpired(bg, base+900, 10); n != 1 || err != nil {
		t.Fatalf("SweepExpired = %d, %v; want 1", n, err)
	}
}

// testTouchIsAnAccess: in an EvictLRU bucket a Touch and a Retime make the
// key the most recently used, as a Get does and as the memory and SQLite
// backends count them.
func testTouchIsAnAccess(t *testing.T, tg slideTarget) {
	base := time.Now().UnixMilli()
	for _, tc := range []struct {
		name    string
		op      func(bk rawBk) error
		evicted string
	}{
		{"Get", func(bk rawBk) error { _, _, err := bk.Get(bg, "a", base); return err }, "b"},
		{"Touch", func(bk rawBk) error { _, err := bk.Touch(bg, "a", base); return err }, "b"},
		{"Retime", func(bk rawBk) error { _, err := bk.Retime(bg, "a", base+5000, 1000, base); return err }, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bk, _ := tg.open(t, backend.BucketConfig{Name: "lru-" + tc.name, Limit: backend.Limit{MaxKeys: 2, Policy: backend.EvictLRU}})
			for _, k := range []string{"a", "b"} {
				put(t, bk, k, backend.Write[[]byte]{Value: []byte(k), Deadline: base + 1000, Idle: 1000}, base)
			}
			if err := tc.op(bk); err != nil {
				t.Fatal(err)
			}
			res := put(t, bk, "c", backend.Write[[]byte]{Value: []byte("c")}, base)
			if len(res.Evicted) != 1 || res.Evicted[0].Key != tc.evicted {
				t.Fatalf("after a %s of a, Put(c) evicted %+v; want %s", tc.name, res.Evicted, tc.evicted)
			}
		})
	}
}

// testSlideUnreadable: on a record the backend cannot read, Touch and
// Retime return the error Get returns (the same in a bucket whose Get is a
// script, EvictLRU) and change nothing; a hash without a value is no
// entry for them, as for Get.
func testSlideUnreadable(t *testing.T, tg slideTarget) {
	base := time.Now().UnixMilli()
	faults := []struct {
		name   string
		damage func(c goredis.UniversalClient, ek string) error
		absent bool
	}{
		{name: "idle not a number", damage: func(c goredis.UniversalClient, ek string) error { return c.HSet(bg, ek, "i", "soon").Err() }},
		{name: "idle negative", damage: func(c goredis.UniversalClient, ek string) error { return c.HSet(bg, ek, "i", "-5").Err() }},
		{name: "deadline not a number", damage: func(c goredis.UniversalClient, ek string) error { return c.HSet(bg, ek, "d", "1e13").Err() }},
		{name: "deadline missing", damage: func(c goredis.UniversalClient, ek string) error { return c.HDel(bg, ek, "d").Err() }},
		{name: "version missing", damage: func(c goredis.UniversalClient, ek string) error { return c.HDel(bg, ek, "n").Err() }},
		{name: "another type", damage: func(c goredis.UniversalClient, ek string) error {
			if err := c.Del(bg, ek).Err(); err != nil {
				return err
			}
			return c.Set(bg, ek, "foreign", 0).Err()
		}},
		{name: "value missing", absent: true, damage: func(c goredis.UniversalClient, ek string) error { return c.HDel(bg, ek, "v").Err() }},
	}
	for _, lru := range []bool{false, true} {
		for i, f := range faults {
			cfg := backend.BucketConfig{Name: fmt.Sprintf("bad%d", i)}
			name := f.name
			if lru {
				cfg.Limit = backend.Limit{MaxKeys: 10, Policy: backend.EvictLRU}
				name += "/EvictLRU"
			}
			t.Run(name, func(t *testing.T) {
				bk, be := tg.open(t, cfg)
				c := be.Client()
				put(t, bk, "k", backend.Write[[]byte]{Value: []byte("v"), Deadline: base + 1000, Idle: 1000}, base)
				ek, dl := entryKeys(t, be, cfg.Name, "k")
				if err := f.damage(c, ek); err != nil {
					t.Fatal(err)
				}
				snapshot := func() string {
					dump, _ := c.Dump(bg, ek).Result()
					score, _ := c.ZScore(bg, dl, "k").Result()
					exp, _ := c.PExpireTime(bg, ek).Result()
					return fmt.Sprintf("%q %v %v", dump, score, exp)
				}
				was := snapshot()
				_, found, getErr := bk.Get(bg, "k", base+500)
				if f.absent {
					if found || getErr != nil {
						t.Fatalf("Get = %v, %v; want no entry", found, getErr)
					}
				} else {
					var rec *backend.CorruptRecord
					if !errors.As(getErr, &rec) || rec.Key != "k" {
						t.Fatalf("Get = %v; want a CorruptRecord of k", getErr)
					}
				}
				for _, op := range []struct {
					name string
					run  func() (bool, error)
				}{
					{"Touch", func() (bool, error) { return bk.Touch(bg, "k", base+500) }},
					{"Retime", func() (bool, error) { return bk.Retime(bg, "k", base+9000, 0, base+500) }},
				} {
					live, err := op.run()
					if live || fmt.Sprint(err) != fmt.Sprint(getErr) {
						t.Errorf("%s = %v, %v; want false and Get's error %v", op.name, live, err, getErr)
					}
				}
				if now := snapshot(); now != was {
					t.Errorf("the record changed: %s, was %s", now, was)
				}
				if lru && !f.absent {
					// The script's Get names the fault as the plain one does.
					plain, pbe := tg.open(t, backend.BucketConfig{Name: cfg.Name + "-plain"})
					put(t, plain, "k", backend.Write[[]byte]{Value: []byte("v"), Deadline: base + 1000, Idle: 1000}, base)
					pek, _ := entryKeys(t, pbe, cfg.Name+"-plain", "k")
					if err := f.damage(pbe.Client(), pek); err != nil {
						t.Fatal(err)
					}
					if _, _, err := plain.Get(bg, "k", base+500); fmt.Sprint(err) != fmt.Sprint(getErr) {
						t.Errorf("Get in an EvictLRU bucket: %v; in another: %v", getErr, err)
					}
				}
			})
		}
	}
}

// TestSlideOutcomeUnknown: a Touch or Retime whose reply never comes (the
// server stalls past the caller's ctx) reports ErrOutcomeUnknown, as every
// write sent at most once does, and names the key.
func TestSlideOutcomeUnknown(t *testing.T) {
	url, p := redistest.Server(t)
	if p == nil {
		t.Skip("needs a server this test can stop (LIVEDICT_REDIS_URL is set)")
	}
	be := newBackend(t, newShortClient(t, url))
	bk, err := be.Bucket(bg, backend.BucketConfig{Name: "stall"})
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	base := time.Now().UnixMilli()
	put(t, bk, "k", backend.Write[[]byte]{Value: []byte("v"), Deadline: base + 60_000, Idle: 60_000}, base)
	p.Pause(t)
	for _, op := range []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"Touch", func(ctx context.Context) error { _, err := bk.Touch(ctx, "k", base+1000); return err }},
		{"Retime", func(ctx context.Context) error { _, err := bk.Retime(ctx, "k", base+90_000, 0, base+1000); return err }},
	} {
		ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
		err := op.run(ctx)
		cancel()
		if !errors.Is(err, backend.ErrOutcomeUnknown) || !strings.Contains(err.Error(), `"k"`) {
			t.Errorf("%s on a stalled server = %v; want ErrOutcomeUnknown naming the key", op.name, err)
		}
	}
	p.Resume(t)
}

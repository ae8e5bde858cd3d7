package redis_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/redis"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/redistest"
)

// TestBatchMatchesSingle holds the scripts that run the writes of a shard
// in one call to the semantics of one write at a time. Random sequences of
// PutMany and DeleteMany (with keys given twice, expired and damaged
// entries, KeepTTL, conditions, WantPrev, claimed displaced entries and
// sliding deadlines) run on three buckets of one backend: as batches on
// the first, one Put or Delete at a time on the second, and on the third
// through the scripts as they were before (oldscripts_test.go), one
// write at a time. After every step each write's result and everything the
// buckets hold in Redis (entries, their Redis expiry, the key, deadline
// and LRU indexes, the outbox and held streams) must agree; versions
// agree between the first two buckets, the old scripts numbering them
// otherwise.
func TestBatchMatchesSingle(t *testing.T) {
	url, _ := redistest.Server(t)
	c := newClient(t, url)
	seeds := 5
	switch {
	case testing.Short():
		seeds = 2
	case conformance.Long():
		seeds = 30
	}
	for _, tc := range []struct {
		name  string
		limit backend.Limit
	}{
		{"plain", backend.Limit{}},
		{"limit", backend.Limit{MaxKeys: 5, Policy: backend.RejectNew}},
		{"lru", backend.Limit{MaxKeys: 5, Policy: backend.EvictLRU}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]int{}
			for seed := range seeds {
				if !runBatchDiff(t, c, uint64(seed), tc.limit, seen) {
					return
				}
			}
			t.Logf("writes and deletes by outcome: %v", seen)
		})
	}
}

// diffBucket is one of the three buckets of runBatchDiff.
type diffBucket struct {
	name string
	bk   backend.Bucket[string, []byte]
	tags []string
}

// putOut is the result of one write, in a form the three buckets share.
type putOut struct {
	Err       string
	Existed   bool
	Prev      string // value, deadline, idle
	PrevN     uint64
	Moved     bool
	Displaced string
	Replaced  string
	Evicted   []string
}

func normPut(r backend.WriteResult[string, []byte], err error) putOut {
	o := putOut{Existed: r.Existed, Moved: r.ExpiredMoved}
	if r.Existed {
		o.Prev = fmt.Sprintf("%s d=%d i=%d", r.Prev.Value, r.Prev.Deadline, r.Prev.Idle)
		o.PrevN = r.Prev.Version
	}
	if r.Displaced != nil {
		o.Displaced = fmt.Sprintf("%s=%s d=%d", r.Displaced.Key, r.Displaced.Value, r.Displaced.Deadline)
	}
	if r.Replaced != nil {
		o.Replaced = r.Replaced.Reason
	}
	for _, e := range r.Evicted {
		o.Evicted = append(o.Evicted, fmt.Sprintf("%s=%s d=%d i=%d", e.Key, e.Entry.Value, e.Entry.Deadline, e.Entry.Idle))
	}
	o.Err = normErr(err)
	return o
}

func normErr(err error) string {
	var corrupt *backend.CorruptRecord
	switch {
	case err == nil:
		return ""
	case errors.Is(err, backend.ErrConflict):
		return "conflict"
	case errors.Is(err, backend.ErrLimit):
		return "limit"
	case errors.As(err, &corrupt):
		return "corrupt: " + corrupt.Reason
	}
	return "error: " + err.Error()
}

func normRead(e backend.Entry[[]byte], found bool, err error) string {
	if err != nil {
		return normErr(err)
	}
	if !found {
		return "none"
	}
	return fmt.Sprintf("%s d=%d i=%d", e.Value, e.Deadline, e.Idle)
}

// oldPutResult reads a reply of oldPut as the backend's Put read it.
func oldPutResult(key string, r any, err error) putOut {
	if err != nil {
		return putOut{Err: "error: " + err.Error()}
	}
	l, _ := r.([]any)
	str := func(v any) string { s, _ := v.(string); return s }
	n := func(v any) int64 { x, _ := v.(int64); return x }
	if len(l) == 2 && n(l[0]) == 3 {
		return putOut{Err: "corrupt: " + str(l[1]) + "; a KeepTTL or conditional write needs it"}
	}
	o := putOut{Moved: n(l[1]) == 1}
	if n(l[0]) == 4 {
		o.Replaced = str(l[3])
	}
	if str(l[2]) != "" {
		o.Displaced = fmt.Sprintf("%s=%s d=%d", key, str(l[3]), n(l[4]))
	}
	switch n(l[0]) {
	case 1:
		o.Err = "conflict"
		return o
	case 2:
		o.Err = "limit"
		return o
	}
	if n(l[5]) == 1 {
		o.Existed = true
		o.Prev = fmt.Sprintf("%s d=%d i=%d", str(l[6]), n(l[7]), n(l[9]))
	}
	for i := 10; i+4 < len(l); i += 5 {
		o.Evicted = append(o.Evicted, fmt.Sprintf("%s=%s d=%d i=%d", str(l[i]), str(l[i+1]), n(l[i+2]), n(l[i+4])))
	}
	return o
}

func oldDeleteResult(key string, r any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	l, _ := r.([]any)
	str := func(v any) string { s, _ := v.(string); return s }
	n := func(v any) int64 { x, _ := v.(int64); return x }
	switch {
	case len(l) == 0:
		return "none"
	case len(l) == 1:
		// unread's reply: the backend's Delete turns it into the
		// CorruptRecord Get gives.
		in, _ := l[0].([]any)
		if len(in) == 1 {
			if strings.HasPrefix(str(in[0]), "WRONGTYPE") {
				return "corrupt: the entry's Redis key holds another type than a hash (WRONGTYPE)"
			}
			return "corrupt: " + str(in[0])
		}
		// The raw fields, judged as readEntry judges them.
		field := func(v any) bool {
			s, ok := v.(string)
			if !ok || len(s) == 0 || len(s) > 15 {
				return false
			}
			return strings.Trim(s, "0123456789") == ""
		}
		switch {
		case !field(in[1]):
			return fmt.Sprintf("corrupt: deadline %.40q is not a number", str(in[1]))
		case !field(in[2]):
			return fmt.Sprintf("corrupt: version %.40q is not a number", str(in[2]))
		case in[3] != nil && !field(in[3]):
			return fmt.Sprintf("corrupt: idle time %.40q is not a number", str(in[3]))
		}
		return fmt.Sprintf("unexpected reply %v", r)
	}
	return fmt.Sprintf("%s d=%d i=%d", str(l[0]), n(l[1]), n(l[3]))
}

// diffState is what a bucket holds in Redis, by key.
type diffState struct {
	Entries  map[string]string
	Versions map[string]string
	Expiry   map[string]int64
	Idx      []string
	Dl       []string
	Lru      []string
	Out      []string
	Held     []string
}

func readState(t *testing.T, c *goredis.Client, b diffBucket, keys []string) diffState {
	t.Helper()
	st := diffState{Entries: map[string]string{}, Versions: map[string]string{}, Expiry: map[string]int64{}}
	ek := func(key string) string { return b.tags[shardIndex(key, len(b.tags))] + ":e:" + key }
	types := make([]*goredis.StatusCmd, len(keys))
	hashes := make([]*goredis.MapStringStringCmd, len(keys))
	strs := make([]*goredis.StringCmd, len(keys))
	expiry := make([]*goredis.Cmd, len(keys))
	var idx, dl, lru []*goredis.ZSliceCmd
	var out, held []*goredis.XMessageSliceCmd
	_, err := c.Pipelined(bg, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			types[i] = p.Type(bg, ek(k))
			hashes[i] = p.HGetAll(bg, ek(k))
			strs[i] = p.Get(bg, ek(k))
			expiry[i] = p.Do(bg, "PEXPIRETIME", ek(k))
		}
		for _, tag := range b.tags {
			idx = append(idx, p.ZRangeWithScores(bg, tag+":idx", 0, -1))
			dl = append(dl, p.ZRangeWithScores(bg, tag+":dl", 0, -1))
			lru = append(lru, p.ZRangeWithScores(bg, tag+":lru", 0, -1))
			out = append(out, p.XRange(bg, tag+":out", "-", "+"))
			held = append(held, p.XRange(bg, tag+":held", "-", "+"))
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) && !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		t.Fatal(err)
	}
	for i, k := range keys {
		switch typ := types[i].Val(); typ {
		case "none":
			continue
		case "hash":
			h := hashes[i].Val()
			st.Versions[k] = h["n"]
			delete(h, "n")
			fs := make([]string, 0, len(h))
			for f, v := range h {
				fs = append(fs, f+"="+v)
			}
			slices.Sort(fs)
			st.Entries[k] = strings.Join(fs, " ")
		default:
			st.Entries[k] = typ + ": " + strs[i].Val()
		}
		st.Expiry[k], _ = expiry[i].Int64()
	}
	for i := range b.tags {
		for _, z := range idx[i].Val() {
			st.Idx = append(st.Idx, fmt.Sprint(z.Member))
		}
		for _, z := range dl[i].Val() {
			st.Dl = append(st.Dl, fmt.Sprintf("%v@%.0f", z.Member, z.Score))
		}
		for _, z := range lru[i].Val() {
			st.Lru = append(st.Lru, fmt.Sprint(z.Member))
		}
		for _, s := range []struct {
			from *goredis.XMessageSliceCmd
			to   *[]string
		}{{out[i], &st.Out}, {held[i], &st.Held}} {
			for _, m := range s.from.Val() {
				*s.to = append(*s.to, fmt.Sprintf("%v=%v d=%v", m.Values["k"], m.Values["v"], m.Values["d"]))
			}
		}
	}
	slices.Sort(st.Idx)
	slices.Sort(st.Dl)
	return st
}

// shardIndex is the backend's shardOf: FNV-1a of the key.
func shardIndex(key string, n int) int {
	if n == 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// runBatchDiff runs one random sequence; it reports false after a
// mismatch, which it reports as an error.
func runBatchDiff(t *testing.T, c *goredis.Client, seed uint64, limit backend.Limit, seen map[string]int) bool {
	t.Helper()
	const shards, reclaim = 3, 3_600_000 // ms
	be := newBackend(t, c, redis.WithShards(shards), redis.WithReclaimAfter(reclaim*time.Millisecond))
	lru := limit.MaxKeys > 0 && limit.Policy == backend.EvictLRU
	nShards := shards
	if limit.MaxKeys > 0 {
		nShards = 1
	}
	var bs [3]diffBucket
	for i, name := range []string{"batch", "single", "old"} {
		bk, err := be.Bucket(bg, backend.BucketConfig{Name: name, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bk.Close() })
		ek, err := redis.EntryKey(bg, be, name, "x")
		if err != nil {
			t.Fatal(err)
		}
		// ek is "<prefix>:{name#s}:e:x": the tags follow from its prefix.
		pfx := ek[:strings.Index(ek, ":{")]
		tags := make([]string, nShards)
		for s := range tags {
			tags[s] = pfx + ":{" + name + "#" + strconv.Itoa(s) + "}"
		}
		bs[i] = diffBucket{name, bk, tags}
	}
	batch := bs[0].bk.(backend.Batcher[string, []byte])
	rng := rand.New(rand.NewPCG(seed, 7))
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	now := time.Now().UnixMilli()
	fail := func(step int, what string, diff string) bool {
		t.Errorf("seed %d, step %d: %s differ (-batch or new +single or old):\n%s", seed, step, what, diff)
		return false
	}
	// version reads the current version of key in bucket b, for a
	// condition that matches it.
	version := func(b diffBucket, key string) uint64 {
		n, _ := strconv.ParseUint(c.HGet(bg, b.tags[shardIndex(key, nShards)]+":e:"+key, "n").Val(), 10, 64)
		return n
	}
	for step := range 120 {
		now += int64(rng.IntN(12))
		switch r := rng.IntN(100); {
		case r < 4:
			// Damage one key alike in the three buckets.
			k := keys[rng.IntN(len(keys))]
			deadlineFault := rng.IntN(2) == 0
			for _, b := range bs {
				ek := b.tags[shardIndex(k, nShards)] + ":e:" + k
				if deadlineFault {
					if c.Exists(bg, ek).Val() == 1 && c.Type(bg, ek).Val() == "hash" {
						c.HSet(bg, ek, "d", "soon")
					}
				} else {
					c.Del(bg, ek)
					c.Set(bg, ek, "foreign", 0)
				}
			}
			continue
		case r < 12:
			var moved [3]int
			for i, b := range bs {
				n, _ := b.bk.SweepExpired(bg, now, 3)
				moved[i] = n
			}
			if moved[0] != moved[1] || moved[1] != moved[2] {
				return fail(step, "sweeps", fmt.Sprint(moved))
			}
		case r < 30:
			// DeleteMany, against Delete and the old script.
			n := 1 + rng.IntN(6)
			ks := make([]string, n)
			for i := range ks {
				ks[i] = keys[rng.IntN(len(keys))]
			}
			var got [3][]string
			reads, err := batch.DeleteMany(bg, ks, now)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range reads {
				got[0] = append(got[0], normRead(r.Entry, r.Found, r.Err))
				switch what := normRead(r.Entry, r.Found, r.Err); {
				case what == "none", strings.HasPrefix(what, "corrupt"):
					seen["delete "+strings.SplitN(what, ":", 2)[0]]++
				default:
					seen["delete found"]++
				}
			}
			for _, k := range ks {
				got[1] = append(got[1], normRead(bs[1].bk.Delete(bg, k, now)))
				tag := bs[2].tags[shardIndex(k, nShards)]
				r, err := oldDelete.Run(bg, c, []string{tag + ":idx"}, tag, k, now, 0).Result()
				got[2] = append(got[2], oldDeleteResult(k, r, err))
			}
			if d := cmp.Diff(got[0], got[1]); d != "" {
				return fail(step, "DeleteMany and Delete", d)
			}
			if d := cmp.Diff(got[1], got[2]); d != "" {
				return fail(step, "Delete and the old delete", d)
			}
		case r < 35:
			// DeleteIf, one key: a delete op with a version.
			k := keys[rng.IntN(len(keys))]
			match := rng.IntN(3) > 0
			var got [3]string
			for i, b := range bs[:2] {
				v := uint64(999_999)
				if match {
					v = version(b, k)
				}
				got[i] = normErr(b.bk.DeleteIf(bg, k, v, now))
			}
			v := uint64(999_999)
			if match {
				v = version(bs[2], k)
			}
			got[2] = "conflict" // DeleteIf of version 0 runs no script
			if v != 0 {
				tag := bs[2].tags[shardIndex(k, nShards)]
				r, err := oldDelete.Run(bg, c, []string{tag + ":idx"}, tag, k, now, v).Result()
				if res := oldDeleteResult(k, r, err); res != "none" && !strings.HasPrefix(res, "corrupt") {
					got[2] = ""
				}
			}
			if got[0] != got[1] || got[1] != got[2] {
				return fail(step, "DeleteIf", fmt.Sprint(got))
			}
		default:
			n := 1 + rng.IntN(8)
			type gen struct {
				key   string
				w     backend.Write[[]byte]
				match int // 0 no condition, 1 current version, 2 absent, 3 wrong
			}
			gs := make([]gen, n)
			for i := range gs {
				g := gen{key: keys[rng.IntN(len(keys))]}
				g.w.Value = []byte(fmt.Sprintf("v%d.%d", step, i))
				switch d := rng.IntN(10); {
				case d < 3:
				case d < 6:
					// Few distinct deadlines, so that writes often keep
					// the one the entry has.
					g.w.Deadline = (now/40+1)*40 + int64(rng.IntN(2))*40
				case d < 8:
					g.w.Deadline = now + 1 + int64(rng.IntN(30))
				default:
					g.w.Idle = []int64{10, 25}[rng.IntN(2)]
					g.w.Deadline = now + g.w.Idle
				}
				g.w.KeepTTL = rng.IntN(7) == 0
				if rng.IntN(8) == 0 {
					g.match = 1 + rng.IntN(3)
				}
				g.w.WantPrev = rng.IntN(3) == 0
				if rng.IntN(5) == 0 {
					g.w.ClaimDisplaced = 1
				}
				gs[i] = g
			}
			// The condition each bucket sees: its own current version,
			// read before the batch (the batch runs on what it finds).
			write := func(b diffBucket, g gen, cache map[string]uint64) backend.Write[[]byte] {
				w := g.w
				switch g.match {
				case 1:
					w.Conditional = true
					if v, ok := cache[g.key]; ok {
						w.IfVersion = v
					} else {
						w.IfVersion = version(b, g.key)
						cache[g.key] = w.IfVersion
					}
				case 2:
					w.Conditional, w.IfVersion = true, 0
				case 3:
					w.Conditional, w.IfVersion = true, 999_999
				}
				return w
			}
			var got [3][]putOut
			caches := [3]map[string]uint64{{}, {}, {}}
			ws := make([]backend.KeyWrite[string, []byte], n)
			for i, g := range gs {
				ws[i] = backend.KeyWrite[string, []byte]{Key: g.key, Write: write(bs[0], g, caches[0])}
			}
			single := make([]backend.Write[[]byte], n)
			old := make([]backend.Write[[]byte], n)
			for i, g := range gs {
				single[i] = write(bs[1], g, caches[1])
				old[i] = write(bs[2], g, caches[2])
			}
			res, err := batch.PutMany(bg, ws, now)
			if err != nil {
				t.Fatal(err)
			}
			perShard := map[int]int{}
			for i, r := range res {
				o := normPut(r.Result, r.Err)
				got[0] = append(got[0], o)
				if perShard[shardIndex(ws[i].Key, nShards)]++; perShard[shardIndex(ws[i].Key, nShards)] == 2 {
					seen["calls of several writes"]++
				}
				for what, ok := range map[string]bool{"existed": o.Existed, "moved": o.Moved, "displaced": o.Displaced != "",
					"replaced": o.Replaced != "", "evicted": len(o.Evicted) > 0, o.Err: o.Err != "", "ok": o.Err == ""} {
					if ok {
						seen[strings.SplitN(what, ":", 2)[0]]++
					}
				}
			}
			for i, g := range gs {
				got[1] = append(got[1], normPut(bs[1].bk.Put(bg, g.key, single[i], now)))
				w := old[i]
				tag := bs[2].tags[shardIndex(g.key, nShards)]
				holder := ""
				if w.ClaimDisplaced > 0 {
					holder = "old-consumer"
				}
				r, err := oldPut.Run(bg, c, []string{tag + ":idx"}, tag, g.key, w.Value, w.Deadline, flag01(w.KeepTTL), flag01(w.Conditional),
					w.IfVersion, now, limit.MaxKeys, flag01(lru), reclaim, flag01(w.WantPrev), holder, "livedict", w.Idle).Result()
				got[2] = append(got[2], oldPutResult(g.key, r, err))
			}
			if lru {
				// Access stamps take numbers from the version counter
				// between the writes of a batch's call.
				for i := range got[0] {
					got[0][i].PrevN, got[1][i].PrevN = 0, 0
				}
			}
			if d := cmp.Diff(got[0], got[1]); d != "" {
				return fail(step, fmt.Sprintf("PutMany and Put of %v", ws), d)
			}
			for i := range got[1] {
				got[1][i].PrevN = 0
			}
			if d := cmp.Diff(got[1], got[2]); d != "" {
				return fail(step, fmt.Sprintf("Put and the old put of %v", ws), d)
			}
		}
		var sts [3]diffState
		for i, b := range bs {
			sts[i] = readState(t, c, b, keys)
		}
		if lru {
			sts[0].Versions, sts[1].Versions = nil, nil
		}
		if d := cmp.Diff(sts[0], sts[1]); d != "" {
			return fail(step, "the batch and single buckets", d)
		}
		sts[1].Versions, sts[2].Versions = nil, nil
		if d := cmp.Diff(sts[1], sts[2]); d != "" {
			return fail(step, "the single and old buckets", d)
		}
		for _, k := range keys {
			var got [3]string
			if !lru {
				for i, b := range bs {
					got[i] = normRead(b.bk.Get(bg, k, now))
				}
				if got[0] != got[1] || got[1] != got[2] {
					return fail(step, "Get of "+k, fmt.Sprint(got))
				}
			}
		}
	}
	return true
}

func flag01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

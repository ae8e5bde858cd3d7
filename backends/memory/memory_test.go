package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/livedict/livedict/backend"
)

var ctx = context.Background()

func openTest[K comparable, V any](t *testing.T, limit backend.Limit) *Bucket[K, V] {
	t.Helper()
	cfg, err := backend.BucketConfig{Name: "t", Limit: limit}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	return newBucket[K, V](cfg, Copies[V]{})
}

// modelEntry is what the model of TestRandom knows of a key.
type modelEntry struct {
	val      int
	deadline int64
	version  uint64
}

// TestRandom drives buckets with random writes (all the Write options),
// deletes, reads, sweeps and moves of time, over few keys so that they
// meet, and checks every result against a map with deadlines, and after
// every step the invariants of the tables and the expiry index (check).
// The bounded buckets also check the LRU order, and what a full bucket
// evicts or refuses.
func TestRandom(t *testing.T) {
	tests := []struct {
		name  string
		limit backend.Limit
		keys  int
	}{
		{"unbounded", backend.Limit{}, 300},
		{"unbounded, many keys", backend.Limit{}, 5000},
		{"EvictLRU", backend.Limit{MaxKeys: 40, Policy: backend.EvictLRU}, 100},
		{"RejectNew", backend.Limit{MaxKeys: 40, Policy: backend.RejectNew}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := openTest[int, int](t, tt.limit)
			r := rand.New(rand.NewPCG(1, uint64(tt.keys)))
			want := map[int]modelEntry{}
			var lru []int // most recently used first, live or expired-unswept keys
			touch := func(k int) {
				lru = slices.DeleteFunc(lru, func(x int) bool { return x == k })
				lru = slices.Insert(lru, 0, k)
			}
			forget := func(k int) {
				delete(want, k)
				lru = slices.DeleteFunc(lru, func(x int) bool { return x == k })
			}
			expired := map[int][]int{} // key -> values of displaced events not yet claimed
			now := int64(1_000_000)
			deadline := func() int64 {
				switch r.IntN(6) {
				case 0:
					return 0
				case 1:
					return now + 1 + r.Int64N(3)
				case 2:
					return now + 1 + r.Int64N(400)
				case 3:
					return now + 1 + r.Int64N(100_000)
				default:
					return now + 1 + r.Int64N(1<<40)
				}
			}
			isLive := func(e modelEntry) bool { return e.deadline == 0 || e.deadline > now }
			evictions := 0
			defer func() {
				if tt.limit.Policy == backend.EvictLRU {
					t.Logf("%d evictions", evictions)
				}
			}()
			// put runs one random Put of k and checks its result.
			put := func(step, k int) {
				w := backend.Write[int]{Value: step, Deadline: deadline(), KeepTTL: r.IntN(8) == 0, WantPrev: r.IntN(2) == 0}
				cur, had := want[k]
				if had && !isLive(cur) {
					// Displaced into the outbox by the write.
					expired[k] = append(expired[k], cur.val)
					forget(k)
					had = false
				}
				var version uint64
				if had {
					version = cur.version
				}
				if r.IntN(6) == 0 {
					w.Conditional = true
					switch r.IntN(3) {
					case 0:
						w.IfVersion = version
					case 1:
						w.IfVersion = 0
					default:
						w.IfVersion = version + 1 + r.Uint64N(3)
					}
				}
				res, err := b.Put(ctx, k, w, now)
				if w.Conditional && w.IfVersion != version {
					if !errors.Is(err, backend.ErrConflict) {
						t.Fatalf("step %d: Put of %d if version %d (it is %d) = %v, want ErrConflict", step, k, w.IfVersion, version, err)
					}
					return
				}
				if !had && tt.limit.MaxKeys > 0 && len(want) >= tt.limit.MaxKeys {
					// Full: expired keys go first, then the LRU victim.
					for x, e := range want {
						if !isLive(e) {
							expired[x] = append(expired[x], e.val)
							forget(x)
						}
					}
					if len(want) >= tt.limit.MaxKeys {
						if tt.limit.Policy == backend.RejectNew {
							if !errors.Is(err, backend.ErrLimit) {
								t.Fatalf("step %d: Put of a new key in a full bucket = %v, want ErrLimit", step, err)
							}
							return
						}
						victim := lru[len(lru)-1]
						if len(res.Evicted) != 1 || res.Evicted[0].Key != victim || res.Evicted[0].Entry.Value != want[victim].val {
							t.Fatalf("step %d: evicted %+v, want key %d (LRU %v)", step, res.Evicted, victim, lru)
						}
						forget(victim)
						evictions++
					}
				}
				if err != nil {
					t.Fatalf("step %d: Put of %d: %v", step, k, err)
				}
				if w.WantPrev && (res.Existed != had || had && res.Prev.Value != cur.val) {
					t.Fatalf("step %d: Put of %d reported prev %+v (existed %v), want %+v (%v)", step, k, res.Prev, res.Existed, cur, had)
				}
				d := w.Deadline
				if w.KeepTTL && had {
					d = cur.deadline
				}
				// A Get right after the Put reads the version and uses the
				// key, which the Put has just made the most recently used.
				e, ok, _ := b.Get(ctx, k, now)
				if !ok || e.Value != step || e.Deadline != d || e.Version == 0 || e.Version == version {
					t.Fatalf("step %d: Get of %d after its Put = %+v, %v; want value %d, deadline %d, a new version", step, k, e, ok, step, d)
				}
				want[k] = modelEntry{step, d, e.Version}
				touch(k)
			}
			for step := range 30_000 {
				k := r.IntN(tt.keys)
				switch op := r.IntN(20); {
				case op < 9:
					put(step, k)
				case op < 11:
					e, ok, err := b.Delete(ctx, k, now)
					cur, had := want[k]
					had = had && isLive(cur)
					if err != nil || ok != had || ok && e.Value != cur.val {
						t.Fatalf("step %d: Delete of %d = %+v, %v, %v; want %+v, %v", step, k, e, ok, err, cur, had)
					}
					if ok {
						forget(k)
					}
				case op < 12:
					cur, had := want[k]
					if !had || !isLive(cur) {
						if err := b.DeleteIf(ctx, k, cur.version, now); !errors.Is(err, backend.ErrConflict) {
							t.Fatalf("step %d: DeleteIf of %d, which is not live, = %v; want ErrConflict", step, k, err)
						}
						break
					}
					v := cur.version + uint64(r.IntN(2))
					err := b.DeleteIf(ctx, k, v, now)
					if v == cur.version && err != nil || v != cur.version && !errors.Is(err, backend.ErrConflict) {
						t.Fatalf("step %d: DeleteIf of %d at version %d (it is %d) = %v", step, k, v, cur.version, err)
					}
					if err == nil {
						forget(k)
					}
				case op < 17:
					e, ok, err := b.Get(ctx, k, now)
					cur, had := want[k]
					had = had && isLive(cur)
					if err != nil || ok != had || ok && (e.Value != cur.val || e.Deadline != cur.deadline || e.Version != cur.version) {
						t.Fatalf("step %d: Get of %d = %+v, %v, %v; want %+v, %v", step, k, e, ok, err, cur, had)
					}
					if ok {
						touch(k)
					}
				case op < 19:
					now += r.Int64N(50)
					if r.IntN(20) == 0 {
						now += r.Int64N(1 << 36)
					}
					max := 1 << 30
					if r.IntN(2) == 0 {
						max = 1 + r.IntN(10)
					}
					n, err := b.SweepExpired(ctx, now, max)
					if err != nil {
						t.Fatal(err)
					}
					due := 0
					for _, e := range want {
						if !isLive(e) {
							due++
						}
					}
					if n != min(due, max) {
						t.Fatalf("step %d: SweepExpired(%d) moved %d, want %d", step, max, n, min(due, max))
					}
					evs, _ := b.ClaimExpired(ctx, now, 1<<30, 0)
					for _, ev := range evs {
						if e, ok := want[ev.Key]; ok && !isLive(e) && e.val == ev.Value && e.deadline == ev.Deadline {
							forget(ev.Key)
						} else if i := slices.Index(expired[ev.Key], ev.Value); i >= 0 {
							expired[ev.Key] = slices.Delete(expired[ev.Key], i, i+1)
							if len(expired[ev.Key]) == 0 {
								delete(expired, ev.Key)
							}
						} else {
							t.Fatalf("step %d: expiry event %+v, which is neither due nor displaced", step, ev)
						}
					}
					if n < due {
						break // the rest stays due
					}
					for x, e := range want {
						if !isLive(e) {
							t.Fatalf("step %d: key %d (deadline %d) is due at %d and was not swept", step, x, e.deadline, now)
						}
					}
					if len(expired) > 0 {
						t.Fatalf("step %d: displaced expiries %v were not delivered", step, expired)
					}
				default:
					if r.IntN(50) == 0 {
						if err := b.Clear(ctx, now); err != nil {
							t.Fatal(err)
						}
						want, lru, expired = map[int]modelEntry{}, nil, map[int][]int{}
					}
				}
				live := 0
				for _, e := range want {
					if isLive(e) {
						live++
					}
				}
				if n, _ := b.Len(ctx, now); n != live {
					t.Fatalf("step %d: Len %d, want %d", step, n, live)
				}
				check(t, b, step, func(k int) (int64, bool) { e, ok := want[k]; return e.deadline, ok })
			}
		})
	}
}

// check verifies the invariants of every shard of b: the meta bytes agree
// with the slots and the counts; every key is found where it is, in the
// shard its hash picks; a key with a deadline is filed exactly once, in a
// bucket that starts at or before its deadline, and its pos says where; a
// bucket holds only keys with deadlines; the heap orders the buckets; and
// the LRU list, in a bucket that evicts, holds every key once. deadline
// tells the deadline the model expects for a key.
func check(t *testing.T, b *Bucket[int, int], step int, deadline func(int) (int64, bool)) {
	t.Helper()
	for i := range b.shards {
		s := &b.shards[i]
		tab := b.tables[i].Load()
		live, used := 0, 0
		for g := range tab.groups {
			meta := tab.groups[g].meta.Load()
			if uint8(meta>>56) != metaPad {
				t.Fatalf("step %d: group %d: pad byte %#x", step, g, meta>>56)
			}
			for j := range slotsPerGroup {
				m := uint8(meta >> (8 * j))
				n := tab.groups[g].slots[j].Load()
				switch {
				case m == metaEmpty || m == metaDeleted:
					if n != nil {
						t.Fatalf("step %d: slot %d:%d is %#x and holds key %d", step, g, j, m, n.key)
					}
					if m == metaDeleted {
						used++
					}
				default:
					if n == nil || m != h2(b.Hash(n.key)) {
						t.Fatalf("step %d: slot %d:%d has meta %#x and node %v", step, g, j, m, n)
					}
					live++
					used++
					if got := b.tables[b.Hash(n.key)>>b.shift].Load().find(n.key, b.Hash(n.key)); got != n {
						t.Fatalf("step %d: key %d is in slot %d:%d of shard %d, but find returns %v", step, n.key, g, j, i, got)
					}
					if d, ok := deadline(n.key); !ok || d != n.deadline {
						t.Fatalf("step %d: key %d has deadline %d, want %d (present %v)", step, n.key, n.deadline, d, ok)
					}
					slot := uint32(g*slotsPerGroup + j)
					if n.deadline == 0 {
						if n.pos != noPos {
							t.Fatalf("step %d: key %d has no deadline and is filed at %x", step, n.key, n.pos)
						}
						continue
					}
					if n.pos == noPos {
						t.Fatalf("step %d: key %d (deadline %d) is not filed", step, n.key, n.deadline)
					}
					id, at := unpos(n.pos)
					bk := s.timers.buckets[id]
					if bk == nil || int(at) >= len(bk.slots) || bk.slots[at] != slot {
						t.Fatalf("step %d: key %d in slot %d: pos %x does not point back", step, n.key, slot, n.pos)
					}
					if bk.key.start > n.deadline {
						t.Fatalf("step %d: key %d (deadline %d) is filed in a bucket that starts at %d", step, n.key, n.deadline, bk.key.start)
					}
				}
			}
		}
		if live != tab.live || used != tab.used {
			t.Fatalf("step %d: shard %d counts %d live, %d used; the slots say %d, %d", step, i, tab.live, tab.used, live, used)
		}
		filed := 0
		for id, bk := range s.timers.buckets {
			if bk == nil {
				continue
			}
			if len(bk.slots) == 0 {
				t.Fatalf("step %d: bucket %d is empty and still open", step, id)
			}
			if (*s.timers.heapOf(bk))[bk.heapIdx] != uint32(id) {
				t.Fatalf("step %d: bucket %d does not know its heap index", step, id)
			}
			for at, slot := range bk.slots {
				n := tab.slot(slot).Load()
				if n == nil || n.pos != pos(uint32(id), at) {
					t.Fatalf("step %d: bucket %d lists slot %d, whose node %v is not filed there", step, id, slot, n)
				}
			}
			filed += len(bk.slots)
		}
		for _, h := range [][]uint32{s.timers.near, s.timers.far} {
			for j := 1; j < len(h); j++ {
				if s.timers.buckets[h[(j-1)/2]].due > s.timers.buckets[h[j]].due {
					t.Fatalf("step %d: a bucket heap is out of order at %d", step, j)
				}
			}
		}
		if tab.lru != nil {
			n := 0
			for j := tab.lru.front(); j != lruNone; j = tab.lru.following(j) {
				if tab.slot(j).Load() == nil || n > tab.live {
					t.Fatalf("step %d: the LRU list holds slot %d, which is empty, or loops", step, j)
				}
				n++
			}
			if n != tab.live {
				t.Fatalf("step %d: the LRU list holds %d slots, the table %d keys", step, n, tab.live)
			}
		}
	}
}

// TestLRUOrder: a bucket that evicts pushes out the least recently used
// key, counting reads and writes as uses, across rebuilds of its table.
func TestLRUOrder(t *testing.T) {
	const max = 100
	b := openTest[int, int](t, backend.Limit{MaxKeys: max, Policy: backend.EvictLRU})
	for k := range max {
		if _, err := b.Put(ctx, k, backend.Write[int]{Value: k}, 1); err != nil {
			t.Fatal(err)
		}
	}
	// Use the even keys again: the odd ones, oldest first, go first.
	for k := 0; k < max; k += 2 {
		if _, ok, _ := b.Get(ctx, k, 1); !ok {
			t.Fatalf("key %d missing", k)
		}
	}
	for i := range max / 2 {
		res, err := b.Put(ctx, max+i, backend.Write[int]{Value: i}, 1)
		if err != nil || len(res.Evicted) != 1 || res.Evicted[0].Key != 2*i+1 {
			t.Fatalf("Put %d evicted %+v, %v; want key %d", max+i, res.Evicted, err, 2*i+1)
		}
	}
}

// TestReadsDuringWrites reads keys while other goroutines write, delete
// and expire them, growing and shrinking the tables: a read returns the
// value of its own key or nothing, never a value past its deadline. Under
// the race detector it also checks that the lock-free reads are ordered
// after the writes that published what they read.
func TestReadsDuringWrites(t *testing.T) {
	b := openTest[int, [2]int](t, backend.Limit{})
	const keys = 4000
	var now atomic.Int64
	now.Store(1000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := r.IntN(keys)
				t := now.Load()
				switch r.IntN(8) {
				case 0, 1:
					b.Delete(ctx, k, t)
				case 2:
					now.Add(1)
					b.SweepExpired(ctx, t, 100)
					b.ClaimExpired(ctx, t, 1<<20, 0)
				default:
					b.Put(ctx, k, backend.Write[[2]int]{Value: [2]int{k, i}, Deadline: t + 1 + r.Int64N(20)}, t)
				}
			}
		}()
	}
	r := rand.New(rand.NewPCG(9, 9))
	for range 200_000 {
		k := r.IntN(keys)
		t0 := now.Load()
		e, ok, err := b.Get(ctx, k, t0)
		if err != nil {
			t.Fatal(err)
		}
		if ok && (e.Value[0] != k || e.Deadline <= t0) {
			t.Fatalf("Get(%d) at %d = %+v", k, t0, e)
		}
	}
	close(stop)
	wg.Wait()
}

// TestBucketOf: a key is filed at the coarsest level whose width is at
// most 1/256 of the time left, in a bucket that starts at or before its
// deadline and falls due after now.
func TestBucketOf(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for range 100_000 {
		now := r.Int64N(1 << 44)
		left := int64(1) + r.Int64N(1<<uint(1+r.IntN(41)))
		d := now + left
		k, due := bucketOf(d, now)
		width := int64(1) << (int(k.level) * levelBits)
		if k.start > d || k.start+width <= d || k.start%width != 0 {
			t.Fatalf("deadline %d: bucket %+v (width %d) does not hold it", d, k, width)
		}
		if left >= 256 && width > left/256 || int(k.level) < levels-1 && width<<levelBits <= left/256 {
			t.Fatalf("time left %d: level %d (width %d)", left, k.level, width)
		}
		if due <= now || k.level == 0 && due != k.start || k.level > 0 && due != k.start-width {
			t.Fatalf("deadline %d at %d: bucket %+v due at %d", d, now, k, due)
		}
	}
}

// TestMatchByte checks the meta word's byte matching against the plain
// loop it stands for.
func TestMatchByte(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	interesting := []uint8{0, 1, 0x7f, metaEmpty, metaDeleted, metaPad, 0x81}
	for range 100_000 {
		var meta uint64
		for j := range 8 {
			var c uint8
			if r.IntN(2) == 0 {
				c = interesting[r.IntN(len(interesting))]
			} else {
				c = uint8(r.Uint32())
			}
			meta |= uint64(c) << (8 * j)
		}
		b := interesting[r.IntN(len(interesting))]
		var want uint64
		for j := range 8 {
			if uint8(meta>>(8*j)) == b {
				want |= 0x80 << (8 * j)
			}
		}
		if got := matchByte(meta, b); got != want {
			t.Fatalf("matchByte(%#x, %#x) = %#x, want %#x", meta, b, got, want)
		}
	}
}

// TestShrinks: a table that lost most of its keys is rebuilt smaller, so a
// bucket gives back its memory after a mass expiry.
func TestShrinks(t *testing.T) {
	b := openTest[int, int](t, backend.Limit{})
	for k := range 100_000 {
		b.Put(ctx, k, backend.Write[int]{Value: k, Deadline: 10}, 1)
	}
	big := 0
	for i := range b.tables {
		big += len(b.tables[i].Load().groups)
	}
	if n, err := b.SweepExpired(ctx, 10, 1<<30); err != nil || n != 100_000 {
		t.Fatalf("SweepExpired = %d, %v", n, err)
	}
	small := 0
	for i := range b.tables {
		small += len(b.tables[i].Load().groups)
	}
	if small*64 > big {
		t.Fatalf("%d groups before the expiry, %d after", big, small)
	}

	// SweepDue leaves the rebuilds to Tidy.
	groups := func() int {
		g := 0
		for i := range b.tables {
			g += len(b.tables[i].Load().groups)
		}
		return g
	}
	for k := range 100_000 {
		b.Put(ctx, k, backend.Write[int]{Value: k, Deadline: 20}, 11)
	}
	big = groups()
	if n, err := b.SweepDue(20, 1<<30); err != nil || n != 100_000 {
		t.Fatalf("SweepDue = %d, %v", n, err)
	}
	if g := groups(); g != big {
		t.Fatalf("SweepDue rebuilt tables: %d groups before, %d after", big, g)
	}
	b.Tidy()
	if g := groups(); g*64 > big {
		t.Fatalf("%d groups before the expiry, %d after Tidy", big, g)
	}
}

// TestShardBits: the shard a key goes to and its place in the table come
// from different bits of its hash.
func TestShardBits(t *testing.T) {
	b := openTest[string, int](t, backend.Limit{})
	shards := len(b.shards)
	if shards&(shards-1) != 0 || 64-int(b.shift) != bits.TrailingZeros(uint(shards)) {
		t.Fatalf("%d shards, shift %d", shards, b.shift)
	}
	seen := map[uint64]int{}
	for i := range 10_000 {
		seen[b.Hash(fmt.Sprint(i))>>b.shift]++
	}
	if len(seen) != shards {
		t.Fatalf("10,000 keys went to %d of %d shards", len(seen), shards)
	}
}

// TestSweepDuringInsertion inserts keys whose deadlines fall due over a
// spread while the clock moves and another goroutine sweeps and claims,
// as a store's scheduler does while a large insertion runs late: deadlines
// already past at their Put, due at it, falling due while their bucket is
// being filled, and far enough ahead to be filed above level 0 and
// cascaded, some of them after their bucket's start because the sweep
// comes late. Some far keys are written again, later (they stay filed
// where they are) or earlier (they move). Every key must be claimed
// exactly once, with its last deadline, at or after it.
func TestSweepDuringInsertion(t *testing.T) {
	n := 60_000
	if testing.Short() {
		n = 10_000
	}
	b := openTest[int, int](t, backend.Limit{})
	r := rand.New(rand.NewPCG(11, 12))
	const t0 = int64(1_000_000)
	var clock atomic.Int64
	clock.Store(t0)
	want := make([]int64, n) // the last deadline of each key
	for k := range want {
		switch r.IntN(8) {
		case 0: // already past when the insertion starts
			want[k] = t0 - r.Int64N(50)
		case 1: // 16 s ahead or more: filed above level 0, cascaded once or twice
			want[k] = t0 + 16_384 + r.Int64N(2_000_000)
		default: // within the insertion's span and a little after it
			want[k] = t0 + r.Int64N(int64(n)/10+2000)
		}
	}

	var (
		heard = make([]int32, n)
		early atomic.Int64
		wrong atomic.Int64
		stop  = make(chan struct{})
		swept = make(chan struct{})
	)
	claim := func(now int64) {
		for {
			evs, err := b.ClaimEvents(100, nil)
			if err != nil {
				t.Error(err)
				return
			}
			for _, ev := range evs {
				atomic.AddInt32(&heard[ev.Key], 1)
				if ev.Deadline > now {
					early.Add(1)
				}
				if ev.Deadline != atomic.LoadInt64(&want[ev.Key]) || ev.Value != ev.Key {
					wrong.Add(1)
				}
			}
			if len(evs) < 100 {
				return
			}
		}
	}
	go func() {
		defer close(swept)
		r := rand.New(rand.NewPCG(15, 16))
		for {
			select {
			case <-stop:
				return
			default:
			}
			now := clock.Load()
			// A small batch, so that a round often ends with due keys left
			// for the next one, as the scheduler's does under load.
			for {
				m, err := b.SweepExpired(ctx, now, 1+r.IntN(300))
				if err != nil {
					t.Error(err)
					return
				}
				claim(now)
				if m == 0 {
					break
				}
			}
		}
	}()

	order := rand.New(rand.NewPCG(13, 14)).Perm(n)
	for j, k := range order {
		if j%10 == 0 {
			clock.Add(1) // a millisecond per ten Puts: the insertion overruns its deadlines
		}
		now := clock.Load()
		d := atomic.LoadInt64(&want[k])
		if _, err := b.Put(ctx, k, backend.Write[int]{Value: k, Deadline: d}, now); err != nil {
			t.Fatal(err)
		}
		// A far key written again, while it is still far: a later deadline
		// leaves it in its bucket, an earlier one (still ahead) moves it.
		if j%3 == 0 && d > now+16_384 {
			d2 := d + r.Int64N(500_000) - 200_000
			d2 = max(d2, now+1)
			atomic.StoreInt64(&want[k], d2)
			if _, err := b.Put(ctx, k, backend.Write[int]{Value: k, Deadline: d2}, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	<-swept

	// The sweep catches up in uneven strides, some of a few milliseconds,
	// others long enough to reach buckets well after they fell due. After
	// each stride every key due by then must have been claimed, once.
	byDeadline := make([]int, n)
	for k := range byDeadline {
		byDeadline[k] = k
	}
	slices.SortFunc(byDeadline, func(x, y int) int { return cmp.Compare(want[x], want[y]) })
	next, late := 0, 0
	now := clock.Load()
	for next < n {
		for b.shardsDue(now) {
			if _, err := b.SweepExpired(ctx, now, 1+r.IntN(2000)); err != nil {
				t.Fatal(err)
			}
			claim(now)
		}
		for ; next < n && want[byDeadline[next]] <= now; next++ {
			if heard[byDeadline[next]] == 0 {
				late++
			}
		}
		if r.IntN(2) == 0 {
			now += 1 + r.Int64N(5)
		} else {
			now += 1 + r.Int64N(2000)
		}
	}
	if m, err := b.SweepExpired(ctx, now, math.MaxInt); err != nil || m != 0 {
		t.Errorf("a last sweep found %d more keys (%v)", m, err)
	}

	missing, twice := 0, 0
	var firstMissing []int
	for k, c := range heard {
		switch {
		case c == 0:
			missing++
			if len(firstMissing) < 5 {
				firstMissing = append(firstMissing, k)
			}
		case c > 1:
			twice++
		}
	}
	if missing > 0 || twice > 0 || late > 0 || early.Load() > 0 || wrong.Load() > 0 {
		t.Fatalf("of %d keys: %d never claimed (first %v), %d claimed more than once, %d not claimed by the sweep at their deadline, %d claimed before it, %d with another deadline or value than their last write",
			n, missing, firstMissing, twice, late, early.Load(), wrong.Load())
	}
	if l, _ := b.Len(ctx, now); l != 0 {
		t.Errorf("Len = %d after every key expired", l)
	}
	if d, ok, _ := b.NextDeadline(ctx); ok {
		t.Errorf("NextDeadline = %d after every key expired", d)
	}
}

// shardsDue reports whether some shard has a bucket due at now.
func (b *Bucket[K, V]) shardsDue(now int64) bool {
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		due, ok := s.timers.next()
		s.mu.Unlock()
		if ok && due <= now {
			return true
		}
	}
	return false
}

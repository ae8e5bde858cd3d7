package memory

import "math/bits"

// timers is a shard's expiry index. A key with a deadline is filed, by the
// index of its table slot (4 bytes, and no pointer for the garbage
// collector to follow), in a bucket of deadlines. A bucket of level 0 holds
// one millisecond, a bucket of level L 64^L of them, aligned. A key goes to
// the coarsest level whose width is at most 1/256 of the time left until
// its deadline: a deadline within 16 s has its millisecond, so the keys
// most caches expire go straight to the bucket they expire from; farther
// ones share wider buckets (64 ms up to 17 minutes ahead, 4 s up to 18
// hours, and so on).
//
// A bucket falls due at its start, or for levels above 0 one width before
// it; its keys are then filed again, finer (cascading), so that the
// millisecond buckets are ready before their deadlines come. The buckets, a
// few per level and shard however many keys they hold, are ordered by when
// they fall due in two min-heaps of bucket ids: one for the millisecond
// buckets, whose keys expire when they fall due, and one for the others,
// whose keys are only filed again, so that the sweep can expire what is due
// before it cascades what will be.
//
// Filing is lazy, because a TTL cache's writes mostly push a deadline
// later: a key whose deadline moves later stays in its bucket (whose start
// is still at or before the deadline) and is filed again when the bucket
// falls due. Only a deadline that moves before its bucket's start, or goes
// away, moves the key. Everything here runs under the shard's lock.
type timers[K comparable, V any] struct {
	buckets []*timerBucket // by id; nil when free
	free    []uint32       // ids of released buckets
	index   map[timerKey]uint32
	near    []uint32 // ids of the level 0 buckets, a min-heap by due
	far     []uint32 // ids of the other buckets, a min-heap by due
	// The bucket filed into last: consecutive writes mostly share one.
	last    timerKey
	lastID  uint32
	hasLast bool
	spare   []*timerBucket // released buckets, reused with their slot arrays
}

type timerKey struct {
	start int64
	level uint8
}

type timerBucket struct {
	key     timerKey
	due     int64
	heapIdx int
	slots   []uint32
}

const (
	levelBits = 6 // a level's buckets are 64 times wider than the one's below
	// levels is enough for any TTL: livedict.MaxTTL is less than 2^42 ms,
	// so 1/256 of it fits the top level's width, 2^30 ms (12 days).
	levels = 6
	// noPos is the pos of a node that is not filed.
	noPos = ^uint64(0)
	// maxSpare bounds the released buckets kept for reuse, and spareCap
	// the slot array they may keep.
	maxSpare = 64
	spareCap = 1024
)

// bucketOf returns the bucket for deadline at now, and when it falls due.
func bucketOf(deadline, now int64) (timerKey, int64) {
	level := 0
	if left := deadline - now; left >= 256 {
		level = min(levels-1, (bits.Len64(uint64(left/256))-1)/levelBits)
	}
	width := int64(1) << (level * levelBits)
	k := timerKey{start: deadline &^ (width - 1), level: uint8(level)}
	if level == 0 {
		return k, k.start
	}
	return k, k.start - width
}

func pos(id uint32, i int) uint64 { return uint64(id)<<32 | uint64(uint32(i)) }

func unpos(p uint64) (id uint32, i uint32) { return uint32(p >> 32), uint32(p) }

// file files n, in slot, by its deadline (not 0) at now.
func (t *timers[K, V]) file(slot uint32, n *node[K, V], now int64) {
	k, due := bucketOf(n.deadline, now)
	var id uint32
	if t.hasLast && t.last == k {
		id = t.lastID
	} else {
		var ok bool
		if id, ok = t.index[k]; !ok {
			id = t.open(k, due)
		}
		t.last, t.lastID, t.hasLast = k, id, true
	}
	b := t.buckets[id]
	n.pos = pos(id, len(b.slots))
	b.slots = append(b.slots, slot)
}

// unfile takes n out of its bucket. The key that fills its place is in
// tab, whose slot numbers the index holds.
func (t *timers[K, V]) unfile(n *node[K, V], tab *table[K, V]) {
	id, i := unpos(n.pos)
	b := t.buckets[id]
	last := uint32(len(b.slots) - 1)
	if i != last {
		moved := b.slots[last]
		b.slots[i] = moved
		tab.slot(moved).Load().pos = n.pos
	}
	b.slots = b.slots[:last]
	n.pos = noPos
	if last == 0 {
		t.release(id)
	}
}

// refile files n, a node that replaces another in slot and has taken over
// its pos, by its own deadline: where it is when that is early enough.
func (t *timers[K, V]) refile(slot uint32, n *node[K, V], tab *table[K, V], now int64) {
	if n.pos != noPos {
		id, _ := unpos(n.pos)
		if n.deadline != 0 && n.deadline >= t.buckets[id].key.start {
			return
		}
		t.unfile(n, tab)
	}
	if n.deadline != 0 {
		t.file(slot, n, now)
	}
}

// moved tells the index that a rebuild moved n to slot to.
func (t *timers[K, V]) moved(n *node[K, V], to uint32) {
	if n.pos != noPos {
		id, i := unpos(n.pos)
		t.buckets[id].slots[i] = to
	}
}

// next returns when the first bucket falls due.
func (t *timers[K, V]) next() (int64, bool) {
	due, ok := t.top(t.near)
	if fdue, fok := t.top(t.far); fok && (!ok || fdue < due) {
		due, ok = fdue, true
	}
	return due, ok
}

func (t *timers[K, V]) top(h []uint32) (int64, bool) {
	if len(h) == 0 {
		return 0, false
	}
	return t.buckets[h[0]].due, true
}

// pop takes a key out of a bucket that is due at now, a millisecond
// bucket or (cascade) another one, and returns its slot; false when none is
// due. The caller files the key again or removes it.
func (t *timers[K, V]) pop(now int64, cascade bool, tab *table[K, V]) (uint32, *node[K, V], bool) {
	h := t.near
	if cascade {
		h = t.far
	}
	if len(h) == 0 {
		return 0, nil, false
	}
	id := h[0]
	b := t.buckets[id]
	if b.due > now {
		return 0, nil, false
	}
	last := len(b.slots) - 1
	slot := b.slots[last]
	b.slots = b.slots[:last]
	if last == 0 {
		t.release(id)
	}
	// n.pos is stale now: the caller files n again, which sets it, or
	// removes it.
	return slot, tab.slot(slot).Load(), true
}

// countDue counts the keys whose deadline is at or before now. Their
// buckets are due, since a bucket falls due at or before the deadline of
// every key in it, so only due buckets are visited.
func (t *timers[K, V]) countDue(now int64, tab *table[K, V]) int {
	c := 0
	var walk func(h []uint32, i int)
	walk = func(h []uint32, i int) {
		if i >= len(h) {
			return
		}
		b := t.buckets[h[i]]
		if b.due > now {
			return
		}
		for _, slot := range b.slots {
			if tab.slot(slot).Load().deadline <= now {
				c++
			}
		}
		walk(h, 2*i+1)
		walk(h, 2*i+2)
	}
	walk(t.near, 0)
	walk(t.far, 0)
	return c
}

// open makes the bucket k, due at due, and returns its id.
func (t *timers[K, V]) open(k timerKey, due int64) uint32 {
	var b *timerBucket
	if n := len(t.spare); n > 0 {
		b, t.spare = t.spare[n-1], t.spare[:n-1]
	} else {
		b = &timerBucket{}
	}
	b.key, b.due = k, due
	var id uint32
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
		t.buckets[id] = b
	} else {
		id = uint32(len(t.buckets))
		t.buckets = append(t.buckets, b)
	}
	if t.index == nil {
		t.index = make(map[timerKey]uint32)
	}
	t.index[k] = id
	h := t.heapOf(b)
	b.heapIdx = len(*h)
	*h = append(*h, id)
	t.up(*h, b.heapIdx)
	return id
}

// release drops bucket id, which is empty.
func (t *timers[K, V]) release(id uint32) {
	b := t.buckets[id]
	t.heapRemove(t.heapOf(b), b.heapIdx)
	delete(t.index, b.key)
	if t.hasLast && t.lastID == id {
		t.hasLast = false
	}
	t.buckets[id] = nil
	t.free = append(t.free, id)
	if len(t.spare) < maxSpare && cap(b.slots) <= spareCap {
		b.slots = b.slots[:0]
		t.spare = append(t.spare, b)
	}
}

// heapOf returns the heap b is in.
func (t *timers[K, V]) heapOf(b *timerBucket) *[]uint32 {
	if b.key.level == 0 {
		return &t.near
	}
	return &t.far
}

func (t *timers[K, V]) less(h []uint32, i, j int) bool {
	return t.buckets[h[i]].due < t.buckets[h[j]].due
}

func (t *timers[K, V]) swap(h []uint32, i, j int) {
	h[i], h[j] = h[j], h[i]
	t.buckets[h[i]].heapIdx = i
	t.buckets[h[j]].heapIdx = j
}

func (t *timers[K, V]) up(h []uint32, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.less(h, i, p) {
			return
		}
		t.swap(h, i, p)
		i = p
	}
}

func (t *timers[K, V]) down(h []uint32, i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && t.less(h, c+1, c) {
			c++
		}
		if !t.less(h, c, i) {
			return
		}
		t.swap(h, i, c)
		i = c
	}
}

func (t *timers[K, V]) heapRemove(h *[]uint32, i int) {
	last := len(*h) - 1
	if i != last {
		t.swap(*h, i, last)
	}
	*h = (*h)[:last]
	if i != last {
		t.down(*h, i)
		t.up(*h, i)
	}
}

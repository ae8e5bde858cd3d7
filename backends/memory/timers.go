package memory

import "math/bits"

// timers is a shard's expiry index. A key with a deadline is filed, by the
// index of its table slot (4 bytes, and no pointer for the garbage
// collector to follow), in a bucket of deadlines. A bucket of level 0 holds
// one millisecond, a bucket of level L 64^L of them, aligned. A key goes to
// the coarsest level whose width is at most a quarter of the time left
// until its deadline: a far deadline shares a wide bucket with many others,
// a near one has its millisecond.
//
// A bucket falls due at its start, or for levels above 0 one width before
// it; its keys are then filed again, finer (cascading), so that the
// millisecond buckets are ready before their deadlines come. The buckets, a
// few per level and shard however many keys they hold, are ordered by when
// they fall due in a min-heap of bucket ids.
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
	heap    []uint32 // bucket ids, a min-heap by due
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
	// levels is enough for any TTL: the top level's buckets are 2^36 ms
	// (2.2 years) wide, at most a quarter of livedict.MaxTTL.
	levels = 7
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
	if left := deadline - now; left >= 4 {
		level = min(levels-1, (bits.Len64(uint64(left/4))-1)/levelBits)
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
	if len(t.heap) == 0 {
		return 0, false
	}
	return t.buckets[t.heap[0]].due, true
}

// pop takes a key out of a bucket that is due at now, and returns its slot;
// false when none is due. The caller files the key again or removes it.
func (t *timers[K, V]) pop(now int64, tab *table[K, V]) (uint32, *node[K, V], bool) {
	if len(t.heap) == 0 {
		return 0, nil, false
	}
	id := t.heap[0]
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
	n := tab.slot(slot).Load()
	n.pos = noPos
	return slot, n, true
}

// countDue counts the keys whose deadline is at or before now. Their
// buckets are due, since a bucket falls due at or before the deadline of
// every key in it, so only due buckets are visited.
func (t *timers[K, V]) countDue(now int64, tab *table[K, V]) int {
	c := 0
	var walk func(i int)
	walk = func(i int) {
		if i >= len(t.heap) {
			return
		}
		b := t.buckets[t.heap[i]]
		if b.due > now {
			return
		}
		for _, slot := range b.slots {
			if tab.slot(slot).Load().deadline <= now {
				c++
			}
		}
		walk(2*i + 1)
		walk(2*i + 2)
	}
	walk(0)
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
	b.heapIdx = len(t.heap)
	t.heap = append(t.heap, id)
	t.up(b.heapIdx)
	return id
}

// release drops bucket id, which is empty.
func (t *timers[K, V]) release(id uint32) {
	b := t.buckets[id]
	t.heapRemove(b.heapIdx)
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

func (t *timers[K, V]) less(i, j int) bool {
	return t.buckets[t.heap[i]].due < t.buckets[t.heap[j]].due
}

func (t *timers[K, V]) swap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.buckets[t.heap[i]].heapIdx = i
	t.buckets[t.heap[j]].heapIdx = j
}

func (t *timers[K, V]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.less(i, p) {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *timers[K, V]) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(t.heap) {
			return
		}
		if c+1 < len(t.heap) && t.less(c+1, c) {
			c++
		}
		if !t.less(c, i) {
			return
		}
		t.swap(i, c)
		i = c
	}
}

func (t *timers[K, V]) heapRemove(i int) {
	last := len(t.heap) - 1
	if i != last {
		t.swap(i, last)
	}
	t.heap = t.heap[:last]
	if i != last {
		t.down(i)
		t.up(i)
	}
}

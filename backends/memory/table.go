package memory

import (
	"math/bits"
	"sync/atomic"
)

// node is one stored entry. What readers see of it (key, val, deadline,
// version, idle) is written before the node is published in a table slot and
// never after: a write of the key publishes a new node in the same slot.
// So a reader that loads a node from a slot sees it whole, without a lock.
// pos belongs to the writers: only they read or write it, under the
// shard's lock.
type node[K comparable, V any] struct {
	// The fields the expiry index reads come first, within 32 bytes: a
	// node is rarely at the start of a cache line, but they share one.
	deadline int64 // Unix ms; 0: no expiry
	// pos is where the key is filed for expiry (see timers); noPos when
	// it is not. A node that replaces another in its slot takes over its
	// filing, and with it its pos.
	pos     uint64
	version uint64 // never 0
	idle    int64  // ms; > 0: a sliding entry (backend.Entry.Idle)
	key     K
	val     V
}

func (n *node[K, V]) live(now int64) bool { return n.deadline == 0 || n.deadline > now }

// A table is one shard's open-addressing hash table: groups of slotsPerGroup
// slots, each group one cache line, probed linearly from the group a key's
// hash picks. A group's meta word holds one byte per slot: the low 7 bits
// of the hash of the key in it (h2), or empty or deleted. Readers load the
// meta word and the slots with atomic loads and compare keys, so a lookup
// takes no lock and writes nothing; writers hold the shard's lock, so there
// is one at a time per table.
//
// Slots never move within a table, and a slot that once held a key is never
// empty again (deletion leaves a tombstone), so a reader's probe cannot end
// early at a group a writer emptied behind the key it looks for. When a
// table fills up with keys and tombstones, the writer builds a new one and
// publishes it with one atomic store; readers still on the old table read a
// copy that no longer changes, as if they had read just before the switch.
type table[K comparable, V any] struct {
	groups []group[K, V]
	mask   uint64 // len(groups)-1; len(groups) is a power of two
	live   int    // slots holding a key
	used   int    // live plus tombstones
	// lru, in a bucket that evicts, links the slots from the most to the
	// least recently used (see lru.go); nil otherwise.
	lru *lruList
}

const (
	slotsPerGroup = 7
	// meta bytes besides h2 (0..0x7f)
	metaEmpty   = 0x80
	metaDeleted = 0xfe
	// The eighth byte of a meta word belongs to no slot: it matches
	// neither an h2 nor metaEmpty.
	metaPad       = 0xff
	emptyMeta     = 0xff80808080808080
	lowBits       = 0x0101010101010101
	highBits      = 0x8080808080808080
	lowSeven      = 0x7f7f7f7f7f7f7f7f
	maxLoadPerMil = 800 // rebuild when keys and tombstones fill 80% of the slots
)

type group[K comparable, V any] struct {
	meta  atomic.Uint64
	slots [slotsPerGroup]atomic.Pointer[node[K, V]]
}

// matchByte returns the bytes of meta equal to b, as the high bit of each.
// It is exact (no false positives, as the cheaper borrow-based test has), so
// that a probe stops only at a group that really has an empty slot.
func matchByte(meta uint64, b uint8) uint64 {
	x := meta ^ (lowBits * uint64(b))
	return ^((x&lowSeven + lowSeven) | x | lowSeven)
}

func newTable[K comparable, V any](groups int, lru bool) *table[K, V] {
	t := &table[K, V]{groups: make([]group[K, V], groups), mask: uint64(groups - 1)}
	for i := range t.groups {
		t.groups[i].meta.Store(emptyMeta)
	}
	if lru {
		t.lru = newLRU(groups * slotsPerGroup)
	}
	return t
}

// groupsFor returns the number of groups of a table for n keys: at most
// half full, so that it takes as many keys again before its next rebuild.
func groupsFor(n int) int {
	g := 1
	for g*slotsPerGroup < 2*n {
		g <<= 1
	}
	return g
}

func (t *table[K, V]) slots() int { return len(t.groups) * slotsPerGroup }

func (t *table[K, V]) slot(i uint32) *atomic.Pointer[node[K, V]] {
	return &t.groups[i/slotsPerGroup].slots[i%slotsPerGroup]
}

// h2 and home split a hash: the low 7 bits are stored in the meta word, the
// next ones pick the first group probed. The shard is taken from the top
// bits (bucket.shardOf), so the three do not overlap until a shard's table
// has 2^(57-shard bits) groups.
func h2(h uint64) uint8                     { return uint8(h & 0x7f) }
func (t *table[K, V]) home(h uint64) uint64 { return (h >> 7) & t.mask }

// find returns the node of key (hash h), or nil. It takes no lock.
func (t *table[K, V]) find(key K, h uint64) *node[K, V] {
	tag := h2(h)
	for g := t.home(h); ; g = (g + 1) & t.mask {
		grp := &t.groups[g]
		meta := grp.meta.Load()
		for m := matchByte(meta, tag); m != 0; m &= m - 1 {
			n := grp.slots[bits.TrailingZeros64(m)>>3].Load()
			if n != nil && n.key == key {
				return n
			}
		}
		if matchByte(meta, metaEmpty) != 0 {
			return nil
		}
	}
}

// lookup is find for a writer: it returns the slot of key, or -1 and the
// slot a new key would take (the first tombstone or empty slot of its
// probe). The caller holds the shard's lock.
func (t *table[K, V]) lookup(key K, h uint64) (at int64, free int64) {
	tag := h2(h)
	free = -1
	for g := t.home(h); ; g = (g + 1) & t.mask {
		grp := &t.groups[g]
		meta := grp.meta.Load()
		for m := matchByte(meta, tag); m != 0; m &= m - 1 {
			i := bits.TrailingZeros64(m) >> 3
			if n := grp.slots[i].Load(); n != nil && n.key == key {
				return int64(g)*slotsPerGroup + int64(i), -1
			}
		}
		if free < 0 {
			if m := matchByte(meta, metaDeleted) | matchByte(meta, metaEmpty); m != 0 {
				free = int64(g)*slotsPerGroup + int64(bits.TrailingZeros64(m)>>3)
			}
		}
		if matchByte(meta, metaEmpty) != 0 {
			return -1, free
		}
	}
}

// free returns the slot a new key of hash h takes in a table being built,
// which has no tombstones and does not hold the key.
func (t *table[K, V]) free(h uint64) uint32 {
	for g := t.home(h); ; g = (g + 1) & t.mask {
		if m := matchByte(t.groups[g].meta.Load(), metaEmpty); m != 0 {
			return uint32(g)*slotsPerGroup + uint32(bits.TrailingZeros64(m)>>3)
		}
	}
}

// full reports whether one more key needs a rebuild first.
func (t *table[K, V]) full() bool {
	return (t.used+1)*1000 > t.slots()*maxLoadPerMil
}

func (t *table[K, V]) setMeta(i uint32, b uint8) {
	grp := &t.groups[i/slotsPerGroup]
	shift := 8 * (i % slotsPerGroup)
	grp.meta.Store(grp.meta.Load()&^(0xff<<shift) | uint64(b)<<shift)
}

func (t *table[K, V]) metaOf(i uint32) uint8 {
	return uint8(t.groups[i/slotsPerGroup].meta.Load() >> (8 * (i % slotsPerGroup)))
}

// insert puts n, a new key of hash h, in free slot i (from lookup). The
// node is stored before the meta byte that makes readers look at it.
func (t *table[K, V]) insert(i uint32, n *node[K, V], h uint64) {
	if t.metaOf(i) == metaEmpty {
		t.used++
	}
	t.live++
	t.slot(i).Store(n)
	t.setMeta(i, h2(h))
}

// remove empties slot i, leaving a tombstone.
func (t *table[K, V]) remove(i uint32) {
	t.setMeta(i, metaDeleted)
	t.slot(i).Store(nil)
	t.live--
	if t.lru != nil {
		t.lru.unlink(i)
	}
}

// each calls fn for every slot holding a key, with its node.
func (t *table[K, V]) each(fn func(i uint32, n *node[K, V])) {
	for g := range t.groups {
		grp := &t.groups[g]
		meta := grp.meta.Load()
		for m := ^(matchByte(meta, metaEmpty) | matchByte(meta, metaDeleted) | matchByte(meta, metaPad)) & highBits; m != 0; m &= m - 1 {
			i := bits.TrailingZeros64(m) >> 3
			if n := grp.slots[i].Load(); n != nil {
				fn(uint32(g*slotsPerGroup+i), n)
			}
		}
	}
}

// rebuilt returns a table with t's keys and room for as many again, and
// calls moved for each key with its old and new slot. hash is the bucket's
// hash: a node does not keep its key's, which would cost every entry 8
// bytes to save a rebuild (rare, and under the writers' lock only) the
// hashing. A bucket that evicts keeps its LRU order.
func (t *table[K, V]) rebuilt(hash func(K) uint64, moved func(n *node[K, V], from, to uint32)) *table[K, V] {
	nt := newTable[K, V](groupsFor(t.live), t.lru != nil)
	put := func(i uint32, n *node[K, V]) {
		h := hash(n.key)
		j := nt.free(h)
		nt.insert(j, n, h)
		moved(n, i, j)
		if nt.lru != nil {
			nt.lru.pushBack(j)
		}
	}
	if t.lru != nil {
		// From the most recently used to the least, appending at the
		// back: the order stays.
		for i := t.lru.front(); i != lruNone; i = t.lru.following(i) {
			put(i, t.slot(i).Load())
		}
	} else {
		t.each(put)
	}
	return nt
}

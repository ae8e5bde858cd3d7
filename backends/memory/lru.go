package memory

// lruList orders the slots of a table that evicts (WithMaxKeys with
// EvictLRU) from the most to the least recently used. Its links are
// indexes of slots, kept beside the table, so that only buckets that evict
// pay for them, and a node replaced in its slot keeps its place. It is used
// under the shard's lock only.
type lruList struct {
	prev, next []uint32
	head, tail uint32 // most and least recently used; lruNone when empty
}

const lruNone = ^uint32(0)

func newLRU(slots int) *lruList {
	return &lruList{prev: make([]uint32, slots), next: make([]uint32, slots), head: lruNone, tail: lruNone}
}

func (l *lruList) front() uint32             { return l.head }
func (l *lruList) back() uint32              { return l.tail }
func (l *lruList) following(i uint32) uint32 { return l.next[i] }

func (l *lruList) pushFront(i uint32) {
	l.prev[i], l.next[i] = lruNone, l.head
	if l.head != lruNone {
		l.prev[l.head] = i
	} else {
		l.tail = i
	}
	l.head = i
}

func (l *lruList) pushBack(i uint32) {
	l.prev[i], l.next[i] = l.tail, lruNone
	if l.tail != lruNone {
		l.next[l.tail] = i
	} else {
		l.head = i
	}
	l.tail = i
}

// unlink takes slot i, which is in the list, out of it.
func (l *lruList) unlink(i uint32) {
	p, n := l.prev[i], l.next[i]
	if p != lruNone {
		l.next[p] = n
	} else {
		l.head = n
	}
	if n != lruNone {
		l.prev[n] = p
	} else {
		l.tail = p
	}
}

// touch makes slot i, which is in the list, the most recently used.
func (l *lruList) touch(i uint32) {
	if l.head == i {
		return
	}
	l.unlink(i)
	l.pushFront(i)
}

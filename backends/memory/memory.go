// Package memory is the embedded backend: typed, sharded, and free of
// serialization on every path.
//
// A Backend holds any number of buckets, each typed with the key and value
// types of the store that opened it. Keys are spread over shards by a seeded
// hash; each shard keeps its entries in a map, its deadlines in a min-heap
// (so the expiry sweep touches only what is due) and, for a bounded bucket,
// its LRU order. A bucket with a key limit uses a single shard, so that the
// limit and the LRU order are exact rather than per-shard approximations.
//
// Values are deep-copied with the clone function the generated code supplies
// on the way in and on the way out, so the memory backend behaves like SQLite
// and Redis: mutating a value after Set or Get never changes what is stored.
package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedict/livedict/backend"
)

// Backend is an in-process store of buckets. The zero value is not usable;
// call New.
type Backend struct {
	mu      sync.Mutex
	buckets map[string]any // name -> *bucket[K, V]
	closed  bool
}

// New returns an empty memory backend.
func New() *Backend {
	return &Backend{buckets: make(map[string]any)}
}

// Close drops every bucket. Buckets opened before fail with ErrClosed.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	for _, bk := range b.buckets {
		bk.(interface{ markClosed() }).markClosed()
	}
	b.buckets = nil
	return nil
}

// Open returns the bucket named cfg.Name, typed for K and V, creating it on
// first use. Opening a name again returns the same data, so two stores of one
// type over one Backend see each other's writes; opening it with other types
// is an error. clone deep-copies a value; nil means V holds no references
// and a plain assignment copies it.
func Open[K comparable, V any](b *Backend, cfg backend.BucketConfig, clone func(V) V) (backend.Bucket[K, V], error) {
	cfg, err := cfg.Normalize()
	if err != nil {
		return nil, fmt.Errorf("livedict/memory: open bucket: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, backend.ErrClosed
	}
	if existing, ok := b.buckets[cfg.Name]; ok {
		if rec, ok := existing.(interface{ recordType(string) string }); ok {
			if have := rec.recordType(cfg.Type); have != "" && cfg.Type != "" && have != cfg.Type {
				return nil, fmt.Errorf("livedict/memory: %w", backend.WrongType(cfg.Name, have, cfg.Type))
			}
		}
		bk, ok := existing.(*bucket[K, V])
		if !ok {
			var k K
			var v V
			return nil, fmt.Errorf("%w: memory bucket %q is already open with other types than key %s, value %s",
				backend.ErrInvalidOption, cfg.Name, reflect.TypeOf(&k).Elem(), reflect.TypeOf(&v).Elem())
		}
		if bk.limit != cfg.Limit {
			return nil, fmt.Errorf("%w: memory bucket %q is already open with limit %d (%v)",
				backend.ErrInvalidOption, cfg.Name, bk.limit.MaxKeys, bk.limit.Policy)
		}
		return bk, nil
	}
	bk := newBucket[K, V](cfg, clone)
	bk.valueType = cfg.Type
	b.buckets[cfg.Name] = bk
	return bk, nil
}

// recordType returns the value type the bucket recorded, recording typ
// first when it has none yet. The Backend's lock is held.
func (b *bucket[K, V]) recordType(typ string) string {
	if b.valueType == "" {
		b.valueType = typ
	}
	return b.valueType
}

type node[K comparable, V any] struct {
	key      K
	val      V
	deadline int64
	version  uint64
	heapIdx  int // index in the shard's deadline heap; -1 when not in it
	// LRU links, used only by bounded buckets.
	prev, next *node[K, V]
}

// heapEntry files a node in the deadline heap under the deadline it had
// when filed, kept beside the pointer so that sifting compares within the
// array instead of loading a node (a cache miss) per comparison. A Set that
// moves a deadline later leaves the entry where it is: at <= n.deadline
// always, and the sweep files an entry again when it finds the node's
// deadline has moved on.
type heapEntry[K comparable, V any] struct {
	at int64
	n  *node[K, V]
}

type shard[K comparable, V any] struct {
	mu      sync.RWMutex
	m       map[K]*node[K, V]
	heap    []heapEntry[K, V] // 4-ary min-heap of the entries that have a deadline
	version uint64
	// lru is a ring with a sentinel: lru.next is the most recently used.
	lru node[K, V]
	_   [64]byte // keep shards on their own cache lines
}

type bucket[K comparable, V any] struct {
	name   string
	limit  backend.Limit
	clone  func(V) V
	seed   maphash.Seed
	shards []shard[K, V]
	mask   uint64
	count  atomic.Int64 // entries in the maps, expired or not
	closed atomic.Bool

	outMu     sync.Mutex
	outbox    []backend.Expired[K, V]
	outSeq    uint64
	retention int
	dropped   atomic.Uint64

	lockMu sync.Mutex
	locks  map[K]*lease
	fence  uint64

	// valueType is the BucketConfig.Type it was opened with first; the
	// Backend's lock guards it.
	valueType string
}

type lease struct {
	owner string
	until int64
}

// newBucket makes the bucket of a normalized cfg (BucketConfig.Normalize).
func newBucket[K comparable, V any](cfg backend.BucketConfig, clone func(V) V) *bucket[K, V] {
	n := 1
	if cfg.Limit.MaxKeys == 0 {
		// A power of two comfortably above the core count keeps writers on
		// different keys from meeting on one lock.
		for n < 8*runtime.GOMAXPROCS(0) {
			n <<= 1
		}
	}
	bk := &bucket[K, V]{
		name:      cfg.Name,
		limit:     cfg.Limit,
		clone:     clone,
		seed:      maphash.MakeSeed(),
		shards:    make([]shard[K, V], n),
		mask:      uint64(n - 1),
		retention: cfg.Retention,
		locks:     make(map[K]*lease),
	}
	for i := range bk.shards {
		s := &bk.shards[i]
		s.m = make(map[K]*node[K, V])
		s.lru.next, s.lru.prev = &s.lru, &s.lru
	}
	return bk
}

func (b *bucket[K, V]) markClosed() { b.closed.Store(true) }

func (b *bucket[K, V]) shardOf(key K) *shard[K, V] {
	if b.mask == 0 {
		return &b.shards[0]
	}
	return &b.shards[maphash.Comparable(b.seed, key)&b.mask]
}

func (b *bucket[K, V]) copyVal(v V) V {
	if b.clone == nil {
		return v
	}
	return b.clone(v)
}

func (b *bucket[K, V]) lru() bool { return b.limit.Policy == backend.EvictLRU && b.limit.MaxKeys > 0 }

func (b *bucket[K, V]) Get(_ context.Context, key K, now int64) (backend.Entry[V], bool, error) {
	if b.closed.Load() {
		return backend.Entry[V]{}, false, backend.ErrClosed
	}
	s := b.shardOf(key)
	var e backend.Entry[V]
	if b.lru() {
		s.mu.Lock()
		n, ok := s.m[key]
		if !ok || !live(n, now) {
			s.mu.Unlock()
			return e, false, nil
		}
		s.touch(n)
		e = backend.Entry[V]{Value: n.val, Deadline: n.deadline, Version: n.version}
		s.mu.Unlock()
	} else {
		s.mu.RLock()
		n, ok := s.m[key]
		if !ok || !live(n, now) {
			s.mu.RUnlock()
			return e, false, nil
		}
		e = backend.Entry[V]{Value: n.val, Deadline: n.deadline, Version: n.version}
		s.mu.RUnlock()
	}
	// Stored values are never mutated in place (Put stores a fresh copy), so
	// the deep copy can be made outside the lock.
	e.Value = b.copyVal(e.Value)
	return e, true, nil
}

func live[K comparable, V any](n *node[K, V], now int64) bool {
	return n.deadline == 0 || n.deadline > now
}

func (b *bucket[K, V]) Put(_ context.Context, key K, w backend.Write[V], now int64) (backend.WriteResult[K, V], error) {
	var res backend.WriteResult[K, V]
	if b.closed.Load() {
		return res, backend.ErrClosed
	}
	val := b.copyVal(w.Value)
	s := b.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.m[key]
	if ok && !live(n, now) {
		// An expiry the sweep has not reached yet: report it before the key
		// is reused, so a Set never swallows an expiry. A writer that claims
		// it takes it directly; nothing else could hand it out meanwhile.
		if w.ClaimDisplaced > 0 {
			res.Displaced = b.displaced(n)
		} else {
			b.toOutbox(n)
		}
		s.remove(n)
		b.count.Add(-1)
		res.ExpiredMoved = true
		n, ok = nil, false
	}
	if w.Conditional {
		cur := uint64(0)
		if ok {
			cur = n.version
		}
		if cur != w.IfVersion {
			return res, backend.ErrConflict
		}
	}
	if ok {
		if w.WantPrev {
			// The replaced value leaves the bucket: it needs no copy.
			res.Prev = backend.Entry[V]{Value: n.val, Deadline: n.deadline, Version: n.version}
			res.Existed = true
		}
		s.version++
		n.val, n.version = val, s.version
		if !w.KeepTTL {
			s.setDeadline(n, w.Deadline)
		}
		if b.lru() {
			s.touch(n)
		}
		return res, nil
	}
	if max := b.limit.MaxKeys; max > 0 && int(b.count.Load()) >= max {
		// A bounded bucket has one shard, so s holds every entry: first make
		// room from what has already expired.
		b.sweepShard(s, now, int(b.count.Load()))
		for int(b.count.Load()) >= max {
			if b.limit.Policy != backend.EvictLRU {
				return res, fmt.Errorf("%w: %d keys", backend.ErrLimit, max)
			}
			victim := s.lru.prev
			res.Evicted = append(res.Evicted, backend.KV[K, V]{Key: victim.key,
				Entry: backend.Entry[V]{Value: victim.val, Deadline: victim.deadline, Version: victim.version}})
			s.remove(victim)
			b.count.Add(-1)
		}
	}
	s.version++
	n = &node[K, V]{key: key, val: val, version: s.version, heapIdx: -1}
	s.m[key] = n
	s.setDeadline(n, w.Deadline)
	if b.lru() {
		s.pushFront(n)
	}
	b.count.Add(1)
	return res, nil
}

func (b *bucket[K, V]) Delete(_ context.Context, key K, now int64) (backend.Entry[V], bool, error) {
	if b.closed.Load() {
		return backend.Entry[V]{}, false, backend.ErrClosed
	}
	s := b.shardOf(key)
	s.mu.Lock()
	n, ok := s.m[key]
	if !ok || !live(n, now) {
		s.mu.Unlock()
		return backend.Entry[V]{}, false, nil
	}
	s.remove(n)
	b.count.Add(-1)
	s.mu.Unlock()
	// The removed value is unreachable from the bucket now: no copy needed.
	return backend.Entry[V]{Value: n.val, Deadline: n.deadline, Version: n.version}, true, nil
}

func (b *bucket[K, V]) DeleteIf(_ context.Context, key K, version uint64, now int64) error {
	if b.closed.Load() {
		return backend.ErrClosed
	}
	s := b.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.m[key]
	if !ok || !live(n, now) || n.version != version {
		return backend.ErrConflict
	}
	s.remove(n)
	b.count.Add(-1)
	return nil
}

func (b *bucket[K, V]) Len(_ context.Context, now int64) (int, error) {
	if b.closed.Load() {
		return 0, backend.ErrClosed
	}
	total := 0
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.RLock()
		total += len(s.m)
		// Entries that expired but wait for the sweep are not counted; they
		// sit at the top of the heap, so only they are visited.
		total -= s.countDue(now)
		s.mu.RUnlock()
	}
	return total, nil
}

func (b *bucket[K, V]) Range(ctx context.Context, now int64, fn func(K, backend.Entry[V]) bool) error {
	if b.closed.Load() {
		return backend.ErrClosed
	}
	var batch []backend.KV[K, V]
	for i := range b.shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := &b.shards[i]
		batch = batch[:0]
		s.mu.RLock()
		for k, n := range s.m {
			if live(n, now) {
				batch = append(batch, backend.KV[K, V]{Key: k, Entry: backend.Entry[V]{Value: n.val, Deadline: n.deadline, Version: n.version}})
			}
		}
		s.mu.RUnlock()
		// fn runs without the shard lock, so it may call back into the store.
		for _, kv := range batch {
			kv.Entry.Value = b.copyVal(kv.Entry.Value)
			if !fn(kv.Key, kv.Entry) {
				return nil
			}
		}
	}
	return nil
}

func (b *bucket[K, V]) Clear(context.Context, int64) error {
	if b.closed.Load() {
		return backend.ErrClosed
	}
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		b.count.Add(-int64(len(s.m)))
		clear(s.m)
		clear(s.heap)
		s.heap = s.heap[:0]
		s.lru.next, s.lru.prev = &s.lru, &s.lru
		s.mu.Unlock()
	}
	// The outbox holds the events nobody claimed yet: ClaimExpired takes
	// what it hands out.
	b.outMu.Lock()
	clear(b.outbox)
	b.outbox = nil
	b.outMu.Unlock()
	return nil
}

func (b *bucket[K, V]) NextDeadline(_ context.Context) (int64, bool, error) {
	if b.closed.Load() {
		return 0, false, backend.ErrClosed
	}
	var best int64
	found := false
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.RLock()
		// heap[0].at may be earlier than the node's deadline: the
		// scheduler then wakes early, and the sweep files it again.
		if len(s.heap) > 0 && (!found || s.heap[0].at < best) {
			best, found = s.heap[0].at, true
		}
		s.mu.RUnlock()
	}
	return best, found, nil
}

func (b *bucket[K, V]) SweepExpired(_ context.Context, now int64, max int) (int, error) {
	if b.closed.Load() {
		return 0, backend.ErrClosed
	}
	moved := 0
	for i := range b.shards {
		if moved >= max {
			break
		}
		s := &b.shards[i]
		s.mu.RLock()
		due := len(s.heap) > 0 && s.heap[0].at <= now
		s.mu.RUnlock()
		if !due {
			continue
		}
		s.mu.Lock()
		moved += b.sweepShard(s, now, max-moved)
		s.mu.Unlock()
	}
	return moved, nil
}

// sweepShard moves up to max due entries of s to the outbox. s.mu is held.
func (b *bucket[K, V]) sweepShard(s *shard[K, V], now int64, max int) int {
	moved := 0
	for moved < max && len(s.heap) > 0 && s.heap[0].at <= now {
		n := s.heap[0].n
		if n.deadline > now {
			// Set again with a later deadline since it was filed.
			s.heap[0].at = n.deadline
			s.down(0)
			continue
		}
		b.toOutbox(n)
		s.remove(n)
		b.count.Add(-1)
		moved++
	}
	return moved
}

// toOutbox records n's expiry. The caller holds n's shard lock; the outbox
// lock always nests inside a shard lock, never the other way round.
func (b *bucket[K, V]) toOutbox(n *node[K, V]) {
	b.outMu.Lock()
	defer b.outMu.Unlock()
	if len(b.outbox) >= b.retention {
		drop := len(b.outbox) - b.retention + 1
		clear(b.outbox[:drop])
		b.outbox = b.outbox[drop:]
		b.dropped.Add(uint64(drop))
	}
	b.outSeq++
	// The node leaves the bucket, so its value needs no copy.
	b.outbox = append(b.outbox, backend.Expired[K, V]{
		ID: strconv.FormatUint(b.outSeq, 10), Key: n.key, Value: n.val, Deadline: n.deadline,
	})
}

// displaced makes the event of n, an expired entry a write displaces, for
// the writer to deliver: it never enters the outbox, so no claim can hand
// it out twice. The caller holds n's shard lock.
func (b *bucket[K, V]) displaced(n *node[K, V]) *backend.Expired[K, V] {
	b.outMu.Lock()
	b.outSeq++
	id := b.outSeq
	b.outMu.Unlock()
	// The node leaves the bucket, so its value needs no copy.
	return &backend.Expired[K, V]{ID: strconv.FormatUint(id, 10), Key: n.key, Value: n.val, Deadline: n.deadline}
}

// ClaimExpired removes the events it returns: a memory backend loses its
// outbox with the process anyway, so there is nothing to redeliver.
func (b *bucket[K, V]) ClaimExpired(_ context.Context, _ int64, max int, _ time.Duration) ([]backend.Expired[K, V], error) {
	if b.closed.Load() {
		return nil, backend.ErrClosed
	}
	b.outMu.Lock()
	defer b.outMu.Unlock()
	n := min(max, len(b.outbox))
	if n == 0 {
		return nil, nil
	}
	out := make([]backend.Expired[K, V], n)
	copy(out, b.outbox[:n])
	clear(b.outbox[:n])
	b.outbox = b.outbox[n:]
	if len(b.outbox) == 0 {
		b.outbox = nil // let the backing array go
	}
	return out, nil
}

func (b *bucket[K, V]) AckExpired(context.Context, []string) error { return nil }

// ExtendClaims has nothing to do: a claimed event left the outbox for good.
func (b *bucket[K, V]) ExtendClaims(context.Context, []string, time.Duration, int64) error {
	return nil
}

func (b *bucket[K, V]) DroppedExpired() uint64 { return b.dropped.Load() }

func (b *bucket[K, V]) TryLock(_ context.Context, key K, owner string, leaseFor time.Duration, now int64) (uint64, bool, int64, error) {
	if b.closed.Load() {
		return 0, false, 0, backend.ErrClosed
	}
	b.lockMu.Lock()
	defer b.lockMu.Unlock()
	if l, ok := b.locks[key]; ok && l.until > now {
		return 0, false, l.until, nil
	}
	b.fence++
	b.locks[key] = &lease{owner: owner, until: now + leaseFor.Milliseconds()}
	return b.fence, true, 0, nil
}

func (b *bucket[K, V]) Unlock(_ context.Context, key K, owner string, now int64) error {
	if b.closed.Load() {
		return backend.ErrClosed
	}
	b.lockMu.Lock()
	defer b.lockMu.Unlock()
	l, ok := b.locks[key]
	if !ok || l.owner != owner {
		return backend.ErrLockLost
	}
	// The entry goes either way: a lease that ran out frees its slot too.
	delete(b.locks, key)
	if l.until <= now {
		return backend.ErrLockLost
	}
	return nil
}

func (b *bucket[K, V]) ExtendLock(_ context.Context, key K, owner string, leaseFor time.Duration, now int64) error {
	if b.closed.Load() {
		return backend.ErrClosed
	}
	b.lockMu.Lock()
	defer b.lockMu.Unlock()
	l, ok := b.locks[key]
	if !ok || l.owner != owner || l.until <= now {
		return backend.ErrLockLost
	}
	l.until = now + leaseFor.Milliseconds()
	return nil
}

// Close does nothing: the data belongs to the Backend, and another store may
// have the same bucket open.
func (b *bucket[K, V]) Close() error { return nil }

// shard internals; all need s.mu held for writing unless noted.

func (s *shard[K, V]) remove(n *node[K, V]) {
	delete(s.m, n.key)
	if n.heapIdx >= 0 {
		s.heapRemove(n.heapIdx)
	}
	if n.next != nil {
		n.prev.next, n.next.prev = n.next, n.prev
		n.prev, n.next = nil, nil
	}
}

func (s *shard[K, V]) setDeadline(n *node[K, V], d int64) {
	n.deadline = d
	switch {
	case d == 0:
		if n.heapIdx >= 0 {
			s.heapRemove(n.heapIdx)
		}
	case n.heapIdx < 0:
		n.heapIdx = len(s.heap)
		s.heap = append(s.heap, heapEntry[K, V]{at: d, n: n})
		s.up(n.heapIdx)
	case d < s.heap[n.heapIdx].at:
		s.heap[n.heapIdx].at = d
		s.up(n.heapIdx)
	}
	// A later deadline leaves the entry filed early (see heapEntry): the
	// usual re-Set costs no sifting.
}

// countDue counts entries due at now; s.mu held for reading. An entry filed
// after now has a deadline after now, and so has its subtree.
func (s *shard[K, V]) countDue(now int64) int {
	c := 0
	var walk func(i int)
	walk = func(i int) {
		if i >= len(s.heap) || s.heap[i].at > now {
			return
		}
		if s.heap[i].n.deadline <= now {
			c++
		}
		for j := 4*i + 1; j <= 4*i+4; j++ {
			walk(j)
		}
	}
	walk(0)
	return c
}

func (s *shard[K, V]) touch(n *node[K, V]) {
	if s.lru.next == n {
		return
	}
	n.prev.next, n.next.prev = n.next, n.prev
	s.pushFront(n)
}

func (s *shard[K, V]) pushFront(n *node[K, V]) {
	n.prev, n.next = &s.lru, s.lru.next
	s.lru.next.prev = n
	s.lru.next = n
}

func (s *shard[K, V]) heapRemove(i int) {
	last := len(s.heap) - 1
	removed := s.heap[i].n
	if i != last {
		s.heap[i] = s.heap[last]
		s.heap[i].n.heapIdx = i
	}
	s.heap[last] = heapEntry[K, V]{}
	s.heap = s.heap[:last]
	removed.heapIdx = -1
	if i != last {
		if !s.down(i) {
			s.up(i)
		}
	}
}

// up and down move the entry at i through a 4-ary heap: half the depth of a
// binary one, and four children of 16 bytes share a cache line. Entries
// they pass over are moved into the hole, and the one sifted is written
// once, where it stops.
func (s *shard[K, V]) up(i int) {
	e := s.heap[i]
	for i > 0 {
		p := (i - 1) / 4
		if s.heap[p].at <= e.at {
			break
		}
		s.heap[i] = s.heap[p]
		s.heap[i].n.heapIdx = i
		i = p
	}
	s.heap[i] = e
	e.n.heapIdx = i
}

// down sifts i toward the leaves and reports whether it moved.
func (s *shard[K, V]) down(i0 int) bool {
	e := s.heap[i0]
	i, n := i0, len(s.heap)
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		best := c
		for j := c + 1; j < c+4 && j < n; j++ {
			if s.heap[j].at < s.heap[best].at {
				best = j
			}
		}
		if e.at <= s.heap[best].at {
			break
		}
		s.heap[i] = s.heap[best]
		s.heap[i].n.heapIdx = i
		i = best
	}
	s.heap[i] = e
	e.n.heapIdx = i
	return i > i0
}

// Bucket opens a byte-valued bucket, so the memory backend also satisfies
// the byte contract of SQLite and Redis. Stores use it typed instead when
// given a *Backend; this path exists for tests of the byte path and for
// tools that work on any backend.
func (b *Backend) Bucket(_ context.Context, cfg backend.BucketConfig) (backend.Bucket[string, []byte], error) {
	return Open[string, []byte](b, cfg, cloneBytes)
}

func cloneBytes(p []byte) []byte {
	if p == nil {
		return nil
	}
	return append([]byte{}, p...)
}

// PollInterval is 0: every write to a memory bucket goes through this
// process, so the expiry scheduler can sleep until the next deadline.
func (b *Backend) PollInterval() time.Duration { return 0 }

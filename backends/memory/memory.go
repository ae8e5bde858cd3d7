// Package memory is the embedded backend: typed, sharded, and free of
// serialization on every path.
//
// A Backend holds any number of buckets, each typed with the key and value
// types of the store that opened it. Keys are spread over shards by the top
// bits of a seeded hash, the one hash an operation computes. Each shard
// keeps its entries in an open-addressing table of immutable nodes (see
// table.go): a read loads the shard's table, a group's meta word and a node
// with atomic loads, takes no lock and writes no memory, so reads on
// several cores never contend; a write takes the shard's lock and publishes
// a new node. A shard files its deadlines in buckets of time (see
// timers.go), so that the expiry sweep touches only what is due.
//
// A bucket with a key limit uses a single shard, so that the limit and the
// LRU order are exact rather than per-shard approximations; only a bucket
// that evicts (EvictLRU) keeps LRU links, beside its table, and its reads
// take the lock to move the key to the front.
//
// Values are deep-copied with the clone functions the generated code supplies
// (Copies) on the way in and on the way out, so the memory backend behaves
// like SQLite and Redis: mutating a value after Set or Get never changes what
// is stored.
package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedict/livedict/backend"
)

// Backend is an in-process store of buckets. The zero value is not usable;
// call New.
type Backend struct {
	mu      sync.Mutex
	buckets map[string]any // name -> *Bucket[K, V]
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
// is an error. copies says how values are copied in and out.
func Open[K comparable, V any](b *Backend, cfg backend.BucketConfig, copies Copies[V]) (*Bucket[K, V], error) {
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
		bk, ok := existing.(*Bucket[K, V])
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
	bk := newBucket[K, V](cfg, copies)
	bk.valueType = cfg.Type
	b.buckets[cfg.Name] = bk
	return bk, nil
}

// recordType returns the value type the bucket recorded, recording typ
// first when it has none yet. The Backend's lock is held.
func (b *Bucket[K, V]) recordType(typ string) string {
	if b.valueType == "" {
		b.valueType = typ
	}
	return b.valueType
}

// Bucket is one typed bucket of a Backend. It implements backend.Bucket;
// the methods ending in Hashed take the key's hash (Hash) instead of
// computing it, so that a store that needs the hash itself (for its hook
// order) hashes each key once.
type Bucket[K comparable, V any] struct {
	// tables holds each shard's current table. Every read loads it; it
	// changes only when a table is rebuilt.
	tables []atomic.Pointer[table[K, V]]
	shift  uint // a hash's top bits pick its shard: h >> shift
	seed   maphash.Seed
	copies Copies[V]
	evicts bool // EvictLRU: reads move keys to the front, under the lock
	limit  backend.Limit
	closed atomic.Bool
	_      [64]byte // what follows is written by writers

	shards []shard[K, V]
	// sweepFrom rotates the shard a sweep starts at, so that a sweep cut
	// short by its batch size does not always leave the same shards behind.
	sweepFrom atomic.Uint32

	outMu     sync.Mutex
	outbox    outbox[K, V]
	retention int
	dropped   atomic.Uint64

	lockMu sync.Mutex
	locks  map[K]*lease
	fence  uint64

	// valueType is the BucketConfig.Type it was opened with first; the
	// Backend's lock guards it.
	valueType string
}

type shard[K comparable, V any] struct {
	mu      sync.Mutex
	timers  timers[K, V]
	version uint64
	tidy    bool     // the sweep expired keys: Tidy may rebuild the table
	_       [64]byte // keep shards on their own cache lines
}

type lease struct {
	owner string
	until int64
}

const (
	// sweepStep bounds the keys a sweep expires or files again under one
	// hold of a shard's lock, so that writers to the shard wait at most
	// that long.
	sweepStep = 256
	// cascadeStep bounds the keys one SweepExpired files again per shard.
	cascadeStep = 4 * sweepStep
)

// newBucket makes the bucket of a normalized cfg (BucketConfig.Normalize).
func newBucket[K comparable, V any](cfg backend.BucketConfig, copies Copies[V]) *Bucket[K, V] {
	n := 1
	if cfg.Limit.MaxKeys == 0 {
		// A power of two comfortably above the core count keeps writers on
		// different keys from meeting on one lock.
		for n < 8*runtime.GOMAXPROCS(0) {
			n <<= 1
		}
	}
	bk := &Bucket[K, V]{
		tables:    make([]atomic.Pointer[table[K, V]], n),
		shift:     uint(64 - bits.TrailingZeros(uint(n))),
		seed:      maphash.MakeSeed(),
		copies:    copies,
		evicts:    cfg.Limit.MaxKeys > 0 && cfg.Limit.Policy == backend.EvictLRU,
		limit:     cfg.Limit,
		shards:    make([]shard[K, V], n),
		retention: cfg.Retention,
		locks:     make(map[K]*lease),
	}
	for i := range bk.tables {
		bk.tables[i].Store(newTable[K, V](1, bk.evicts))
	}
	return bk
}

func (b *Bucket[K, V]) markClosed() { b.closed.Store(true) }

// Hash returns the hash of key that the Hashed methods take.
func (b *Bucket[K, V]) Hash(key K) uint64 { return maphash.Comparable(b.seed, key) }

// Copies are the functions that copy a bucket's values: In on the way in
// (Put), Out on the way out (Get, Range). nil copies by assignment: for a V
// without references, or an Out for a V whose In only normalizes what it
// stores (drops the monotonic reading of its times), so that a stored value
// needs nothing more.
type Copies[V any] struct {
	In, Out func(V) V
}

// Clones is the Copies of a V that clone deep-copies.
func Clones[V any](clone func(V) V) Copies[V] { return Copies[V]{In: clone, Out: clone} }

func (b *Bucket[K, V]) copyIn(v V) V {
	if b.copies.In == nil {
		return v
	}
	return b.copies.In(v)
}

func (b *Bucket[K, V]) copyOut(v V) V {
	if b.copies.Out == nil {
		return v
	}
	return b.copies.Out(v)
}

func entryOf[K comparable, V any](n *node[K, V]) backend.Entry[V] {
	return backend.Entry[V]{Value: n.val, Deadline: n.deadline, Version: n.version, Idle: n.idle}
}

func (b *Bucket[K, V]) Get(_ context.Context, key K, now int64) (backend.Entry[V], bool, error) {
	return b.GetHashed(key, b.Hash(key), now)
}

// GetHashed is Get of key, whose hash is h.
func (b *Bucket[K, V]) GetHashed(key K, h uint64, now int64) (backend.Entry[V], bool, error) {
	n, err := b.find(key, h, now)
	if n == nil {
		return backend.Entry[V]{}, false, err
	}
	// Nodes are never changed once published, so the copy needs no lock.
	e := entryOf(n)
	e.Value = b.copyOut(e.Value)
	return e, true, nil
}

// GetValue is GetHashed for a caller that needs the value only: a store's
// Get, which then copies no more than the value. Unlike GetHashed it
// slides a sliding entry as a read should (when Entry.SlideDue), so that a
// store's Get makes one lookup.
func (b *Bucket[K, V]) GetValue(key K, h uint64, now int64) (V, bool, error) {
	n, err := b.find(key, h, now)
	if n == nil {
		var zero V
		return zero, false, err
	}
	if n.idle > 0 && entryOf(n).SlideDue(now) {
		b.retime(key, h, now, backend.Slide)
	}
	return b.copyOut(n.val), true, nil
}

func (b *Bucket[K, V]) Touch(_ context.Context, key K, now int64) (bool, error) {
	return b.TouchHashed(key, b.Hash(key), now)
}

// TouchHashed is Touch of key, whose hash is h.
func (b *Bucket[K, V]) TouchHashed(key K, h uint64, now int64) (bool, error) {
	return b.retime(key, h, now, backend.Slide)
}

func (b *Bucket[K, V]) Retime(_ context.Context, key K, deadline, idle int64, now int64) (bool, error) {
	return b.RetimeHashed(key, b.Hash(key), deadline, idle, now)
}

// RetimeHashed is Retime of key, whose hash is h.
func (b *Bucket[K, V]) RetimeHashed(key K, h uint64, deadline, idle int64, now int64) (bool, error) {
	return b.retime(key, h, now, func(int64, int64, int64) (int64, int64, bool) { return deadline, idle, true })
}

// retime gives the live node of key (hash h) the deadline and idle change
// returns for its own, when change says to: the node is replaced by a copy
// with the new deadline, since a published node never changes. It reports
// whether key was live at now.
func (b *Bucket[K, V]) retime(key K, h uint64, now int64, change func(deadline, idle, now int64) (int64, int64, bool)) (bool, error) {
	if b.closed.Load() {
		return false, backend.ErrClosed
	}
	i := h >> b.shift
	s := &b.shards[i]
	s.mu.Lock()
	defer s.mu.Unlock()
	tab, at, n := b.locate(i, key, h)
	if n == nil || !n.live(now) {
		return false, nil
	}
	if b.evicts {
		// As on SQLite and Redis, a touch or a new expiry is a use of the
		// key.
		tab.lru.touch(at)
	}
	deadline, idle, ok := change(n.deadline, n.idle, now)
	if !ok {
		return true, nil
	}
	next := *n
	next.deadline, next.idle = deadline, idle
	s.timers.refile(at, &next, tab, now)
	tab.slot(at).Store(&next)
	return true, nil
}

// find returns the node of key if it is live at now, or nil.
func (b *Bucket[K, V]) find(key K, h uint64, now int64) (*node[K, V], error) {
	if b.closed.Load() {
		return nil, backend.ErrClosed
	}
	i := h >> b.shift
	var n *node[K, V]
	if b.evicts {
		n = b.getTouch(i, key, h, now)
	} else {
		n = b.tables[i].Load().find(key, h)
	}
	if n == nil || !n.live(now) {
		return nil, nil
	}
	return n, nil
}

// getTouch finds key in a bucket that evicts and makes it the most
// recently used if it is live.
func (b *Bucket[K, V]) getTouch(i uint64, key K, h uint64, now int64) *node[K, V] {
	s := &b.shards[i]
	s.mu.Lock()
	defer s.mu.Unlock()
	tab, at, n := b.locate(i, key, h)
	if n != nil && n.live(now) {
		tab.lru.touch(at)
	}
	return n
}

// locate returns shard i's table and the slot and node of key (hash h);
// a nil node when there is none. The shard's lock is held.
func (b *Bucket[K, V]) locate(i uint64, key K, h uint64) (*table[K, V], uint32, *node[K, V]) {
	tab := b.tables[i].Load()
	at, _ := tab.lookup(key, h)
	if at < 0 {
		return tab, 0, nil
	}
	return tab, uint32(at), tab.slot(uint32(at)).Load()
}

func (b *Bucket[K, V]) Put(_ context.Context, key K, w backend.Write[V], now int64) (backend.WriteResult[K, V], error) {
	return b.PutHashed(key, b.Hash(key), w, now)
}

// PutHashed is Put of key, whose hash is h.
func (b *Bucket[K, V]) PutHashed(key K, h uint64, w backend.Write[V], now int64) (backend.WriteResult[K, V], error) {
	var res backend.WriteResult[K, V]
	if b.closed.Load() {
		return res, backend.ErrClosed
	}
	// The copy and the new node are made before the lock: an allocation
	// may have to help the garbage collector, and must not do it while
	// other writers of the shard wait.
	next := &node[K, V]{key: key, val: b.copyIn(w.Value), deadline: w.Deadline, idle: w.Idle, pos: noPos}
	i := h >> b.shift
	s := &b.shards[i]
	s.mu.Lock()
	defer s.mu.Unlock()
	tab := b.tables[i].Load()
	at, free := tab.lookup(key, h)
	var n *node[K, V]
	if at >= 0 {
		n = tab.slot(uint32(at)).Load()
		if !n.live(now) {
			// An expiry the sweep has not reached yet: report it before the
			// key is reused, so a Set never swallows an expiry. A writer
			// that claims it takes it directly; nothing else could hand it
			// out meanwhile.
			if w.ClaimDisplaced > 0 {
				ev := expiredOf(n)
				res.Displaced = &ev.Expired
			} else {
				b.outMu.Lock()
				b.outbox.push(expiredOf(n))
				b.trimOutbox()
				b.outMu.Unlock()
			}
			b.drop(s, tab, uint32(at), n)
			res.ExpiredMoved = true
			n, free = nil, at
		}
	}
	if w.Conditional {
		cur := uint64(0)
		if n != nil {
			cur = n.version
		}
		if cur != w.IfVersion {
			return res, backend.ErrConflict
		}
	}
	if n != nil {
		if w.WantPrev {
			// The replaced value leaves the bucket: it needs no copy.
			res.Prev, res.Existed = entryOf(n), true
		}
		s.version++
		next.version, next.pos = s.version, n.pos
		if w.KeepTTL {
			next.deadline, next.idle = n.deadline, n.idle
		}
		s.timers.refile(uint32(at), next, tab, now)
		tab.slot(uint32(at)).Store(next)
		if b.evicts {
			tab.lru.touch(uint32(at))
		}
		return res, nil
	}
	if max := b.limit.MaxKeys; max > 0 && tab.live >= max {
		// A bounded bucket has one shard, so tab holds every entry: first
		// make room from what has already expired.
		b.outMu.Lock()
		b.sweepShard(s, tab, now, tab.live, math.MaxInt, false)
		b.sweepShard(s, tab, now, tab.live, math.MaxInt, true)
		b.trimOutbox()
		b.outMu.Unlock()
		for tab.live >= max {
			if !b.evicts {
				return res, fmt.Errorf("%w: %d keys", backend.ErrLimit, max)
			}
			victim := tab.lru.back()
			vn := tab.slot(victim).Load()
			res.Evicted = append(res.Evicted, backend.KV[K, V]{Key: vn.key, Entry: entryOf(vn)})
			b.drop(s, tab, victim, vn)
		}
	}
	if tab.full() {
		tab = b.rebuild(i, tab)
		_, free = tab.lookup(key, h)
	}
	s.version++
	next.version = s.version
	slot := uint32(free)
	tab.insert(slot, next, h)
	if next.deadline != 0 {
		s.timers.file(slot, next, now)
	}
	if b.evicts {
		tab.lru.pushFront(slot)
	}
	return res, nil
}

// drop removes n, the node of slot at, from the shard's table and index.
// s.mu is held.
func (b *Bucket[K, V]) drop(s *shard[K, V], tab *table[K, V], at uint32, n *node[K, V]) {
	if n.pos != noPos {
		s.timers.unfile(n, tab)
	}
	tab.remove(at)
}

// rebuild replaces shard i's table tab by one sized for its keys, and
// returns it. s.mu is held.
func (b *Bucket[K, V]) rebuild(i uint64, tab *table[K, V]) *table[K, V] {
	s := &b.shards[i]
	nt := tab.rebuilt(b.Hash, func(n *node[K, V], _, to uint32) { s.timers.moved(n, to) })
	b.tables[i].Store(nt)
	return nt
}

// shrink rebuilds shard i's table when deletes and expiries left it mostly
// empty, so that its memory goes back once its keys have, but only when it
// holds at most most keys: the sweep, which would hold up every expiry
// behind a large rebuild, waits until few are left. s.mu is held.
func (b *Bucket[K, V]) shrink(i uint64, most int) {
	tab := b.tables[i].Load()
	if len(tab.groups) > 1 && tab.live*8 < tab.slots() && tab.live <= most {
		b.rebuild(i, tab)
	}
}

func (b *Bucket[K, V]) Delete(_ context.Context, key K, now int64) (backend.Entry[V], bool, error) {
	return b.DeleteHashed(key, b.Hash(key), now)
}

// DeleteHashed is Delete of key, whose hash is h.
func (b *Bucket[K, V]) DeleteHashed(key K, h uint64, now int64) (backend.Entry[V], bool, error) {
	n, err := b.remove(key, h, 0, now)
	if n == nil {
		return backend.Entry[V]{}, false, err
	}
	// The removed value is unreachable from the bucket now: no copy needed.
	return entryOf(n), true, nil
}

func (b *Bucket[K, V]) DeleteIf(_ context.Context, key K, version uint64, now int64) error {
	return b.DeleteIfHashed(key, b.Hash(key), version, now)
}

// DeleteIfHashed is DeleteIf of key, whose hash is h.
func (b *Bucket[K, V]) DeleteIfHashed(key K, h uint64, version uint64, now int64) error {
	n, err := b.remove(key, h, version, now)
	if n == nil && err == nil {
		return backend.ErrConflict
	}
	return err
}

// remove deletes key (hash h) if it is live at now and, unless version is
// 0 (no entry has it), at that version; it returns the removed node, or
// nil.
func (b *Bucket[K, V]) remove(key K, h uint64, version uint64, now int64) (*node[K, V], error) {
	if b.closed.Load() {
		return nil, backend.ErrClosed
	}
	i := h >> b.shift
	s := &b.shards[i]
	s.mu.Lock()
	defer s.mu.Unlock()
	tab, at, n := b.locate(i, key, h)
	if n == nil || !n.live(now) || version != 0 && n.version != version {
		return nil, nil
	}
	b.drop(s, tab, at, n)
	b.shrink(i, math.MaxInt)
	return n, nil
}

func (b *Bucket[K, V]) Len(_ context.Context, now int64) (int, error) {
	if b.closed.Load() {
		return 0, backend.ErrClosed
	}
	total := 0
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		tab := b.tables[i].Load()
		// Entries that expired but wait for the sweep are not counted; only
		// buckets that are due hold them, so only those are visited.
		total += tab.live - s.timers.countDue(now, tab)
		s.mu.Unlock()
	}
	return total, nil
}

func (b *Bucket[K, V]) Range(ctx context.Context, now int64, fn func(K, backend.Entry[V]) bool) error {
	if b.closed.Load() {
		return backend.ErrClosed
	}
	var batch []*node[K, V]
	for i := range b.shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := &b.shards[i]
		batch = batch[:0]
		// The lock keeps a key that is deleted and written again meanwhile
		// from being seen twice, in its old slot and its new one.
		s.mu.Lock()
		b.tables[i].Load().each(func(_ uint32, n *node[K, V]) {
			if n.live(now) {
				batch = append(batch, n)
			}
		})
		s.mu.Unlock()
		// fn runs without the shard lock, so it may call back into the store.
		for _, n := range batch {
			e := entryOf(n)
			e.Value = b.copyOut(e.Value)
			if !fn(n.key, e) {
				return nil
			}
		}
	}
	return nil
}

func (b *Bucket[K, V]) Clear(context.Context, int64) error {
	if b.closed.Load() {
		return backend.ErrClosed
	}
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		b.tables[i].Store(newTable[K, V](1, b.evicts))
		s.timers = timers[K, V]{}
		s.mu.Unlock()
	}
	// The outbox holds the events nobody claimed yet: ClaimExpired takes
	// what it hands out.
	b.outMu.Lock()
	b.outbox = outbox[K, V]{}
	b.outMu.Unlock()
	return nil
}

func (b *Bucket[K, V]) NextDeadline(_ context.Context) (int64, bool, error) {
	if b.closed.Load() {
		return 0, false, backend.ErrClosed
	}
	var best int64
	found := false
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		// A bucket may fall due before its keys' deadlines (it is filed
		// again then): the scheduler wakes early for it.
		if due, ok := s.timers.next(); ok && (!found || due < best) {
			best, found = due, true
		}
		s.mu.Unlock()
	}
	return best, found, nil
}

// SweepExpired expires what is due in every shard before it files again
// the keys of buckets that fall due early (cascading), so that cascading
// never delays an expiry; and it cascades at most cascadeStep keys per
// shard and call, the rest being due still at the next call. Then it
// rebuilds smaller the tables the expiry left mostly empty (Tidy).
func (b *Bucket[K, V]) SweepExpired(_ context.Context, now int64, max int) (int, error) {
	n, err := b.SweepDue(now, max)
	b.Tidy()
	return n, err
}

// SweepDue is SweepExpired without the rebuilds, for a caller that
// delivers what it swept first and calls Tidy after: a rebuild walks the
// whole table it replaces, and must not hold up the expiries of other
// shards.
func (b *Bucket[K, V]) SweepDue(now int64, max int) (int, error) {
	if b.closed.Load() {
		return 0, backend.ErrClosed
	}
	moved := 0
	from := int(b.sweepFrom.Add(1))
	for _, cascade := range [2]bool{false, true} {
		for k := range b.shards {
			i := (from + k) % len(b.shards)
			s := &b.shards[i]
			budget := cascadeStep
			for moved < max && budget > 0 {
				s.mu.Lock()
				b.outMu.Lock()
				steps := min(sweepStep, budget)
				n, did := b.sweepShard(s, b.tables[i].Load(), now, max-moved, steps, cascade)
				b.trimOutbox()
				b.outMu.Unlock()
				if n > 0 {
					s.tidy = true
				}
				s.mu.Unlock()
				moved += n
				if cascade {
					budget -= did
				}
				if did < steps {
					break // nothing more is due
				}
			}
		}
	}
	return moved, nil
}

// Tidy rebuilds smaller the tables of the shards that SweepDue expired keys
// from, once they are mostly empty and hold few keys (the rebuild of a
// table that still holds many waits until few are left).
func (b *Bucket[K, V]) Tidy() {
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		if s.tidy {
			s.tidy = false
			b.shrink(uint64(i), sweepStep)
		}
		s.mu.Unlock()
	}
}

// sweepShard moves up to max due entries of s to the outbox, and returns
// how many moved and how many keys it handled, at most steps. With cascade
// it files again the keys of the due buckets above level 0 (expiring those
// that are due themselves); without, it empties the due millisecond
// buckets. s.mu and b.outMu are held.
func (b *Bucket[K, V]) sweepShard(s *shard[K, V], tab *table[K, V], now int64, max, steps int, cascade bool) (moved, did int) {
	for ; moved < max && did < steps; did++ {
		slot, n, ok := s.timers.pop(now, cascade, tab)
		if !ok {
			break
		}
		if n.deadline > now {
			// Filed early: a bucket above level 0, or a deadline moved
			// later since.
			s.timers.file(slot, n, now)
			continue
		}
		// The node leaves the bucket, so its value needs no copy.
		b.outbox.push(expiredOf(n))
		tab.remove(slot)
		moved++
	}
	return moved, did
}

// Event is an expiry event with the hash of its key (Bucket.Hash).
type Event[K comparable, V any] struct {
	backend.Expired[K, V]
	Hash uint64
}

// expiredOf is the expiry event of n. Its ID is empty: the memory backend
// removes an event from its outbox when it hands it out, and it has
// nothing to acknowledge. Its Hash is filled in when it is handed out, off
// the locks the sweep holds.
func expiredOf[K comparable, V any](n *node[K, V]) Event[K, V] {
	return Event[K, V]{Expired: backend.Expired[K, V]{Key: n.key, Value: n.val, Deadline: n.deadline}}
}

// trimOutbox drops the oldest events past the retention. b.outMu is held.
func (b *Bucket[K, V]) trimOutbox() {
	if drop := b.outbox.len() - b.retention; drop > 0 {
		b.outbox.drop(drop)
		b.dropped.Add(uint64(drop))
	}
}

// outbox holds the events no consumer has taken yet, oldest first, in
// evs[head:]. Its array stays from one sweep to the next, so that a steady
// stream of expiries does not allocate one per batch.
type outbox[K comparable, V any] struct {
	evs  []Event[K, V]
	head int
}

// maxKeptOutbox is the most events an empty outbox keeps room for.
const maxKeptOutbox = 4096

func (o *outbox[K, V]) len() int { return len(o.evs) - o.head }

func (o *outbox[K, V]) push(e Event[K, V]) {
	if len(o.evs) == cap(o.evs) && o.head > 0 {
		// Reuse the room of the events taken before growing.
		n := copy(o.evs, o.evs[o.head:])
		clear(o.evs[n:])
		o.evs, o.head = o.evs[:n], 0
	}
	o.evs = append(o.evs, e)
}

// drop removes the n oldest events.
func (o *outbox[K, V]) drop(n int) {
	clear(o.evs[o.head : o.head+n])
	o.head += n
	if o.head == len(o.evs) {
		o.evs, o.head = o.evs[:0], 0
		if cap(o.evs) > maxKeptOutbox {
			o.evs = nil
		}
	}
}

// ClaimEvents is ClaimExpired for the store that owns the bucket: it
// appends up to max events to buf, with their keys' hashes, instead of
// allocating a slice for them.
func (b *Bucket[K, V]) ClaimEvents(max int, buf []Event[K, V]) ([]Event[K, V], error) {
	if b.closed.Load() {
		return buf, backend.ErrClosed
	}
	b.outMu.Lock()
	start := len(buf)
	n := min(max, b.outbox.len())
	buf = append(buf, b.outbox.evs[b.outbox.head:b.outbox.head+n]...)
	b.outbox.drop(n)
	b.outMu.Unlock()
	for i := start; i < len(buf); i++ {
		buf[i].Hash = b.Hash(buf[i].Key)
	}
	return buf, nil
}

// ClaimExpired removes the events it returns: a memory backend loses its
// outbox with the process anyway, so there is nothing to redeliver.
func (b *Bucket[K, V]) ClaimExpired(_ context.Context, _ int64, max int, _ time.Duration) ([]backend.Expired[K, V], error) {
	if b.closed.Load() {
		return nil, backend.ErrClosed
	}
	b.outMu.Lock()
	defer b.outMu.Unlock()
	n := min(max, b.outbox.len())
	if n == 0 {
		return nil, nil
	}
	out := make([]backend.Expired[K, V], n)
	for i := range out {
		out[i] = b.outbox.evs[b.outbox.head+i].Expired
	}
	b.outbox.drop(n)
	return out, nil
}

func (b *Bucket[K, V]) AckExpired(context.Context, []string) error { return nil }

// ExtendClaims has nothing to do: a claimed event left the outbox for good.
func (b *Bucket[K, V]) ExtendClaims(context.Context, []string, time.Duration, int64) error {
	return nil
}

func (b *Bucket[K, V]) DroppedExpired() uint64 { return b.dropped.Load() }

func (b *Bucket[K, V]) TryLock(_ context.Context, key K, owner string, leaseFor time.Duration, now int64) (uint64, bool, int64, error) {
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

func (b *Bucket[K, V]) Unlock(_ context.Context, key K, owner string, now int64) error {
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

func (b *Bucket[K, V]) ExtendLock(_ context.Context, key K, owner string, leaseFor time.Duration, now int64) error {
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
func (b *Bucket[K, V]) Close() error { return nil }

// Bucket opens a byte-valued bucket, so the memory backend also satisfies
// the byte contract of SQLite and Redis. Stores use it typed instead when
// given a *Backend; this path exists for tests of the byte path and for
// tools that work on any backend.
func (b *Backend) Bucket(_ context.Context, cfg backend.BucketConfig) (backend.Bucket[string, []byte], error) {
	bk, err := Open[string, []byte](b, cfg, Clones(cloneBytes))
	if err != nil {
		return nil, err
	}
	return bk, nil
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

package engine

import (
	"context"
	"slices"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
)

// GetMany returns the values of keys, in their order: Found is false for a
// key with no live value. Each key is read as Get reads it, and OnGet hooks
// fire for each key found; on SQLite and Redis the keys go in one round
// trip. A key that could not be read has an empty Lookup and its error in
// the returned *livedict.BatchError; the other keys' results stand.
func (s *Store[K, V]) GetMany(ctx context.Context, keys []K) ([]livedict.Lookup[V], error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	now := s.nowMs()
	if s.mem != nil {
		return s.getManyMem(ctx, keys, now)
	}
	reads, err := getMany(ctx, s.b, keys, now)
	if err != nil {
		return nil, err
	}
	out := make([]livedict.Lookup[V], len(keys))
	var failed map[K]error
	hs := s.table()
	var inline []call[K, V]
	var hits, misses uint64
	for i, r := range reads {
		switch {
		case r.Err != nil:
			failed = addFailure(failed, keys[i], r.Err)
		case !r.Found:
			misses++
		default:
			hits++
			out[i] = livedict.Lookup[V]{Value: r.Entry.Value, Found: true}
			if r.Entry.SlideDue(now) {
				var h uint64
				if s.mem != nil {
					h = s.mem.Hash(keys[i])
				}
				s.slide(ctx, keys[i], h, now)
			}
			if hs.has(kindGet) {
				inline = s.ev.emit(ctx, hs, kindGet, keys[i], s.hash(keys[i]), r.Entry.Value, true, inline)
			}
		}
	}
	s.st.addN(nHits, hits)
	s.st.addN(nMisses, misses)
	s.ev.runInline(ctx, inline)
	return out, batchError(failed)
}

// getManyMem is GetMany on the memory backend: each key read as Get reads
// it (one hash, the value copied once, a sliding key slid in the same
// lookup), with no per-key record in between; a batch of Gets then costs
// what the Gets do, less their calls.
func (s *Store[K, V]) getManyMem(ctx context.Context, keys []K, now int64) ([]livedict.Lookup[V], error) {
	out := make([]livedict.Lookup[V], len(keys))
	var failed map[K]error
	hs := s.table()
	var inline []call[K, V]
	var hits, misses uint64
	for i, k := range keys {
		h := s.mem.Hash(k)
		v, ok, err := s.mem.GetValue(k, h, now)
		switch {
		case err != nil:
			failed = addFailure(failed, k, err)
		case !ok:
			misses++
		default:
			hits++
			out[i] = livedict.Lookup[V]{Value: v, Found: true}
			if hs.has(kindGet) {
				inline = s.ev.emit(ctx, hs, kindGet, k, h, v, true, inline)
			}
		}
	}
	s.st.addN(nHits, hits)
	s.st.addN(nMisses, misses)
	s.ev.runInline(ctx, inline)
	return out, batchError(failed)
}

// SetMany sets each key of items to its value with opts, as Set would:
// each key on its own, not a transaction across keys. OnSet (and OnEvict,
// OnExpire for an expired entry a write displaced) fire per key as for
// Set. On SQLite the writes go in one transaction, on Redis in one round
// trip. A bad option fails the whole call before anything is written; keys
// whose write failed (ErrLimit, say) are in the returned
// *livedict.BatchError, and the others are written.
func (s *Store[K, V]) SetMany(ctx context.Context, items map[K]V, opts ...livedict.SetOption) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	now := s.now()
	// Every key's write is this one with its value: the options and the
	// time are the same for all, and so is whether they are valid.
	tmpl, err := s.write(*new(V), now, opts)
	if err != nil {
		return err
	}
	hs := s.table()
	if s.mem != nil && len(hs.byID) == 0 {
		// No hooks: no events to order or raise, so one pass over items.
		var failed map[K]error
		for k, v := range items {
			w := tmpl
			w.Value = v
			r, err := s.mem.PutHashed(k, s.mem.Hash(k), w, floorMs(now))
			s.afterWrite(w.Deadline, r, err)
			if err != nil {
				failed = addFailure(failed, k, err)
			}
		}
		return batchError(failed)
	}
	tmpl.ClaimDisplaced = displacedLease(hs)
	tmpl.WantPrev = hs.has(kindChange)
	ws := make([]backend.KeyWrite[K, V], 0, len(items))
	hashes := make([]uint64, 0, len(items))
	for k, v := range items {
		w := tmpl
		w.Value = v
		ws = append(ws, backend.KeyWrite[K, V]{Key: k, Write: w})
		hashes = append(hashes, s.hash(k))
	}
	release, err := s.ev.beginMany(ctx, hs, hashes)
	if err != nil {
		return err
	}
	var failed map[K]error
	var inline []call[K, V]
	written := func(i int, r backend.WriteResult[K, V], err error) {
		s.afterWrite(ws[i].Write.Deadline, r, err)
		if err != nil {
			failed = addFailure(failed, ws[i].Key, err)
		}
		if len(hs.byID) > 0 {
			inline = append(inline, s.ev.writeEvents(ctx, hs, ws[i].Key, hashes[i], items[ws[i].Key], r, err == nil)...)
		}
	}
	if s.mem != nil {
		// Memory writes of one key each, as Set makes them, with the hash
		// already taken: no result records to gather first.
		for i := range ws {
			r, err := s.mem.PutHashed(ws[i].Key, hashes[i], ws[i].Write, floorMs(now))
			written(i, r, err)
		}
	} else {
		res, err := putMany(ctx, s.b, ws, floorMs(now))
		if err != nil {
			release()
			return err
		}
		for i, r := range res {
			written(i, r.Result, r.Err)
		}
	}
	release()
	s.ev.runInline(ctx, inline)
	return batchError(failed)
}

// DeleteMany deletes keys, as Delete would, and reports for each, in their
// order, whether it held a live value; OnDelete fires for each deleted key.
// On SQLite the deletes go in one transaction, on Redis in one round trip.
// Keys whose delete failed are in the returned *livedict.BatchError.
func (s *Store[K, V]) DeleteMany(ctx context.Context, keys []K) ([]bool, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	hs := s.table()
	hashes := make([]uint64, len(keys))
	for i, k := range keys {
		hashes[i] = s.hash(k)
	}
	release, err := s.ev.beginMany(ctx, hs, hashes)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(keys))
	var failed map[K]error
	var inline []call[K, V]
	deleted := func(i int, e backend.Entry[V], found bool, err error) {
		if err != nil {
			failed = addFailure(failed, keys[i], err)
		}
		// A corrupt record is deleted with its error, as Delete reports it.
		out[i] = found
		if found && err == nil {
			s.st.deleted()
			inline = s.ev.emit(ctx, hs, kindDelete, keys[i], hashes[i], e.Value, false, inline)
		}
	}
	now := s.nowMs()
	if s.mem != nil {
		for i, k := range keys {
			e, found, err := s.mem.DeleteHashed(k, hashes[i], now)
			deleted(i, e, found, err)
		}
	} else {
		reads, err := deleteMany(ctx, s.b, keys, now)
		if err != nil {
			release()
			return nil, err
		}
		for i, r := range reads {
			deleted(i, r.Entry, r.Found, r.Err)
		}
	}
	release()
	s.ev.runInline(ctx, inline)
	return out, batchError(failed)
}

// beginMany is begin for a write of several keys: the sweep gate once,
// then the stripes of all the keys, in ascending order so that two batches
// never wait for each other in a cycle (a single-key write holds one).
func (o *eventOrder[K, V]) beginMany(ctx context.Context, hs *hookTable[K, V], hashes []uint64) (func(), error) {
	if len(hashes) == 1 {
		hd, err := o.begin(ctx, hs, hashes[0])
		if err != nil {
			return nil, err
		}
		return hd.release, nil
	}
	if hs.async == 0 && !hs.has(kindExpire) {
		return noop, nil
	}
	gate, err := o.enterGate(ctx, hs)
	if err != nil {
		return nil, err
	}
	afterSweep := held{gate: gate}.release
	if hs.async == 0 {
		return afterSweep, nil
	}
	idx := make([]uint64, len(hashes))
	for i, h := range hashes {
		idx[i] = h % uint64(len(o.stripes))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	stripes := make([]chan struct{}, 0, len(idx))
	releaseAll := func() {
		for _, c := range slices.Backward(stripes) {
			if c != nil {
				<-c
			}
		}
		afterSweep()
	}
	for _, i := range idx {
		c, err := o.lockStripe(ctx, i)
		if err != nil {
			releaseAll()
			return nil, err
		}
		stripes = append(stripes, c)
	}
	return releaseAll, nil
}

func addFailure[K comparable](m map[K]error, key K, err error) map[K]error {
	if m == nil {
		m = make(map[K]error)
	}
	m[key] = err
	return m
}

func batchError[K comparable](failed map[K]error) error {
	if len(failed) == 0 {
		return nil
	}
	return &livedict.BatchError[K]{Errs: failed}
}

// getMany, putMany and deleteMany use the bucket's Batcher, or the
// single-key methods one key at a time.
func getMany[K comparable, V any](ctx context.Context, b backend.Bucket[K, V], keys []K, now int64) ([]backend.Read[V], error) {
	if bb, ok := b.(backend.Batcher[K, V]); ok {
		return bb.GetMany(ctx, keys, now)
	}
	return eachKey(keys, func(k K) (backend.Entry[V], bool, error) { return b.Get(ctx, k, now) }), nil
}

func putMany[K comparable, V any](ctx context.Context, b backend.Bucket[K, V], ws []backend.KeyWrite[K, V], now int64) ([]backend.Written[K, V], error) {
	if bb, ok := b.(backend.Batcher[K, V]); ok {
		return bb.PutMany(ctx, ws, now)
	}
	out := make([]backend.Written[K, V], len(ws))
	for i, w := range ws {
		out[i].Result, out[i].Err = b.Put(ctx, w.Key, w.Write, now)
	}
	return out, nil
}

func deleteMany[K comparable, V any](ctx context.Context, b backend.Bucket[K, V], keys []K, now int64) ([]backend.Read[V], error) {
	if bb, ok := b.(backend.Batcher[K, V]); ok {
		return bb.DeleteMany(ctx, keys, now)
	}
	return eachKey(keys, func(k K) (backend.Entry[V], bool, error) { return b.Delete(ctx, k, now) }), nil
}

// eachKey runs a single-key read or delete for each key.
func eachKey[K comparable, V any](keys []K, op func(K) (backend.Entry[V], bool, error)) []backend.Read[V] {
	out := make([]backend.Read[V], len(keys))
	for i, k := range keys {
		out[i].Entry, out[i].Found, out[i].Err = op(k)
	}
	return out
}

package engine

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/memory"
	"github.com/livedict/livedict/sandbox"
)

// eventOrder is the one owner of the order of a store's hook events: it
// holds the sweep gate and the key stripes, hands events to the hook pool
// and acknowledges the expiry events whose hooks have run. Writes go
// through begin and writeEvents, the scheduler through sweep and
// deliverBacklog; both through flushAcks.
//
// What it guarantees: the events of one key reach the hook queue in the
// order of the writes that raised them (the pool runs one key's calls in
// queue order), and a key's OnExpire reaches it before the OnSet of a Set
// that follows the expiry, whether the scheduler swept the entry or the
// Set displaced it (see writeEvents). A write made with a hook call's
// context is the exception: it never waits for the locks below, as its
// Submits never wait for room, so its events may pass those of a write of
// the same key in progress (or be dropped on a full queue).
//
// Lock order. A goroutine holding one of these takes only those after it:
//
//  1. The sweep gate (gate). A write that raises events holds it shared
//     while an OnExpire hook is registered, from before its backend write
//     until its events are queued. The scheduler holds it exclusively
//     while an OnExpire hook listens, from before its first claim until
//     what it swept and claimed is queued. A write made with a hook call's
//     context does not take it: the scheduler, holding it, may be waiting
//     for room in that hook's queue.
//  2. A key stripe (stripes), taken after the gate by a write while
//     asynchronous hooks are registered, over the same span, so that two
//     writes of one key queue their events in the order of their backend
//     writes. A write of several keys (beginMany) takes their stripes in
//     ascending order, so batches never wait for each other in a cycle.
//     The scheduler takes none: the gate alone orders its events against
//     the writes. A write made with a hook call's context takes a stripe
//     only if it is free, and goes on without it otherwise: the holder may
//     be waiting, at 3, for room in the queue of that hook's worker.
//  3. A hook queue: sandbox.Pool.Submit, which waits for room under the
//     Block overflow policy (never from a hook call's context) while 1 and
//     2 are held.
//  4. ackMu, a leaf: taken by queueAck, which runs when the last call of an
//     expiry event finishes (on a pool worker, or on the goroutine whose
//     Submit dropped or skipped it), and by flushAcks around its slice
//     swaps. No backend call and no other lock is taken under it.
//
// Backend calls are made under 1 and 2 (a write's Put, the scheduler's
// claims and sweeps) and never under 4; AckExpired runs under none of them.
// Inline hook calls run after 1 and 2 are released (runInline), so they may
// call the store. Hook registration (hookMu) publishes a new table
// atomically and is not part of this order.
type eventOrder[K comparable, V any] struct {
	s    *Store[K, V] // the hook table, key strings and values, the bucket
	pool *sandbox.PoolOf[hookArg[K, V]]

	gate sweepGate
	// stripes order the events of one key: a write that raises events
	// holds its key's stripe from the backend write until its events are
	// queued, so events reach the hook queue in the order of the writes.
	stripes [64]chan struct{}

	// The scheduler's buffers (deliverBacklog): the expiry events it
	// claimed from a memory bucket, and the calls of a claimed batch,
	// queued to the pool in one step.
	events []memory.Event[K, V]
	batch  []queued[K, V]

	ackMu sync.Mutex
	acks  []string // expiry events whose hooks have all finished
	// claimed holds, on a shared backend, the expiry events this store
	// claimed and has not acknowledged: renewClaims extends their lease
	// until flushAcks has acknowledged them. Guarded by ackMu.
	claimed map[string]struct{}
	// claimedCh wakes renewClaims when claimed stops being empty.
	claimedCh chan struct{}
	renewStop chan struct{}
	renewDone sync.WaitGroup
}

func (o *eventOrder[K, V]) init(s *Store[K, V], pool *sandbox.PoolOf[hookArg[K, V]]) {
	o.s, o.pool = s, pool
	for i := range o.stripes {
		o.stripes[i] = make(chan struct{}, 1)
	}
}

// begin is called by a write that may raise events (hs is the hook table
// it raises them to, h its key's hash), before its backend write; the
// write releases what it returns once its events are queued. Without
// hooks there is nothing to order and it costs nothing. A write whose ctx
// ends while it waits fails with ctx's error.
func (o *eventOrder[K, V]) begin(ctx context.Context, hs *hookTable[K, V], h uint64) (held, error) {
	if hs.async == 0 && !hs.has(kindExpire) {
		return held{}, nil
	}
	gate, err := o.enterGate(ctx, hs)
	if err != nil || hs.async == 0 {
		return held{gate: gate}, err
	}
	stripe, err := o.lockStripe(ctx, h)
	if err != nil {
		held{gate: gate}.release()
		return held{}, err
	}
	return held{gate: gate, stripe: stripe}, nil
}

// held is what a write holds of the order from begin until its events are
// queued: the sweep gate, its key's stripe, both or neither. A value, so
// that a write raising events allocates nothing to hold them.
type held struct {
	gate   *sweepGate    // nil: not entered
	stripe chan struct{} // nil: not taken
}

// release lets go of what the write held.
func (h held) release() {
	if h.stripe != nil {
		<-h.stripe
	}
	if h.gate != nil {
		h.gate.leave()
	}
}

func noop() {}

// enterGate passes the sweep gate for a write raising events to hs, and
// returns it, for the write to leave; nil when the write need not enter.
func (o *eventOrder[K, V]) enterGate(ctx context.Context, hs *hookTable[K, V]) (*sweepGate, error) {
	if !hs.has(kindExpire) || sandbox.InHook(ctx) {
		return nil, nil
	}
	// Wait for a sweep in progress to queue what it swept, so that a key
	// set again right after its sweep raises OnSet after OnExpire.
	if err := o.gate.enter(ctx); err != nil {
		return nil, err
	}
	return &o.gate, nil
}

// lockStripe takes the ordering stripe of key hash h, as long as ctx
// allows, and returns it, for the write to release (receive from); nil
// when it went on without. A write from a hook call's context takes it
// only if it is free: its holder may be waiting for room in the queue of
// that very hook's worker, which would wait in turn for the hook to
// return.
func (o *eventOrder[K, V]) lockStripe(ctx context.Context, h uint64) (chan struct{}, error) {
	c := o.stripes[h%uint64(len(o.stripes))]
	select {
	case c <- struct{}{}:
		return c, nil
	default:
	}
	if sandbox.InHook(ctx) {
		return nil, nil
	}
	select {
	case c <- struct{}{}:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// displacedLease is the Write.ClaimDisplaced of a write raising events to
// hs: while OnExpire hooks listen, the write claims the expired entry it
// may displace, for writeEvents to deliver that one event; with none, the
// event stays in the outbox for the first hook.
func displacedLease[K comparable, V any](hs *hookTable[K, V]) time.Duration {
	if hs.has(kindExpire) {
		return claimLease
	}
	return 0
}

// writeEvents queues the events of a Put of v under key (hash h) with
// result res, and returns the inline hook calls to run once begin's lock is
// released. stored is false when the Put failed (a conflict, the limit):
// it raises no OnSet, but an expired entry it displaced before failing is
// still delivered. That displaced entry's expiry goes first, by the
// writer: its OnExpire precedes the OnSet of the new value, and the rest of
// the outbox stays with the scheduler.
func (o *eventOrder[K, V]) writeEvents(ctx context.Context, hs *hookTable[K, V], key K, h uint64, v V, res backend.WriteResult[K, V], stored bool) []call[K, V] {
	var inline []call[K, V]
	if res.Displaced != nil {
		inline = o.expired(ctx, hs, *res.Displaced, h, inline, nil)
	}
	if !stored {
		return inline
	}
	for _, ev := range res.Evicted {
		inline = o.emit(ctx, hs, kindEvict, ev.Key, o.s.hash(ev.Key), ev.Entry.Value, false, inline)
	}
	inline = o.emit(ctx, hs, kindSet, key, h, v, true, inline)
	if hs.has(kindChange) {
		inline = o.emitChange(ctx, hs, key, h, v, res, inline)
	}
	return inline
}

// emitChange raises the OnChange event of a write of v that stored it with
// result res (asked for the previous entry, Write.WantPrev). Each hook gets
// copies of its own: v is the caller's, the previous value the backend's.
func (o *eventOrder[K, V]) emitChange(ctx context.Context, hs *hookTable[K, V], key K, h uint64, v V, res backend.WriteResult[K, V], inline []call[K, V]) []call[K, V] {
	s := o.s
	scoped := hs.scoped[kindChange][key]
	global := hs.global[kindChange]
	left := len(scoped) + len(global)
	for _, list := range [2][]*hook[K, V]{scoped, global} {
		for _, hk := range list {
			left--
			ch := &livedict.Change[V]{Value: s.hookValue(v, true, left), Existed: res.Existed}
			if res.Existed {
				ch.Prev = s.hookValue(res.Prev.Value, false, left)
			}
			inline = o.dispatch(ctx, hk, h, call[K, V]{Hook: hk.sb, Fn: hk.run, Arg: hookArg[K, V]{key: key, change: ch}}, inline)
		}
	}
	return inline
}

// sweep excludes writes that raise events while the scheduler sweeps and
// delivers what it swept; it returns the release function. With no
// OnExpire hook listening there is no expiry to order and it costs
// nothing.
func (o *eventOrder[K, V]) sweep(listening bool) func() {
	if !listening {
		return noop
	}
	o.gate.sweep()
	return o.gate.done
}

// deliverBacklog claims outbox events, queues them to the asynchronous
// OnExpire hooks and returns the inline calls appended to inline. With no
// OnExpire hook registered it leaves the outbox alone: events wait for the
// first hook, up to the retention limit. Only the scheduler calls it.
func (o *eventOrder[K, V]) deliverBacklog(ctx context.Context, inline []call[K, V]) []call[K, V] {
	s := o.s
	for {
		hs := s.table()
		if !hs.has(kindExpire) {
			return inline
		}
		n, err := o.claim(ctx, hs, &inline)
		o.pool.SubmitBatch(ctx, o.batch)
		clear(o.batch)
		o.batch = o.batch[:0]
		if err != nil {
			if ctx.Err() == nil {
				s.sched.failed = true
				s.log.Error("livedict: claiming expiry events failed", "err", err)
			}
			return inline
		}
		if n < claimBatch {
			return inline
		}
	}
}

// claim claims a batch of outbox events and makes their calls: the
// asynchronous ones in o.batch, the inline ones appended to *inline. It
// returns how many events it claimed. A memory bucket hands them over in
// the scheduler's buffer, with their keys' hashes.
func (o *eventOrder[K, V]) claim(ctx context.Context, hs *hookTable[K, V], inline *[]call[K, V]) (int, error) {
	s := o.s
	if s.mem != nil {
		evs, err := s.mem.ClaimEvents(claimBatch, o.events[:0])
		for i := range evs {
			*inline = o.expired(ctx, hs, evs[i].Expired, evs[i].Hash, *inline, &o.batch)
		}
		clear(evs)
		o.events = evs[:0]
		return len(evs), err
	}
	evs, err := s.b.ClaimExpired(ctx, s.nowMs(), claimBatch, claimLease)
	for _, ev := range evs {
		*inline = o.expired(ctx, hs, ev, s.hash(ev.Key), *inline, &o.batch)
	}
	return len(evs), err
}

// expired queues one claimed expiry event to its hooks and, when it has an
// ID, acknowledges it once every call has finished, failed or been
// skipped: a crash before that leaves the event in a durable outbox, to be
// delivered again. An event without an ID (the memory backend's) needs no
// acknowledgement, and its calls no completion callback. With a non-nil
// batch the asynchronous calls are appended to it instead of being
// queued, for the caller to queue with the rest of its batch.
func (o *eventOrder[K, V]) expired(ctx context.Context, hs *hookTable[K, V], ev backend.Expired[K, V], h uint64, inline []call[K, V], batch *[]queued[K, V]) []call[K, V] {
	s := o.s
	scoped := hs.scoped[kindExpire][ev.Key]
	global := hs.global[kindExpire]
	var done func()
	if ev.ID != "" {
		o.track(ev.ID)
		pending := &atomic.Int32{}
		pending.Store(int32(len(scoped) + len(global) + 1))
		done = func() {
			if pending.Add(-1) == 0 {
				o.queueAck(ev.ID)
			}
		}
	}
	left := len(scoped) + len(global)
	for _, list := range [2][]*hook[K, V]{scoped, global} {
		for _, hk := range list {
			left--
			c := call[K, V]{Hook: hk.sb, Fn: hk.run, Arg: hookArg[K, V]{key: ev.Key, v: s.hookValue(ev.Value, false, left)}, Done: done}
			if batch != nil && !hk.inline {
				*batch = append(*batch, queued[K, V]{Shard: h, Call: c})
				continue
			}
			inline = o.dispatch(ctx, hk, h, c, inline)
		}
	}
	if done != nil {
		done()
	}
	return inline
}

// emit raises one event: it queues the calls of the asynchronous hooks and
// returns the inline ones, appended to inline. Key-scoped hooks come first.
// copyValue says whether v is shared with the caller, so that even the
// first hook needs a copy.
func (o *eventOrder[K, V]) emit(ctx context.Context, hs *hookTable[K, V], k kind, key K, h uint64, v V, copyValue bool, inline []call[K, V]) []call[K, V] {
	scoped := hs.scoped[k][key]
	global := hs.global[k]
	if len(scoped)+len(global) == 0 {
		return inline
	}
	s := o.s
	left := len(scoped) + len(global)
	for _, list := range [2][]*hook[K, V]{scoped, global} {
		for _, hk := range list {
			left--
			inline = o.dispatch(ctx, hk, h, call[K, V]{Hook: hk.sb, Fn: hk.run, Arg: hookArg[K, V]{key: key, v: s.hookValue(v, copyValue, left)}}, inline)
		}
	}
	return inline
}

// dispatch queues c on the pool shard of key hash h, or appends it to
// inline for an inline hook. Failures to queue (a full queue with Drop, a
// closed pool, a ctx that ended while waiting for room) are counted and
// reported by the pool; they never fail the operation that raised the
// event.
func (o *eventOrder[K, V]) dispatch(ctx context.Context, hk *hook[K, V], h uint64, c call[K, V], inline []call[K, V]) []call[K, V] {
	if hk.inline {
		return append(inline, c)
	}
	_ = o.pool.Submit(ctx, h, c)
	return inline
}

// runInline runs inline hook calls on the caller's goroutine, with no lock
// of the order held.
func (o *eventOrder[K, V]) runInline(ctx context.Context, calls []call[K, V]) {
	for _, c := range calls {
		o.pool.RunInline(ctx, c)
	}
}

// queueAck records that the hooks of expiry event id have all finished; the
// scheduler's next flushAcks acknowledges it.
func (o *eventOrder[K, V]) queueAck(id string) {
	o.ackMu.Lock()
	o.acks = append(o.acks, id)
	o.ackMu.Unlock()
	if o.s.poll > 0 {
		o.s.sched.kick()
	}
}

// flushAcks acknowledges the queued events to the backend. The scheduler
// calls it after each round, Close once more at the end.
func (o *eventOrder[K, V]) flushAcks(ctx context.Context) {
	o.ackMu.Lock()
	ids := o.acks
	o.acks = nil
	o.ackMu.Unlock()
	if len(ids) == 0 {
		return
	}
	err := o.s.b.AckExpired(ctx, ids)
	if err == nil && o.claimed != nil {
		o.ackMu.Lock()
		for _, id := range ids {
			delete(o.claimed, id)
		}
		o.ackMu.Unlock()
	}
	if err != nil {
		// Keep them for the next flush (Close flushes once more, with a
		// context of its own): an event left unacknowledged is delivered
		// again after its lease, at-least-once but twice.
		o.ackMu.Lock()
		o.acks = append(ids, o.acks...)
		o.ackMu.Unlock()
		if ctx.Err() == nil {
			o.s.sched.failed = true
			o.s.log.Warn("livedict: acknowledging expiry events failed", "err", err, "events", len(ids))
		}
	}
}

// track records a claimed expiry event of a shared backend, for
// renewClaims; the memory backend hands no event out twice, and needs none.
func (o *eventOrder[K, V]) track(id string) {
	if o.claimed == nil {
		return
	}
	o.ackMu.Lock()
	first := len(o.claimed) == 0
	o.claimed[id] = struct{}{}
	o.ackMu.Unlock()
	if first {
		select {
		case o.claimedCh <- struct{}{}:
		default:
		}
	}
}

// startRenewing starts renewClaims, for a store on a shared backend.
func (o *eventOrder[K, V]) startRenewing(log *slog.Logger) {
	o.claimed = make(map[string]struct{})
	o.claimedCh = make(chan struct{}, 1)
	o.renewStop = make(chan struct{})
	ctx, cancel := context.WithCancel(backend.WithLogger(context.Background(), log))
	o.renewDone.Add(1)
	go func() {
		defer o.renewDone.Done()
		defer cancel()
		o.renewClaims(ctx)
	}()
}

// stopRenewing stops renewClaims. Close calls it once the hooks have run,
// so that events stay claimed while their last hooks finish.
func (o *eventOrder[K, V]) stopRenewing() {
	if o.renewStop == nil {
		return
	}
	close(o.renewStop)
	o.renewDone.Wait()
}

// renewClaims extends the lease of the store's unacknowledged expiry
// events every claimRenew while there are any, so that a live process
// keeps them however long its hooks run and a dead one loses them after
// claimLease. It runs apart from the scheduler, whose rounds an inline hook
// or a slow sweep may hold up; with nothing claimed it sleeps until woken.
// Its timer is a real one even under a test clock: a lease may run on a
// clock the store does not own (Redis counts a claim's idle time itself).
func (o *eventOrder[K, V]) renewClaims(ctx context.Context) {
	s := o.s
	t := time.NewTimer(claimRenew)
	t.Stop()
	defer t.Stop()
	failing := false
	for {
		select {
		case <-o.renewStop:
			return
		case <-o.claimedCh:
		}
		for {
			t.Reset(claimRenew)
			select {
			case <-o.renewStop:
				return
			case <-t.C:
			}
			o.ackMu.Lock()
			ids := make([]string, 0, len(o.claimed))
			for id := range o.claimed {
				ids = append(ids, id)
			}
			o.ackMu.Unlock()
			if len(ids) == 0 {
				break
			}
			err := s.b.ExtendClaims(ctx, ids, claimLease, s.nowMs())
			switch {
			case err != nil && ctx.Err() == nil && !failing:
				failing = true
				s.log.Warn("livedict: renewing the claim of expiry events failed; another process may deliver them again once their lease ends",
					"err", err, "events", len(ids))
			case err == nil && failing:
				failing = false
				s.log.Info("livedict: renewing the claim of expiry events works again")
			}
		}
	}
}

package engine

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/clock"
	"github.com/livedict/livedict/sandbox"
)

const (
	sweepBatch = 1024
	claimBatch = 256
	// claimLease is how long a claimed expiry event stays with this process
	// before another may deliver it again: longer than any sane hook.
	claimLease = 5 * time.Minute
)

// scheduler is a store's one expiry goroutine. It sleeps until the earliest
// deadline the backend knows (or, for a backend shared with other
// processes, at most the backend's poll interval), sweeps what is due into
// the outbox, and hands the outbox to the OnExpire hooks. With nothing due
// and nothing to poll it waits on its wake channel alone: no ticker.
type scheduler struct {
	wakeCh   chan struct{}
	stopCh   chan struct{}
	done     sync.WaitGroup
	nextWake atomic.Int64 // the deadline it sleeps toward; 0 while awake
	// ctx ends when the store closes, cutting short backend I/O.
	ctx    context.Context
	cancel context.CancelFunc

	ackMu sync.Mutex
	acks  []string
}

func (sc *scheduler) start(s interface{ schedule() }) {
	sc.wakeCh = make(chan struct{}, 1)
	sc.stopCh = make(chan struct{})
	sc.ctx, sc.cancel = context.WithCancel(context.Background())
	sc.done.Add(1)
	go func() {
		defer sc.done.Done()
		s.schedule()
	}()
}

// kick wakes the scheduler.
func (sc *scheduler) kick() {
	select {
	case sc.wakeCh <- struct{}{}:
	default:
	}
}

// deadline wakes the scheduler if d comes before the deadline it sleeps
// toward. While it is awake, nextWake is 0 and any new deadline wakes it, so
// none is missed between its look at the backend and its sleep.
func (sc *scheduler) deadline(d int64) {
	if d < sc.nextWake.Load() || sc.nextWake.Load() == 0 {
		sc.kick()
	}
}

func (sc *scheduler) stop() {
	sc.cancel()
	close(sc.stopCh)
	sc.done.Wait()
}

// armUntil arms t (a new timer when nil) to fire when clk reaches until.
// The clock may move between reading it and arming the timer (a fake clock
// in a test, a preempted goroutine), and the timer would then fire that much
// late; so it is armed again until two readings around the arming agree to
// the millisecond.
func armUntil(clk clock.Clock, t clock.Timer, until time.Time) clock.Timer {
	for range 8 {
		before := clk.Now()
		d := max(until.Sub(before), 0)
		if t == nil {
			t = clk.NewTimer(d)
		} else {
			t.Reset(d)
		}
		if clk.Now().Sub(before) < time.Millisecond {
			break
		}
	}
	return t
}

func (s *Store[K, V]) schedule() {
	sc := &s.sched
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	ctx := sc.ctx
	for {
		sc.nextWake.Store(0)
		select {
		case <-sc.wakeCh:
		default:
		}
		// While OnExpire hooks listen, a sweep and the delivery of what it
		// swept exclude writers (see orderAfterSweep), so that a key set
		// again right after its sweep raises OnSet after its OnExpire.
		listening := s.table().has(kindExpire)
		if listening {
			s.gate.sweep()
		}
		now := s.nowMs()
		// While a hook listens, each swept batch is delivered (claimed)
		// before the next is swept, and a batch is never larger than the
		// retention: the retention bounds events that wait for a listener,
		// and a large backlog must not push out events a listener is about
		// to take. A full hook queue then slows the sweep instead.
		batch := sweepBatch
		var inline []call
		if listening {
			batch = min(batch, s.retention)
			// Events that waited for a listener go first, before a sweep
			// adds to them.
			inline = s.deliverExpired(ctx, inline)
		}
		for {
			n, err := s.b.SweepExpired(ctx, now, batch)
			if err != nil {
				// A backend that just failed is not asked again while
				// writers wait at the gate; the next wake tries both.
				if ctx.Err() == nil {
					s.log.Error("livedict: expiry sweep failed", "err", err)
				}
				break
			}
			s.st.expired.Add(uint64(n))
			inline = s.deliverExpired(ctx, inline)
			if n < batch {
				break
			}
		}
		if listening {
			s.gate.done()
		}
		// Inline OnExpire hooks run on the scheduler, but outside the
		// sweep's exclusion: they may write to the store.
		s.runInline(ctx, inline)
		s.flushAcks(ctx)

		// Sleep until the next deadline, or for a backend that other
		// processes write to, at most one poll interval; with neither,
		// until woken.
		var until time.Time
		next, ok, err := s.b.NextDeadline(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("livedict: reading the next deadline failed", "err", err)
		}
		if ok {
			until = time.UnixMilli(next)
			sc.nextWake.Store(next)
		} else {
			sc.nextWake.Store(math.MaxInt64)
		}
		if s.poll > 0 {
			if p := s.clk.Now().Add(s.poll); !ok || p.Before(until) {
				until = p
			}
		}
		var tick <-chan time.Time
		if !until.IsZero() {
			timer = armUntil(s.clk, timer, until)
			tick = timer.C()
		}
		select {
		case <-sc.stopCh:
			return
		case <-sc.wakeCh:
		case <-tick:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// orderAfterSweep makes a write that raises events wait for a sweep in
// progress to deliver what it swept, and returns the release function. A
// write from inside a hook does not wait: the sweep may itself be waiting
// for that hook's queue. A write whose ctx ends while it waits fails with
// ctx's error.
func (s *Store[K, V]) orderAfterSweep(ctx context.Context, hs *hookTable[K, V]) (func(), error) {
	if !hs.has(kindExpire) || sandbox.InHook(ctx) {
		return noop, nil
	}
	if err := s.gate.enter(ctx); err != nil {
		return nil, err
	}
	return s.gate.leave, nil
}

// deliverExpired claims outbox events, queues them to the asynchronous
// OnExpire hooks and returns the inline calls appended to inline. With no
// OnExpire hook registered it leaves the outbox alone: events wait for the
// first hook, up to the retention limit.
func (s *Store[K, V]) deliverExpired(ctx context.Context, inline []call) []call {
	for {
		hs := s.table()
		if !hs.has(kindExpire) {
			return inline
		}
		evs, err := s.b.ClaimExpired(ctx, s.nowMs(), claimBatch, claimLease)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("livedict: claiming expiry events failed", "err", err)
			}
			return inline
		}
		for _, ev := range evs {
			inline = s.emitExpired(ctx, hs, ev, inline)
		}
		if len(evs) < claimBatch {
			return inline
		}
	}
}

// emitExpired queues one expiry to its hooks and acknowledges it once every
// call has finished, failed or been skipped: a crash before that leaves the
// event in a durable outbox, to be delivered again.
func (s *Store[K, V]) emitExpired(ctx context.Context, hs *hookTable[K, V], ev backend.Expired[K, V], inline []call) []call {
	scoped := hs.scoped[kindExpire][ev.Key]
	global := hs.global[kindExpire]
	pending := &atomic.Int32{}
	pending.Store(int32(len(scoped) + len(global) + 1))
	done := func() {
		if pending.Add(-1) == 0 {
			s.queueAck(ev.ID)
		}
	}
	ks := s.keyString(ev.Key)
	h := s.hash(ev.Key)
	left := len(scoped) + len(global)
	for _, list := range [2][]*hook[K, V]{scoped, global} {
		for _, hk := range list {
			left--
			c := sandbox.Call{Hook: hk.sb, Key: ks, Fn: bind(hk.fn, ev.Key, s.hookValue(ev.Value, false, left)), Done: done}
			inline = s.dispatch(ctx, hk, h, c, inline)
		}
	}
	done()
	return inline
}

func (s *Store[K, V]) queueAck(id string) {
	s.sched.ackMu.Lock()
	s.sched.acks = append(s.sched.acks, id)
	s.sched.ackMu.Unlock()
	if s.poll > 0 {
		s.sched.kick()
	}
}

func (s *Store[K, V]) flushAcks(ctx context.Context) {
	s.sched.ackMu.Lock()
	ids := s.sched.acks
	s.sched.acks = nil
	s.sched.ackMu.Unlock()
	if len(ids) == 0 {
		return
	}
	if err := s.b.AckExpired(ctx, ids); err != nil {
		// Keep them for the next flush (Close flushes once more, with a
		// context of its own): an event left unacknowledged is delivered
		// again after its lease, at-least-once but twice.
		s.sched.ackMu.Lock()
		s.sched.acks = append(ids, s.sched.acks...)
		s.sched.ackMu.Unlock()
		if ctx.Err() == nil {
			s.log.Warn("livedict: acknowledging expiry events failed", "err", err, "events", len(ids))
		}
	}
}

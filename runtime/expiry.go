package runtime

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
			s.expiryMu.Lock()
		}
		now := s.nowMs()
		for {
			n, err := s.b.SweepExpired(ctx, now, sweepBatch)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("livedict: expiry sweep failed", "err", err)
				}
				break
			}
			s.st.expired.Add(uint64(n))
			if n < sweepBatch {
				break
			}
		}
		s.deliverExpired(ctx)
		if listening {
			s.expiryMu.Unlock()
		}
		s.flushAcks(ctx)

		wait := time.Duration(-1) // no deadline known: sleep until woken
		next, ok, err := s.b.NextDeadline(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("livedict: reading the next deadline failed", "err", err)
		}
		if ok {
			wait = max(time.UnixMilli(next).Sub(s.clk.Now()), 0)
			sc.nextWake.Store(next)
		} else {
			sc.nextWake.Store(math.MaxInt64)
		}
		if s.poll > 0 && (wait < 0 || wait > s.poll) {
			wait = s.poll
		}
		var tick <-chan time.Time
		if wait >= 0 {
			if timer == nil {
				timer = s.clk.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			tick = timer.C()
			// The clock may have moved between reading it and arming the
			// timer (a fake clock in tests, a preempted goroutine): the
			// timer then fires late, so look again now that it is armed.
			if ok && s.nowMs() >= next {
				timer.Stop()
				continue
			}
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
// progress to deliver what it swept, and returns the release function (nil
// when there is nothing to order against). A write from inside a hook does
// not wait: the sweep may itself be waiting for that hook's queue.
func (s *Store[K, V]) orderAfterSweep(ctx context.Context, hs *hookTable[K, V]) func() {
	if !hs.has(kindExpire) || sandbox.InHook(ctx) {
		return nil
	}
	s.expiryMu.RLock()
	return s.expiryMu.RUnlock
}

// deliverExpired claims outbox events and queues them to the OnExpire hooks.
// With no OnExpire hook registered it leaves the outbox alone: events wait
// for the first hook, up to the retention limit.
func (s *Store[K, V]) deliverExpired(ctx context.Context) {
	for {
		hs := s.table()
		if !hs.has(kindExpire) {
			return
		}
		evs, err := s.b.ClaimExpired(ctx, s.nowMs(), claimBatch, claimLease)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("livedict: claiming expiry events failed", "err", err)
			}
			return
		}
		for _, ev := range evs {
			s.emitExpired(ctx, hs, ev)
		}
		if len(evs) < claimBatch {
			return
		}
	}
}

// emitExpired queues one expiry to its hooks and acknowledges it once every
// call has finished, failed or been skipped: a crash before that leaves the
// event in a durable outbox, to be delivered again.
func (s *Store[K, V]) emitExpired(ctx context.Context, hs *hookTable[K, V], ev backend.Expired[K, V]) {
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
			// An inline OnExpire hook runs on the scheduler: there is no
			// caller to run it before.
			s.runInline(ctx, s.dispatch(ctx, hk, h, c, nil))
		}
	}
	done()
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
		// Unacknowledged events are delivered again after their lease:
		// at-least-once, never lost.
		s.log.Warn("livedict: acknowledging expiry events failed", "err", err, "events", len(ids))
	}
}

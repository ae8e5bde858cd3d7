package engine

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedict/livedict/clock"
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
		// swept exclude writers (see eventOrder), so that a key set again
		// right after its sweep raises OnSet after its OnExpire.
		listening := s.table().has(kindExpire)
		release := s.ev.sweep(listening)
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
			inline = s.ev.deliverBacklog(ctx, inline)
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
			inline = s.ev.deliverBacklog(ctx, inline)
			if n < batch {
				break
			}
		}
		release()
		// Inline OnExpire hooks run on the scheduler, but outside the
		// sweep's exclusion: they may write to the store.
		s.ev.runInline(ctx, inline)
		s.ev.flushAcks(ctx)

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

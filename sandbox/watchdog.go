package sandbox

import (
	"context"
	"time"
)

// The watchdog is one goroutine per pool that times out calls. It sleeps on
// a single timer set to the earliest deadline among the calls it saw running,
// and rescans the shards (a handful of atomic loads) when it wakes up.
//
// A call that starts after a scan must not go unnoticed. The protocol: the
// worker publishes the call in shard.cur, then reads nextWake; the watchdog
// clears nextWake, then scans, then stores its next wake-up time. So a worker
// either reads the cleared value (and kicks), or reads a time set after a
// scan that may have missed the call: if that time is later than the call's
// deadline it kicks, otherwise the watchdog will look again in time anyway.
// Go's atomics are sequentially consistent, which is what this relies on.
//
// When a scan finds nothing running right after a kick, the calls are
// finishing faster than the watchdog gets to look. Rather than being kicked by
// every call of a steady stream, it then stays awake for one shortest hook
// timeout, which calls starting meanwhile need no kick for; it goes back to
// sleep after a timer wake-up that finds nothing running.

// watch makes sure the watchdog looks at t, which the worker has just
// published in shard.cur, by t's deadline.
func (p *Pool) watch(t *task) {
	if d := int64(t.call.Hook.timeout); d < p.minTimeout.Load() {
		p.lowerMinTimeout(d)
	}
	next := p.nextWake.Load()
	if next == 0 || p.mono(t.ctx.deadline) < next {
		select {
		case p.kick <- struct{}{}:
		default: // a kick is already pending
		}
	}
}

func (p *Pool) lowerMinTimeout(d int64) {
	for {
		cur := p.minTimeout.Load()
		if d >= cur || p.minTimeout.CompareAndSwap(cur, d) {
			return
		}
	}
}

// mono converts t to nanoseconds since the pool's epoch, plus one so that
// it is never 0 (nextWake's "asleep"). Sub uses the monotonic clock.
func (p *Pool) mono(t time.Time) int64 {
	return int64(t.Sub(p.epoch)) + 1
}

func (p *Pool) watchdog() {
	defer close(p.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		kicked := false
		select {
		case <-p.stop:
			return
		case <-p.kick:
			kicked = true
		case <-timer.C:
		}

		p.nextWake.Store(0) // calls starting during the scan kick again
		now := time.Now()
		var next time.Time
		for _, s := range p.shards {
			t := s.cur.Load()
			if t == nil || t.state.Load() != running {
				continue
			}
			if !now.Before(t.ctx.deadline) {
				p.expire(s, t)
				continue
			}
			if next.IsZero() || t.ctx.deadline.Before(next) {
				next = t.ctx.deadline
			}
		}
		if next.IsZero() && kicked {
			next = now.Add(time.Duration(p.minTimeout.Load()))
		}
		if next.IsZero() {
			timer.Stop()
			continue
		}
		p.nextWake.Store(p.mono(next))
		timer.Reset(next.Sub(now)) // Go >= 1.23 timers: no stale tick to drain
	}
}

// expire times out t, the call s's worker is running, unless it returns
// just in time: t's worker goroutine becomes a runaway and s gets a new one.
// The failures are reported by the new worker, not here, so that a slow
// OnFailure cannot delay other timeouts.
func (p *Pool) expire(s *shard, t *task) {
	// Count the runaway before the CAS: once the CAS succeeds it may return
	// and uncount itself at any moment, and Runaway must not go negative.
	p.runaway.Add(1)
	if !t.state.CompareAndSwap(running, timedOut) {
		p.runaway.Add(-1)
		return
	}
	s.cur.CompareAndSwap(t, nil)
	t.ctx.cancel(context.DeadlineExceeded)
	t.call.finish()
	p.replaceWorker(s, p.failed(t.call, FailTimeout, timeoutError(t.call.Hook)))
}

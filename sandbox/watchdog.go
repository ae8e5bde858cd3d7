package sandbox

import (
	"time"
)

// The watchdog is one goroutine per pool that times out calls. It sleeps on
// a single timer set to the earliest deadline among the calls it saw running,
// and rescans the shards (a handful of atomic loads) when it wakes up.
//
// A call that starts after a scan must not go unnoticed. The protocol: the
// worker publishes the call in its task (the task in shard.cur, the call's
// deadline and then its generation in the task's state), then reads
// nextWake; the watchdog
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

// watch makes sure the watchdog looks, by its deadline, at the call with
// that timeout that the worker has just published in its task.
func (p *PoolOf[A]) watch(timeout time.Duration, deadline int64) {
	if d := int64(timeout); d < p.minTimeout.Load() {
		p.lowerMinTimeout(d)
	}
	next := p.nextWake.Load()
	if next == 0 || deadline < next {
		select {
		case p.kick <- struct{}{}:
		default: // a kick is already pending
		}
	}
}

func (p *PoolOf[A]) lowerMinTimeout(d int64) {
	for {
		cur := p.minTimeout.Load()
		if d >= cur || p.minTimeout.CompareAndSwap(cur, d) {
			return
		}
	}
}

// epoch is the origin of the pools' times: nanoseconds on the monotonic
// clock, which the watchdog and timeouts count in. A hook's ctx.Deadline is
// its call's start plus its timeout, as a time.Time with a monotonic
// reading.
var epoch = time.Now()

// now is the time since epoch, read from the monotonic clock alone
// (time.Now reads the wall clock too). A call's deadline is after epoch by
// at least its timeout, so never 0 (nextWake's "when kicked").
func now() int64 { return int64(time.Since(epoch)) }

func (p *PoolOf[A]) watchdog() {
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
		now := now()
		var next int64 // 0: none
		for _, s := range p.shards {
			t := s.cur.Load()
			if t == nil {
				continue
			}
			st := t.state.Load()
			if st&statusMask != running {
				continue
			}
			// The deadline may be that of a later call already: expire
			// then finds the generation gone, and that call kicked.
			d := t.deadline.Load()
			if now >= d {
				p.expire(s, t, st)
				continue
			}
			if next == 0 || d < next {
				next = d
			}
		}
		if next == 0 && kicked {
			next = now + p.minTimeout.Load()
		}
		if next == 0 {
			timer.Stop()
			continue
		}
		p.nextWake.Store(next)
		timer.Reset(time.Duration(next - now)) // Go >= 1.23 timers: no stale tick to drain
	}
}

// expire times out the call of t, s's worker's task, in the generation
// of state st, unless it returns just in time: t's worker goroutine becomes
// a runaway and s gets a new one. The failures are reported by the new
// worker, not here, so that a slow OnFailure cannot delay other timeouts.
func (p *PoolOf[A]) expire(s *shard[A], t *task[A], st uint64) {
	// Count the runaway before the CAS: once the CAS succeeds it may return
	// and uncount itself at any moment, and Runaway must not go negative.
	p.runaway.Add(1)
	if !t.state.CompareAndSwap(st, st&^statusMask|timedOut) {
		p.runaway.Add(-1)
		return
	}
	s.cur.CompareAndSwap(t, nil)
	t.ctx.cancel(deadlineExceeded)
	t.call.finish()
	p.replaceWorker(s, p.failed(&t.call, FailTimeout, timeoutError(t.call.Hook)))
}

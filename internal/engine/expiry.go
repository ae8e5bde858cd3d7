package engine

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/clock"
)

const (
	sweepBatch = 1024
	claimBatch = 256
	// claimLease is how long an expiry event a store claimed from a shared
	// backend stays with it without a renewal. While the process lives it
	// renews its unacknowledged events every claimRenew (renewClaims),
	// however long their hooks run; once it dies (a crash, SIGKILL), or
	// cannot reach the backend for claimLease, another process may take
	// them over.
	claimLease = 3 * time.Second
	claimRenew = time.Second
	// A round of the scheduler that failed (a sweep, a claim, an ack or the
	// look at the next deadline) is retried after minBackoff, doubling with
	// each failed round up to maxBackoff; a round without failure resets it.
	minBackoff = 10 * time.Millisecond
	maxBackoff = 5 * time.Second
	// maxCorruptSeen bounds the keys a store remembers having reported as
	// unreadable (see Store.reportCorrupt).
	maxCorruptSeen = 4096
)

// retryAfter is the wait after the n-th failed round in a row (n >= 1).
func retryAfter(n int) time.Duration {
	if n > 20 {
		return maxBackoff
	}
	return min(minBackoff<<(n-1), maxBackoff)
}

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
	// failed is set by any step of a round that failed; only the scheduler
	// goroutine (and Close, after it stopped) touches it.
	failed bool
	// fails counts the failed rounds in a row, for the backoff.
	fails int
	// ctx ends when the store closes, cutting short backend I/O.
	ctx    context.Context
	cancel context.CancelFunc
}

func (sc *scheduler) start(s interface{ schedule() }, log *slog.Logger) {
	sc.wakeCh = make(chan struct{}, 1)
	sc.stopCh = make(chan struct{})
	sc.ctx, sc.cancel = context.WithCancel(backend.WithLogger(context.Background(), log))
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

// armUntil arms t (a new timer of clk when nil) to fire when the store's
// time (now, Unix ns) reaches until. The clock may move between reading it
// and arming the timer (a fake clock in a test, a preempted goroutine), and
// the timer would then fire that much late; so it is armed again until two
// readings around the arming agree to the millisecond.
func armUntil(clk clock.Clock, now func() int64, t clock.Timer, until int64) clock.Timer {
	for range 8 {
		before := now()
		d := time.Duration(max(until-before, 0))
		if t == nil {
			t = clk.NewTimer(d)
		} else {
			t.Reset(d)
		}
		if now()-before < int64(time.Millisecond) {
			break
		}
	}
	return t
}

// reportCorrupt logs, at Error, a record that the store's background work
// (the sweep, the claim of expiry events) could not read and left in place,
// once per key: the sweep meets it again on every round. The store
// remembers up to maxCorruptSeen keys; past that it forgets them all and
// may report a key again. Another process reports it once more, too.
func (s *Store[K, V]) reportCorrupt(key, msg string, err error) {
	s.corruptMu.Lock()
	_, seen := s.corruptSeen[key]
	if !seen {
		if s.corruptSeen == nil || len(s.corruptSeen) >= maxCorruptSeen {
			s.corruptSeen = make(map[string]struct{})
		}
		s.corruptSeen[key] = struct{}{}
	}
	s.corruptMu.Unlock()
	if seen {
		return
	}
	s.log.Error(msg, "key", key, "err", err)
}

// sweepExpired is the backend's SweepExpired; on the memory backend it
// leaves the rebuild of tables it emptied to the end of the round (Tidy).
func (s *Store[K, V]) sweepExpired(ctx context.Context, now int64, max int) (int, error) {
	if s.mem != nil {
		return s.mem.SweepDue(now, max)
	}
	return s.b.SweepExpired(ctx, now, max)
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
		var inline []call[K, V]
		if listening {
			batch = min(batch, s.retention)
			// Events that waited for a listener go first, before a sweep
			// adds to them.
			inline = s.ev.deliverBacklog(ctx, inline)
		}
		for {
			n, err := s.sweepExpired(ctx, now, batch)
			s.st.expired.Add(uint64(n))
			// Records the backend could not read were skipped and left in
			// place; the rest of the sweep went on. Each is reported once.
			recs, err := backend.SplitCorrupt(err)
			for _, c := range recs {
				s.reportCorrupt(c.Key, "livedict: expired record cannot be read; skipped by the sweep and left in place",
					&livedict.RecordError{Bucket: s.cfg.Bucket, Key: c.Key, Err: c})
			}
			if err != nil {
				// A backend that just failed is not asked again while
				// writers wait at the gate; the next wake tries both,
				// after a backoff.
				if ctx.Err() == nil {
					sc.failed = true
					s.log.Error("livedict: expiry sweep failed", "err", err, "retry_in", retryAfter(sc.fails+1))
				}
				break
			}
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
		if s.mem != nil {
			// The tables the sweep emptied are rebuilt once what it swept
			// is on its way to the hooks.
			s.mem.Tidy()
		}

		// Sleep until the next deadline, or for a backend that other
		// processes write to, at most one poll interval; with neither,
		// until woken.
		var until int64 // Unix ns; 0: none
		next, ok, err := s.b.NextDeadline(ctx)
		if err != nil && ctx.Err() == nil {
			sc.failed = true
			s.log.Error("livedict: reading the next deadline failed", "err", err, "retry_in", retryAfter(sc.fails+1))
		}
		// A failed round is retried after its backoff, not sooner: neither
		// a due deadline nor a write's wake cuts the wait short (a wake
		// stays pending for the next round).
		retry := sc.failed
		if retry {
			sc.fails++
			sc.failed = false
			ok = true
			next = floorMs(s.now() + int64(retryAfter(sc.fails)))
		} else if sc.fails > 0 {
			s.log.Info("livedict: expiry scheduler recovered", "failed_rounds", sc.fails)
			sc.fails = 0
		}
		if ok {
			until = next * 1e6
			sc.nextWake.Store(next)
		} else {
			sc.nextWake.Store(math.MaxInt64)
		}
		if s.poll > 0 {
			if p := s.now() + int64(s.poll); !ok || p < until {
				until = p
			}
		}
		var tick <-chan time.Time
		if until != 0 {
			timer = armUntil(s.clk, s.now, timer, until)
			tick = timer.C()
		}
		wake := sc.wakeCh
		if retry {
			wake = nil
		}
		select {
		case <-sc.stopCh:
			return
		case <-wake:
		case <-tick:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

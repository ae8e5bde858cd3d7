package engine

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/internal/impl"
)

// Lock waits until it holds key's advisory lock, or until ctx ends
// (livedict.ErrLockTimeout). The lock lasts for its lease (30s unless
// livedict.Lease says otherwise) unless it is released or extended first.
func (s *Store[K, V]) Lock(ctx context.Context, key K, opts ...livedict.LockOption) (*livedict.Lock, error) {
	lo := resolveLock(opts)
	if lo.Err != nil {
		return nil, lo.Err
	}
	owner := s.owner + "-" + strconv.FormatUint(s.lockSeq.Add(1), 10)
	for {
		if err := s.check(); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, s.lockTimeout(key, err)
		}
		// Register as a waiter before trying, so an unlock between the try
		// and the wait is not missed.
		wake := s.waitFor(key)
		l, ok, heldUntil, err := s.tryLock(ctx, key, owner, lo)
		if err != nil || ok {
			s.doneWaiting(key)
			if err != nil && ctx.Err() != nil {
				// The backend saw ctx end: that is the caller's timeout.
				err = s.lockTimeout(key, err)
			}
			return l, err
		}
		// Sleep until a local unlock, the holder's lease end, or (for a
		// backend shared with other processes) the next poll.
		until := heldUntil * 1e6
		if s.poll > 0 {
			if p := s.now() + int64(s.poll/4+time.Millisecond); p < until {
				until = p
			}
		}
		t := armUntil(s.clk, s.now, nil, until)
		select {
		case <-wake:
		case <-t.C():
		case <-ctx.Done():
		}
		t.Stop()
		s.doneWaiting(key)
	}
}

// TryLock takes key's advisory lock if it is free, without waiting.
func (s *Store[K, V]) TryLock(ctx context.Context, key K, opts ...livedict.LockOption) (*livedict.Lock, bool, error) {
	if err := s.check(); err != nil {
		return nil, false, err
	}
	lo := resolveLock(opts)
	if lo.Err != nil {
		return nil, false, lo.Err
	}
	owner := s.owner + "-" + strconv.FormatUint(s.lockSeq.Add(1), 10)
	l, ok, _, err := s.tryLock(ctx, key, owner, lo)
	return l, ok, err
}

func (s *Store[K, V]) lockTimeout(key K, cause error) error {
	return fmt.Errorf("%w: key %q: %w", backend.ErrLockTimeout, s.keyString(key), cause)
}

func (s *Store[K, V]) tryLock(ctx context.Context, key K, owner string, lo impl.LockConfig) (*livedict.Lock, bool, int64, error) {
	now, until, lease, err := leaseEnd(s.now(), lo.Lease, "Lease")
	if err != nil {
		return nil, false, 0, err
	}
	fence, ok, heldUntil, err := s.b.TryLock(ctx, key, owner, lease, now)
	if err != nil || !ok {
		return nil, false, heldUntil, err
	}
	l := &impl.Lock{
		Name:  s.keyString(key),
		Fence: fence,
		Until: until,
		Release: func(ctx context.Context) error {
			err := s.b.Unlock(ctx, key, owner, s.nowMs())
			s.notifyUnlock(key)
			return err
		},
		Renew: func(ctx context.Context, d time.Duration) (time.Time, error) {
			now, until, lease, err := leaseEnd(s.now(), d, "Extend")
			if err != nil {
				return time.Time{}, err
			}
			return until, s.b.ExtendLock(ctx, key, owner, lease, now)
		},
	}
	return (*livedict.Lock)(l), true, 0, nil
}

// leaseEnd returns what a backend is given for a lease of d taken at t (the
// store's time, Unix ns): t's Unix millisecond, and the lease counted from
// it in whole milliseconds, so that it ends at the first millisecond at or
// after t+d (a lease never lasts less than d); until is that end, which
// Deadline reports. A lease end past the deadline limit is
// ErrInvalidOption naming option.
func leaseEnd(t int64, d time.Duration, option string) (now int64, until time.Time, lease time.Duration, err error) {
	end, ok := ceilMs(t, d)
	if !ok {
		return 0, time.Time{}, 0, impl.Invalid(option, "lease %v at %v: %s", d, time.Unix(0, t).UTC(), pastLimit)
	}
	now = floorMs(t)
	return now, time.UnixMilli(end), time.Duration(end-now) * time.Millisecond, nil
}

// waitFor returns a channel that is closed at the next local unlock of key.
// The entry is counted, so the table frees it when its last waiter leaves.
func (s *Store[K, V]) waitFor(key K) <-chan struct{} {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	w, ok := s.waiters[key]
	if !ok {
		w = &waiter{ch: make(chan struct{})}
		s.waiters[key] = w
	}
	w.n++
	return w.ch
}

func (s *Store[K, V]) doneWaiting(key K) {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	if w, ok := s.waiters[key]; ok {
		if w.n--; w.n == 0 {
			delete(s.waiters, key)
		}
	}
}

func (s *Store[K, V]) notifyUnlock(key K) {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	if w, ok := s.waiters[key]; ok {
		close(w.ch)
		w.ch = make(chan struct{})
	}
}

type waiter struct {
	ch chan struct{}
	n  int
}

// waiting reports how many keys have waiters: the lock table's size, for
// tests that check it shrinks.
func (s *Store[K, V]) waiting() int {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	return len(s.waiters)
}

package runtime

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/livedict/livedict/backend"
)

// Lock is a held advisory lease on one key. It is not reentrant: locking a
// key again from the same goroutine waits like any other caller.
type Lock struct {
	key    string
	token  uint64
	mu     sync.Mutex
	until  time.Time
	unlock func(ctx context.Context) error
	extend func(ctx context.Context, d time.Duration) (time.Time, error)
}

// Key returns the locked key, as text.
func (l *Lock) Key() string { return l.key }

// Token returns the fencing token of this acquisition. Tokens of a key grow
// with every acquisition, so a resource that remembers the highest token it
// saw can refuse a writer whose lease has already passed to someone else.
func (l *Lock) Token() uint64 { return l.token }

// Deadline returns when the lease ends unless it is extended.
func (l *Lock) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until
}

// Unlock releases the lock. It returns ErrLockLost when the lease had ended
// (and another caller may have taken the key) or was already released.
func (l *Lock) Unlock(ctx context.Context) error { return l.unlock(ctx) }

// Extend moves the lease deadline to d from now; ErrLockLost when the lease
// has already ended.
func (l *Lock) Extend(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: Extend(%v): the lease must be positive", backend.ErrInvalidOption, d)
	}
	until, err := l.extend(ctx, d)
	if err == nil {
		l.mu.Lock()
		l.until = until
		l.mu.Unlock()
	}
	return err
}

// Lock waits until it holds key's lock, or until ctx ends (ErrLockTimeout).
// The lock lasts for its lease (30s unless Lease says otherwise) unless it
// is released or extended first.
func (s *Store[K, V]) Lock(ctx context.Context, key K, opts ...LockOption) (*Lock, error) {
	lo := s.lockOptions(opts)
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
		until := time.UnixMilli(heldUntil)
		if s.poll > 0 {
			if p := s.clk.Now().Add(s.poll/4 + time.Millisecond); p.Before(until) {
				until = p
			}
		}
		t := armUntil(s.clk, nil, until)
		select {
		case <-wake:
		case <-t.C():
		case <-ctx.Done():
		}
		t.Stop()
		s.doneWaiting(key)
	}
}

// TryLock takes key's lock if it is free, without waiting.
func (s *Store[K, V]) TryLock(ctx context.Context, key K, opts ...LockOption) (*Lock, bool, error) {
	if err := s.check(); err != nil {
		return nil, false, err
	}
	owner := s.owner + "-" + strconv.FormatUint(s.lockSeq.Add(1), 10)
	l, ok, _, err := s.tryLock(ctx, key, owner, s.lockOptions(opts))
	return l, ok, err
}

func (s *Store[K, V]) lockOptions(opts []LockOption) lockOptions {
	lo := lockOptions{lease: DefaultLease}
	for _, o := range opts {
		if o != nil {
			o(&lo)
		}
	}
	return lo
}

func (s *Store[K, V]) lockTimeout(key K, cause error) error {
	return fmt.Errorf("%w: key %q: %w", backend.ErrLockTimeout, s.keyString(key), cause)
}

func (s *Store[K, V]) tryLock(ctx context.Context, key K, owner string, lo lockOptions) (*Lock, bool, int64, error) {
	// Backends keep lease ends in whole milliseconds from now's
	// millisecond; Deadline reports that same instant.
	now := time.UnixMilli(s.nowMs())
	fence, ok, heldUntil, err := s.b.TryLock(ctx, key, owner, lo.lease, now.UnixMilli())
	if err != nil || !ok {
		return nil, false, heldUntil, err
	}
	l := &Lock{
		key:   s.keyString(key),
		token: fence,
		until: now.Add(lo.lease),
		unlock: func(ctx context.Context) error {
			err := s.b.Unlock(ctx, key, owner, s.nowMs())
			s.notifyUnlock(key)
			return err
		},
		extend: func(ctx context.Context, d time.Duration) (time.Time, error) {
			now := time.UnixMilli(s.nowMs())
			return now.Add(d), s.b.ExtendLock(ctx, key, owner, d, now.UnixMilli())
		},
	}
	return l, true, 0, nil
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

package livedict

import (
	"context"
	"fmt"
	"time"

	"github.com/livedict/livedict/internal/impl"
)

// Lock is a held advisory lease on one key, from a store's Lock or TryLock.
// It is not reentrant: locking a key again from the same goroutine waits
// like any other caller.
type Lock impl.Lock

// Key returns the locked key, as text.
func (l *Lock) Key() string { return l.Name }

// Token returns the fencing token of this acquisition. Tokens of a key grow
// with every acquisition, so a resource that remembers the highest token it
// saw can refuse a writer whose lease has already passed to someone else.
func (l *Lock) Token() uint64 { return l.Fence }

// Deadline returns when the lease ends unless it is extended.
func (l *Lock) Deadline() time.Time {
	l.Mu.Lock()
	defer l.Mu.Unlock()
	return l.Until
}

// Unlock releases the lock. It returns ErrLockLost when the lease had ended
// (and another caller may have taken the key) or was already released.
func (l *Lock) Unlock(ctx context.Context) error { return l.Release(ctx) }

// Extend moves the lease deadline to d from now (the first millisecond at
// or after it, as with Lease); ErrLockLost when the lease has already
// ended. d must be at least 1ms and at most MaxTTL, and the new deadline
// before 2250-01-01 UTC, else ErrInvalidOption.
func (l *Lock) Extend(ctx context.Context, d time.Duration) error {
	if why := checkDuration(d); why != "" {
		return fmt.Errorf("%w: Extend(%v): %s", ErrInvalidOption, d, why)
	}
	until, err := l.Renew(ctx, d)
	if err == nil {
		l.Mu.Lock()
		l.Until = until
		l.Mu.Unlock()
	}
	return err
}

// Future is the result of an asynchronous operation of a store's Async
// view.
type Future[T any] impl.Future[T]

// Wait returns the result once the operation has finished, or ctx's error
// if ctx ends first (the operation goes on).
func (f *Future[T]) Wait(ctx context.Context) (T, error) {
	select {
	case <-f.Ch:
		return f.Val, f.Err
	default:
	}
	select {
	case <-f.Ch:
		return f.Val, f.Err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Done is closed when the operation has finished.
func (f *Future[T]) Done() <-chan struct{} { return f.Ch }

package engine

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/livedict/livedict"
)

const (
	// loadLease is the lease of the per-key lock a load takes on a shared
	// backend, so that one process loads while the others wait: long
	// enough for a loader, short enough that a process that died holding it
	// holds up the others little. A longer load may run again elsewhere.
	loadLease = 5 * time.Second
)

// loads is the in-process half of read-through loading: one load per key
// at a time, its result shared by every caller that missed meanwhile.
type loads[K comparable, V any] struct {
	mu       sync.Mutex
	inFlight map[K]*loadCall[V]
	// ctx ends when the store closes, cancelling loads still running;
	// running counts them for Close. Once closed is set (under mu) no load
	// starts, so Close's Wait sees every one.
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup
	// fn is the store-wide loader of WithLoader, or nil.
	fn func(context.Context, K) (V, error)
}

type loadCall[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// GetOrLoad returns the value of key; on a miss it calls load, stores its
// value (with opts, as Set would: OnSet hooks fire) and returns it.
// Concurrent misses of key in this process share one call of load; on
// SQLite and Redis, misses in other processes wait for it too, through the
// key's lock (see Lock) taken with a 5s lease: a process that cannot get
// the lock within that lease, or within ctx, loads without it. load runs
// with ctx's values but not its cancellation, until the store closes: each
// caller waits for it as long as its own ctx allows. A failed load stores
// nothing, and every caller that waited for it gets its error; a panic in
// load is such an error, matching livedict.ErrLoadPanic. When storing the
// loaded value fails, GetOrLoad returns the value with that error.
func (s *Store[K, V]) GetOrLoad(ctx context.Context, key K, load func(ctx context.Context, key K) (V, error), opts ...livedict.SetOption) (V, error) {
	var zero V
	if load == nil {
		return zero, fmt.Errorf("%w: GetOrLoad needs a load function", livedict.ErrInvalidOption)
	}
	v, _, err := s.get(ctx, key, load, opts)
	return v, err
}

// load runs load for key once for all the callers that miss while it
// runs, in a goroutine of its own so that a caller whose ctx ends leaves
// the others their load.
func (s *Store[K, V]) load(ctx context.Context, key K, load func(context.Context, K) (V, error), opts []livedict.SetOption) (V, error) {
	l := &s.loads
	l.mu.Lock()
	c, joined := l.inFlight[key]
	if !joined {
		if l.closed {
			l.mu.Unlock()
			var zero V
			return zero, livedict.ErrClosed
		}
		c = &loadCall[V]{done: make(chan struct{})}
		l.inFlight[key] = c
		l.running.Add(1)
		// The load's ctx keeps the first caller's values (a trace, a
		// tenant) and ends with the store.
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(l.ctx, cancel)
		go func() {
			defer l.running.Done()
			defer cancel()
			defer stop()
			c.v, c.err = s.loadOnce(lctx, key, load, opts)
			l.mu.Lock()
			delete(l.inFlight, key)
			l.mu.Unlock()
			close(c.done)
		}()
	}
	l.mu.Unlock()
	select {
	case <-c.done:
		if c.err != nil {
			return c.v, c.err
		}
		// Each caller gets a value of its own.
		return s.clone(c.v), nil
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// loadOnce loads key and stores its value: on a shared backend under the
// key's lock, after looking again whether another process stored it
// meanwhile.
func (s *Store[K, V]) loadOnce(ctx context.Context, key K, load func(context.Context, K) (V, error), opts []livedict.SetOption) (V, error) {
	if s.poll > 0 {
		wait, cancel := context.WithTimeout(ctx, loadLease)
		lk, err := s.Lock(wait, key, livedict.Lease(loadLease))
		cancel()
		if err == nil {
			defer lk.Unlock(context.WithoutCancel(ctx))
			if e, ok, err := s.b.Get(ctx, key, s.nowMs()); err == nil && ok {
				return e.Value, nil
			}
		}
		// Without the lock (a slow or dead holder), load all the same.
	}
	start := time.Now()
	v, err := callLoad(ctx, key, load, s)
	s.st.loads.Add(1)
	s.st.loadNanos.Add(int64(time.Since(start)))
	if err != nil {
		s.st.loadErrors.Add(1)
		var zero V
		return zero, err
	}
	return v, s.Set(ctx, key, v, opts...)
}

// callLoad calls load, turning a panic into an error (its stack goes to the
// store's log).
func callLoad[K comparable, V any](ctx context.Context, key K, load func(context.Context, K) (V, error), s *Store[K, V]) (v V, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("livedict: load panicked", "key", s.keyString(key), "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: key %s: %v", livedict.ErrLoadPanic, s.keyString(key), r)
		}
	}()
	return load(ctx, key)
}

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
	// window is WithRefreshAhead's: a read with a loader that finds its
	// entry this close to its deadline reloads it in the background.
	window time.Duration
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
	v, _, err := s.getThrough(ctx, key, load, opts)
	return v, err
}

// load runs load for key once for all the callers that miss while it
// runs, in a goroutine of its own so that a caller whose ctx ends leaves
// the others their load.
func (s *Store[K, V]) load(ctx context.Context, key K, load func(context.Context, K) (V, error), opts []livedict.SetOption) (V, error) {
	c, err := s.startLoad(ctx, key, load, opts, false)
	if err != nil {
		var zero V
		return zero, err
	}
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

// refresh reloads key in the background, unless a load of it is running.
func (s *Store[K, V]) refresh(ctx context.Context, key K, load func(context.Context, K) (V, error), opts []livedict.SetOption) {
	_, _ = s.startLoad(ctx, key, load, opts, true)
}

// startLoad returns the running load of key, or starts one. A refresh
// starts only when none is running (and returns nil): the reads that asked
// for it are served the value they found.
func (s *Store[K, V]) startLoad(ctx context.Context, key K, load func(context.Context, K) (V, error), opts []livedict.SetOption, refresh bool) (*loadCall[V], error) {
	l := &s.loads
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.inFlight[key]; ok {
		if refresh {
			return nil, nil
		}
		return c, nil
	}
	if l.closed {
		return nil, livedict.ErrClosed
	}
	c := &loadCall[V]{done: make(chan struct{})}
	l.inFlight[key] = c
	l.running.Add(1)
	// The load's ctx keeps the first caller's values (a trace, a tenant)
	// and ends with the store.
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(l.ctx, cancel)
	go func() {
		defer l.running.Done()
		defer cancel()
		defer stop()
		c.v, c.err = s.loadOnce(lctx, key, load, opts, refresh)
		if refresh && c.err != nil && lctx.Err() == nil {
			s.log.Warn("livedict: refreshing a key ahead of its deadline failed; the old value serves until then", "key", s.keyString(key), "err", c.err)
		}
		l.mu.Lock()
		delete(l.inFlight, key)
		l.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

// refreshDue reports whether an entry read at now falls in the
// refresh-ahead window before its deadline.
func (s *Store[K, V]) refreshDue(deadline, now int64) bool {
	return s.loads.window > 0 && deadline > 0 && deadline-now <= s.loads.window.Milliseconds()
}

// loadOnce loads key and stores its value (on a shared backend under the
// key's lock), unless it finds the key stored meanwhile.
func (s *Store[K, V]) loadOnce(ctx context.Context, key K, load func(context.Context, K) (V, error), opts []livedict.SetOption, refresh bool) (V, error) {
	if s.poll > 0 {
		wait, cancel := context.WithTimeout(ctx, loadLease)
		lk, err := s.Lock(wait, key, livedict.Lease(loadLease))
		cancel()
		if err == nil {
			defer lk.Unlock(context.WithoutCancel(ctx))
		}
		// Without the lock (a slow or dead holder), load all the same.
	}
	// A caller that missed just before another load stored the key starts
	// a load of its own once that one is done; and another process may
	// have loaded it while this one waited for the lock. Either way the
	// value is there now. A refresh made elsewhere moved the deadline out
	// of the window.
	now := s.nowMs()
	if e, ok, err := s.b.Get(ctx, key, now); err == nil && ok && !(refresh && s.refreshDue(e.Deadline, now)) {
		return e.Value, nil
	}
	start := time.Now()
	v, err := callLoad(ctx, key, load, s)
	s.st.loads.Add(1)
	if refresh {
		s.st.refreshes.Add(1)
	}
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

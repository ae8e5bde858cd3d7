package engine

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/internal/impl"
)

// AsyncStore is the asynchronous view of a store: every operation returns at
// once with a Future. Operations on one key issued from one goroutine take
// effect in issue order, because each key's operations run on one worker.
type AsyncStore[K comparable, V any] struct{ s *Store[K, V] }

// Async returns the asynchronous view of the store: each operation returns a
// future at once; one key's operations from one goroutine take effect in
// order.
func (s *Store[K, V]) Async() *AsyncStore[K, V] { return &AsyncStore[K, V]{s} }

// asyncIOWorkers is how many operations the Async view of a store on a
// shared backend keeps in flight.
const asyncIOWorkers = 64

// executor runs async operations on workers chosen by key hash.
type executor struct {
	mu      sync.RWMutex
	closed  bool
	queues  []chan func()
	workers sync.WaitGroup
}

func newExecutor(n, depth int) *executor {
	e := &executor{queues: make([]chan func(), n)}
	for i := range e.queues {
		q := make(chan func(), depth)
		e.queues[i] = q
		e.workers.Add(1)
		go func() {
			defer e.workers.Done()
			for op := range q {
				op()
			}
		}()
	}
	return e
}

// submit queues op on the worker of shard h. It waits for room while ctx
// allows and reports whether op was queued.
func (e *executor) submit(ctx context.Context, h uint64, op func()) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return backend.ErrClosed
	}
	q := e.queues[h%uint64(len(e.queues))]
	select {
	case q <- op:
		return nil
	default:
	}
	select {
	case q <- op:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close runs what is queued and waits for the workers.
func (e *executor) close() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		for _, q := range e.queues {
			close(q)
		}
	}
	e.mu.Unlock()
	e.workers.Wait()
}

func (s *Store[K, V]) executor() *executor {
	s.asyncOnce.Do(func() {
		if s.poll == 0 {
			// In memory an operation is CPU work: one worker per core.
			s.async = newExecutor(max(2, runtime.GOMAXPROCS(0)), 1024)
			return
		}
		// On SQLite and Redis a worker mostly waits for I/O; many of them
		// keep many operations in flight, which the Redis backend sends as
		// one pipeline.
		s.async = newExecutor(asyncIOWorkers, 64)
	})
	return s.async
}

// run queues op for key's worker and returns its future.
func runAsync[T any, K comparable, V any](ctx context.Context, s *Store[K, V], h uint64, op func() (T, error)) *livedict.Future[T] {
	e := s.executor()
	if e == nil {
		return failed[T](backend.ErrClosed)
	}
	f := impl.NewFuture[T]()
	if err := e.submit(ctx, h, func() { f.Complete(op()) }); err != nil {
		return failed[T](err)
	}
	return (*livedict.Future[T])(f)
}

// Set is the asynchronous Set.
func (a *AsyncStore[K, V]) Set(ctx context.Context, key K, v V, opts ...livedict.SetOption) *livedict.Future[struct{}] {
	v = a.s.clone(v) // the caller may change v before the worker runs
	return runAsync(ctx, a.s, a.s.hash(key), func() (struct{}, error) {
		return struct{}{}, a.s.Set(ctx, key, v, opts...)
	})
}

// Get is the asynchronous Get.
func (a *AsyncStore[K, V]) Get(ctx context.Context, key K) *livedict.Future[livedict.Lookup[V]] {
	return runAsync(ctx, a.s, a.s.hash(key), func() (livedict.Lookup[V], error) {
		v, ok, err := a.s.Get(ctx, key)
		return livedict.Lookup[V]{Value: v, Found: ok}, err
	})
}

// Delete is the asynchronous Delete.
func (a *AsyncStore[K, V]) Delete(ctx context.Context, key K) *livedict.Future[bool] {
	return runAsync(ctx, a.s, a.s.hash(key), func() (bool, error) { return a.s.Delete(ctx, key) })
}

// Has is the asynchronous Has.
func (a *AsyncStore[K, V]) Has(ctx context.Context, key K) *livedict.Future[bool] {
	return runAsync(ctx, a.s, a.s.hash(key), func() (bool, error) { return a.s.Has(ctx, key) })
}

// TTL is the asynchronous TTL.
func (a *AsyncStore[K, V]) TTL(ctx context.Context, key K) *livedict.Future[livedict.Lookup[time.Duration]] {
	return runAsync(ctx, a.s, a.s.hash(key), func() (livedict.Lookup[time.Duration], error) {
		d, ok, err := a.s.TTL(ctx, key)
		return livedict.Lookup[time.Duration]{Value: d, Found: ok}, err
	})
}

// Touch is the asynchronous Touch.
func (a *AsyncStore[K, V]) Touch(ctx context.Context, key K) *livedict.Future[bool] {
	return runAsync(ctx, a.s, a.s.hash(key), func() (bool, error) { return a.s.Touch(ctx, key) })
}

// Expire is the asynchronous Expire.
func (a *AsyncStore[K, V]) Expire(ctx context.Context, key K, opts ...livedict.SetOption) *livedict.Future[bool] {
	return runAsync(ctx, a.s, a.s.hash(key), func() (bool, error) { return a.s.Expire(ctx, key, opts...) })
}

// Update is the asynchronous Update.
func (a *AsyncStore[K, V]) Update(ctx context.Context, key K, fn func(cur V, exists bool) (next V, keep bool, err error), opts ...livedict.SetOption) *livedict.Future[struct{}] {
	return runAsync(ctx, a.s, a.s.hash(key), func() (struct{}, error) {
		return struct{}{}, a.s.Update(ctx, key, fn, opts...)
	})
}

// Len is the asynchronous Len.
func (a *AsyncStore[K, V]) Len(ctx context.Context) *livedict.Future[int] {
	return runAsync(ctx, a.s, 0, func() (int, error) { return a.s.Len(ctx) })
}

// Keys is the asynchronous Keys.
func (a *AsyncStore[K, V]) Keys(ctx context.Context) *livedict.Future[[]K] {
	return runAsync(ctx, a.s, 0, func() ([]K, error) { return a.s.Keys(ctx) })
}

// Clear is the asynchronous Clear.
func (a *AsyncStore[K, V]) Clear(ctx context.Context) *livedict.Future[struct{}] {
	return runAsync(ctx, a.s, 0, func() (struct{}, error) { return struct{}{}, a.s.Clear(ctx) })
}

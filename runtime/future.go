package runtime

import (
	"context"
	"math/rand/v2"
	"sync/atomic"

	"github.com/livedict/livedict/sandbox"
)

// Future is the result of an asynchronous operation.
type Future[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func newFuture[T any]() *Future[T] { return &Future[T]{done: make(chan struct{})} }

func failed[T any](err error) *Future[T] {
	f := newFuture[T]()
	f.complete(*new(T), err)
	return f
}

func (f *Future[T]) complete(v T, err error) {
	f.val, f.err = v, err
	close(f.done)
}

// Wait returns the result once the operation has finished, or ctx's error
// if ctx ends first (the operation goes on).
func (f *Future[T]) Wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.val, f.err
	default:
	}
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Done is closed when the operation has finished.
func (f *Future[T]) Done() <-chan struct{} { return f.done }

// Lookup is the result of an asynchronous Get or TTL.
type Lookup[T any] struct {
	Value T
	Found bool
}

// Stats are a store's counters since it opened.
type Stats struct {
	Hits, Misses   uint64 // Get calls that found a value, and that did not
	Sets, Deletes  uint64 // values written (Set, Update) and removed (Delete, Update)
	Expired        uint64 // keys this process swept after their deadline
	Evicted        uint64 // keys pushed out by WithMaxKeys(n, EvictLRU)
	ExpiredDropped uint64 // expiry events dropped by the retention limit, unheard
	Hooks          HookStats
}

// HookStats counts hook calls: queued, run, failed, skipped.
type HookStats = sandbox.Stats

// counters are the store's Stats. The hot ones are striped: parallel Gets
// on two cores would otherwise fight over one cache line for every hit.
type counters struct {
	hits, misses, sets, deletes striped
	expired, evicted            atomic.Uint64
}

const stripes = 16

type striped [stripes]struct {
	n atomic.Uint64
	_ [56]byte
}

// add adds to a random stripe: a per-thread generator is cheaper than any
// shared counter, and spreads goroutines on different cores apart.
func (c *striped) add(n uint64) { c[rand.Uint32()%stripes].n.Add(n) }

func (c *striped) load() uint64 {
	var sum uint64
	for i := range c {
		sum += c[i].n.Load()
	}
	return sum
}

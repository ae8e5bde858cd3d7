package engine

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/internal/impl"
)

func failed[T any](err error) *livedict.Future[T] {
	f := impl.NewFuture[T]()
	f.Complete(*new(T), err)
	return (*livedict.Future[T])(f)
}

// counters are the store's Stats. The hot ones are striped: parallel Gets
// on two cores would otherwise fight over one cache line for every hit.
type counters struct {
	hits, misses, sets, deletes  striped
	expired, evicted             atomic.Uint64
	loads, loadErrors, refreshes atomic.Uint64
	loadNanos                    atomic.Int64
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

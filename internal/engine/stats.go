package engine

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/internal/impl"
)

func failed[T any](err error) *livedict.Future[T] {
	f := impl.NewFuture[T]()
	f.Complete(*new(T), err)
	return (*livedict.Future[T])(f)
}

// counters are the store's Stats. The ones every operation adds to are
// striped, one cache line per stripe, and an operation adds to the stripe
// of the processor it runs on (see addN): a line that two cores write in
// turn moves between them on every write, where a line each core keeps to
// itself costs an uncontended atomic add.
type counters struct {
	// stripes is an allocation of its own, so that each stripe is one
	// aligned cache line (a 1 KiB object starts at a multiple of 1 KiB)
	// and shares it with nothing: within the Store, stripes would straddle
	// lines, and the fields beside them, which every Get reads, would
	// share a line that another core keeps writing.
	stripes *[stripes]stripe
	expired atomic.Uint64
	evicted atomic.Uint64
	// The loaders' counters: a load costs far more than a shared add.
	loads, loadErrors, refreshes atomic.Uint64
	loadNanos                    atomic.Int64
}

const stripes = 16

// The counters of a stripe.
const (
	nHits = iota
	nMisses
	nSets
	nDeletes
	nCounters
)

type stripe struct {
	n [nCounters]atomic.Uint64
	_ [64 - 8*nCounters]byte
}

func newCounters() counters { return counters{stripes: new([stripes]stripe)} }

// stripeOf hands out stripe numbers. A sync.Pool keeps what is put back
// per processor (P), so a goroutine takes the number its processor used
// last, and each processor keeps to one stripe; a number the pool drops
// (it may, at a collection) is replaced by a random one.
var stripeOf = sync.Pool{New: func() any {
	n := rand.Uint32() % stripes
	return &n
}}

// add adds one to counter i of the stripe of the caller's processor.
func (c *counters) add(i int) { c.addN(i, 1) }

// addN adds n to counter i of the stripe of the caller's processor.
func (c *counters) addN(i int, n uint64) {
	s := stripeOf.Get().(*uint32)
	c.stripes[*s].n[i].Add(n)
	stripeOf.Put(s)
}

func (c *counters) hit()     { c.add(nHits) }
func (c *counters) miss()    { c.add(nMisses) }
func (c *counters) set()     { c.add(nSets) }
func (c *counters) deleted() { c.add(nDeletes) }

// load sums counter i over the stripes.
func (c *counters) load(i int) uint64 {
	var n uint64
	for j := range c.stripes {
		n += c.stripes[j].n[i].Load()
	}
	return n
}

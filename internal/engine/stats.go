package engine

import (
	"sync/atomic"
	"unsafe"

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
// of the goroutine it runs on (see addN): a line that two cores write in
// turn moves between them on every write, where a line each core keeps to
// itself costs an uncontended atomic add.
type counters struct {
	// stripes is an allocation of its own, so that each stripe is one
	// aligned cache line (a 4 KiB object starts at a multiple of 4 KiB)
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

const (
	stripeBits = 6
	stripes    = 1 << stripeBits
)

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

// add adds one to counter i of the calling goroutine's stripe.
func (c *counters) add(i int) { c.addN(i, 1) }

// addN adds n to counter i of the stripe of the calling goroutine: the
// one a hash of the address of its stack picks (in units of the smallest
// stack, 2 KiB, which no two goroutines' stacks share). A goroutine keeps
// its stripe, and two goroutines that run on different cores at once
// seldom share one (a busy program's few goroutines among 64): the adds stay
// uncontended, as with a stripe per processor, without the sync.Pool get
// and put that finding the processor's stripe took (about 15% of a Get).
// A stack that grows moves, and with it the stripe; any stripe is
// correct, since Stats sums them all.
func (c *counters) addN(i int, n uint64) {
	var here byte
	a := uint64(uintptr(unsafe.Pointer(&here))) >> 11
	c.stripes[(a*0x9E3779B97F4A7C15)>>(64-stripeBits)].n[i].Add(n)
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

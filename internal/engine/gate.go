package engine

import (
	"context"
	"sync"
)

// sweepGate orders writes that raise events after an expiry sweep that is
// delivering what it swept. It is a readers-writer lock whose readers (the
// writes) may give up when their ctx ends: a sweep stuck on a backend that
// does not answer must not hold a Set past its caller's deadline. A sweep
// announces itself before waiting for the writes in flight, so a stream of
// writes cannot starve it. A store's eventOrder holds it; see the lock order
// there.
type sweepGate struct {
	mu       sync.Mutex
	writers  int
	sweeping bool          // a sweep holds or waits for the gate
	ended    chan struct{} // made by the first write that waits for the sweep; closed when it ends
	drained  chan struct{} // non-nil while a sweep waits for writers; closed by the last one
}

// enter admits a write once no sweep holds the gate, or fails with ctx's
// error.
func (g *sweepGate) enter(ctx context.Context) error {
	g.mu.Lock()
	for g.sweeping {
		// The channel is made only when a write has to wait: the
		// scheduler sweeps every millisecond while keys fall due.
		if g.ended == nil {
			g.ended = make(chan struct{})
		}
		wait := g.ended
		g.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		g.mu.Lock()
	}
	g.writers++
	g.mu.Unlock()
	return nil
}

func (g *sweepGate) leave() {
	g.mu.Lock()
	g.writers--
	if g.writers == 0 && g.drained != nil {
		close(g.drained)
		g.drained = nil
	}
	g.mu.Unlock()
}

// sweep takes the gate: new writes wait, and it returns once the writes in
// flight have left. Only the scheduler sweeps, one sweep at a time.
func (g *sweepGate) sweep() {
	g.mu.Lock()
	g.sweeping = true
	if g.writers > 0 {
		g.drained = make(chan struct{})
		wait := g.drained
		g.mu.Unlock()
		<-wait
		return
	}
	g.mu.Unlock()
}

func (g *sweepGate) done() {
	g.mu.Lock()
	g.sweeping = false
	if g.ended != nil {
		close(g.ended)
		g.ended = nil
	}
	g.mu.Unlock()
}

package sandbox

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// hookCtx is the context a queued call's Fn receives. Nothing inside it
// fires at the deadline: the pool's watchdog cancels it with
// DeadlineExceeded when the call overruns, and the worker cancels it with
// Canceled when Fn returns (releasing anything Fn left waiting on it). That
// way a call costs no timer.
//
// It is small, and a worker allocates its calls' contexts a slab at a
// time (task.newCtx), so that a call costs no allocation of its own: what
// only some hooks ask for, a Done channel and AfterFunc callbacks, lives in
// a ctxExt made on first use. Each call has a context of its own all the
// same, which a hook may keep past its return: it stays cancelled.
//
// It implements the AfterFunc method that package context looks for, so
// contexts derived from it with context.WithCancel, WithTimeout, AfterFunc...
// hook onto it without a goroutine each.
type hookCtx struct {
	deadline int64 // ns since epoch; set before the call starts, never after
	state    atomic.Uint32
	ext      atomic.Pointer[ctxExt]
}

// A hookCtx's state.
const (
	live uint32 = iota
	canceled
	deadlineExceeded
)

// ctxExt is the part of a hookCtx made on first use of Done or AfterFunc.
type ctxExt struct {
	done chan struct{}

	mu     sync.Mutex
	closed bool                 // done is closed
	after  map[*func()]struct{} // callbacks registered by AfterFunc
}

// closedExt is the ctxExt of contexts cancelled before anyone asked.
var closedExt = func() *ctxExt {
	c := make(chan struct{})
	close(c)
	return &ctxExt{done: c, closed: true}
}()

func (c *hookCtx) Deadline() (time.Time, bool) {
	return epoch.Add(time.Duration(c.deadline)), true
}

// extOf returns c's ctxExt, making it on first use (the shared closedExt
// when c is cancelled already). The caller then checks c.state, and fires
// the ctxExt when c is cancelled: cancel may have missed it (cancel sets
// the state before it looks for a ctxExt, extOf installs one before the
// caller looks at the state, so one of them sees the other).
func (c *hookCtx) extOf() *ctxExt {
	if e := c.ext.Load(); e != nil {
		return e
	}
	e := closedExt
	if c.state.Load() == live {
		e = &ctxExt{done: make(chan struct{})}
	}
	if c.ext.CompareAndSwap(nil, e) {
		return e
	}
	return c.ext.Load()
}

func (c *hookCtx) Done() <-chan struct{} {
	e := c.extOf()
	if c.state.Load() != live {
		e.fire()
	}
	return e.done
}

func (c *hookCtx) Err() error {
	switch c.state.Load() {
	case canceled:
		return context.Canceled
	case deadlineExceeded:
		return context.DeadlineExceeded
	}
	return nil
}

func (c *hookCtx) Value(key any) any {
	if _, ok := key.(inHookKey); ok {
		return true
	}
	return nil
}

func (c *hookCtx) String() string { return "sandbox.hookContext" }

// AfterFunc arranges for f to run in its own goroutine once c is cancelled,
// like context.AfterFunc. stop unregisters f and reports whether it did so
// before f was started.
func (c *hookCtx) AfterFunc(f func()) (stop func() bool) {
	e := c.extOf()
	key := &f
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	if e.after == nil {
		e.after = make(map[*func()]struct{})
	}
	e.after[key] = struct{}{}
	e.mu.Unlock()
	if c.state.Load() != live {
		e.fire()
	}
	return func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		_, ok := e.after[key]
		delete(e.after, key)
		return ok
	}
}

// cancel ends the context with state (canceled or deadlineExceeded); later
// calls do nothing.
func (c *hookCtx) cancel(state uint32) {
	if !c.state.CompareAndSwap(live, state) {
		return
	}
	if e := c.ext.Load(); e != nil {
		e.fire()
	}
}

// fire closes done and starts the AfterFunc callbacks, once.
func (e *ctxExt) fire() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	close(e.done)
	after := e.after
	e.after = nil
	e.mu.Unlock()
	// Own goroutines, as context.AfterFunc promises: the callbacks must not
	// be able to hold up the watchdog, which calls cancel on timeouts.
	for f := range after {
		go (*f)()
	}
}

var _ context.Context = (*hookCtx)(nil)

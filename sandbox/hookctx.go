package sandbox

import (
	"context"
	"sync"
	"time"
)

// hookCtx is the context a queued call's Fn receives. Nothing inside it
// fires at the deadline: the pool's watchdog cancels it with
// DeadlineExceeded when the call overruns, and the worker cancels it with
// Canceled when Fn returns (releasing anything Fn left waiting on it). That
// way a call costs no timer.
//
// It implements the AfterFunc method that package context looks for, so
// contexts derived from it with context.WithCancel, WithTimeout, AfterFunc...
// hook onto it without a goroutine each.
type hookCtx struct {
	deadline time.Time

	mu    sync.Mutex
	done  chan struct{}        // created by the first Done call: most hooks never ask
	err   error                // set once, by cancel
	after map[*func()]struct{} // callbacks registered by AfterFunc
}

// closedChan is the Done channel of contexts cancelled before anyone asked.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (c *hookCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *hookCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.err != nil {
			c.done = closedChan
		} else {
			c.done = make(chan struct{})
		}
	}
	return c.done
}

func (c *hookCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
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
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	key := &f
	if c.after == nil {
		c.after = make(map[*func()]struct{})
	}
	c.after[key] = struct{}{}
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.after[key]
		delete(c.after, key)
		return ok
	}
}

// cancel ends the context with err; later calls do nothing.
func (c *hookCtx) cancel(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done == nil {
		c.done = closedChan
	} else {
		close(c.done)
	}
	after := c.after
	c.after = nil
	c.mu.Unlock()
	// Own goroutines, as context.AfterFunc promises: the callbacks must not
	// be able to hold up the watchdog, which calls cancel on timeouts.
	for f := range after {
		go (*f)()
	}
}

var _ context.Context = (*hookCtx)(nil)

// Package sandbox runs the store's user hooks (OnSet, OnGet, OnDelete,
// OnExpire, OnEvict) so that a slow, panicking or never-returning hook can
// neither slow down nor fail the caller of Set/Get, and cannot make
// goroutines pile up.
//
// # Shards
//
// A pool (PoolOf, whose calls carry their argument by value, or Pool, whose
// calls are closures) has Config.Workers shards. A shard is a bounded FIFO queue served by
// exactly one worker goroutine, which starts the queued calls one at a time,
// in queue order. The store sends every event of one key to the same shard,
// so one key's hooks run in event order while different keys run in parallel.
//
// # Allocation
//
// A call queued to a PoolOf costs no heap allocation of its own: the queue
// holds calls by value, a worker reuses its record of the call it runs, and
// takes the calls' contexts (24 bytes each, their Done channel made on first
// use) from slabs it allocates 128 at a time. A Pool's closures are the
// caller's allocation.
//
// # Timeouts, the watchdog and runaways
//
// Every call gets a context whose deadline is its hook's timeout, counted from
// the moment the call starts. One watchdog goroutine per pool watches the
// call each shard is running; it sleeps until the earliest deadline, so there
// is no timer and no extra goroutine per call. When a call overruns, the
// watchdog cancels its context, counts a timeout and hands the shard to a
// fresh worker goroutine. Go cannot kill a goroutine, so the old worker is
// left running the stuck hook as a "runaway" and exits as soon as the hook
// returns.
//
// Runaways are bounded by Config.MaxRunaway. A call may only start while
// holding one of MaxRunaway slots, and it keeps its slot until its Fn
// returns, even after its timeout. Any running call may become a runaway, so
// running plus runaway calls never exceed MaxRunaway; once runaways hold every
// slot no call starts anywhere, queues fill up and the Overflow policy decides
// what Submit does. The pool therefore owns at most
// Workers + MaxRunaway + 1 (the watchdog) goroutines, whatever the hooks do,
// besides fleeting ones: a returned runaway on its way out, or the callback
// of a context a hook derived from its own and left for the pool to cancel.
// Keep MaxRunaway at least Workers (the defaults are 64 and 4), or fewer than
// Workers calls can run at once.
//
// # Breaker
//
// Panics are recovered and reported with their stack. Panics and timeouts
// feed a per-Hook circuit breaker: after BreakerThreshold consecutive failures
// the hook is switched off (Hook.Tripped) and its calls are skipped, both at
// Submit and when they reach the front of the queue, until
// Hook.SetEnabled(true).
//
// # Overflow
//
// When a shard's queue is full, Submit waits for room (Block, bounded by its
// ctx) or drops the call (Drop). The context a hook receives is marked (see
// InHook), and Submit never waits when called with such a context: a hook
// that writes back into the store might otherwise wait forever on the very
// queue its own worker is supposed to drain.
//
// # Inline calls
//
// RunInline runs a call synchronously on the caller's goroutine, with the same
// timeout context, panic recovery and breaker, but the caller waits for Fn.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Defaults for zero (or negative) Config fields and hook timeouts.
const (
	defaultWorkers          = 4
	defaultQueueSize        = 1024
	defaultBreakerThreshold = 5
	defaultMaxRunaway       = 64
	defaultTimeout          = 2 * time.Second

	// closeGrace is how long Close waits for runaways to return, and how
	// long a closing worker waits for a free slot before dropping its queue.
	closeGrace = time.Second
)

// Overflow says what Submit does when the shard's queue is full.
type Overflow int

const (
	// Block makes Submit wait for room, until its ctx ends.
	Block Overflow = iota
	// Drop makes Submit drop the call, count it and report FailDropped.
	Drop
)

func (o Overflow) String() string {
	switch o {
	case Block:
		return "block"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("Overflow(%d)", int(o))
}

// Config configures a Pool. The zero value is usable.
type Config struct {
	Workers          int           // number of shards, one worker goroutine each; 0 -> 4
	QueueSize        int           // per-shard queue capacity; 0 -> 1024
	Overflow         Overflow      // what Submit does when a queue is full
	BreakerThreshold int           // consecutive failures (panic or timeout) that switch a hook off; 0 -> 5
	MaxRunaway       int           // max hook goroutines still running after their timeout, across the pool; 0 -> 64
	OnFailure        func(Failure) // may be nil; called for every failure; its own panics are recovered
	Logger           *slog.Logger  // may be nil: nothing is logged
}

// OnFailure and the Logger run on the goroutine that saw the failure: a
// worker for panics and timeouts (the shard waits for them), the caller of
// Submit or RunInline for drops and inline failures. Keep them fast, and do
// not call Close from OnFailure: Close waits for the workers.

// ErrClosed is returned by Submit once Close has started.
var ErrClosed = errors.New("sandbox: pool closed")

// ErrDropped is returned by Submit when it dropped the call because the
// shard's queue was full (Drop policy, or a Submit from inside a hook).
var ErrDropped = errors.New("sandbox: hook queue full, call dropped")

// Hook is one registered hook's identity and state, shared by all its calls.
// It is safe for concurrent use.
type Hook struct {
	id      uint64
	name    string
	timeout time.Duration

	off     atomic.Bool  // switched off by the user
	tripped atomic.Bool  // switched off by the breaker
	fails   atomic.Int64 // consecutive failures (panics and timeouts)
	lat     latency
}

// NewHook returns an enabled hook. A timeout <= 0 means 2s.
func NewHook(id uint64, name string, timeout time.Duration) *Hook {
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return &Hook{id: id, name: name, timeout: timeout}
}

// ID returns the hook's id.
func (h *Hook) ID() uint64 { return h.id }

// Name returns the hook's name.
func (h *Hook) Name() string { return h.name }

// Timeout returns how long one call of the hook may run.
func (h *Hook) Timeout() time.Duration { return h.timeout }

// Enabled reports whether the hook's calls run: false when switched off by
// SetEnabled(false) or tripped by the breaker.
func (h *Hook) Enabled() bool { return !h.off.Load() && !h.tripped.Load() }

// Tripped reports whether the breaker switched the hook off.
func (h *Hook) Tripped() bool { return h.tripped.Load() }

// SetEnabled switches the hook on or off. Switching it on also resets the
// breaker: the consecutive failure count and the tripped flag.
func (h *Hook) SetEnabled(on bool) {
	if on {
		h.fails.Store(0)
		h.tripped.Store(false)
	}
	h.off.Store(!on)
}

// failed records one failure and reports whether it tripped the breaker.
// Exactly one failure of a run reports true, so FailTripped is reported once.
func (h *Hook) failed(threshold int64) bool {
	return h.fails.Add(1) >= threshold && h.tripped.CompareAndSwap(false, true)
}

// succeeded resets the consecutive failure count. It only writes when there
// is something to reset, to keep the shared cache line clean on the hot path.
func (h *Hook) succeeded() {
	if h.fails.Load() != 0 {
		h.fails.Store(0)
	}
}

// CallOf is one hook invocation: Fn(ctx, Arg). Fn is usually made once per
// hook and Arg carries the event, by value, so that queueing a call
// allocates nothing.
type CallOf[A any] struct {
	Hook *Hook  // must not be nil
	Key  string // for reports only; empty: the pool's keyOf names it (NewOf)
	// Fn is the invocation; ctx carries the hook's timeout deadline.
	Fn  func(ctx context.Context, arg A)
	Arg A
	// Done, if set, is called exactly once when the pool is through with the
	// call: Fn returned or panicked, the call timed out (Fn may still be
	// running), or it was skipped, dropped or refused. The store uses it to
	// acknowledge an expiry event only after its hooks had their turn.
	Done func()
}

func (c *CallOf[A]) finish() {
	if c.Done != nil {
		c.Done()
	}
}

// FailureKind classifies a Failure.
type FailureKind int

const (
	// FailPanic: the hook panicked (or called runtime.Goexit).
	FailPanic FailureKind = iota + 1
	// FailTimeout: the hook had not returned when its timeout expired.
	FailTimeout
	// FailTripped: the breaker switched the hook off.
	FailTripped
	// FailDropped: the call was dropped because its queue was full.
	FailDropped
)

func (k FailureKind) String() string {
	switch k {
	case FailPanic:
		return "panic"
	case FailTimeout:
		return "timeout"
	case FailTripped:
		return "tripped"
	case FailDropped:
		return "dropped"
	}
	return fmt.Sprintf("FailureKind(%d)", int(k))
}

// Failure describes one failure, as passed to Config.OnFailure.
type Failure struct {
	Kind     FailureKind
	HookID   uint64
	HookName string
	Key      string
	// Err describes the failure. For panics its message holds the panic
	// value and the goroutine stack, and it unwraps to the panic value if
	// that is an error. Timeouts wrap context.DeadlineExceeded, drops are
	// ErrDropped.
	Err error
}

// panicError is the Failure.Err of a recovered panic.
type panicError struct {
	hook  string
	value any
	stack []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("sandbox: hook %q panicked: %v\n\n%s", e.hook, e.value, e.stack)
}

func (e *panicError) Unwrap() error {
	err, _ := e.value.(error)
	return err
}

// Stats is a snapshot of a Pool's counters. Once the pool is idle,
// Submitted == Completed + Panics + Timeouts + Dropped + Skipped.
type Stats struct {
	Submitted uint64 // calls accepted by Submit (queued, dropped or skipped) or given to RunInline
	Completed uint64 // calls whose Fn returned in time without panicking
	Panics    uint64 // calls that panicked
	Timeouts  uint64 // calls that overran their timeout
	Dropped   uint64 // calls dropped because a queue was full
	Skipped   uint64 // calls not run because their hook was disabled or tripped
	Tripped   uint64 // times the breaker switched a hook off
	Runaway   int64  // hook goroutines currently still running past their timeout
	Queued    int64  // calls currently waiting in queues
}

// inHookKey marks the contexts given to hook calls; see InHook.
type inHookKey struct{}

// InHook reports whether ctx is (derived from) the context of a hook call run
// by a Pool. Submit never blocks for such a context.
func InHook(ctx context.Context) bool {
	return ctx != nil && ctx.Value(inHookKey{}) != nil
}

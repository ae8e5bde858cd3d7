package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Pool runs hook calls on sharded worker goroutines; see the package doc.
// All methods are safe for concurrent use.
type Pool struct {
	shards    []*shard
	overflow  Overflow
	threshold int64
	onFailure func(Failure)
	log       *slog.Logger

	// slots is a semaphore with MaxRunaway tokens. A call holds one from
	// its start until its Fn returns, even past its timeout: that is what
	// bounds runaways.
	slots chan struct{}
	// gaveUp is set when a closing worker waited closeGrace for a slot in
	// vain: the remaining queued calls are then dropped, see acquire.
	gaveUp atomic.Bool

	// Watchdog state, see watchdog.go.
	epoch      time.Time     // origin of the nanosecond times in nextWake
	kick       chan struct{} // capacity 1: "look again, a call may need you sooner"
	nextWake   atomic.Int64  // when the watchdog looks next, ns since epoch (+1); 0: when kicked
	minTimeout atomic.Int64  // shortest hook timeout seen, in ns
	stop       chan struct{} // closed by Close to end the watchdog
	stopped    chan struct{} // closed by the watchdog when it ends

	closeOnce   sync.Once
	closing     chan struct{}  // closed when Close starts: wakes Submits waiting for room
	drain       chan struct{}  // closed once no Submit can enqueue: workers empty their queue and exit
	workers     sync.WaitGroup // the shards' worker goroutines (not the runaways)
	runawayExit chan struct{}  // capacity 1: a runaway returned (for Close)

	inlineSubmitted atomic.Uint64
	inlineCompleted atomic.Uint64
	panics          atomic.Uint64
	timeouts        atomic.Uint64
	dropped         atomic.Uint64
	skipped         atomic.Uint64
	tripped         atomic.Uint64
	runaway         atomic.Int64
}

// shard is one queue and the state of its worker.
type shard struct {
	q chan Call
	// mu is held shared by Submit while it enqueues, and exclusively by
	// Close to set closed: once Close has had it, nothing more gets queued,
	// so the workers can drain their queue knowing it is final.
	mu     sync.RWMutex
	closed bool // guarded by mu

	cur       atomic.Pointer[task] // the call the worker is running, for the watchdog
	submitted atomic.Uint64
	completed atomic.Uint64

	_ [64]byte // keep busy shards off each other's cache lines
}

// task is one started call of a queued Fn: its context and whether it
// ended in time. The worker and the watchdog race to move state away from
// running; whoever wins decides between "completed" and "timed out".
type task struct {
	ctx   hookCtx
	call  Call
	state atomic.Int32
}

const (
	running int32 = iota
	finished
	timedOut
)

// New starts a pool: Workers worker goroutines and one watchdog.
func New(cfg Config) *Pool {
	workers := orDefault(cfg.Workers, defaultWorkers)
	queueSize := orDefault(cfg.QueueSize, defaultQueueSize)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pool{
		shards:      make([]*shard, workers),
		overflow:    cfg.Overflow,
		threshold:   int64(orDefault(cfg.BreakerThreshold, defaultBreakerThreshold)),
		onFailure:   cfg.OnFailure,
		log:         log,
		slots:       make(chan struct{}, orDefault(cfg.MaxRunaway, defaultMaxRunaway)),
		epoch:       time.Now(),
		kick:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		stopped:     make(chan struct{}),
		closing:     make(chan struct{}),
		drain:       make(chan struct{}),
		runawayExit: make(chan struct{}, 1),
	}
	p.minTimeout.Store(math.MaxInt64)
	for i := range p.shards {
		s := &shard{q: make(chan Call, queueSize)}
		p.shards[i] = s
		p.workers.Add(1)
		go p.work(s, nil)
	}
	go p.watchdog()
	return p
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// Submit queues c on shard (shard % Workers); calls of one shard start in
// submission order. It returns nil if the call was queued or skipped
// because its hook is disabled, ErrDropped if the queue was full and the call
// was dropped, ErrClosed once Close has started, or an error wrapping
// ctx.Err() if the Block policy waited for room until ctx ended. Submit never
// waits when InHook(ctx).
func (p *Pool) Submit(ctx context.Context, shard uint64, c Call) error {
	s := p.shards[shard%uint64(len(p.shards))]
	err := p.enqueue(ctx, s, c)
	if err == ErrDropped {
		p.report(newFailure(FailDropped, c, ErrDropped))
	}
	if err != nil {
		c.finish()
	}
	return err
}

// enqueue is Submit's work under the shard's read lock. Drops are counted
// here but reported by Submit, after the lock is released.
func (p *Pool) enqueue(ctx context.Context, s *shard, c Call) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.submitted.Add(1)
	if !c.Hook.Enabled() {
		p.skipped.Add(1)
		c.finish()
		return nil
	}
	select {
	case s.q <- c:
		return nil
	default:
	}
	if p.overflow == Drop || InHook(ctx) {
		p.dropped.Add(1)
		return ErrDropped
	}
	var err error
	select {
	case s.q <- c:
		return nil
	case <-ctx.Done():
		err = fmt.Errorf("sandbox: waiting for room in hook queue: %w", ctx.Err())
	case <-p.closing:
		err = ErrClosed
	}
	s.submitted.Add(^uint64(0)) // rejected after all: not counted
	return err
}

// work is the loop of a shard's worker goroutine. A worker that replaces one
// stuck in a timed-out call first reports the failures the watchdog found:
// that keeps user callbacks (OnFailure, the Logger) off the watchdog.
func (p *Pool) work(s *shard, pending []Failure) {
	for _, f := range pending {
		p.report(f)
	}
	for {
		var c Call
		select {
		case c = <-s.q:
		case <-p.drain:
			// Nothing can be queued any more: finish what is there.
			select {
			case c = <-s.q:
			default:
				p.workers.Done()
				return
			}
		}
		if !p.run(s, c) {
			return // this goroutine is no longer the shard's worker
		}
	}
}

// run runs one call on the worker goroutine. It returns false when the call
// overran its timeout: the watchdog has then handed the shard to a new worker
// and this goroutine, now a runaway, must exit.
func (p *Pool) run(s *shard, c Call) bool {
	if !p.acquire() {
		p.dropped.Add(1)
		p.report(newFailure(FailDropped, c, ErrDropped))
		c.finish()
		return true
	}
	if !c.Hook.Enabled() {
		<-p.slots
		p.skipped.Add(1)
		c.finish()
		return true
	}

	t := &task{call: c}
	t.ctx.deadline = time.Now().Add(c.Hook.timeout)
	s.cur.Store(t)
	p.watch(t)

	returned := false
	defer func() {
		if !returned {
			p.goexit(s, t)
		}
	}()
	perr := invoke(&t.ctx, c)
	returned = true

	if !t.state.CompareAndSwap(running, finished) {
		p.runawayReturned(t, perr)
		return false
	}
	s.cur.CompareAndSwap(t, nil)
	t.ctx.cancel(context.Canceled)
	<-p.slots
	c.finish()
	if perr != nil {
		p.reportAll(p.failed(c, FailPanic, perr))
		return true
	}
	c.Hook.succeeded()
	s.completed.Add(1)
	return true
}

// invoke calls c.Fn, turning a panic into an error that carries its stack.
func invoke(ctx context.Context, c Call) (perr *panicError) {
	start := time.Now()
	defer func() {
		c.Hook.lat.record(time.Since(start))
		if v := recover(); v != nil {
			// Still inside the panicking goroutine's frames: the stack
			// shows where the hook panicked.
			perr = &panicError{hook: c.Hook.name, value: v, stack: debug.Stack()}
		}
	}()
	c.Fn(ctx)
	return nil
}

// acquire takes a slot for a call about to start, waiting while runaways
// hold them all. Once Close has started it waits at most closeGrace for a
// slot; if none frees up, the pool gives up on the queued calls and acquire
// returns false (the caller drops the call) without waiting again.
func (p *Pool) acquire() bool {
	select {
	case p.slots <- struct{}{}:
		return true
	default:
	}
	select {
	case p.slots <- struct{}{}:
		return true
	case <-p.drain:
	}
	if p.gaveUp.Load() {
		return false
	}
	timer := time.NewTimer(closeGrace)
	defer timer.Stop()
	select {
	case p.slots <- struct{}{}:
		return true
	case <-timer.C:
		p.gaveUp.Store(true)
		return false
	}
}

// runawayReturned is run by a runaway goroutine when its Fn finally returns,
// just before the goroutine exits.
func (p *Pool) runawayReturned(t *task, perr *panicError) {
	if perr != nil {
		// The call was already counted and reported as a timeout; a panic
		// this late only gets logged.
		p.logFailure(slog.LevelError, "sandbox: hook panicked after its timeout",
			newFailure(FailPanic, t.call, perr))
	}
	// Uncount the runaway before freeing its slot, so that Runaway never
	// exceeds MaxRunaway even for an instant.
	p.runaway.Add(-1)
	<-p.slots
	select {
	case p.runawayExit <- struct{}{}:
	default:
	}
}

// goexit runs when Fn called runtime.Goexit (t.FailNow in a test, say): the
// worker goroutine is ending and nothing can stop it. Count the call as a
// panic and, as on a timeout, give the shard a new worker.
func (p *Pool) goexit(s *shard, t *task) {
	if !t.state.CompareAndSwap(running, finished) {
		p.runawayReturned(t, nil) // it had already timed out
		return
	}
	s.cur.CompareAndSwap(t, nil)
	t.ctx.cancel(context.Canceled)
	<-p.slots
	t.call.finish()
	err := fmt.Errorf("sandbox: hook %q called runtime.Goexit", t.call.Hook.name)
	p.replaceWorker(s, p.failed(t.call, FailPanic, err))
}

// replaceWorker starts a new worker for s, whose current worker goroutine
// has stopped being one, and has it report pending first.
func (p *Pool) replaceWorker(s *shard, pending []Failure) {
	// Add before Done: the count never touches zero, so Close cannot
	// finish waiting for the workers in between.
	p.workers.Add(1)
	go p.work(s, pending)
	p.workers.Done()
}

// failed does the bookkeeping of a panicked or timed-out call and returns the
// failures to report: the call's own, plus FailTripped if it tripped the
// breaker.
func (p *Pool) failed(c Call, kind FailureKind, err error) []Failure {
	if kind == FailPanic {
		p.panics.Add(1)
	} else {
		p.timeouts.Add(1)
	}
	fs := []Failure{newFailure(kind, c, err)}
	if c.Hook.failed(p.threshold) {
		p.tripped.Add(1)
		fs = append(fs, newFailure(FailTripped, c, fmt.Errorf(
			"sandbox: hook %q switched off after %d consecutive failures", c.Hook.name, p.threshold)))
	}
	return fs
}

func (p *Pool) reportAll(fs []Failure) {
	for _, f := range fs {
		p.report(f)
	}
}

// report logs f and passes it to OnFailure. It is never called with a pool
// lock held, so OnFailure may use the pool.
func (p *Pool) report(f Failure) {
	level := slog.LevelWarn
	if f.Kind == FailPanic {
		level = slog.LevelError
	}
	p.logFailure(level, "sandbox: hook failed", f)
	if p.onFailure == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			p.logFailure(slog.LevelError, "sandbox: OnFailure panicked", Failure{
				Kind: f.Kind, HookID: f.HookID, HookName: f.HookName, Key: f.Key,
				Err: fmt.Errorf("sandbox: OnFailure panicked: %v\n\n%s", v, debug.Stack()),
			})
		}
	}()
	p.onFailure(f)
}

func (p *Pool) logFailure(level slog.Level, msg string, f Failure) {
	// A panicking slog.Handler must not take a worker down; there is
	// nowhere left to report it.
	defer func() { _ = recover() }()
	p.log.LogAttrs(context.Background(), level, msg,
		slog.String("kind", f.Kind.String()),
		slog.Uint64("hook_id", f.HookID),
		slog.String("hook", f.HookName),
		slog.String("key", f.Key),
		slog.Any("error", f.Err))
}

// RunInline runs c now, on the caller's goroutine, if its hook is enabled.
// Fn gets a context with the hook's timeout (derived from ctx, and for which
// InHook is true); panics are recovered and reported, and panics and
// timeouts count for the breaker as for queued calls. RunInline waits for Fn
// to return however long it takes: a call that returns after its timeout is
// counted as a timeout, but delays its caller all the same. RunInline does
// not use the queues or workers, and still works after Close.
func (p *Pool) RunInline(ctx context.Context, c Call) {
	p.inlineSubmitted.Add(1)
	defer c.finish()
	h := c.Hook
	if !h.Enabled() {
		p.skipped.Add(1)
		return
	}
	start := time.Now()
	ictx, cancel := context.WithDeadline(context.WithValue(ctx, inHookKey{}, true), start.Add(h.timeout))
	perr := invoke(ictx, c)
	cancel()
	switch {
	case perr != nil:
		p.reportAll(p.failed(c, FailPanic, perr))
	case time.Since(start) >= h.timeout:
		p.reportAll(p.failed(c, FailTimeout, timeoutError(h)))
	default:
		h.succeeded()
		p.inlineCompleted.Add(1)
	}
}

func timeoutError(h *Hook) error {
	return fmt.Errorf("sandbox: hook %q still running after its %v timeout: %w",
		h.name, h.timeout, context.DeadlineExceeded)
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() Stats {
	st := Stats{
		Submitted: p.inlineSubmitted.Load(),
		Completed: p.inlineCompleted.Load(),
		Panics:    p.panics.Load(),
		Timeouts:  p.timeouts.Load(),
		Dropped:   p.dropped.Load(),
		Skipped:   p.skipped.Load(),
		Tripped:   p.tripped.Load(),
		Runaway:   p.runaway.Load(),
	}
	for _, s := range p.shards {
		st.Submitted += s.submitted.Load()
		st.Completed += s.completed.Load()
		st.Queued += int64(len(s.q))
	}
	return st
}

// Close stops the pool. From the moment it starts, Submit returns
// ErrClosed. It runs the calls already queued (timeouts still apply), waits
// for the worker goroutines and the watchdog to exit, then waits at most one
// second for runaways, whose contexts were cancelled when they timed out, to
// return; Stats().Runaway tells how many are still running after that.
// (Should runaways hold every slot throughout, the queued calls cannot start:
// after one second without a free slot they are dropped.)
// Close is idempotent and safe to call concurrently with the other methods.
// Called from a hook, it cannot finish before that hook times out.
func (p *Pool) Close() {
	p.closeOnce.Do(p.close)
}

func (p *Pool) close() {
	close(p.closing)
	for _, s := range p.shards {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}
	close(p.drain)
	p.workers.Wait()
	close(p.stop)
	<-p.stopped

	if p.runaway.Load() == 0 {
		return
	}
	timer := time.NewTimer(closeGrace)
	defer timer.Stop()
	for p.runaway.Load() > 0 {
		select {
		case <-p.runawayExit:
		case <-timer.C:
			return
		}
	}
}

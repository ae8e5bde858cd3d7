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

// PoolOf runs hook calls on sharded worker goroutines; see the package doc.
// Its calls take an argument of type A, carried by value in the queue, so
// that a call needs no closure: a store passes each event's key and value
// that way, and a queued call costs no heap allocation. All methods are
// safe for concurrent use.
type PoolOf[A any] struct {
	shards    []*shard[A]
	overflow  Overflow
	threshold int64
	onFailure func(Failure)
	log       *slog.Logger
	// keyOf names the key of a call whose Key is empty, for reports.
	keyOf func(A) string

	// slots is a semaphore with MaxRunaway tokens. A call holds one from
	// its start until its Fn returns, even past its timeout: that is what
	// bounds runaways.
	slots chan struct{}
	// gaveUp is set when a closing worker waited closeGrace for a slot in
	// vain: the remaining queued calls are then dropped, see acquire.
	gaveUp atomic.Bool

	// Watchdog state, see watchdog.go.
	kick       chan struct{} // capacity 1: "look again, a call may need you sooner"
	nextWake   atomic.Int64  // when the watchdog looks next, ns since epoch; 0: when kicked
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
type shard[A any] struct {
	// mu guards the queue and the fields after it. Close sets closed under
	// it: from then on nothing more gets queued, so the worker can drain
	// its queue knowing it is final.
	mu     sync.Mutex
	q      ring[A]
	closed bool
	// idle is set by the worker when it found the queue empty and waits
	// on ready; the Submit that queues a call next wakes it.
	idle  bool
	ready chan struct{} // capacity 1
	// waiting counts the Submits that wait for room (Block); the worker
	// closes room, and makes a new one, when it takes a call while any do.
	waiting int
	room    chan struct{}

	cur       atomic.Pointer[task[A]] // the task of the worker, for the watchdog
	submitted atomic.Uint64
	completed atomic.Uint64

	_ [64]byte // keep busy shards off each other's cache lines
}

// task is a worker goroutine's record of the call it runs, which the
// watchdog reads: its deadline, its context and whether it ended in time.
// A worker reuses its task from one call to the next; each call is a new
// generation of its state (gen<<2 | status). The worker and the watchdog
// race to move a generation away from running; whoever wins decides
// between "completed" and "timed out". A worker whose call timed out
// becomes a runaway and keeps its task; the shard's new worker gets a new
// one.
type task[A any] struct {
	state    atomic.Uint64
	deadline atomic.Int64 // of the call running, ns since epoch
	// call and ctx are the running call's: the worker writes them before it
	// publishes the generation in state, the watchdog reads them only once
	// it won that generation, so they need no lock.
	call CallOf[A]
	ctx  *hookCtx
	// ctxs are contexts for the calls to come, allocated a slab at a time:
	// each call gets a context of its own, which may outlive the call.
	ctxs []hookCtx
}

// The status of a task's generation, in the low bits of its state.
const (
	idle uint64 = iota // no call yet
	running
	finished
	timedOut
	statusMask = 3
)

// ctxSlab is how many call contexts a worker allocates at a time.
const ctxSlab = 128

// newCtx returns a context for the worker's next call.
func (t *task[A]) newCtx() *hookCtx {
	if len(t.ctxs) == 0 {
		t.ctxs = make([]hookCtx, ctxSlab)
	}
	c := &t.ctxs[0]
	t.ctxs = t.ctxs[1:]
	return c
}

// NewOf starts a pool of calls taking an A: Workers worker goroutines and
// one watchdog. keyOf, if not nil, names the key of a call whose Key is
// empty in the failures reported, so that a caller need not make the
// string of every call's key for the few that fail.
func NewOf[A any](cfg Config, keyOf func(A) string) *PoolOf[A] {
	workers := orDefault(cfg.Workers, defaultWorkers)
	queueSize := orDefault(cfg.QueueSize, defaultQueueSize)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &PoolOf[A]{
		shards:      make([]*shard[A], workers),
		overflow:    cfg.Overflow,
		threshold:   int64(orDefault(cfg.BreakerThreshold, defaultBreakerThreshold)),
		onFailure:   cfg.OnFailure,
		log:         log,
		keyOf:       keyOf,
		slots:       make(chan struct{}, orDefault(cfg.MaxRunaway, defaultMaxRunaway)),
		kick:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		stopped:     make(chan struct{}),
		closing:     make(chan struct{}),
		drain:       make(chan struct{}),
		runawayExit: make(chan struct{}, 1),
	}
	p.minTimeout.Store(math.MaxInt64)
	for i := range p.shards {
		// The queue grows as calls wait in it, up to queueSize: a store
		// whose hooks keep up never holds room for more.
		s := &shard[A]{q: ring[A]{max: queueSize}, ready: make(chan struct{}, 1), room: make(chan struct{})}
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
func (p *PoolOf[A]) Submit(ctx context.Context, shard uint64, c CallOf[A]) error {
	one := [1]QueuedOf[A]{{Shard: shard, Call: c}}
	taken, dropped, err := p.enqueue(ctx, p.shardOf(shard), one[:])
	p.reject(dropped, one[taken:])
	if len(dropped) > 0 {
		return ErrDropped
	}
	return err
}

// QueuedOf is one call of a SubmitBatch, with the shard it goes to.
type QueuedOf[A any] struct {
	Shard uint64
	Call  CallOf[A]
}

// SubmitBatch queues calls as Submit would queue each, in their order, but
// takes each shard's lock once for all the calls it gets: a batch of
// events reaches the pool in one step. Calls that cannot be queued are
// handled as Submit handles them (a dropped call is counted and reported,
// and every call that is not queued is finished), but no error is
// returned: like Submit's, they never fail the operation that raised them.
func (p *PoolOf[A]) SubmitBatch(ctx context.Context, calls []QueuedOf[A]) {
	for i := range p.shards {
		var mine []QueuedOf[A]
		for j, q := range calls {
			if p.shardOf(q.Shard) == p.shards[i] {
				mine = calls[j:] // enqueue skips the other shards' calls
				break
			}
		}
		if mine == nil {
			continue
		}
		taken, dropped, _ := p.enqueue(ctx, p.shards[i], mine)
		var rest []QueuedOf[A]
		for _, q := range mine[taken:] {
			if p.shardOf(q.Shard) == p.shards[i] {
				rest = append(rest, q)
			}
		}
		p.reject(dropped, rest)
	}
}

func (p *PoolOf[A]) shardOf(shard uint64) *shard[A] { return p.shards[shard%uint64(len(p.shards))] }

// reject reports the calls enqueue dropped and finishes them and the ones
// it did not take, with no lock held.
func (p *PoolOf[A]) reject(dropped []CallOf[A], rest []QueuedOf[A]) {
	for _, c := range dropped {
		p.report(p.newFailure(FailDropped, &c, ErrDropped))
		c.finish()
	}
	for _, q := range rest {
		q.Call.finish()
	}
}

// enqueue queues, in order, the calls of calls that go to s (others are
// skipped). A call whose hook is disabled is skipped (and finished); one
// that finds the queue full is dropped (under Drop, or from a hook's ctx)
// and returned in dropped, counted but not reported yet; or it waits for
// room (Block). It returns how far into calls it got: when it stops early,
// because the pool closed or ctx ended, calls[taken] is the first call it
// did not take, and err says why.
func (p *PoolOf[A]) enqueue(ctx context.Context, s *shard[A], calls []QueuedOf[A]) (taken int, dropped []CallOf[A], err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	queued := false
	wake := func() {
		if queued && s.idle {
			s.idle = false
			select {
			case s.ready <- struct{}{}:
			default:
			}
		}
	}
	defer wake()
	for i := 0; i < len(calls); i++ {
		c := &calls[i].Call
		if p.shardOf(calls[i].Shard) != s {
			continue
		}
		if s.closed {
			return i, dropped, ErrClosed
		}
		if !c.Hook.Enabled() {
			s.submitted.Add(1)
			p.skipped.Add(1)
			c.finish()
			continue
		}
		if s.q.n < s.q.max {
			s.submitted.Add(1)
			s.q.push(c)
			queued = true
			continue
		}
		if p.overflow == Drop || InHook(ctx) {
			s.submitted.Add(1)
			p.dropped.Add(1)
			dropped = append(dropped, *c)
			continue
		}
		// Block: wait until the worker has made room, and try again. The
		// worker may be idle with a full queue if this call filled it.
		wake()
		s.waiting++
		room := s.room
		s.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			err = fmt.Errorf("sandbox: waiting for room in hook queue: %w", ctx.Err())
		case <-p.closing:
			err = ErrClosed
		}
		s.mu.Lock()
		s.waiting--
		if err != nil {
			return i, dropped, err
		}
		i-- // try the same call again
	}
	return len(calls), dropped, nil
}

// take returns the next queued call of s for its worker, waiting for one;
// false once the pool closed and the queue is empty. Before it waits it
// calls idle, which lets go of the worker's slot.
func (p *PoolOf[A]) take(s *shard[A], c *CallOf[A], idle func()) bool {
	for {
		s.mu.Lock()
		s.idle = false
		if s.q.n > 0 {
			s.q.pop(c)
			// Submits waiting for room are woken once the queue is down to
			// half: each wake-up then has room for many calls.
			if s.waiting > 0 && s.q.n <= s.q.max/2 {
				close(s.room)
				s.room = make(chan struct{})
			}
			s.mu.Unlock()
			return true
		}
		if s.closed {
			s.mu.Unlock()
			return false
		}
		s.idle = true
		s.mu.Unlock()
		idle()
		select {
		case <-s.ready:
		case <-p.drain:
		}
	}
}

// work is the loop of a shard's worker goroutine. A worker that replaces one
// stuck in a timed-out call first reports the failures the watchdog found:
// that keeps user callbacks (OnFailure, the Logger) off the watchdog.
//
// A call may start only while its worker holds a slot (see Pool.slots).
// The worker keeps its slot from one call to the next while its queue has
// calls, and lets it go when it waits for more, or after a call when every
// slot is taken (others may be waiting for one).
func (p *PoolOf[A]) work(s *shard[A], pending []Failure) {
	for _, f := range pending {
		p.report(f)
	}
	held := false
	release := func() {
		if held {
			<-p.slots
			held = false
		}
	}
	t := &task[A]{}
	for {
		// The call is taken into the task, where it stays while it runs:
		// the watchdog finds it there.
		if !p.take(s, &t.call, release) {
			release()
			p.workers.Done()
			return
		}
		if !held {
			if !p.acquire() {
				p.dropped.Add(1)
				p.report(p.newFailure(FailDropped, &t.call, ErrDropped))
				t.call.finish()
				t.call = CallOf[A]{}
				continue
			}
			held = true
		}
		if !p.run(s, t) {
			// This goroutine is a runaway now, and no longer the shard's
			// worker; its slot stays with it until its call returns.
			return
		}
		if len(p.slots) == cap(p.slots) {
			release()
		}
	}
}

// run runs t.call, the call the worker took, on the worker goroutine,
// which holds a slot. It returns false when the call overran its timeout:
// the watchdog has then handed the shard to a new worker and this
// goroutine, now a runaway, must exit.
func (p *PoolOf[A]) run(s *shard[A], t *task[A]) bool {
	c := &t.call
	if !c.Hook.Enabled() {
		p.skipped.Add(1)
		c.finish()
		*c = CallOf[A]{}
		return true
	}

	ctx := t.newCtx()
	ctx.deadline = now() + int64(c.Hook.timeout)
	t.ctx = ctx
	t.deadline.Store(ctx.deadline)
	gen := (t.state.Load() &^ statusMask) + statusMask + 1
	t.state.Store(gen | running)
	if s.cur.Load() != t {
		s.cur.Store(t)
	}
	p.watch(c.Hook.timeout, ctx.deadline)

	returned := false
	defer func() {
		if !returned {
			p.goexit(s, t, gen)
		}
	}()
	perr := invoke(ctx, c)
	returned = true

	if !t.state.CompareAndSwap(gen|running, gen|finished) {
		p.runawayReturned(t, perr)
		return false
	}
	ctx.cancel(canceled)
	c.finish()
	if perr != nil {
		p.reportAll(p.failed(c, FailPanic, perr))
	} else {
		c.Hook.succeeded()
		s.completed.Add(1)
	}
	*c = CallOf[A]{} // let go of the argument
	return true
}

// invoke calls c.Fn, turning a panic into an error that carries its stack.
func invoke[A any](ctx context.Context, c *CallOf[A]) (perr *panicError) {
	start := time.Now()
	defer func() {
		c.Hook.lat.record(time.Since(start))
		if v := recover(); v != nil {
			// Still inside the panicking goroutine's frames: the stack
			// shows where the hook panicked.
			perr = &panicError{hook: c.Hook.name, value: v, stack: debug.Stack()}
		}
	}()
	c.Fn(ctx, c.Arg)
	return nil
}

// acquire takes a slot for a call about to start, waiting while runaways
// hold them all. Once Close has started it waits at most closeGrace for a
// slot; if none frees up, the pool gives up on the queued calls and acquire
// returns false (the caller drops the call) without waiting again.
func (p *PoolOf[A]) acquire() bool {
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
func (p *PoolOf[A]) runawayReturned(t *task[A], perr *panicError) {
	if perr != nil {
		// The call was already counted and reported as a timeout; a panic
		// this late only gets logged.
		p.logFailure(slog.LevelError, "sandbox: hook panicked after its timeout",
			p.newFailure(FailPanic, &t.call, perr))
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
func (p *PoolOf[A]) goexit(s *shard[A], t *task[A], gen uint64) {
	if !t.state.CompareAndSwap(gen|running, gen|finished) {
		p.runawayReturned(t, nil) // it had already timed out
		return
	}
	s.cur.CompareAndSwap(t, nil)
	t.ctx.cancel(canceled)
	<-p.slots
	t.call.finish()
	err := fmt.Errorf("sandbox: hook %q called runtime.Goexit", t.call.Hook.name)
	p.replaceWorker(s, p.failed(&t.call, FailPanic, err))
}

// replaceWorker starts a new worker for s, whose current worker goroutine
// has stopped being one, and has it report pending first.
func (p *PoolOf[A]) replaceWorker(s *shard[A], pending []Failure) {
	// Add before Done: the count never touches zero, so Close cannot
	// finish waiting for the workers in between.
	p.workers.Add(1)
	go p.work(s, pending)
	p.workers.Done()
}

// failed does the bookkeeping of a panicked or timed-out call and returns the
// failures to report: the call's own, plus FailTripped if it tripped the
// breaker.
func (p *PoolOf[A]) failed(c *CallOf[A], kind FailureKind, err error) []Failure {
	if kind == FailPanic {
		p.panics.Add(1)
	} else {
		p.timeouts.Add(1)
	}
	fs := []Failure{p.newFailure(kind, c, err)}
	if c.Hook.failed(p.threshold) {
		p.tripped.Add(1)
		fs = append(fs, p.newFailure(FailTripped, c, fmt.Errorf(
			"sandbox: hook %q switched off after %d consecutive failures", c.Hook.name, p.threshold)))
	}
	return fs
}

// newFailure describes a failure of c.
func (p *PoolOf[A]) newFailure(kind FailureKind, c *CallOf[A], err error) Failure {
	key := c.Key
	if key == "" && p.keyOf != nil {
		key = p.keyOf(c.Arg)
	}
	return Failure{Kind: kind, HookID: c.Hook.id, HookName: c.Hook.name, Key: key, Err: err}
}

func (p *PoolOf[A]) reportAll(fs []Failure) {
	for _, f := range fs {
		p.report(f)
	}
}

// report logs f and passes it to OnFailure. It is never called with a pool
// lock held, so OnFailure may use the pool.
func (p *PoolOf[A]) report(f Failure) {
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

func (p *PoolOf[A]) logFailure(level slog.Level, msg string, f Failure) {
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
func (p *PoolOf[A]) RunInline(ctx context.Context, c CallOf[A]) {
	p.inlineSubmitted.Add(1)
	defer c.finish()
	h := c.Hook
	if !h.Enabled() {
		p.skipped.Add(1)
		return
	}
	start := time.Now()
	ictx, cancel := context.WithDeadline(context.WithValue(ctx, inHookKey{}, true), start.Add(h.timeout))
	perr := invoke(ictx, &c)
	cancel()
	switch {
	case perr != nil:
		p.reportAll(p.failed(&c, FailPanic, perr))
	case time.Since(start) >= h.timeout:
		p.reportAll(p.failed(&c, FailTimeout, timeoutError(h)))
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
func (p *PoolOf[A]) Stats() Stats {
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
		s.mu.Lock()
		st.Queued += int64(s.q.n)
		s.mu.Unlock()
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
func (p *PoolOf[A]) Close() {
	p.closeOnce.Do(p.close)
}

func (p *PoolOf[A]) close() {
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

// ring is a shard's queue: an array used as a circular buffer, which
// grows (doubling) while calls wait in it, up to max calls.
type ring[A any] struct {
	buf     []CallOf[A]
	head, n int
	max     int
}

// minRing is the room a queue starts with.
const minRing = 16

func (r *ring[A]) push(c *CallOf[A]) {
	if r.n == len(r.buf) {
		buf := make([]CallOf[A], min(max(2*len(r.buf), minRing), r.max))
		k := copy(buf, r.buf[r.head:])
		copy(buf[k:], r.buf[:r.head])
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = *c
	r.n++
}

// pop moves the oldest call into c.
func (r *ring[A]) pop(c *CallOf[A]) {
	*c = r.buf[r.head]
	r.buf[r.head] = CallOf[A]{} // let the call's argument and closures go
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

package sandbox

import "context"

// Call is one hook invocation given as a closure, for a Pool.
type Call struct {
	Hook *Hook                     // must not be nil
	Key  string                    // for reports only
	Fn   func(ctx context.Context) // the invocation; ctx carries the hook's timeout deadline
	// Done, if set, is called exactly once when the pool is through with the
	// call: Fn returned or panicked, the call timed out (Fn may still be
	// running), or it was skipped, dropped or refused.
	Done func()
}

// Queued is one call of a SubmitBatch, with the shard it goes to.
type Queued struct {
	Shard uint64
	Call  Call
}

// Pool is a PoolOf whose calls are closures: each call's Fn holds what it
// needs. A closure is an allocation per call; PoolOf takes its calls'
// arguments by value instead.
type Pool struct {
	p *PoolOf[func(context.Context)]
}

// New starts a pool of closures: Workers worker goroutines and one
// watchdog.
func New(cfg Config) *Pool {
	return &Pool{p: NewOf[func(context.Context)](cfg, nil)}
}

func (c Call) of() CallOf[func(context.Context)] {
	return CallOf[func(context.Context)]{Hook: c.Hook, Key: c.Key, Fn: callClosure, Arg: c.Fn, Done: c.Done}
}

func callClosure(ctx context.Context, fn func(context.Context)) { fn(ctx) }

// Submit is PoolOf.Submit.
func (p *Pool) Submit(ctx context.Context, shard uint64, c Call) error {
	return p.p.Submit(ctx, shard, c.of())
}

// SubmitBatch is PoolOf.SubmitBatch.
func (p *Pool) SubmitBatch(ctx context.Context, calls []Queued) {
	qs := make([]QueuedOf[func(context.Context)], len(calls))
	for i, q := range calls {
		qs[i] = QueuedOf[func(context.Context)]{Shard: q.Shard, Call: q.Call.of()}
	}
	p.p.SubmitBatch(ctx, qs)
}

// RunInline is PoolOf.RunInline.
func (p *Pool) RunInline(ctx context.Context, c Call) { p.p.RunInline(ctx, c.of()) }

// Stats is PoolOf.Stats.
func (p *Pool) Stats() Stats { return p.p.Stats() }

// Close is PoolOf.Close.
func (p *Pool) Close() { p.p.Close() }

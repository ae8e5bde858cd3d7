package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

// batcher pipelines concurrent operations: each operation queues its
// commands, and a few loops send whatever has queued meanwhile as one
// pipeline, so N goroutines (or N async operations) waiting on Redis cost
// about one round trip, not N.
//
// A pipeline in flight holds one of slots (WithPipelines of them). A
// caller whose ctx can never end finds a free slot and sends its own
// commands as a pipeline of their own, from its goroutine: a lone caller
// pays no hand-off to a loop and back, which costs about as much as the
// round trip itself on a busy machine. A ctx that can end takes the loops'
// way, so that do returns as soon as it ends, whatever the server does;
// so does any call while every slot is taken, so that concurrent callers
// still share pipelines.
type batcher struct {
	c     goredis.UniversalClient
	slots chan struct{}
	// down holds the network error of the last pipeline while the server
	// is unreachable; probing is set while one pipeline tries it again.
	// Meanwhile other operations fail at once with that error instead of
	// each waiting through the client's dial retries.
	down    atomic.Pointer[error]
	probing atomic.Bool
	reqs    chan *batchReq
	stop    chan struct{}
	loops   sync.WaitGroup
	ctx     context.Context // ends at Close
	cancel  context.CancelFunc
}

// batchReq is one operation: queue adds its commands to a pipeline, or
// cmds are built already, or ops are writes of single keys that the
// batcher sends as one script call per shard (see slotOp).
type batchReq struct {
	queue func(p goredis.Pipeliner) []goredis.Cmder
	cmds  []goredis.Cmder
	ops   []*slotOp
	// queued closes once queue has run (or ops were turned into
	// commands), done once the replies are in; neither is made for a
	// request its caller sends itself.
	queued chan struct{}
	done   chan struct{}
	// state moves from pending to taken (a loop runs it) or to dropped
	// (its caller gave up first), never both: a caller that gives up after
	// its request was taken waits until queue has run, so queue never runs
	// after do returned.
	state atomic.Int32
	// Room for the command or the op of a request of one, so that such a
	// request is one allocation.
	one   [1]goredis.Cmder
	oneOp [1]*slotOp
}

// opReq is a request of one op, with the op.
type opReq struct {
	batchReq
	op slotOp
}

const (
	pending int32 = iota
	taken
	dropped
)

const maxBatch = 128

func newBatcher(c goredis.UniversalClient, loops int) *batcher {
	bt := &batcher{c: c, slots: make(chan struct{}, loops), reqs: make(chan *batchReq), stop: make(chan struct{})}
	bt.ctx, bt.cancel = context.WithCancel(context.Background())
	for range loops {
		bt.loops.Add(1)
		go bt.loop()
	}
	return bt
}

// close stops the loops and waits for every pipeline in flight: it takes
// every slot, for good, so that no caller starts one of its own after.
func (bt *batcher) close() {
	bt.cancel()
	close(bt.stop)
	bt.loops.Wait()
	for range cap(bt.slots) {
		bt.slots <- struct{}{}
	}
}

// do queues an operation and waits for its commands' replies. When ctx ends
// first it returns ctx's error at once; the operation may still reach
// Redis, as any request cut off in flight may, but the caller no longer
// waits for a server that does not answer. The error is then an
// inFlightError when a loop had taken the request (it may have been sent),
// and ctx's own error when it never left the queue.
func (bt *batcher) do(ctx context.Context, queue func(p goredis.Pipeliner) []goredis.Cmder) ([]goredis.Cmder, error) {
	r := &batchReq{queue: queue}
	err := bt.submit(ctx, r)
	return r.cmds, err
}

// doCmds sends commands built already, as do sends what queue queues;
// their replies are in them.
func (bt *batcher) doCmds(ctx context.Context, cmds []goredis.Cmder) error {
	return bt.submit(ctx, &batchReq{cmds: cmds})
}

// doOps sends writes of single keys (see slotOp), as do sends what queue
// queues; each op's reply is in its cmd, at its place.
func (bt *batcher) doOps(ctx context.Context, ops []*slotOp) error {
	return bt.submit(ctx, &batchReq{ops: ops})
}

// doOp sends the op of r, which fill has filled.
func (bt *batcher) doOp(ctx context.Context, r *opReq) error {
	r.oneOp[0] = &r.op
	r.ops = r.oneOp[:]
	return bt.submit(ctx, &r.batchReq)
}

func (bt *batcher) submit(ctx context.Context, r *batchReq) error {
	if ctx.Done() == nil {
		select {
		case bt.slots <- struct{}{}:
			if bt.ctx.Err() != nil {
				<-bt.slots
				return errBackendClosed
			}
			run := [1]*batchReq{r}
			bt.send(run[:])
			<-bt.slots
			return nil
		default:
		}
	}
	r.queued, r.done = make(chan struct{}), make(chan struct{})
	select {
	case bt.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-bt.stop:
		return errBackendClosed
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		if !r.state.CompareAndSwap(pending, dropped) {
			<-r.queued
			return inFlightError{ctx.Err()}
		}
		return ctx.Err()
	}
}

func (bt *batcher) loop() {
	defer bt.loops.Done()
	batch := make([]*batchReq, 0, maxBatch)
	for {
		select {
		case r := <-bt.reqs:
			batch = append(batch[:0], r)
		case <-bt.stop:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-bt.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		// Requests whose callers gave up are left out.
		run := batch[:0]
		for _, r := range batch {
			if r.state.CompareAndSwap(pending, taken) {
				run = append(run, r)
			}
		}
		if len(run) > 0 {
			bt.slots <- struct{}{}
			bt.send(run)
			<-bt.slots
		}
		for _, r := range run {
			close(r.done)
		}
		clear(batch[:cap(batch)])
	}
}

// send executes run, or fails it at once while another pipeline probes a
// server that was unreachable.
func (bt *batcher) send(run []*batchReq) {
	errp := bt.down.Load()
	if errp == nil {
		bt.exec(run)
		bt.noteHealth(run)
		return
	}
	if !bt.probing.CompareAndSwap(false, true) {
		var pipe goredis.Pipeliner
		all, _ := bt.prepare(run, &pipe)
		for _, c := range all {
			c.SetErr(notSentError{*errp})
		}
		return
	}
	bt.exec(run)
	bt.noteHealth(run)
	bt.probing.Store(false)
}

// prepare gives every request of run its commands: it runs the queue of
// each on *pipe (made when nil), and turns the ops into script calls. It
// returns every command of run once, the queued ones first (onPipe of
// them): the others are on no pipeline yet.
func (bt *batcher) prepare(run []*batchReq, pipe *goredis.Pipeliner) (all []goredis.Cmder, onPipe int) {
	if len(run) == 1 && run[0].queue == nil && len(run[0].ops) == 0 {
		// Commands built already, alone: nothing to prepare.
		if run[0].queued != nil {
			close(run[0].queued)
		}
		return run[0].cmds, 0
	}
	var rest []goredis.Cmder
	var ops []*slotOp
	for _, r := range run {
		switch {
		case r.queue != nil:
			if *pipe == nil {
				*pipe = bt.c.Pipeline()
			}
			r.cmds = r.queue(*pipe)
			all = append(all, r.cmds...)
		case len(r.ops) > 0:
			if len(run) == 1 {
				ops = r.ops
			} else {
				ops = append(ops, r.ops...)
			}
		default:
			rest = append(rest, r.cmds...)
		}
	}
	onPipe = len(all)
	switch {
	case len(run) == 1 && len(ops) == 1:
		// A lone op: its call, in its request's room.
		g := opGroup{head: ops[0].head, shard: ops[0].shard, ops: ops}
		all = g.build(bt.ctx, run[0].one[:0])
	default:
		all = append(all, rest...)
		if len(ops) > 0 {
			groups := groupOps(ops)
			for i := range groups {
				all = groups[i].build(bt.ctx, all)
			}
		}
	}
	for _, r := range run {
		if len(r.ops) > 0 {
			// noteHealth reads the first command.
			r.one[0] = r.ops[0].cmd
			r.cmds = r.one[:]
		}
		if r.queued != nil {
			close(r.queued)
		}
	}
	return all, onPipe
}

// noteHealth marks the server down when a pipeline's commands failed with
// a network error (no reply at all), and up when one got a reply.
// The first command tells for the whole pipeline: they share a connection.
func (bt *batcher) noteHealth(run []*batchReq) {
	for _, r := range run {
		if len(r.cmds) == 0 {
			continue
		}
		if err := r.cmds[0].Err(); err == nil || isReply(err) {
			bt.down.Store(nil)
		} else if bt.ctx.Err() == nil {
			down := err
			bt.down.Store(&down)
		}
		return
	}
}

// exec sends the batch as one pipeline (one command alone goes without
// the pipeline's bookkeeping; the client honours its NoRetry alike).
// Scripts go by EVALSHA; a server that lost its script cache (a restart)
// answers NOSCRIPT to them without running them, and those commands alone
// are sent again once the scripts are loaded. queue runs once per request,
// so nothing a caller's queue wrote is written again after the caller may
// have stopped waiting.
func (bt *batcher) exec(batch []*batchReq) {
	var pipe goredis.Pipeliner
	all, onPipe := bt.prepare(batch, &pipe)
	if onPipe == 0 && len(all) == 1 {
		_ = bt.c.Process(bt.ctx, all[0])
	} else {
		if pipe == nil {
			pipe = bt.c.Pipeline()
		}
		for _, c := range all[onPipe:] {
			_ = pipe.Process(bt.ctx, c)
		}
		// A failed pipeline sets its error on every command it did not
		// answer; the operations read their commands' errors.
		_, _ = pipe.Exec(bt.ctx)
	}
	var again []goredis.Cmder
	for _, c := range all {
		if isNoScript(c.Err()) {
			again = append(again, c)
		}
	}
	if len(again) == 0 {
		return
	}
	if err := loadScripts(bt.ctx, bt.c); err != nil {
		for _, c := range again {
			c.SetErr(fmt.Errorf("livedict/redis: loading the scripts after NOSCRIPT: %w", err))
		}
		return
	}
	pipe = bt.c.Pipeline()
	for _, c := range again {
		_ = pipe.Process(bt.ctx, c)
	}
	_, _ = pipe.Exec(bt.ctx)
}

// isReply reports an error that is the server's reply, or no value.
func isReply(err error) bool {
	var redisErr goredis.Error
	return errors.Is(err, goredis.Nil) || errors.As(err, &redisErr)
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// loadScripts loads every script (on every master of a cluster).
func loadScripts(ctx context.Context, c goredis.UniversalClient) error {
	for _, s := range allScripts {
		if err := s.Load(ctx, c).Err(); err != nil {
			return err
		}
	}
	return nil
}

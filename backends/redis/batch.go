package redis

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

// batcher pipelines concurrent operations: each operation queues its
// commands, and a few loops send whatever has queued meanwhile as one
// pipeline, so N goroutines (or N async operations) waiting on Redis cost
// about one round trip, not N. A lone caller pays one channel hand-off.
type batcher struct {
	c      goredis.UniversalClient
	reqs   chan *batchReq
	stop   chan struct{}
	loops  sync.WaitGroup
	ctx    context.Context // ends at Close
	cancel context.CancelFunc
}

// batchReq is one operation: queue adds its commands to a pipeline.
type batchReq struct {
	queue func(p goredis.Pipeliner) []goredis.Cmder
	cmds  []goredis.Cmder
	err   error // set when the scripts could not be loaded again
	done  chan struct{}
	// state moves from pending to taken (a loop runs it) or to dropped
	// (its caller gave up first), never both: a caller that gave up too late
	// waits for the pipeline, so queue never runs after do returned.
	state atomic.Int32
}

const (
	pending int32 = iota
	taken
	dropped
)

const maxBatch = 128

func newBatcher(c goredis.UniversalClient, loops int) *batcher {
	bt := &batcher{c: c, reqs: make(chan *batchReq), stop: make(chan struct{})}
	bt.ctx, bt.cancel = context.WithCancel(context.Background())
	for range loops {
		bt.loops.Add(1)
		go bt.loop()
	}
	return bt
}

func (bt *batcher) close() {
	bt.cancel()
	close(bt.stop)
	bt.loops.Wait()
}

// do queues an operation and waits for its commands' replies. When ctx ends
// first it returns ctx's error; the operation may still reach Redis, as any
// request cut off in flight may.
func (bt *batcher) do(ctx context.Context, queue func(p goredis.Pipeliner) []goredis.Cmder) ([]goredis.Cmder, error) {
	r := &batchReq{queue: queue, done: make(chan struct{})}
	select {
	case bt.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-bt.stop:
		return nil, errBackendClosed
	}
	select {
	case <-r.done:
		return r.cmds, r.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(pending, dropped) {
			return nil, ctx.Err()
		}
		<-r.done
		return r.cmds, r.err
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
		run := batch[:0:0]
		for _, r := range batch {
			if r.state.CompareAndSwap(pending, taken) {
				run = append(run, r)
			}
		}
		bt.exec(run)
		for _, r := range run {
			close(r.done)
		}
		clear(batch)
	}
}

// exec sends the batch as one pipeline. Scripts go by EVALSHA; a server
// that lost its script cache (a restart) answers NOSCRIPT, and those
// operations, which did not run, are sent again after loading the scripts.
func (bt *batcher) exec(batch []*batchReq) {
	todo := batch
	for attempt := 0; attempt < 2 && len(todo) > 0; attempt++ {
		pipe := bt.c.Pipeline()
		for _, r := range todo {
			r.cmds = r.queue(pipe)
		}
		// A failed pipeline sets its error on every command it did not
		// answer; the operations read their commands' errors.
		_, _ = pipe.Exec(bt.ctx)
		var again []*batchReq
		for _, r := range todo {
			if attempt == 0 && noScript(r.cmds) {
				again = append(again, r)
			}
		}
		if len(again) > 0 {
			if err := loadScripts(bt.ctx, bt.c); err != nil {
				for _, r := range again {
					r.err = err
				}
				return
			}
		}
		todo = again
	}
}

func noScript(cmds []goredis.Cmder) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
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

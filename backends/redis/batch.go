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
// about one round trip, not N. A lone caller pays one channel hand-off.
type batcher struct {
	c goredis.UniversalClient
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

// batchReq is one operation: queue adds its commands to a pipeline.
type batchReq struct {
	queue func(p goredis.Pipeliner) []goredis.Cmder
	cmds  []goredis.Cmder
	// queued closes once queue has run, done once the replies are in.
	queued chan struct{}
	done   chan struct{}
	// state moves from pending to taken (a loop runs it) or to dropped
	// (its caller gave up first), never both: a caller that gives up after
	// its request was taken waits until queue has run, so queue never runs
	// after do returned.
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
// first it returns ctx's error at once; the operation may still reach
// Redis, as any request cut off in flight may, but the caller no longer
// waits for a server that does not answer. The error is then an
// inFlightError when a loop had taken the request (it may have been sent),
// and ctx's own error when it never left the queue.
func (bt *batcher) do(ctx context.Context, queue func(p goredis.Pipeliner) []goredis.Cmder) ([]goredis.Cmder, error) {
	r := &batchReq{queue: queue, queued: make(chan struct{}), done: make(chan struct{})}
	select {
	case bt.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-bt.stop:
		return nil, errBackendClosed
	}
	select {
	case <-r.done:
		return r.cmds, nil
	case <-ctx.Done():
		if !r.state.CompareAndSwap(pending, dropped) {
			<-r.queued
			return nil, inFlightError{ctx.Err()}
		}
		return nil, ctx.Err()
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
			bt.send(run)
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
		pipe := bt.c.Pipeline()
		for _, r := range run {
			r.cmds = r.queue(pipe)
			close(r.queued)
			for _, c := range r.cmds {
				c.SetErr(notSentError{*errp})
			}
		}
		return
	}
	bt.exec(run)
	bt.noteHealth(run)
	bt.probing.Store(false)
}

// noteHealth marks the server down when a pipeline's commands failed with
// a network error (no reply at all), and up when one got a reply.
// The first command tells for the whole pipeline: they share a connection.
func (bt *batcher) noteHealth(run []*batchReq) {
	for _, r := range run {
		if len(r.cmds) == 0 {
			continue
		}
		err := r.cmds[0].Err()
		var redisErr goredis.Error
		if err == nil || errors.Is(err, goredis.Nil) || errors.As(err, &redisErr) {
			bt.down.Store(nil)
		} else if bt.ctx.Err() == nil {
			bt.down.Store(&err)
		}
		return
	}
}

// exec sends the batch as one pipeline. Scripts go by EVALSHA; a server
// that lost its script cache (a restart) answers NOSCRIPT to them without
// running them, and those commands alone are sent again once the scripts
// are loaded. queue runs once per request, so nothing a caller's queue
// wrote is written again after the caller may have stopped waiting.
func (bt *batcher) exec(batch []*batchReq) {
	pipe := bt.c.Pipeline()
	for _, r := range batch {
		r.cmds = r.queue(pipe)
		close(r.queued)
	}
	// A failed pipeline sets its error on every command it did not
	// answer; the operations read their commands' errors.
	_, _ = pipe.Exec(bt.ctx)
	var again []goredis.Cmder
	for _, r := range batch {
		for _, c := range r.cmds {
			if isNoScript(c.Err()) {
				again = append(again, c)
			}
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

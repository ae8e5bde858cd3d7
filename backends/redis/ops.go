package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// A slotOp is one write of a single key, a Put or a Delete, that reaches
// Redis as part of a script call of its shard: the batcher sends the ops
// of one request, and of all the requests one pipeline carries, that share
// a shard and a script head (a bucket handle's puts, or its deletes) as
// one call of putScript or deleteScript (up
// to maxOpsPerCall ops a call). The script runs each op as the single-key
// script would have, with its own result, in order: a call is atomic as a
// whole, which a batch is allowed to be, not a transaction that undoes
// anything. The call is sent at most once, as every write (once.go).
//
// So PutMany of 100 keys over 16 shards runs 16 scripts, not 100, and so
// do 100 Async Sets that queued while a pipeline was in flight; a single
// Put is a call of one op.
type slotOp struct {
	head  *opHead
	shard int
	// The op's arguments, in the order of its script (putScript's or
	// deleteScript's): a Delete uses key, now and ifVersion.
	key       string
	value     []byte
	deadline  int64
	idle      int64
	now       int64
	flags     int
	ifVersion uint64
	holder    string
	// Set by the batcher: the call that carries the op, and the op's place
	// in its reply. The op must not change from when it is submitted until
	// its request is done: the call's arguments point into it.
	cmd onceCmd
	at  int
}

// Flags of a put op, as putScript reads them.
const (
	opKeepTTL     = 1
	opConditional = 2
	opWantPrev    = 4
)

// opHead is what the ops of one call share: the script and, for each
// shard of the bucket, the arguments of a call before the ops' own
// (evalsha, the script's hash, 1, the shard's index key, the tag, then
// the head's), boxed once.
type opHead struct {
	script *goredis.Script
	put    bool // putScript's ops; else deleteScript's
	prefix [][]any
}

func newOpHead(s *goredis.Script, put bool, tags []string, args ...any) *opHead {
	h := &opHead{script: s, put: put, prefix: make([][]any, len(tags))}
	for i, tag := range tags {
		h.prefix[i] = append([]any{"evalsha", s.Hash(), 1, tag + ":idx", tag}, args...)
	}
	return h
}

// maxOpsPerCall bounds a script call, so that a large batch does not hold
// Redis in one long script.
const maxOpsPerCall = 256

// opGroup is the ops of one head and shard, in order; build splits them in
// calls of maxOpsPerCall.
type opGroup struct {
	head  *opHead
	shard int
	ops   []*slotOp
}

// groupOps sorts ops, in order, into groups of one head and shard.
func groupOps(ops []*slotOp) []opGroup {
	// Two passes, so that the groups share one array: the first finds
	// each op's group (in at, for now) and counts them.
	var groups []opGroup
	counts := make([]int, 0, 16)
	for _, op := range ops {
		g := -1
		for i := len(groups) - 1; i >= 0; i-- {
			if groups[i].head == op.head && groups[i].shard == op.shard {
				g = i
				break
			}
		}
		if g < 0 {
			groups = append(groups, opGroup{head: op.head, shard: op.shard})
			counts = append(counts, 0)
			g = len(groups) - 1
		}
		counts[g]++
		op.at = g
	}
	all := make([]*slotOp, len(ops))
	for i, n := range counts {
		groups[i].ops, all = all[:0:n], all[n:]
	}
	for _, op := range ops {
		g := &groups[op.at]
		g.ops = append(g.ops, op)
	}
	return groups
}

// build makes the calls of g, tells each op where its reply is, and
// appends the calls to all.
func (g *opGroup) build(ctx context.Context, all []goredis.Cmder) []goredis.Cmder {
	width := deleteWidth
	if g.head.put {
		width = putWidth
	}
	for ops := g.ops; len(ops) > 0; {
		call := ops[:min(len(ops), maxOpsPerCall)]
		ops = ops[len(call):]
		prefix := g.head.prefix[g.shard]
		args := make([]any, 0, len(prefix)+width*len(call))
		args = append(args, prefix...)
		// The ops' own arguments go as pointers to their fields (and the
		// value as the op's MarshalBinary), which the client writes as it
		// writes the values: nothing to allocate per op.
		for _, op := range call {
			if g.head.put {
				args = append(args, &op.key, (*opValue)(op), &op.deadline, &op.idle, &op.now, &op.flags, &op.ifVersion, &op.holder)
			} else {
				args = append(args, &op.key, &op.now, &op.ifVersion)
			}
		}
		cmd := onceCmd{goredis.NewCmd(ctx, args...)}
		cmd.SetFirstKeyPos(3)
		for i, op := range call {
			op.cmd, op.at = cmd, i
		}
		all = append(all, cmd)
	}
	return all
}

// opValue is a put op's value as a script argument.
type opValue slotOp

func (v *opValue) MarshalBinary() ([]byte, error) { return v.value, nil }

// reply returns the op's element of its call's reply (err is the
// batcher's, for the request). An error after which the op may have taken
// effect wraps backend.ErrOutcomeUnknown.
func (op *slotOp) reply(err error) (any, error) {
	r, err := onceResult(op.cmd, err)
	if err != nil {
		return nil, err
	}
	l, ok := r.([]any)
	if !ok || op.at >= len(l) {
		return nil, fmt.Errorf("unexpected reply %v", r)
	}
	return l[op.at], nil
}

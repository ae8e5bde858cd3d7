package redis

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/livedict/livedict/backend"
)

// bucket is one bucket's handle. The data lives in Redis; the handle holds
// the shard tags, its consumer name and the drop count of its process.
type bucket struct {
	be        *Backend
	name      string
	limit     backend.Limit
	lru       bool
	retention int // outbox events kept, over all shards
	consumer  string
	dropped   *atomic.Uint64
	tags      []string // the key tag of each shard
	closed    atomic.Bool
	// The heads of the bucket's put and delete ops (see slotOp).
	putHead, delHead *opHead
}

var _ backend.Bucket[string, []byte] = (*bucket)(nil)

func randomID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("livedict/redis: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

func (bk *bucket) check() error {
	if bk.closed.Load() || bk.be.closed.Load() {
		return errBackendClosed
	}
	return nil
}

func (bk *bucket) fail(op string, err error) error {
	if bk.check() != nil {
		err = backend.ErrClosed
	}
	return fmt.Errorf("livedict/redis: %s in bucket %q: %w", op, bk.name, err)
}

func (bk *bucket) failKey(op, key string, err error) error {
	if bk.check() != nil {
		err = backend.ErrClosed
	}
	return fmt.Errorf("livedict/redis: %s of key %q in bucket %q: %w", op, key, bk.name, err)
}

func (bk *bucket) tagOf(key string) string { return bk.tags[shardOf(key, len(bk.tags))] }

// run runs one script through the batcher and returns its reply.
func (bk *bucket) run(ctx context.Context, s *goredis.Script, tag string, args ...any) (any, error) {
	cmds, err := bk.be.bt.do(ctx, func(p goredis.Pipeliner) []goredis.Cmder {
		return []goredis.Cmder{s.EvalSha(ctx, p, []string{tag + ":idx"}, append([]any{tag}, args...)...)}
	})
	if err != nil {
		return nil, err
	}
	return cmds[0].(*goredis.Cmd).Result()
}

// eachShard queues one command list per shard in one pipeline.
func (bk *bucket) eachShard(ctx context.Context, queue func(p goredis.Pipeliner, tag string) []goredis.Cmder) ([][]goredis.Cmder, error) {
	return bk.eachShardIndexed(ctx, func(p goredis.Pipeliner, _ int, tag string) []goredis.Cmder { return queue(p, tag) })
}

func (bk *bucket) eachShardIndexed(ctx context.Context, queue func(p goredis.Pipeliner, shard int, tag string) []goredis.Cmder) ([][]goredis.Cmder, error) {
	var per [][]goredis.Cmder
	_, err := bk.be.bt.do(ctx, func(p goredis.Pipeliner) []goredis.Cmder {
		per = make([][]goredis.Cmder, len(bk.tags))
		var all []goredis.Cmder
		for i, tag := range bk.tags {
			per[i] = queue(p, i, tag)
			all = append(all, per[i]...)
		}
		return all
	})
	return per, err
}

// reply helpers: script replies are arrays of integers and strings.

func list(v any) []any { l, _ := v.([]any); return l }

func num(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func bytesOf(v any) []byte {
	s, _ := v.(string)
	return []byte(s)
}

// entryOf reads {v, d, n, i} from position at of a script's reply.
func entryOf(l []any, at int) backend.Entry[[]byte] {
	return backend.Entry[[]byte]{Value: bytesOf(l[at]), Deadline: num(l[at+1]), Version: uint64(num(l[at+2])), Idle: num(l[at+3])}
}

// entryFields are the fields of an entry a read asks for, in the order
// readEntry and entryOf take them.
var entryFields = []string{"v", "d", "n", "i"}

// readEntry reads {v, d, n, i} from an HMGET reply, whose numbers are
// strings, strictly: a deadline or version that is missing or not a
// number, or an idle time that is there but not a number, makes the entry
// unreadable (a *backend.CorruptRecord) rather than one that never
// expires. An absent idle time is 0: a fixed deadline.
func readEntry(key string, l []any) (backend.Entry[[]byte], error) {
	var e backend.Entry[[]byte]
	d, dok := field(l[1])
	n, nok := field(l[2])
	i, iok := int64(0), true
	if l[3] != nil {
		i, iok = field(l[3])
	}
	switch {
	case !dok:
		return e, &backend.CorruptRecord{Key: key, Reason: fmt.Sprintf("deadline %.40q is not a number", strOf(l[1]))}
	case !nok:
		return e, &backend.CorruptRecord{Key: key, Reason: fmt.Sprintf("version %.40q is not a number", strOf(l[2]))}
	case !iok:
		return e, &backend.CorruptRecord{Key: key, Reason: fmt.Sprintf("idle time %.40q is not a number", strOf(l[3]))}
	}
	return backend.Entry[[]byte]{Value: bytesOf(l[0]), Deadline: d, Version: uint64(n), Idle: i}, nil
}

// field reads a number field of an entry as the scripts' num does: 1 to
// 15 decimal digits, so that every such number is exact in a Lua number
// and a script never acts on an entry Get calls unreadable, nor the other
// way round. The backend writes nothing else; deadlines stay below 15
// digits for millennia.
func field(v any) (int64, bool) {
	s, _ := v.(string)
	if len(s) == 0 || len(s) > 15 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func strOf(v any) string { s, _ := v.(string); return s }

// badEntry reads the reply of a script's unread for an entry it could not
// read, and returns the error Get gives for that entry; nil when r is
// another reply. The script sends the Redis error of the entry's key, or
// the raw deadline, version and idle fields, for readEntry to judge them
// as Get does.
func badEntry(key string, r any) error {
	l := list(r)
	if len(l) != 1 {
		return nil
	}
	in := list(l[0])
	switch {
	case len(in) == 1 && strings.HasPrefix(strOf(in[0]), "WRONGTYPE"):
		return wrongType(key)
	case len(in) == 1:
		return &backend.CorruptRecord{Key: key, Reason: strOf(in[0])}
	case len(in) == 4:
		if _, err := readEntry(key, in); err != nil {
			return err
		}
	}
	// The script and readEntry read fields by one rule (field), so this
	// is a reply of another shape than unread's.
	return &backend.CorruptRecord{Key: key, Reason: fmt.Sprintf("unexpected reply %v for an entry the backend cannot read", r)}
}

// isWrongType reports Redis' error for a key of another type than the
// command's: for an entry, a foreign value in its slot.
func isWrongType(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE")
}

func wrongType(key string) *backend.CorruptRecord {
	return &backend.CorruptRecord{Key: key, Reason: "the entry's Redis key holds another type than a hash (WRONGTYPE)"}
}

func (bk *bucket) Get(ctx context.Context, key string, now int64) (backend.Entry[[]byte], bool, error) {
	if err := bk.check(); err != nil {
		return backend.Entry[[]byte]{}, false, err
	}
	var r getReq
	cmd := bk.getCmd(ctx, &r.getArgs, key, now)
	r.one[0] = cmd
	r.cmds = r.one[:]
	if err := bk.be.bt.submit(ctx, &r.batchReq); err != nil {
		return backend.Entry[[]byte]{}, false, bk.failKey("Get", key, err)
	}
	return bk.gotten(key, cmd, now)
}

// getReq is a request of one read, with the arguments of its HMGET.
type getReq struct {
	batchReq
	getArgs
}

type getArgs struct {
	entry string
	args  [6]any
}

// getCmd is the read of key, with its arguments in r: a script that also
// stamps the access in a bucket that evicts least recently used keys, else
// one HMGET.
func (bk *bucket) getCmd(ctx context.Context, r *getArgs, key string, now int64) goredis.Cmder {
	tag := bk.tagOf(key)
	if bk.lru {
		c := goredis.NewCmd(ctx, "evalsha", getTouchScript.Hash(), 1, tag+":idx", tag, key, now)
		c.SetFirstKeyPos(3)
		return c
	}
	r.entry = tag + ":e:" + key
	r.args = [6]any{"hmget", &r.entry, "v", "d", "n", "i"}
	return goredis.NewSliceCmd(ctx, r.args[:]...)
}

// gotten reads the reply of getCmd.
func (bk *bucket) gotten(key string, c goredis.Cmder, now int64) (backend.Entry[[]byte], bool, error) {
	var none backend.Entry[[]byte]
	if c, ok := c.(*goredis.Cmd); ok {
		r, err := c.Result()
		if err != nil {
			return none, false, bk.failKey("Get", key, err)
		}
		if err := badEntry(key, r); err != nil {
			return none, false, err
		}
		if l := list(r); len(l) == 4 {
			return entryOf(l, 0), true, nil
		}
		return none, false, nil
	}
	err := c.Err()
	if isWrongType(err) {
		return none, false, wrongType(key)
	}
	if err != nil {
		return none, false, bk.failKey("Get", key, err)
	}
	l := c.(*goredis.SliceCmd).Val()
	if l[0] == nil {
		return none, false, nil
	}
	e, err := readEntry(key, l)
	if err != nil {
		return none, false, err
	}
	if !e.Live(now) {
		return none, false, nil
	}
	return e, true, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (bk *bucket) Put(ctx context.Context, key string, w backend.Write[[]byte], now int64) (backend.WriteResult[string, []byte], error) {
	if err := bk.check(); err != nil {
		return backend.WriteResult[string, []byte]{}, err
	}
	r := &opReq{}
	bk.putOp(&r.op, key, w, now)
	res, err := bk.put(key, &r.op, bk.be.bt.doOp(ctx, r))
	if res.ExpiredMoved && res.Displaced == nil {
		bk.trim(ctx)
	}
	return res, err
}

// putOp fills op with the write of key.
func (bk *bucket) putOp(op *slotOp, key string, w backend.Write[[]byte], now int64) {
	*op = slotOp{head: bk.putHead, shard: shardOf(key, len(bk.tags)), key: key, value: w.Value, deadline: w.Deadline, idle: w.Idle, now: now}
	if w.KeepTTL {
		op.flags |= opKeepTTL
	}
	if w.Conditional {
		op.flags |= opConditional
		op.ifVersion = w.IfVersion
	}
	if w.WantPrev {
		op.flags |= opWantPrev
	}
	if w.ClaimDisplaced > 0 {
		// The held stream's events are claimed by XAUTOCLAIM with the lease
		// ClaimExpired is given: the lease is kept by Redis' idle time.
		op.holder = bk.consumer
	}
}

// put reads the result of a put op (err is the batcher's, for the
// request). An entry the write moved to the outbox is left for the caller
// to trim.
func (bk *bucket) put(key string, op *slotOp, err error) (backend.WriteResult[string, []byte], error) {
	var res backend.WriteResult[string, []byte]
	r, err := op.reply(err)
	if err != nil {
		return res, bk.failKey("Put", key, err)
	}
	if n, ok := r.(int64); ok && n == 0 {
		return res, nil
	}
	l := list(r)
	if len(l) == 2 && num(l[0]) == 3 {
		return res, &backend.CorruptRecord{Key: key, Reason: strOf(l[1]) + "; a KeepTTL or conditional write needs it"}
	}
	if len(l) < putHeader {
		return res, bk.failKey("Put", key, fmt.Errorf("unexpected reply %v", r))
	}
	if num(l[0]) == 4 {
		res.Replaced = &backend.CorruptRecord{Key: key, Reason: strOf(l[3])}
	}
	res.ExpiredMoved = num(l[1]) == 1
	if id, _ := l[2].(string); id != "" {
		res.Displaced = &backend.Expired[string, []byte]{
			ID: heldID(shardOf(key, len(bk.tags)), id), Key: key, Value: bytesOf(l[3]), Deadline: num(l[4]),
		}
	}
	switch num(l[0]) {
	case 1:
		return res, backend.ErrConflict
	case 2:
		return res, fmt.Errorf("%w: bucket %q holds %d keys", backend.ErrLimit, bk.name, bk.limit.MaxKeys)
	}
	if num(l[5]) == 1 {
		res.Existed, res.Prev = true, entryOf(l, 6)
	}
	for i := putHeader; i+4 < len(l); i += 5 {
		res.Evicted = append(res.Evicted, backend.KV[string, []byte]{Key: strOf(l[i]), Entry: entryOf(l, i+1)})
	}
	return res, nil
}

// putHeader is the length of a put op's reply, when not 0, before the
// evicted entries.
const putHeader = 10

func (bk *bucket) del(ctx context.Context, op, key string, version uint64, now int64) (backend.Entry[[]byte], bool, error) {
	if err := bk.check(); err != nil {
		return backend.Entry[[]byte]{}, false, err
	}
	r := &opReq{op: slotOp{head: bk.delHead, shard: shardOf(key, len(bk.tags)), key: key, now: now, ifVersion: version}}
	return bk.deleted(op, key, &r.op, bk.be.bt.doOp(ctx, r))
}

// deleted reads the result of a delete op (err is the batcher's).
func (bk *bucket) deleted(op, key string, o *slotOp, err error) (backend.Entry[[]byte], bool, error) {
	r, err := o.reply(err)
	if err != nil {
		return backend.Entry[[]byte]{}, false, bk.failKey(op, key, err)
	}
	if err := badEntry(key, r); err != nil {
		return backend.Entry[[]byte]{}, true, err
	}
	if l := list(r); len(l) == 4 {
		return entryOf(l, 0), true, nil
	}
	return backend.Entry[[]byte]{}, false, nil
}

// GetMany reads every key in one round trip of the batcher (a cluster
// client splits it by slot).
func (bk *bucket) GetMany(ctx context.Context, keys []string, now int64) ([]backend.Read[[]byte], error) {
	if err := bk.check(); err != nil {
		return nil, err
	}
	cmds := make([]goredis.Cmder, len(keys))
	rs := make([]getArgs, len(keys))
	for i, k := range keys {
		cmds[i] = bk.getCmd(ctx, &rs[i], k, now)
	}
	if err := bk.be.bt.doCmds(ctx, cmds); err != nil {
		return nil, bk.fail("GetMany", err)
	}
	out := make([]backend.Read[[]byte], len(keys))
	for i, k := range keys {
		out[i].Entry, out[i].Found, out[i].Err = bk.gotten(k, cmds[i], now)
	}
	return out, nil
}

// PutMany sends every write in one round trip: one script call per shard
// (of up to maxOpsPerCall writes), each sent once at most, that runs the
// shard's writes in order, each with the result Put would have given it.
func (bk *bucket) PutMany(ctx context.Context, ws []backend.KeyWrite[string, []byte], now int64) ([]backend.Written[string, []byte], error) {
	if err := bk.check(); err != nil {
		return nil, err
	}
	ops := make([]slotOp, len(ws))
	ptrs := make([]*slotOp, len(ws))
	for i, w := range ws {
		bk.putOp(&ops[i], w.Key, w.Write, now)
		ptrs[i] = &ops[i]
	}
	err := bk.be.bt.doOps(ctx, ptrs)
	out := make([]backend.Written[string, []byte], len(ws))
	moved := false
	for i, w := range ws {
		out[i].Result, out[i].Err = bk.put(w.Key, &ops[i], err)
		moved = moved || out[i].Result.ExpiredMoved && out[i].Result.Displaced == nil
	}
	if moved {
		bk.trim(ctx)
	}
	return out, nil
}

// DeleteMany sends every delete in one round trip, as PutMany does.
func (bk *bucket) DeleteMany(ctx context.Context, keys []string, now int64) ([]backend.Read[[]byte], error) {
	if err := bk.check(); err != nil {
		return nil, err
	}
	ops := make([]slotOp, len(keys))
	ptrs := make([]*slotOp, len(keys))
	for i, k := range keys {
		ops[i] = slotOp{head: bk.delHead, shard: shardOf(k, len(bk.tags)), key: k, now: now}
		ptrs[i] = &ops[i]
	}
	err := bk.be.bt.doOps(ctx, ptrs)
	out := make([]backend.Read[[]byte], len(keys))
	for i, k := range keys {
		out[i].Entry, out[i].Found, out[i].Err = bk.deleted("Delete", k, &ops[i], err)
	}
	return out, nil
}

func (bk *bucket) Delete(ctx context.Context, key string, now int64) (backend.Entry[[]byte], bool, error) {
	return bk.del(ctx, "Delete", key, 0, now)
}

func (bk *bucket) DeleteIf(ctx context.Context, key string, version uint64, now int64) error {
	if version == 0 {
		return backend.ErrConflict
	}
	_, ok, err := bk.del(ctx, "DeleteIf", key, version, now)
	if err != nil {
		return err
	}
	if !ok {
		return backend.ErrConflict
	}
	return nil
}

func (bk *bucket) Len(ctx context.Context, now int64) (int, error) {
	if err := bk.check(); err != nil {
		return 0, err
	}
	nowStr := strconv.FormatInt(now, 10)
	per, err := bk.eachShard(ctx, func(p goredis.Pipeliner, tag string) []goredis.Cmder {
		return []goredis.Cmder{p.ZCard(ctx, tag+":idx"), p.ZCount(ctx, tag+":dl", "1", nowStr)}
	})
	if err != nil {
		return 0, bk.fail("Len", err)
	}
	n := 0
	for _, cmds := range per {
		if err := errs(cmds); err != nil {
			return 0, bk.fail("Len", err)
		}
		n += int(cmds[0].(*goredis.IntCmd).Val() - cmds[1].(*goredis.IntCmd).Val())
	}
	return n, nil
}

// rangePage is how many keys Range reads per shard and round trip.
const rangePage = 256

// Range pages through each shard's index by key and reads the entries of a
// page in one pipeline; fn runs between round trips.
func (bk *bucket) Range(ctx context.Context, now int64, fn func(string, backend.Entry[[]byte]) bool) error {
	if err := bk.check(); err != nil {
		return err
	}
	// Entries that cannot be read are returned after the others, joined
	// (*backend.CorruptRecord).
	var bad []error
	for _, tag := range bk.tags {
		from := "-"
		for {
			cmds, err := bk.be.bt.do(ctx, func(p goredis.Pipeliner) []goredis.Cmder {
				return []goredis.Cmder{p.ZRangeByLex(ctx, tag+":idx", &goredis.ZRangeBy{Min: from, Max: "+", Count: rangePage})}
			})
			if err == nil {
				err = errs(cmds)
			}
			if err != nil {
				return bk.fail("Range", err)
			}
			keys := cmds[0].(*goredis.StringSliceCmd).Val()
			if len(keys) == 0 {
				break
			}
			vals, err := bk.be.bt.do(ctx, func(p goredis.Pipeliner) []goredis.Cmder {
				out := make([]goredis.Cmder, len(keys))
				for i, k := range keys {
					out[i] = p.HMGet(ctx, tag+":e:"+k, entryFields...)
				}
				return out
			})
			if err != nil {
				return bk.fail("Range", err)
			}
			for i, k := range keys {
				if err := vals[i].Err(); isWrongType(err) {
					bad = append(bad, wrongType(k))
					continue
				} else if err != nil && !errors.Is(err, goredis.Nil) {
					return bk.fail("Range", err)
				}
				l := vals[i].(*goredis.SliceCmd).Val()
				if l[0] == nil {
					continue
				}
				e, err := readEntry(k, l)
				if err != nil {
					bad = append(bad, err)
					continue
				}
				if e.Live(now) && !fn(k, e) {
					return errors.Join(bad...)
				}
			}
			if len(keys) < rangePage {
				break
			}
			from = "(" + keys[len(keys)-1]
			if err := ctx.Err(); err != nil {
				return bk.fail("Range", err)
			}
		}
	}
	return errors.Join(bad...)
}

// clearBatch is how many entries one Clear script call deletes, so that a
// large bucket does not block Redis in one long script.
const clearBatch = 512

func (bk *bucket) Clear(ctx context.Context, _ int64) error {
	if err := bk.check(); err != nil {
		return err
	}
	for _, tag := range bk.tags {
		for {
			r, err := bk.run(ctx, clearScript, tag, clearBatch, group)
			if err != nil {
				return bk.fail("Clear", err)
			}
			n, ok := r.(int64)
			if !ok {
				return bk.fail("Clear", fmt.Errorf("unexpected reply %v", r))
			}
			if n < clearBatch {
				break
			}
		}
	}
	return nil
}

func (bk *bucket) NextDeadline(ctx context.Context) (int64, bool, error) {
	if err := bk.check(); err != nil {
		return 0, false, err
	}
	per, err := bk.eachShard(ctx, func(p goredis.Pipeliner, tag string) []goredis.Cmder {
		return []goredis.Cmder{p.ZRangeWithScores(ctx, tag+":dl", 0, 0)}
	})
	if err != nil {
		return 0, false, bk.fail("NextDeadline", err)
	}
	var next int64
	found := false
	for _, cmds := range per {
		if err := errs(cmds); err != nil {
			return 0, false, bk.fail("NextDeadline", err)
		}
		for _, z := range cmds[0].(*goredis.ZSliceCmd).Val() {
			if d := int64(z.Score); !found || d < next {
				next, found = d, true
			}
		}
	}
	return next, found, nil
}

func (bk *bucket) SweepExpired(ctx context.Context, now int64, max int) (int, error) {
	if err := bk.check(); err != nil {
		return 0, err
	}
	if max <= 0 {
		return 0, nil
	}
	// One look at every shard's earliest deadline first, so an idle poll
	// runs no script.
	nowStr := strconv.FormatInt(now, 10)
	per, err := bk.eachShard(ctx, func(p goredis.Pipeliner, tag string) []goredis.Cmder {
		return []goredis.Cmder{p.ZCount(ctx, tag+":dl", "1", nowStr)}
	})
	if err != nil {
		return 0, bk.fail("SweepExpired", err)
	}
	// A shard that fails does not stop the others: their due entries
	// still move, and the failures are returned together.
	moved := 0
	var failed, bad []error
	for i, cmds := range per {
		if err := errs(cmds); err != nil {
			failed = append(failed, err)
			continue
		}
		if cmds[0].(*goredis.IntCmd).Val() == 0 {
			continue
		}
		r, err := bk.run(ctx, sweepScript, bk.tags[i], now, max-moved)
		if err != nil {
			failed = append(failed, err)
			continue
		}
		l := list(r)
		if len(l) == 0 {
			failed = append(failed, fmt.Errorf("unexpected reply %v", r))
			continue
		}
		moved += int(num(l[0]))
		for j := 1; j+1 < len(l); j += 2 {
			bad = append(bad, &backend.CorruptRecord{Key: strOf(l[j]), Reason: strOf(l[j+1])})
		}
		if moved >= max {
			break
		}
	}
	if moved > 0 {
		bk.trim(ctx)
	}
	if len(failed) > 0 {
		return moved, bk.fail("SweepExpired", errors.Join(failed...))
	}
	return moved, errors.Join(bad...)
}

// trim keeps the events of the bucket's outbox that no store has read yet
// (those waiting for a listener) at its retention: past it, the oldest of
// them go, by stream ID across shards, and are counted. Events a consumer
// has read are being delivered and do not count. It runs after writes that
// moved events, outside their scripts (the shards are in different slots),
// so two processes trimming at once may drop a few more than needed:
// retention bounds memory, it is not an exact count. A failure is left to
// the next trim.
func (bk *bucket) trim(ctx context.Context) {
	per, err := bk.eachShard(ctx, func(p goredis.Pipeliner, tag string) []goredis.Cmder {
		out := tag + ":out"
		return []goredis.Cmder{p.XLen(ctx, out), p.XPending(ctx, out, group), p.XInfoGroups(ctx, out)}
	})
	if err != nil {
		return
	}
	// Acknowledged events are deleted, so what is neither pending nor gone
	// is unread: it lies after the group's last delivered ID.
	after := make([]string, len(per))
	total := int64(0)
	for i, cmds := range per {
		if errs(cmds) != nil {
			return
		}
		pending := cmds[1].(*goredis.XPendingCmd).Val()
		total += cmds[0].(*goredis.IntCmd).Val() - pending.Count
		after[i] = "0-0"
		for _, g := range cmds[2].(*goredis.XInfoGroupsCmd).Val() {
			if g.Name == group {
				after[i] = g.LastDeliveredID
			}
		}
	}
	excess := total - int64(bk.retention)
	if excess <= 0 {
		return
	}
	heads, err := bk.eachShardIndexed(ctx, func(p goredis.Pipeliner, i int, tag string) []goredis.Cmder {
		return []goredis.Cmder{p.XRangeN(ctx, tag+":out", "("+after[i], "+", excess)}
	})
	if err != nil {
		return
	}
	type head struct {
		shard int
		id    string
	}
	var all []head
	for i, cmds := range heads {
		for _, m := range cmds[0].(*goredis.XMessageSliceCmd).Val() {
			all = append(all, head{i, m.ID})
		}
	}
	slices.SortFunc(all, func(a, b head) int { return compareStreamIDs(a.id, b.id) })
	byShard := make(map[int][]string)
	for _, h := range all[:min(int(excess), len(all))] {
		byShard[h.shard] = append(byShard[h.shard], h.id)
	}
	cmds, err := bk.be.bt.do(ctx, func(p goredis.Pipeliner) []goredis.Cmder {
		var out []goredis.Cmder
		for n, ids := range byShard {
			out = append(out, p.XDel(ctx, bk.tags[n]+":out", ids...))
		}
		return out
	})
	if err != nil {
		return
	}
	for _, c := range cmds {
		bk.dropped.Add(uint64(c.(*goredis.IntCmd).Val()))
	}
}

// createGroups creates the consumer group of every shard's outbox and held
// stream (and the streams), from the start of the stream so no event is
// skipped.
func (bk *bucket) createGroups(ctx context.Context) error {
	per, err := bk.eachShard(ctx, func(p goredis.Pipeliner, tag string) []goredis.Cmder {
		return []goredis.Cmder{p.XGroupCreateMkStream(ctx, tag+":out", group, "0"), p.XGroupCreateMkStream(ctx, tag+":held", group, "0")}
	})
	if err != nil {
		return err
	}
	for _, cmds := range per {
		for _, c := range cmds {
			if err := c.Err(); err != nil && !isBusyGroup(err) {
				return err
			}
		}
	}
	return nil
}

// ClaimExpired takes, per shard, the events whose consumer kept them
// longer than lease without acknowledging them (XAUTOCLAIM, on the outbox
// and on the held stream of events writes claimed), then new ones
// (XREADGROUP, on the outbox alone). IDs are "shard/stream id" for the
// outbox and "shard h/stream id" for the held stream (see heldID).
func (bk *bucket) ClaimExpired(ctx context.Context, now int64, max int, lease time.Duration) ([]backend.Expired[string, []byte], error) {
	if err := bk.check(); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, nil
	}
	per, err := bk.claim(ctx, max, lease)
	if err == nil && anyNoGroup(per) {
		// The server lost the groups (a restart without persistence).
		if err = bk.createGroups(ctx); err == nil {
			per, err = bk.claim(ctx, max, lease)
		}
	}
	if err != nil {
		return nil, bk.fail("ClaimExpired", err)
	}
	// Events read from the shards that answered are returned even when
	// another shard failed: they are this consumer's now, and dropping them
	// would hold them back for a whole claim lease.
	var out []backend.Expired[string, []byte]
	var failed []error
	for i, cmds := range per {
		if err := errs(cmds); err != nil {
			failed = append(failed, err)
		}
		var msgs []goredis.XMessage
		if c := cmds[0].(*goredis.XAutoClaimCmd); c.Err() == nil {
			stale, _ := c.Val()
			msgs = append(msgs, stale...)
		}
		if c := cmds[1].(*goredis.XStreamSliceCmd); c.Err() == nil {
			for _, s := range c.Val() {
				msgs = append(msgs, s.Messages...)
			}
		}
		var held []goredis.XMessage
		if c := cmds[2].(*goredis.XAutoClaimCmd); c.Err() == nil {
			held, _ = c.Val()
		}
		// One key's events go out in stream order. IDs of the shard's two
		// streams come from one server clock, so they sort together.
		evs := make([]claimed, 0, len(msgs)+len(held))
		for _, m := range msgs {
			evs = append(evs, claimed{m.ID, bk.event(i, false, m)})
		}
		for _, m := range held {
			evs = append(evs, claimed{m.ID, bk.event(i, true, m)})
		}
		slices.SortFunc(evs, func(a, b claimed) int { return compareStreamIDs(a.id, b.id) })
		for _, ev := range evs {
			out = append(out, ev.ev)
		}
	}
	if len(out) == 0 && len(failed) > 0 {
		return nil, bk.fail("ClaimExpired", errors.Join(failed...))
	}
	return out, nil
}

func (bk *bucket) claim(ctx context.Context, max int, lease time.Duration) ([][]goredis.Cmder, error) {
	return bk.eachShard(ctx, func(p goredis.Pipeliner, tag string) []goredis.Cmder {
		out := tag + ":out"
		return []goredis.Cmder{
			p.XAutoClaim(ctx, &goredis.XAutoClaimArgs{Stream: out, Group: group, Consumer: bk.consumer, MinIdle: lease, Start: "0-0", Count: int64(max)}),
			p.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: bk.consumer, Streams: []string{out, ">"}, Count: int64(max), Block: -1}),
			p.XAutoClaim(ctx, &goredis.XAutoClaimArgs{Stream: tag + ":held", Group: group, Consumer: bk.consumer, MinIdle: lease, Start: "0-0", Count: int64(max)}),
		}
	})
}

// claimed is an event read from a stream, with its stream ID for sorting.
type claimed struct {
	id string
	ev backend.Expired[string, []byte]
}

func anyNoGroup(per [][]goredis.Cmder) bool {
	for _, cmds := range per {
		for _, c := range cmds {
			if isNoGroup(c.Err()) {
				return true
			}
		}
	}
	return false
}

func (bk *bucket) event(shard int, held bool, m goredis.XMessage) backend.Expired[string, []byte] {
	str := func(f string) string { s, _ := m.Values[f].(string); return s }
	d, _ := strconv.ParseInt(str("d"), 10, 64)
	id := strconv.Itoa(shard) + "/" + m.ID
	if held {
		id = heldID(shard, m.ID)
	}
	return backend.Expired[string, []byte]{ID: id, Key: str("k"), Value: []byte(str("v")), Deadline: d}
}

// heldID is the event ID of entry id of a shard's held stream.
func heldID(shard int, id string) string { return strconv.Itoa(shard) + "h/" + id }

// compareStreamIDs orders "ms-seq" stream IDs.
func compareStreamIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	an, _ := strconv.ParseUint(am, 10, 64)
	bn, _ := strconv.ParseUint(bm, 10, 64)
	if c := cmp.Compare(an, bn); c != 0 {
		return c
	}
	an, _ = strconv.ParseUint(as, 10, 64)
	bn, _ = strconv.ParseUint(bs, 10, 64)
	return cmp.Compare(an, bn)
}

// stream names one stream of a shard: its tag and ":out" or ":held".
type stream struct{ tag, suffix string }

func (s stream) key() string { return s.tag + s.suffix }

// byStream groups event IDs ("shard/stream id", "shard h/stream id") by
// the stream that holds them.
func (bk *bucket) byStream(op string, ids []string) (map[stream][]string, error) {
	out := make(map[stream][]string)
	for _, id := range ids {
		s, sid, ok := strings.Cut(id, "/")
		s, held := strings.CutSuffix(s, "h")
		n, err := strconv.Atoi(s)
		if !ok || err != nil || n < 0 || n >= len(bk.tags) {
			return nil, bk.fail(op, fmt.Errorf("event id %q is not one of this bucket's", id))
		}
		st := stream{bk.tags[n], ":out"}
		if held {
			st.suffix = ":held"
		}
		out[st] = append(out[st], sid)
	}
	return out, nil
}

func (bk *bucket) AckExpired(ctx context.Context, ids []string) error {
	if err := bk.check(); err != nil {
		return err
	}
	byStream, err := bk.byStream("AckExpired", ids)
	if err != nil || len(byStream) == 0 {
		return err
	}
	cmds, err := bk.be.bt.do(ctx, func(p goredis.Pipeliner) []goredis.Cmder {
		var out []goredis.Cmder
		for st, sids := range byStream {
			out = append(out, p.XAck(ctx, st.key(), group, sids...), p.XDel(ctx, st.key(), sids...))
		}
		return out
	})
	if err == nil {
		err = errs(cmds)
	}
	if err != nil {
		return bk.fail("AckExpired", err)
	}
	return nil
}

// ExtendClaims resets the idle time of the pending entries this consumer
// still holds (extendScript), one script per stream.
func (bk *bucket) ExtendClaims(ctx context.Context, ids []string, _ time.Duration, _ int64) error {
	if err := bk.check(); err != nil {
		return err
	}
	byStream, err := bk.byStream("ExtendClaims", ids)
	if err != nil || len(byStream) == 0 {
		return err
	}
	cmds, err := bk.be.bt.do(ctx, func(p goredis.Pipeliner) []goredis.Cmder {
		var out []goredis.Cmder
		for st, sids := range byStream {
			args := append([]any{st.tag, st.suffix, group, bk.consumer}, toAny(sids)...)
			out = append(out, extendScript.EvalSha(ctx, p, []string{st.tag + ":idx"}, args...))
		}
		return out
	})
	if err == nil {
		err = errs(cmds)
	}
	if err != nil {
		return bk.fail("ExtendClaims", err)
	}
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (bk *bucket) DroppedExpired() uint64 { return bk.dropped.Load() }

func (bk *bucket) lockPX(lease time.Duration) int64 { return (lease + lockGrace).Milliseconds() }

func (bk *bucket) TryLock(ctx context.Context, key string, owner string, lease time.Duration, now int64) (uint64, bool, int64, error) {
	if err := bk.check(); err != nil {
		return 0, false, 0, err
	}
	r, err := bk.runOnce(ctx, tryLockScript, bk.tagOf(key), key, owner, lease.Milliseconds(), now, bk.lockPX(lease))
	if err != nil {
		return 0, false, 0, bk.failKey("TryLock", key, err)
	}
	l := list(r)
	if len(l) != 2 {
		return 0, false, 0, bk.failKey("TryLock", key, fmt.Errorf("unexpected reply %v", r))
	}
	if num(l[0]) == 1 {
		return uint64(num(l[1])), true, 0, nil
	}
	return 0, false, num(l[1]), nil
}

func (bk *bucket) unlock(ctx context.Context, op, key, owner string, extend time.Duration, now int64) error {
	if err := bk.check(); err != nil {
		return err
	}
	r, err := bk.runOnce(ctx, unlockScript, bk.tagOf(key), key, owner, now, extend.Milliseconds(), bk.lockPX(extend))
	if err != nil {
		return bk.failKey(op, key, err)
	}
	if num(r) != 1 {
		return bk.failKey(op, key, backend.ErrLockLost)
	}
	return nil
}

func (bk *bucket) Unlock(ctx context.Context, key string, owner string, now int64) error {
	return bk.unlock(ctx, "Unlock", key, owner, 0, now)
}

func (bk *bucket) ExtendLock(ctx context.Context, key string, owner string, lease time.Duration, now int64) error {
	if lease <= 0 {
		return bk.failKey("ExtendLock", key, errors.New("lease must be positive"))
	}
	return bk.unlock(ctx, "ExtendLock", key, owner, lease, now)
}

// Close ends this handle and removes its consumer from the outbox groups
// when nothing is pending for it; the data stays.
func (bk *bucket) Close() error {
	if bk.closed.Swap(true) || bk.be.closed.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := bk.be.bt.do(ctx, func(p goredis.Pipeliner) []goredis.Cmder {
		var out []goredis.Cmder
		for _, tag := range bk.tags {
			out = append(out, closeScript.EvalSha(ctx, p, []string{tag + ":idx"}, tag, group, bk.consumer))
		}
		return out
	})
	_ = err // the consumer entry is bookkeeping only; a failure leaves an idle consumer
	return nil
}

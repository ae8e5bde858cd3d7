// Package redis is the livedict backend that keeps buckets in Redis, shared
// by any number of processes on any number of machines. It works on a
// single server, Sentinel and Redis Cluster through go-redis'
// UniversalClient.
//
// # Keys
//
// Every key the backend writes starts with its prefix (WithPrefix,
// "livedict" by default), then the bucket in a hash tag with a virtual
// shard number:
//
//	livedict:{sessions#7}:e:<key>   an entry: a hash of v (value), d (deadline), n (version), i (idle ms, sliding entries only)
//	livedict:{sessions#7}:idx       sorted set of the shard's keys (score 0: pages by key)
//	livedict:{sessions#7}:dl        sorted set of the keys with a deadline, by deadline
//	livedict:{sessions#7}:lru       EvictLRU buckets: keys by access stamp
//	livedict:{sessions#7}:seq       counter for versions and access stamps
//	livedict:{sessions#7}:fence     counter for lock fencing tokens
//	livedict:{sessions#7}:out       stream: the expiry outbox, group "livedict"
//	livedict:{sessions#7}:held      stream: expiry events writes claimed, group "livedict"
//	livedict:{sessions#7}:l:<key>   a lock: "until owner"
//	livedict:{sessions}:meta        the bucket's shard count and value type
//
// The hash tag puts everything a script touches in one slot, and a bucket
// spreads over its shards (16 by default, WithShards) so that it is not
// one hot slot on a cluster. A bucket with a key limit has one shard, so
// that the limit and the LRU order are exact and atomic. Characters '{',
// '}', ':' and '%' in a bucket name are percent-encoded. Len, Keys, Range
// and Clear read the bucket's own index sets: the backend never runs KEYS
// or SCAN over the database, and never reads, counts or deletes a key it
// did not write.
//
// The meta hash also records the identity of the bucket's value type
// (backend.TypeID), set by the first store that opens the bucket; a store
// of another type is refused the bucket with an error wrapping
// backend.ErrInvalidOption. A bucket created before the type was recorded
// gets it from the next store that opens it.
//
// # TTL and expiry
//
// Deadlines are wall-clock Unix milliseconds (sub-second TTLs work), kept
// in the entry and in the dl index; a read after the deadline never returns
// the value, whether or not it was swept. Redis' own expiry is set to the
// deadline plus a grace period (WithReclaimAfter, 24h by default) so that
// memory comes back even if no livedict process runs for that long; an
// entry Redis reclaimed that way is gone without an OnExpire event.
//
// A sliding entry keeps its idle time in the hash (i; none for a fixed
// deadline, so entries written before sliding expiry read as fixed).
// Touch moves its deadline to now plus the idle time, in the entry, the
// dl index and Redis' own expiry, in one script that leaves the value and
// the version alone; Retime sets both as given. A touch stamps the access
// of an EvictLRU bucket, as a Get does.
//
// Expiry events do not rely on keyspace notifications (they carry no value
// and are lost while a client is disconnected). A Lua script moves due
// entries, with their values, from the shard into the shard's outbox
// stream, atomically; stores read the stream through a consumer group, so
// each event goes to one consumer, and acknowledge (XACK, XDEL) it after
// their hooks ran. Events a consumer took but never acknowledged (it
// crashed, or a reply was lost) are claimed again by XAUTOCLAIM once idle
// for the claim lease: at-least-once. A live consumer keeps its events
// however long their hooks run, by resetting their idle time
// (ExtendClaims, XCLAIM JUSTID) more often than the lease. Entries that expired while no process
// ran are swept by the first that starts. Clear deletes the entries,
// expired or not, and the outbox events no consumer has read yet, without
// reporting them.
//
// A write that meets an expired, unswept entry of its key and claims its
// event (backend.Write.ClaimDisplaced) moves it, in its script, to the
// shard's held stream instead, filed with XCLAIM FORCE as pending for the
// writing handle's consumer: the writer delivers that one event and
// acknowledges it like any other. Nobody reads the held stream with
// XREADGROUP, so no other consumer gets the event while the writer holds
// it; if the writer's process dies first, the event stays pending, and
// XAUTOCLAIM hands it to another consumer (or to the next process) once it
// has been idle for the claim lease, as with the outbox. Held events are
// being delivered: they do not count against the retention. A bucket's outbox keeps about its
// retention in events: past it, the oldest are deleted and counted (two
// processes trimming at once may drop a few more, as the shards cannot be
// trimmed in one script).
//
// # Locks
//
// A lock is a string key holding the lease's end and the owner's random
// token, written by a script that checks the current holder first (the
// compare-and-set of SET NX, judged by the store's clock), with a PX of the
// lease plus a minute so that Redis reclaims abandoned ones. Release and
// extension are compare-and-act scripts on the owner token. The fencing
// token is an INCR counter of the key's shard: it only grows.
//
// # Pipelining
//
// Operations issued concurrently (from many goroutines, or from a store's
// Async view) are pipelined: whatever queued while a pipeline was in
// flight goes out as the next one (WithPipelines of them at once). The
// writes of single keys a pipeline carries, Puts and Deletes of any
// callers and those of a PutMany or DeleteMany, go as one script call per
// shard, which runs each write as the write alone would run, with its own
// result: a batch is not a transaction across keys, and a call is atomic
// as a whole. A caller whose context cannot end (context.Background) that
// finds a pipeline free sends its operation from its own goroutine, which
// spares it the hand-off to the backend's loops and back; one whose
// context can end goes through the loops, so that it returns as soon as
// the context ends.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/livedict/livedict/backend"
)

// Defaults of the options.
const (
	DefaultPrefix       = "livedict"
	DefaultShards       = 16
	DefaultPollInterval = 250 * time.Millisecond
	DefaultReclaimAfter = 24 * time.Hour
)

// lockGrace is how long after its lease Redis keeps a lock key.
const lockGrace = time.Minute

// group is the consumer group of every outbox stream.
const group = "livedict"

var errBackendClosed = fmt.Errorf("livedict/redis: %w", backend.ErrClosed)

type config struct {
	prefix  string
	shards  int
	poll    time.Duration
	reclaim time.Duration
	loops   int
	owns    bool
}

// Option configures New.
type Option func(*config) error

func invalid(option, format string, args ...any) error {
	return fmt.Errorf("%w: redis.%s: %s", backend.ErrInvalidOption, option, fmt.Sprintf(format, args...))
}

// WithPrefix sets the first part of every key the backend writes
// ("livedict" by default). It must not contain '{' or '}'.
func WithPrefix(p string) Option {
	return func(c *config) error {
		if p == "" || strings.ContainsAny(p, "{}") {
			return invalid("WithPrefix", "prefix %q is empty or has '{' or '}'", p)
		}
		c.prefix = p
		return nil
	}
}

// WithShards sets how many virtual shards a new bucket without a key limit
// spreads over (16 by default). A bucket keeps the count it was created
// with; opening it with another is an error.
func WithShards(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 1024 {
			return invalid("WithShards", "%d shards is outside 1..1024", n)
		}
		c.shards = n
		return nil
	}
}

// WithPollInterval sets how often stores look for deadlines and expiry
// events written by other processes (250ms by default).
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return invalid("WithPollInterval", "%v is below a millisecond", d)
		}
		c.poll = d
		return nil
	}
}

// WithReclaimAfter sets how long after its deadline Redis itself deletes an
// entry that no sweep moved to the outbox (24h by default); 0 leaves it to
// the sweep alone.
func WithReclaimAfter(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return invalid("WithReclaimAfter", "%v is negative", d)
		}
		c.reclaim = d
		return nil
	}
}

// WithPipelines sets how many pipelines may be in flight at once (8 by
// default).
func WithPipelines(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 256 {
			return invalid("WithPipelines", "%d is outside 1..256", n)
		}
		c.loops = n
		return nil
	}
}

// Backend is a Redis holding any number of buckets. It implements
// backend.Backend; its methods are safe for concurrent use.
type Backend struct {
	c      goredis.UniversalClient
	cfg    config
	bt     *batcher
	closed atomic.Bool

	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	dropped map[string]*atomic.Uint64 // outbox drops seen by this process, by bucket
}

var _ backend.Backend = (*Backend)(nil)

// New returns a backend on client. The caller keeps ownership of client:
// Close does not close it.
func New(client goredis.UniversalClient, opts ...Option) (*Backend, error) {
	c := config{prefix: DefaultPrefix, shards: DefaultShards, poll: DefaultPollInterval, reclaim: DefaultReclaimAfter, loops: 8}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if client == nil {
		return nil, invalid("New", "client is nil")
	}
	installLogger()
	return &Backend{c: client, cfg: c, bt: newBatcher(client, c.loops), dropped: make(map[string]*atomic.Uint64)}, nil
}

// OpenURL opens a backend on a new client for a redis:// or rediss:// URL
// (go-redis' ParseURL: redis://user:pass@host:6379/0?dial_timeout=3s), or a
// cluster with several addr parameters:
// redis://host1:6379?addr=host2:6379&addr=host3:6379. These parameters set
// backend options: prefix, shards, poll_interval, reclaim_after. The
// backend closes the client on Close.
func OpenURL(ctx context.Context, u *url.URL) (*Backend, error) {
	open, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return open(ctx)
}

// ParseURL checks a redis URL as OpenURL reads it, without connecting, and
// returns the function that connects: a bad URL fails where it is written
// (livedict.WithURI), not at the first store.
func ParseURL(u *url.URL) (func(ctx context.Context) (*Backend, error), error) {
	bad := func(format string, args ...any) error {
		return invalid("OpenURL", "%s: "+format, append([]any{u.Redacted()}, args...)...)
	}
	q := u.Query()
	var opts []Option
	for _, p := range []struct {
		name string
		opt  func(string) (Option, error)
	}{
		{"prefix", func(v string) (Option, error) { return WithPrefix(v), nil }},
		{"shards", func(v string) (Option, error) { n, err := strconv.Atoi(v); return WithShards(n), err }},
		{"poll_interval", func(v string) (Option, error) { d, err := time.ParseDuration(v); return WithPollInterval(d), err }},
		{"reclaim_after", func(v string) (Option, error) { d, err := time.ParseDuration(v); return WithReclaimAfter(d), err }},
	} {
		if !q.Has(p.name) {
			continue
		}
		if len(q[p.name]) != 1 {
			return nil, bad("parameter %s is given %d times", p.name, len(q[p.name]))
		}
		o, err := p.opt(q.Get(p.name))
		if err != nil {
			return nil, bad("%s=%q: %v", p.name, q.Get(p.name), err)
		}
		var c config
		if err := o(&c); err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, u.Redacted())
		}
		opts = append(opts, o)
		q.Del(p.name)
	}
	rest := *u
	rest.RawQuery = q.Encode()
	var newClient func() goredis.UniversalClient
	if q.Has("addr") {
		co, err := goredis.ParseClusterURL(rest.String())
		if err != nil {
			return nil, bad("%v", err)
		}
		newClient = func() goredis.UniversalClient { return goredis.NewClusterClient(co) }
	} else {
		o, err := goredis.ParseURL(rest.String())
		if err != nil {
			return nil, bad("%v", err)
		}
		newClient = func() goredis.UniversalClient { return goredis.NewClient(o) }
	}
	return func(ctx context.Context) (*Backend, error) {
		installLogger()
		client := newClient()
		b, err := New(client, opts...)
		if err != nil {
			client.Close()
			return nil, err
		}
		b.cfg.owns = true
		if err := client.Ping(ctx).Err(); err != nil {
			b.Close()
			return nil, fmt.Errorf("livedict/redis: %s: %w", u.Redacted(), err)
		}
		return b, nil
	}, nil
}

// PollInterval is how often stores look for other processes' deadlines and
// expiry events.
func (b *Backend) PollInterval() time.Duration { return b.cfg.poll }

// Client returns the client the backend uses.
func (b *Backend) Client() goredis.UniversalClient { return b.c }

// Close stops the backend's pipelines, and closes the client if the
// backend opened it (OpenURL). It is idempotent; buckets fail with
// backend.ErrClosed afterwards.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.bt.close()
		if b.cfg.owns {
			b.closeErr = b.c.Close()
		}
	})
	return b.closeErr
}

// escapeBucket keeps a bucket name from ending the hash tag or the key
// parts early.
var escapeBucket = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D", ":", "%3A")

// Bucket opens the bucket cfg names: it fixes the bucket's shard count on
// first use and creates the outbox consumer groups.
func (b *Backend) Bucket(ctx context.Context, cfg backend.BucketConfig) (backend.Bucket[string, []byte], error) {
	if b.closed.Load() {
		return nil, errBackendClosed
	}
	cfg, err := cfg.Normalize()
	if err != nil {
		return nil, fmt.Errorf("livedict/redis: open bucket: %w", err)
	}
	name := escapeBucket.Replace(cfg.Name)
	shards := b.cfg.shards
	if cfg.Limit.MaxKeys > 0 {
		shards = 1
	}
	meta := b.cfg.prefix + ":{" + name + "}:meta"
	if err := b.c.HSetNX(ctx, meta, "shards", shards).Err(); err != nil {
		return nil, fmt.Errorf("livedict/redis: open bucket %q: %w", cfg.Name, err)
	}
	have, err := b.c.HGet(ctx, meta, "shards").Int()
	if err != nil {
		return nil, fmt.Errorf("livedict/redis: open bucket %q: %w", cfg.Name, err)
	}
	if have != shards {
		why := "open it with WithShards(" + strconv.Itoa(have) + ")"
		if cfg.Limit.MaxKeys > 0 {
			why = "a key limit needs a bucket of one shard: use another bucket name"
		}
		return nil, invalid("Bucket", "bucket %q was created with %d shards, not %d: %s", cfg.Name, have, shards, why)
	}
	if cfg.Type != "" {
		var rec *goredis.StringCmd
		_, err := b.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			p.HSetNX(ctx, meta, "type", cfg.Type)
			rec = p.HGet(ctx, meta, "type")
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("livedict/redis: open bucket %q: %w", cfg.Name, err)
		}
		if have := rec.Val(); have != cfg.Type {
			return nil, fmt.Errorf("livedict/redis: %w", backend.WrongType(cfg.Name, have, cfg.Type))
		}
	}
	b.mu.Lock()
	dropped, ok := b.dropped[cfg.Name]
	if !ok {
		dropped = new(atomic.Uint64)
		b.dropped[cfg.Name] = dropped
	}
	b.mu.Unlock()
	bk := &bucket{
		be:        b,
		name:      cfg.Name,
		limit:     cfg.Limit,
		lru:       cfg.Limit.MaxKeys > 0 && cfg.Limit.Policy == backend.EvictLRU,
		retention: cfg.Retention,
		consumer:  randomID(),
		dropped:   dropped,
		tags:      make([]string, shards),
	}
	for i := range bk.tags {
		bk.tags[i] = b.cfg.prefix + ":{" + name + "#" + strconv.Itoa(i) + "}"
	}
	bk.putHead = newOpHead(putScript, true, bk.tags, bk.limit.MaxKeys, flag(bk.lru), b.cfg.reclaim.Milliseconds(), group)
	bk.delHead = newOpHead(deleteScript, false, bk.tags)
	if err := bk.createGroups(ctx); err != nil {
		return nil, fmt.Errorf("livedict/redis: open bucket %q: %w", cfg.Name, err)
	}
	return bk, nil
}

// shardOf maps a key to its virtual shard by the key's FNV-1a hash, so
// every process agrees on it; inline, as every operation on a key takes
// it, to hash without allocating.
func shardOf(key string, n int) int {
	if n == 1 {
		return 0
	}
	const offset32, prime32 = 2166136261, 16777619
	h := uint32(offset32)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= prime32
	}
	return int(h % uint32(n))
}

// isBusyGroup reports the error of creating a group that exists.
func isBusyGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "BUSYGROUP")
}

func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}

// errs joins the errors of cmds, leaving out redis.Nil (no reply value).
func errs(cmds []goredis.Cmder) error {
	var all []error
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, goredis.Nil) {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// Package engine is the store core behind every generated store, generic
// over key and value: its expiry scheduler, lock waiting, hook dispatch and
// async view. Generated code reaches it through package runtime; users name
// its options and results through package livedict.
package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/memory"
	"github.com/livedict/livedict/clock"
	"github.com/livedict/livedict/internal/impl"
	"github.com/livedict/livedict/sandbox"
)

// Store is the typed store core behind every generated store type.
type Store[K comparable, V any] struct {
	codec Codec[K, V]
	cfg   impl.Config
	b     backend.Bucket[K, V]
	// mem is b on the memory backend: the store hashes keys with its hash
	// and hands the hash over, so an operation hashes its key once.
	mem *memory.Bucket[K, V]
	// mono: the store's time comes from the monotonic clock (see now).
	mono   bool
	be     backend.Backend
	owned  bool // close be on Close
	clk    clock.Clock
	log    *slog.Logger
	seed   maphash.Seed
	poll   time.Duration
	defTTL time.Duration
	// defIdle makes defTTL an idle time (WithDefaultIdle, idle=).
	defIdle bool
	// retention is the bucket's outbox capacity, normalized.
	retention int

	hooks[K, V]
	// ev orders hook events and owns the hook pool; see eventOrder.
	ev eventOrder[K, V]

	owner   string // lock owner prefix, unique to this store
	lockSeq atomic.Uint64
	waitMu  sync.Mutex
	waiters map[K]*waiter

	sched scheduler
	// corruptSeen holds the keys reportCorrupt reported.
	corruptMu   sync.Mutex
	corruptSeen map[string]struct{}

	asyncOnce sync.Once
	async     *executor

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	st    counters
	loads loads[K, V]
}

// New opens a store of V values under K keys, configured by codec and opts.
func New[K comparable, V any](codec Codec[K, V], opts ...livedict.Option) (*Store[K, V], error) {
	cfg := impl.Config{Bucket: codec.Bucket, Clock: clock.Real}
	if codec.DefaultTTL > 0 {
		cfg.DefaultTTL, cfg.HasDefaultTTL = codec.DefaultTTL, true
	}
	if codec.DefaultIdle > 0 {
		cfg.DefaultTTL, cfg.HasDefaultTTL, cfg.DefaultIdle = codec.DefaultIdle, true, true
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.HasDefaultTTL && (cfg.DefaultTTL < time.Millisecond || cfg.DefaultTTL > livedict.MaxTTL) {
		// WithDefaultTTL checks its own value: this one is the directive's.
		name := "ttl="
		if cfg.DefaultIdle {
			name = "idle="
		}
		return nil, impl.Invalid(name, "the default %v of %s is outside 1ms..livedict.MaxTTL (%v)", cfg.DefaultTTL, codec.TypeName, livedict.MaxTTL)
	}
	if cfg.Bucket == "" {
		return nil, impl.Invalid("WithBucket", "the store of %s has no bucket name", codec.TypeName)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if codec.NoCopies || cfg.NoCopies {
		// The one place copies are made is Clone: without it a value is
		// copied by assignment, its references shared.
		codec.Clone = nil
	}
	s := &Store[K, V]{
		codec:   codec,
		cfg:     cfg,
		clk:     cfg.Clock,
		log:     cfg.Logger.With("bucket", cfg.Bucket),
		seed:    maphash.MakeSeed(),
		waiters: make(map[K]*waiter),
		owner:   rand.Text(),
		st:      newCounters(),
	}
	s.current.Store(&hookTable[K, V]{byID: map[livedict.HookID]*hook[K, V]{}})
	s.loads.inFlight = make(map[K]*loadCall[V])
	s.loads.ctx, s.loads.cancel = context.WithCancel(context.Background())
	if cfg.Loader != nil {
		fn, ok := cfg.Loader.(func(context.Context, K) (V, error))
		if !ok {
			s.loads.cancel()
			var k K
			var v V
			return nil, impl.Invalid("WithLoader", "the loader is a %T; a store of %s under %T keys needs a func(context.Context, %T) (%s, error)",
				cfg.Loader, codec.TypeName, k, k, reflect.TypeOf(&v).Elem())
		}
		s.loads.fn = fn
	}
	s.loads.window = cfg.RefreshAhead
	if cfg.HasDefaultTTL {
		s.defTTL, s.defIdle = cfg.DefaultTTL, cfg.DefaultIdle
	}
	timeout := cfg.OpenTimeout
	if timeout == 0 {
		timeout = impl.DefaultOpenTimeout
	}
	ctx, cancel := context.WithTimeout(backend.WithLogger(context.Background(), s.log), timeout)
	err := s.open(ctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("livedict: opening the store of bucket %q took longer than %v (WithOpenTimeout): %w", cfg.Bucket, timeout, err)
		}
		return nil, err
	}
	workers := cfg.HookWorkers
	if workers == 0 {
		workers = max(4, runtime.GOMAXPROCS(0))
	}
	s.ev.init(s, sandbox.NewOf(sandbox.Config{
		Workers:   workers,
		QueueSize: cfg.HookQueue,
		Overflow:  cfg.Overflow,
		OnFailure: s.hookFailed,
		Logger:    s.log,
	}, func(a hookArg[K, V]) string { return s.keyString(a.key) }))
	if s.poll > 0 {
		s.ev.startRenewing(s.log)
	}
	s.sched.start(s, s.log)
	return s, nil
}

func (s *Store[K, V]) open(ctx context.Context) error {
	be, owned := s.cfg.Backend, false
	if s.cfg.Open != nil {
		var err error
		if be, err = s.cfg.Open(ctx); err != nil {
			return err
		}
		owned = true
	}
	if be == nil {
		be, owned = memory.New(), true
	}
	bc, err := backend.BucketConfig{Name: s.cfg.Bucket, Limit: s.cfg.Limit, Retention: s.cfg.Retention, Type: backend.TypeID[V]()}.Normalize()
	if err != nil {
		if owned {
			be.Close()
		}
		return err
	}
	s.retention = bc.Retention
	if mb, ok := be.(*memory.Backend); ok {
		var mbk *memory.Bucket[K, V]
		copies := memory.Clones(s.codec.Clone)
		if s.codec.CloneNormalizes {
			// What the bucket holds went through Clone on its way in.
			copies.Out = nil
		}
		if mbk, err = memory.Open[K, V](mb, bc, copies); err == nil {
			s.b, s.mem = mbk, mbk
			s.mono = clock.IsReal(s.clk)
		}
	} else {
		var raw backend.Bucket[string, []byte]
		if raw, err = be.Bucket(ctx, bc); err == nil {
			var cb *codecBucket[K, V]
			if cb, err = newCodecBucket(raw, s.codec, &s.cfg); err != nil {
				raw.Close()
			} else {
				cb.corrupt = s.reportCorrupt
				s.b = cb
			}
		}
	}
	if err != nil {
		if owned {
			be.Close()
		}
		return err
	}
	s.be, s.owned, s.poll = be, owned, be.PollInterval()
	return nil
}

// anchor is where the time of stores that count on the monotonic clock
// starts: the wall clock once per process, so that the stores sharing a
// memory backend agree on every deadline.
var (
	anchor   = time.Now()
	anchorNs = anchor.UnixNano()
)

// now is the store's time, in Unix nanoseconds. A store on the memory
// backend with the real clock reads the monotonic clock alone (time.Since
// of a time that has a monotonic reading makes one clock read; time.Now
// makes two) and counts from anchor: its deadlines never leave the process,
// so they need no wall clock, and a step of the wall clock does not move
// them. The other stores read their clock's wall time: SQLite and Redis
// share deadlines with other processes, and a test's fake clock has no
// monotonic reading.
func (s *Store[K, V]) now() int64 {
	if s.mono {
		return anchorNs + int64(time.Since(anchor))
	}
	return s.clk.Now().UnixNano()
}

// nowMs is now in Unix milliseconds, the unit of backend deadlines.
func (s *Store[K, V]) nowMs() int64 { return floorMs(s.now()) }

// floorMs returns the Unix millisecond that Unix nanosecond ns falls in.
func floorMs(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}

// hash is the hash of key that orders its hook events; on the memory
// backend it is the bucket's own, which the bucket is then given.
func (s *Store[K, V]) hash(key K) uint64 {
	if s.mem != nil {
		return s.mem.Hash(key)
	}
	return maphash.Comparable(s.seed, key)
}

// get is the backend's Get of key, whose hash h is used on the memory
// backend only.
func (s *Store[K, V]) get(ctx context.Context, key K, h uint64, now int64) (backend.Entry[V], bool, error) {
	if s.mem != nil {
		return s.mem.GetHashed(key, h, now)
	}
	return s.b.Get(ctx, key, now)
}

func (s *Store[K, V]) put(ctx context.Context, key K, h uint64, w backend.Write[V], now int64) (backend.WriteResult[K, V], error) {
	if s.mem != nil {
		return s.mem.PutHashed(key, h, w, now)
	}
	return s.b.Put(ctx, key, w, now)
}

// needHash reports whether an operation raising events to hs needs its
// key's hash: for the memory backend, or to order the events.
func (s *Store[K, V]) needHash(hs *hookTable[K, V]) bool {
	return s.mem != nil || len(hs.byID) > 0
}

func (s *Store[K, V]) clone(v V) V {
	if s.codec.Clone == nil {
		return v
	}
	return s.codec.Clone(v)
}

func (s *Store[K, V]) keyString(key K) string {
	if s.codec.KeyString != nil {
		return s.codec.KeyString(key)
	}
	return fmt.Sprint(key)
}

func (s *Store[K, V]) check() error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	return nil
}

// write computes the backend write for a Set of v with opts at now (Unix
// ns).
func (s *Store[K, V]) write(v V, now int64, opts []livedict.SetOption) (backend.Write[V], error) {
	var o impl.SetConfig
	if len(opts) > 0 {
		o = resolveSet(opts)
	}
	if o.Err != nil {
		return backend.Write[V]{}, o.Err
	}
	w := backend.Write[V]{Value: v, KeepTTL: o.Mode == impl.TTLKeep}
	var err error
	w.Deadline, w.Idle, err = s.expiry(now, o)
	return w, err
}

// expiry returns the deadline and idle time (ms) that o, the options of a
// write at now (Unix ns), gives a key: the store's default when o names
// none. For KeepTTL it returns what a new key gets.
func (s *Store[K, V]) expiry(now int64, o impl.SetConfig) (deadline, idle int64, err error) {
	ttl, sliding := s.defTTL, s.defIdle
	switch o.Mode {
	case impl.TTLGiven:
		ttl, sliding = o.TTL, false
	case impl.TTLIdle:
		ttl, sliding = o.TTL, true
	case impl.TTLNone:
		ttl = 0
	}
	if ttl <= 0 {
		return 0, 0, nil
	}
	d, ok := ceilMs(now, ttl)
	if !ok {
		name := "WithDefaultTTL"
		switch {
		case o.Mode == impl.TTLGiven:
			name = "TTL"
		case o.Mode == impl.TTLIdle:
			name = "Idle"
		case sliding:
			name = "WithDefaultIdle"
		}
		return 0, 0, fmt.Errorf("%w: %s(%v) at %v: %s", livedict.ErrInvalidTTL, name, ttl, time.Unix(0, now).UTC(), pastLimit)
	}
	if sliding {
		// Whole milliseconds, rounded up, as the deadline is.
		idle = int64((ttl + time.Millisecond - 1) / time.Millisecond)
	}
	return d, idle, nil
}

// maxDeadline is the latest deadline or lease end, in Unix milliseconds:
// 2250-01-01 UTC. Past it, Unix nanoseconds (which end in 2262) and the
// float64 milliseconds of Redis scripts (exact until 2255) no longer hold
// it exactly; livedict.MaxTTL documents it.
var maxDeadline = time.Date(2250, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

const pastLimit = "the deadline would fall after 2250-01-01 UTC, the latest a deadline or lease end may be"

// ceilMs returns the first Unix millisecond at or after now+d (now in Unix
// nanoseconds): a value is never readable, and a lease never lasts, for
// less than d (and at most a millisecond more). It adds d to the fraction
// of a millisecond only, so it cannot overflow for any d up to
// livedict.MaxTTL, and reports false for a d outside 0..MaxTTL or an end
// outside (0, maxDeadline] (0 would mean no expiry).
func ceilMs(now int64, d time.Duration) (int64, bool) {
	if d < 0 || d > livedict.MaxTTL {
		return 0, false
	}
	ms := floorMs(now)
	frac := now - ms*1e6
	end := ms + (frac+int64(d)+1e6-1)/1e6
	return end, end > 0 && end <= maxDeadline
}

// Set stores v under key. The value is copied: changing v afterwards does
// not change what is stored. With no option the store's default TTL applies;
// livedict.TTL, NoExpiry or KeepTTL overrides it.
func (s *Store[K, V]) Set(ctx context.Context, key K, v V, opts ...livedict.SetOption) error {
	if err := s.check(); err != nil {
		return err
	}
	now := s.now()
	w, err := s.write(v, now, opts)
	if err != nil {
		return err
	}
	hs := s.table()
	var h uint64
	if s.needHash(hs) {
		h = s.hash(key)
	}
	w.ClaimDisplaced = displacedLease(hs)
	w.WantPrev = hs.has(kindChange)
	hd, err := s.ev.begin(ctx, hs, h)
	if err != nil {
		return err
	}
	res, err := s.put(ctx, key, h, w, floorMs(now))
	s.afterWrite(w.Deadline, res, err)
	var inline []call[K, V]
	if len(hs.byID) > 0 {
		inline = s.ev.writeEvents(ctx, hs, key, h, v, res, err == nil)
	}
	hd.release()
	s.ev.runInline(ctx, inline)
	return err
}

// afterWrite counts a Put that returned err and tells the scheduler about
// its new deadline, or about an expiry it moved to the outbox (one the
// write claimed is the write's to deliver).
func (s *Store[K, V]) afterWrite(deadline int64, res backend.WriteResult[K, V], err error) {
	if res.ExpiredMoved && res.Displaced == nil {
		s.sched.kick()
	} else if deadline != 0 && err == nil {
		s.sched.deadline(deadline)
	}
	if err != nil {
		return
	}
	s.st.set()
	if n := len(res.Evicted); n > 0 {
		s.st.evicted.Add(uint64(n))
	}
}

// Get returns the value of key, and false when there is none or it expired.
// With WithLoader, a miss loads the value instead, as GetOrLoad does.
func (s *Store[K, V]) Get(ctx context.Context, key K) (V, bool, error) {
	if s.mem == nil || s.loads.fn != nil && s.loads.window > 0 {
		return s.getThrough(ctx, key, s.loads.fn, nil)
	}
	// The common case, a memory store without refresh ahead, on a path of
	// its own: through getThrough's generality a hit cost a tenth more
	// (with a loader too, which only a miss needs).
	if err := s.check(); err != nil {
		var zero V
		return zero, false, err
	}
	h := s.mem.Hash(key)
	v, ok, err := s.mem.GetValue(key, h, s.nowMs())
	if err != nil || !ok {
		if err != nil {
			return v, false, err
		}
		s.st.miss()
		if s.loads.fn != nil {
			v, err := s.load(ctx, key, s.loads.fn, nil)
			return v, err == nil, err
		}
		return v, false, nil
	}
	s.st.hit()
	s.gotten(ctx, key, h, v)
	return v, true, nil
}

// gotten raises OnGet for a hit of key, whose hash is h on the memory
// backend.
func (s *Store[K, V]) gotten(ctx context.Context, key K, h uint64, v V) {
	if hs := s.table(); hs.has(kindGet) {
		if s.mem == nil {
			h = s.hash(key)
		}
		s.ev.runInline(ctx, s.ev.emit(ctx, hs, kindGet, key, h, v, true, nil))
	}
}

// getThrough is Get, reading through load (with opts for the value it
// stores) when load is not nil.
func (s *Store[K, V]) getThrough(ctx context.Context, key K, load func(context.Context, K) (V, error), opts []livedict.SetOption) (V, bool, error) {
	if err := s.check(); err != nil {
		var zero V
		return zero, false, err
	}
	var h uint64
	var v V
	var ok bool
	var err error
	now := s.nowMs()
	// Refresh ahead needs the entry's deadline; a plain memory Get reads
	// the value alone.
	refreshing := load != nil && s.loads.window > 0
	due := false
	if s.mem != nil {
		h = s.mem.Hash(key)
	}
	if s.mem != nil && !refreshing {
		v, ok, err = s.mem.GetValue(key, h, now)
	} else {
		var e backend.Entry[V]
		e, ok, err = s.get(ctx, key, h, now)
		v = e.Value
		due = ok && err == nil && refreshing && s.refreshDue(e.Deadline, now)
		if ok && err == nil && e.SlideDue(now) {
			s.slide(ctx, key, h, now)
		}
	}
	if err != nil || !ok {
		if err != nil {
			return v, false, err
		}
		s.st.miss()
		if load != nil {
			v, err := s.load(ctx, key, load, opts)
			return v, err == nil, err
		}
		return v, false, nil
	}
	s.st.hit()
	if due {
		s.refresh(ctx, key, load, opts)
	}
	s.gotten(ctx, key, h, v)
	return v, true, nil
}

// slide pushes back the deadline of key, a sliding key that a read at now
// found, as the read should (see backend.Entry.SlideDue). The read stands
// when the push fails: the key keeps the deadline it had, and the failure
// is logged.
func (s *Store[K, V]) slide(ctx context.Context, key K, h uint64, now int64) {
	var err error
	if s.mem != nil {
		_, err = s.mem.TouchHashed(key, h, now)
	} else {
		_, err = s.b.Touch(ctx, key, now)
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("livedict: a read could not push back the deadline of a sliding key", "key", s.keyString(key), "err", err)
	}
}

// Touch pushes the deadline of a sliding key (one set with livedict.Idle,
// or under a default idle time) to its idle time from now, without
// rewriting its value, and reports whether key holds a live value. A key
// with a fixed deadline keeps it (Expire changes it). No hook fires.
func (s *Store[K, V]) Touch(ctx context.Context, key K) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if s.mem != nil {
		return s.mem.TouchHashed(key, s.mem.Hash(key), s.nowMs())
	}
	return s.b.Touch(ctx, key, s.nowMs())
}

// Expire gives the live value of key a new expiry without rewriting it,
// and reports whether there was one: livedict.TTL, Idle or NoExpiry, or
// without options the store's default, as Set would choose it (KeepTTL is
// an error wrapping ErrInvalidOption). No hook fires; OnExpire fires when
// the new deadline comes.
func (s *Store[K, V]) Expire(ctx context.Context, key K, opts ...livedict.SetOption) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	o := resolveSet(opts)
	if o.Err != nil {
		return false, o.Err
	}
	if o.Mode == impl.TTLKeep {
		return false, impl.Invalid("KeepTTL", "Expire sets a new expiry; KeepTTL would keep the one the key has")
	}
	now := s.now()
	deadline, idle, err := s.expiry(now, o)
	if err != nil {
		return false, err
	}
	var ok bool
	if s.mem != nil {
		ok, err = s.mem.RetimeHashed(key, s.mem.Hash(key), deadline, idle, floorMs(now))
	} else {
		ok, err = s.b.Retime(ctx, key, deadline, idle, floorMs(now))
	}
	if ok && err == nil && deadline != 0 {
		s.sched.deadline(deadline)
	}
	return ok, err
}

// Has reports whether key holds a live value. For a record the store
// cannot read it returns false and an error matching ErrCorrupt that names
// the key, as Get does: whether it is live is unknown.
func (s *Store[K, V]) Has(ctx context.Context, key K) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	var h uint64
	if s.mem != nil {
		h = s.mem.Hash(key)
	}
	_, ok, err := s.get(ctx, key, h, s.nowMs())
	return ok, err
}

// TTL returns how long key has left, in whole milliseconds rounded down (at
// least 1ms), never more than the TTL it was set with (rounded up to a
// whole millisecond): 0 and true when it never expires, false when there is
// no such key.
func (s *Store[K, V]) TTL(ctx context.Context, key K) (time.Duration, bool, error) {
	if err := s.check(); err != nil {
		return 0, false, err
	}
	var h uint64
	if s.mem != nil {
		h = s.mem.Hash(key)
	}
	now := s.now()
	e, ok, err := s.get(ctx, key, h, floorMs(now))
	if err != nil || !ok {
		return 0, false, err
	}
	if e.Deadline == 0 {
		return 0, true, nil
	}
	// The deadline is now+TTL rounded up to a millisecond, so the exact
	// time left can exceed the TTL by up to a millisecond; rounded down, it
	// cannot exceed a TTL of whole milliseconds (every backend keeps only
	// the deadline, so this rule is the same on all of them).
	left := time.Duration(e.Deadline*1e6 - now).Truncate(time.Millisecond)
	return max(left, time.Millisecond), true, nil
}

// Delete removes key and reports whether it held a live value, which
// OnDelete hooks receive. A record the store cannot read is removed too (the
// caller asked for it), and Delete returns true with an error matching
// ErrCorrupt that names the key; no OnDelete hook runs, having no value.
func (s *Store[K, V]) Delete(ctx context.Context, key K) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	hs := s.table()
	var h uint64
	if s.needHash(hs) {
		h = s.hash(key)
	}
	hd, err := s.ev.begin(ctx, hs, h)
	if err != nil {
		return false, err
	}
	var e backend.Entry[V]
	var ok bool
	if s.mem != nil {
		e, ok, err = s.mem.DeleteHashed(key, h, s.nowMs())
	} else {
		e, ok, err = s.b.Delete(ctx, key, s.nowMs())
	}
	var inline []call[K, V]
	if err == nil && ok {
		s.st.deleted()
		inline = s.ev.emit(ctx, hs, kindDelete, key, h, e.Value, false, nil)
	}
	hd.release()
	s.ev.runInline(ctx, inline)
	return ok, err
}

// Update applies fn to the current value of key atomically: fn sees the
// value (and whether there is one) and returns the next value, or keep false
// to delete the key. If another writer changes the key meanwhile, fn runs
// again on the new value, so fn must not have side effects it cannot
// repeat. An error from fn aborts the update and is returned as is.
func (s *Store[K, V]) Update(ctx context.Context, key K, fn func(cur V, exists bool) (next V, keep bool, err error), opts ...livedict.SetOption) error {
	if err := s.check(); err != nil {
		return err
	}
	h := s.hash(key)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		now := s.now()
		cur, exists, err := s.get(ctx, key, h, floorMs(now))
		if err != nil {
			return err
		}
		next, keep, err := fn(cur.Value, exists)
		if err != nil {
			return err
		}
		if !keep && !exists {
			return nil
		}
		var w backend.Write[V]
		if keep {
			if w, err = s.write(next, now, opts); err != nil {
				return err
			}
			w.Conditional, w.IfVersion = true, cur.Version
		}
		hs := s.table()
		w.ClaimDisplaced = displacedLease(hs)
		w.WantPrev = hs.has(kindChange)
		hd, err := s.ev.begin(ctx, hs, h)
		if err != nil {
			return err
		}
		var inline []call[K, V]
		if keep {
			var res backend.WriteResult[K, V]
			res, err = s.put(ctx, key, h, w, floorMs(now))
			s.afterWrite(w.Deadline, res, err)
			// A Put that lost the race may still have displaced an
			// expired entry: its expiry is delivered before the retry.
			inline = s.ev.writeEvents(ctx, hs, key, h, next, res, err == nil)
		} else if err = s.deleteIf(ctx, key, h, cur.Version, floorMs(now)); err == nil {
			s.st.deleted()
			inline = s.ev.emit(ctx, hs, kindDelete, key, h, cur.Value, true, nil)
		}
		hd.release()
		s.ev.runInline(ctx, inline)
		if errors.Is(err, backend.ErrConflict) {
			continue
		}
		return err
	}
}

func (s *Store[K, V]) deleteIf(ctx context.Context, key K, h uint64, version uint64, now int64) error {
	if s.mem != nil {
		return s.mem.DeleteIfHashed(key, h, version, now)
	}
	return s.b.DeleteIf(ctx, key, version, now)
}

// backoff waits a little before an Update retries, longer each time, so
// writers racing on one key do not spin.
func backoff(ctx context.Context, attempt int) error {
	if attempt < 3 {
		runtime.Gosched()
		return ctx.Err()
	}
	d := time.Duration(min(attempt, 10)) * 50 * time.Microsecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Len returns the number of live keys.
func (s *Store[K, V]) Len(ctx context.Context) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	return s.b.Len(ctx, s.nowMs())
}

// Keys returns the live keys, in no particular order.
func (s *Store[K, V]) Keys(ctx context.Context) ([]K, error) {
	var keys []K
	err := s.Range(ctx, func(k K, _ V) bool {
		keys = append(keys, k)
		return true
	})
	return keys, err
}

// Range calls fn for each live key and value until fn returns false; fn may
// call the store. A record that does not decode is skipped and reported in
// the returned error after the others were visited.
func (s *Store[K, V]) Range(ctx context.Context, fn func(key K, v V) bool) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.b.Range(ctx, s.nowMs(), func(k K, e backend.Entry[V]) bool { return fn(k, e.Value) })
}

// Clear deletes every key of the store's bucket. It raises no OnDelete
// events, and it drops the bucket's pending expiry events too: keys that
// expired and whose OnExpire no store has started to deliver (because no
// hook listened, or the sweep had not reached them) never raise it.
func (s *Store[K, V]) Clear(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	err := s.b.Clear(ctx, s.nowMs())
	s.sched.kick()
	return err
}

// Stats returns the store's counters.
func (s *Store[K, V]) Stats() livedict.Stats {
	return livedict.Stats{
		Hits:           s.st.load(nHits),
		Misses:         s.st.load(nMisses),
		Sets:           s.st.load(nSets),
		Deletes:        s.st.load(nDeletes),
		Expired:        s.st.expired.Load(),
		Evicted:        s.st.evicted.Load(),
		ExpiredDropped: s.b.DroppedExpired(),
		Loads:          s.st.loads.Load(),
		LoadErrors:     s.st.loadErrors.Load(),
		LoadTime:       time.Duration(s.st.loadNanos.Load()),
		Refreshes:      s.st.refreshes.Load(),
		Hooks:          livedict.HookStats(s.ev.pool.Stats()),
		HookLatency:    s.table().latency(),
	}
}

// Close stops the store: queued async operations and hook calls finish, the
// scheduler stops, and every goroutine the store started has exited when it
// returns. Close is idempotent; other methods return livedict.ErrClosed
// afterwards.
func (s *Store[K, V]) Close() error {
	s.closeOnce.Do(func() {
		s.asyncOnce.Do(func() {}) // no executor is started from now on
		if s.async != nil {
			s.async.close()
		}
		s.closed.Store(true)
		s.loads.mu.Lock()
		s.loads.closed = true
		s.loads.mu.Unlock()
		s.loads.cancel()
		s.loads.running.Wait()
		s.sched.stop()
		s.ev.pool.Close()
		s.ev.stopRenewing()
		// The hooks have run: acknowledge their events, bounded so that an
		// unreachable backend cannot hold Close (unacknowledged events are
		// delivered again later).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.ev.flushAcks(ctx)
		cancel()
		s.closeErr = s.b.Close()
		if s.owned {
			s.closeErr = errors.Join(s.closeErr, s.be.Close())
		}
	})
	return s.closeErr
}

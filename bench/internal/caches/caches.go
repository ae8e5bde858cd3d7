// Package caches puts every cache the benchmarks compare behind one small
// interface, each configured the way its documentation recommends for a
// cache of TTL'd entries, so that the workloads are written once.
package caches

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Yiling-J/theine-go"
	"github.com/dgraph-io/ristretto/v2"
	lru "github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/jellydator/ttlcache/v3"
	"github.com/livedict/livedict"
	"github.com/maypok86/otter/v2"
	gocache "github.com/patrickmn/go-cache"
)

// Cache is the surface every workload uses.
type Cache[V any] interface {
	Get(key string) (V, bool)
	// Set stores v for the configuration's TTL.
	Set(key string, v V)
	// SetTTL stores v for ttl; caches with one TTL for all entries ignore
	// ttl (see Features.PerEntryTTL).
	SetTTL(key string, v V, ttl time.Duration)
	// Settle waits until writes buffered by the cache are applied (ristretto,
	// theine apply writes asynchronously); a no-op elsewhere.
	Settle()
	Close()
}

// Config is what a workload asks of a cache.
type Config[V any] struct {
	// Capacity bounds caches that need a bound; it is set high enough that
	// every key of the workload fits.
	Capacity int
	// TTL applies to Set, and to every entry of a cache that only has one TTL.
	TTL time.Duration
	// OnExpire, when set, is registered as the cache's expiry callback.
	OnExpire func(key string, v V)
	// DeadlineOf gives an entry's deadline from its value, for otter, whose
	// per-entry expiry is computed from the entry rather than passed to Set.
	DeadlineOf func(V) time.Time
	// CleanupInterval is the sweep period of caches that sweep on a fixed
	// period chosen by the user (go-cache).
	CleanupInterval time.Duration
}

// Store is the part of a generated livedict store the adapter drives; both
// stores of package model have it.
type Store[V any] interface {
	Get(ctx context.Context, key string) (V, bool, error)
	Set(ctx context.Context, key string, v V, opts ...livedict.SetOption) error
	OnSet(fn func(ctx context.Context, key string, v V), opts ...livedict.HookOption) (livedict.HookID, error)
	OnExpire(fn func(ctx context.Context, key string, v V), opts ...livedict.HookOption) (livedict.HookID, error)
	Stats() livedict.Stats
	Close() error
}

// Opener opens a generated store of V on the memory backend.
type Opener[V any] func(opts ...livedict.Option) (Store[V], error)

// Spec names one cache and how to build it.
type Spec[V any] struct {
	Name string
	// Expires says the cache removes due entries by itself and reports them
	// through a callback; the floors (a map, sync.Map) do neither.
	Expires bool
	// PerEntryTTL is false for a cache whose entries all share one TTL.
	PerEntryTTL bool
	New         func(Config[V]) (Cache[V], error)
}

// Names of the caches, in the order of every table.
const (
	Livedict     = "livedict"
	LivedictHook = "livedict+OnSet"
	// LivedictNoCopies is the store opened WithoutCopies: values kept and
	// handed out as given, as the other caches do.
	LivedictNoCopies = "livedict WithoutCopies"
	Otter            = "otter"
	Ristretto        = "ristretto"
	Theine           = "theine"
	TTLCache         = "ttlcache"
	GoCache          = "go-cache"
	GolangLRU        = "golang-lru"
	RWMap            = "map+RWMutex"
	// RWMapCopies is the map+RWMutex floor copying every value on Set and
	// on Get: what the copies alone cost (see Copying).
	RWMapCopies = "map+RWMutex+copies"
	SyncMap     = "sync.Map"
)

// All returns every cache; open builds the livedict store of V.
// variants adds the livedict store with one asynchronous OnSet hook, and
// the one opened WithoutCopies.
func All[V any](open Opener[V], variants bool) []Spec[V] {
	specs := []Spec[V]{
		{Livedict, true, true, func(c Config[V]) (Cache[V], error) { return newLivedict(open, c) }},
	}
	if variants {
		specs = append(specs,
			Spec[V]{LivedictHook, true, true, func(c Config[V]) (Cache[V], error) { return newLivedict(open, c, withHook) }},
			Spec[V]{LivedictNoCopies, true, true, func(c Config[V]) (Cache[V], error) { return newLivedict(open, c, withoutCopies) }})
	}
	return append(specs,
		Spec[V]{Otter, true, true, newOtter[V]},
		Spec[V]{Ristretto, true, true, newRistretto[V]},
		Spec[V]{Theine, true, true, newTheine[V]},
		Spec[V]{TTLCache, true, true, newTTLCache[V]},
		Spec[V]{GoCache, true, true, newGoCache[V]},
		Spec[V]{GolangLRU, true, false, newGolangLRU[V]},
		Spec[V]{RWMap, false, false, func(Config[V]) (Cache[V], error) { return &rwMap[V]{m: map[string]V{}}, nil }},
		Spec[V]{SyncMap, false, false, func(Config[V]) (Cache[V], error) { return &syncMap[V]{}, nil }},
	)
}

// Find returns the spec called name.
func Find[V any](specs []Spec[V], name string) (Spec[V], error) {
	for _, s := range specs {
		if s.Name == name {
			return s, nil
		}
	}
	return Spec[V]{}, fmt.Errorf("no cache named %q", name)
}

var bg = context.Background()

type ldCache[V any] struct {
	s   Store[V]
	ttl time.Duration
	// A refused Set would otherwise look like a key the cache lost:
	// failed counts them and first keeps the first error (FailedSets).
	failed atomic.Uint64
	first  atomic.Pointer[string]
}

// variant is how a livedict row differs from the plain store.
type variant int

const (
	withHook      variant = iota + 1 // one asynchronous OnSet hook
	withoutCopies                    // opened WithoutCopies
)

func newLivedict[V any](open Opener[V], c Config[V], vs ...variant) (Cache[V], error) {
	// The fixed TTL is the store's default, as a user with one TTL would set
	// it: a Set then carries no option.
	opts := []livedict.Option{livedict.WithDefaultTTL(c.TTL)}
	if slices.Contains(vs, withoutCopies) {
		o := withoutCopiesOption()
		if o == nil {
			return nil, fmt.Errorf("the livedict measured has no WithoutCopies")
		}
		opts = append(opts, o)
	}
	s, err := open(opts...)
	if err != nil {
		return nil, err
	}
	if slices.Contains(vs, withHook) {
		// The cheapest possible hook, so that what is measured is the cost of
		// raising and queueing the event, not the hook's own work.
		if _, err := s.OnSet(func(context.Context, string, V) {}); err != nil {
			return nil, err
		}
	}
	if c.OnExpire != nil {
		if _, err := s.OnExpire(func(_ context.Context, k string, v V) { c.OnExpire(k, v) }); err != nil {
			return nil, err
		}
	}
	return &ldCache[V]{s: s, ttl: c.TTL}, nil
}

func (l *ldCache[V]) Get(k string) (V, bool) {
	v, ok, _ := l.s.Get(bg, k)
	return v, ok
}

func (l *ldCache[V]) Set(k string, v V) { l.check(l.s.Set(bg, k, v)) }

func (l *ldCache[V]) SetTTL(k string, v V, ttl time.Duration) {
	if ttl == l.ttl {
		l.Set(k, v)
		return
	}
	l.check(l.s.Set(bg, k, v, livedict.TTL(ttl)))
}

func (l *ldCache[V]) check(err error) {
	if err == nil {
		return
	}
	if l.failed.Add(1) == 1 {
		msg := err.Error()
		l.first.Store(&msg)
	}
}

// FailedSets is how many Sets the store refused, and the first error.
func (l *ldCache[V]) FailedSets() (uint64, string) {
	n := l.failed.Load()
	if p := l.first.Load(); p != nil {
		return n, *p
	}
	return n, ""
}

// Settle waits for queued hook calls (those of a pre-fill) to run, so that
// they do not compete with the measured operations.
func (l *ldCache[V]) Settle() {
	for l.s.Stats().Hooks.Queued > 0 {
		time.Sleep(time.Millisecond)
	}
}
func (l *ldCache[V]) Close() { _ = l.s.Close() }

// ExpiredDropped is the store's count of expiry events it let go.
func (l *ldCache[V]) ExpiredDropped() uint64 { return l.s.Stats().ExpiredDropped }

type otterCache[V any] struct {
	c   *otter.Cache[string, V]
	ttl time.Duration
}

func newOtter[V any](c Config[V]) (Cache[V], error) {
	o := &otter.Options[string, V]{
		// Unbounded, like the livedict store it is compared with; a bound
		// would add eviction bookkeeping livedict does not do.
		ExpiryCalculator: otter.ExpiryWriting[string, V](c.TTL),
	}
	if c.DeadlineOf != nil {
		o.ExpiryCalculator = otter.ExpiryWritingFunc(func(e otter.Entry[string, V]) time.Duration {
			return time.Until(c.DeadlineOf(e.Value))
		})
	}
	if c.OnExpire != nil {
		o.OnDeletion = func(e otter.DeletionEvent[string, V]) {
			if e.Cause == otter.CauseExpiration {
				c.OnExpire(e.Key, e.Value)
			}
		}
	}
	oc, err := otter.New(o)
	if err != nil {
		return nil, err
	}
	return &otterCache[V]{c: oc, ttl: c.TTL}, nil
}

func (o *otterCache[V]) Get(k string) (V, bool) { return o.c.GetIfPresent(k) }
func (o *otterCache[V]) Set(k string, v V)      { o.c.Set(k, v) }

// SetTTL relies on DeadlineOf: otter computes an entry's TTL from the entry.
func (o *otterCache[V]) SetTTL(k string, v V, _ time.Duration) { o.c.Set(k, v) }
func (o *otterCache[V]) Settle()                               {}
func (o *otterCache[V]) Close()                                { o.c.StopAllGoroutines() }

type ristrettoCache[V any] struct {
	c   *ristretto.Cache[string, V]
	ttl time.Duration
}

func newRistretto[V any](c Config[V]) (Cache[V], error) {
	cfg := &ristretto.Config[string, V]{
		NumCounters:        int64(10 * c.Capacity), // ten per entry, as its docs advise
		MaxCost:            int64(c.Capacity),
		BufferItems:        64,
		IgnoreInternalCost: true, // cost 1 per entry, so MaxCost counts entries
	}
	if c.OnExpire != nil {
		cfg.OnEvict = func(it *ristretto.Item[V]) {
			// The key is gone (ristretto keeps hashes only): the workload
			// identifies the entry from its value.
			c.OnExpire("", it.Value)
		}
	}
	rc, err := ristretto.NewCache(cfg)
	if err != nil {
		return nil, err
	}
	return &ristrettoCache[V]{c: rc, ttl: c.TTL}, nil
}

func (r *ristrettoCache[V]) Get(k string) (V, bool) { return r.c.Get(k) }
func (r *ristrettoCache[V]) Set(k string, v V)      { r.c.SetWithTTL(k, v, 1, r.ttl) }
func (r *ristrettoCache[V]) SetTTL(k string, v V, ttl time.Duration) {
	r.c.SetWithTTL(k, v, 1, ttl)
}
func (r *ristrettoCache[V]) Settle() { r.c.Wait() }
func (r *ristrettoCache[V]) Close()  { r.c.Close() }

type theineCache[V any] struct {
	c   *theine.Cache[string, V]
	ttl time.Duration
}

func newTheine[V any](c Config[V]) (Cache[V], error) {
	b := theine.NewBuilder[string, V](int64(c.Capacity))
	if c.OnExpire != nil {
		b = b.RemovalListener(func(k string, v V, reason theine.RemoveReason) {
			if reason == theine.EXPIRED {
				c.OnExpire(k, v)
			}
		})
	}
	tc, err := b.Build()
	if err != nil {
		return nil, err
	}
	return &theineCache[V]{c: tc, ttl: c.TTL}, nil
}

func (t *theineCache[V]) Get(k string) (V, bool) { return t.c.Get(k) }
func (t *theineCache[V]) Set(k string, v V)      { t.c.SetWithTTL(k, v, 1, t.ttl) }
func (t *theineCache[V]) SetTTL(k string, v V, ttl time.Duration) {
	t.c.SetWithTTL(k, v, 1, ttl)
}
func (t *theineCache[V]) Settle() { t.c.Wait() }
func (t *theineCache[V]) Close()  { t.c.Close() }

type ttlCache[V any] struct {
	c    *ttlcache.Cache[string, V]
	ttl  time.Duration
	done sync.WaitGroup
}

func newTTLCache[V any](c Config[V]) (Cache[V], error) {
	tc := ttlcache.New(
		ttlcache.WithTTL[string, V](c.TTL),
		// A hit would otherwise push the deadline out: every other cache
		// here keeps the TTL from the write.
		ttlcache.WithDisableTouchOnHit[string, V](),
	)
	if c.OnExpire != nil {
		tc.OnEviction(func(_ context.Context, r ttlcache.EvictionReason, it *ttlcache.Item[string, V]) {
			if r == ttlcache.EvictionReasonExpired {
				c.OnExpire(it.Key(), it.Value())
			}
		})
	}
	t := &ttlCache[V]{c: tc, ttl: c.TTL}
	// Start runs the expiry loop until Stop.
	t.done.Add(1)
	go func() {
		defer t.done.Done()
		tc.Start()
	}()
	return t, nil
}

func (t *ttlCache[V]) Get(k string) (V, bool) {
	it := t.c.Get(k)
	if it == nil {
		var zero V
		return zero, false
	}
	return it.Value(), true
}
func (t *ttlCache[V]) Set(k string, v V)                       { t.c.Set(k, v, t.ttl) }
func (t *ttlCache[V]) SetTTL(k string, v V, ttl time.Duration) { t.c.Set(k, v, ttl) }
func (t *ttlCache[V]) Settle()                                 {}
func (t *ttlCache[V]) Close() {
	t.c.Stop()
	t.done.Wait()
}

type goCache[V any] struct {
	c   *gocache.Cache
	ttl time.Duration
}

func newGoCache[V any](c Config[V]) (Cache[V], error) {
	every := c.CleanupInterval
	if every == 0 {
		every = time.Minute
	}
	gc := gocache.New(c.TTL, every)
	if c.OnExpire != nil {
		// go-cache calls OnEvicted for expired entries its janitor removes
		// (and for deletes, which the workloads do not make).
		gc.OnEvicted(func(k string, v any) { c.OnExpire(k, v.(V)) })
	}
	return &goCache[V]{c: gc, ttl: c.TTL}, nil
}

func (g *goCache[V]) Get(k string) (V, bool) {
	v, ok := g.c.Get(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}
func (g *goCache[V]) Set(k string, v V)                       { g.c.Set(k, v, g.ttl) }
func (g *goCache[V]) SetTTL(k string, v V, ttl time.Duration) { g.c.Set(k, v, ttl) }
func (g *goCache[V]) Settle()                                 {}

// Close drops the data; go-cache stops its janitor when the cache is
// collected.
func (g *goCache[V]) Close() { g.c.Flush() }

type golangLRU[V any] struct {
	c *lru.LRU[string, V]
}

func newGolangLRU[V any](c Config[V]) (Cache[V], error) {
	var onEvict lru.EvictCallback[string, V]
	if c.OnExpire != nil {
		// With no size limit, only expiry evicts.
		onEvict = func(k string, v V) { c.OnExpire(k, v) }
	}
	ttl := c.TTL
	if ttl <= 0 || ttl > math.MaxInt64/2 {
		ttl = time.Hour
	}
	return &golangLRU[V]{c: lru.NewLRU(0, onEvict, ttl)}, nil
}

func (g *golangLRU[V]) Get(k string) (V, bool)                { return g.c.Get(k) }
func (g *golangLRU[V]) Set(k string, v V)                     { g.c.Add(k, v) }
func (g *golangLRU[V]) SetTTL(k string, v V, _ time.Duration) { g.c.Add(k, v) }
func (g *golangLRU[V]) Settle()                               {}

// Close drops the data; golang-lru's expiry goroutine has no stop and lives
// as long as the process.
func (g *golangLRU[V]) Close() { g.c.Purge() }

type rwMap[V any] struct {
	mu sync.RWMutex
	m  map[string]V
}

func (r *rwMap[V]) Get(k string) (V, bool) {
	r.mu.RLock()
	v, ok := r.m[k]
	r.mu.RUnlock()
	return v, ok
}

func (r *rwMap[V]) Set(k string, v V) {
	r.mu.Lock()
	r.m[k] = v
	r.mu.Unlock()
}

func (r *rwMap[V]) SetTTL(k string, v V, _ time.Duration) { r.Set(k, v) }
func (r *rwMap[V]) Settle()                               {}
func (r *rwMap[V]) Close()                                {}

// Copying returns the floor that copies values with clone on their way in
// and out of a map+RWMutex, as livedict copies them; it is in no table of
// every cache, only beside livedict's own rows.
func Copying[V any](clone func(V) V) Spec[V] {
	return Spec[V]{RWMapCopies, false, false, func(Config[V]) (Cache[V], error) {
		return &copyingMap[V]{rwMap: rwMap[V]{m: map[string]V{}}, clone: clone}, nil
	}}
}

type copyingMap[V any] struct {
	rwMap[V]
	clone func(V) V
}

func (c *copyingMap[V]) Get(k string) (V, bool) {
	v, ok := c.rwMap.Get(k)
	if ok {
		v = c.clone(v)
	}
	return v, ok
}

func (c *copyingMap[V]) Set(k string, v V)                     { c.rwMap.Set(k, c.clone(v)) }
func (c *copyingMap[V]) SetTTL(k string, v V, _ time.Duration) { c.Set(k, v) }

type syncMap[V any] struct{ m sync.Map }

func (s *syncMap[V]) Get(k string) (V, bool) {
	v, ok := s.m.Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

func (s *syncMap[V]) Set(k string, v V)                     { s.m.Store(k, v) }
func (s *syncMap[V]) SetTTL(k string, v V, _ time.Duration) { s.Set(k, v) }
func (s *syncMap[V]) Settle()                               {}
func (s *syncMap[V]) Close()                                {}

package engine

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/internal/impl"
	"github.com/livedict/livedict/sandbox"
)

type kind int

const (
	kindSet kind = iota
	kindGet
	kindDelete
	kindExpire
	kindEvict
	kindChange
	numKinds
)

var kindNames = [numKinds]string{"OnSet", "OnGet", "OnDelete", "OnExpire", "OnEvict", "OnChange"}

type hook[K comparable, V any] struct {
	id     livedict.HookID
	kind   kind
	fn     func(ctx context.Context, key K, v V)
	change func(ctx context.Context, key K, ch livedict.Change[V]) // an OnChange hook's, instead of fn
	// run calls fn (or change) on one event's hookArg: the Fn of every
	// call of the hook, made once.
	run    func(ctx context.Context, a hookArg[K, V])
	sb     *sandbox.Hook
	inline bool
	scoped bool
	key    K
}

// hookTable is an immutable snapshot of the registered hooks; registration
// replaces it, so the hot path reads it with one atomic load.
type hookTable[K comparable, V any] struct {
	global [numKinds][]*hook[K, V]
	scoped [numKinds]map[K][]*hook[K, V]
	byID   map[livedict.HookID]*hook[K, V]
	async  int // hooks that run on the pool: writes take their stripe
}

func (t *hookTable[K, V]) has(k kind) bool {
	return len(t.global[k]) > 0 || len(t.scoped[k]) > 0
}

type hooks[K comparable, V any] struct {
	hookMu  sync.Mutex
	current atomic.Pointer[hookTable[K, V]]
	lastID  atomic.Uint64
}

func (s *Store[K, V]) table() *hookTable[K, V] { return s.current.Load() }

// register adds a hook of kind k and returns its id, or an error wrapping
// ErrInvalidOption for a bad option.
func (s *Store[K, V]) register(k kind, fn func(context.Context, K, V), opts []livedict.HookOption) (livedict.HookID, error) {
	return s.add(k, &hook[K, V]{fn: fn}, fn == nil, opts)
}

// add registers h, holding its function, as a hook of kind k.
func (s *Store[K, V]) add(k kind, h *hook[K, V], nilFn bool, opts []livedict.HookOption) (livedict.HookID, error) {
	o := resolveHook(opts)
	if o.Err != nil {
		return 0, fmt.Errorf("%s: %w", kindNames[k], o.Err)
	}
	if nilFn {
		return 0, impl.Invalid(kindNames[k], "the hook function is nil")
	}
	var key K
	if o.Scoped {
		var ok bool
		if key, ok = o.Key.(K); !ok {
			return 0, impl.Invalid(kindNames[k], "ForKey(%v) holds a %T, and this store's keys are %T: use this store's ForKey", o.Key, o.Key, key)
		}
	}
	id := livedict.HookID(s.lastID.Add(1))
	name := o.Name
	if name == "" {
		name = fmt.Sprintf("%s#%d", kindNames[k], id)
	}
	h.id, h.kind, h.inline, h.scoped, h.key, h.sb = id, k, o.Inline, o.Scoped, key, sandbox.NewHook(uint64(id), name, o.Timeout)
	if fn, change := h.fn, h.change; change != nil {
		h.run = func(ctx context.Context, a hookArg[K, V]) { change(ctx, a.key, *a.change) }
	} else {
		h.run = func(ctx context.Context, a hookArg[K, V]) { fn(ctx, a.key, a.v) }
	}
	s.hookMu.Lock()
	old := s.table()
	next := old.clone()
	if h.scoped {
		if next.scoped[k] == nil {
			next.scoped[k] = make(map[K][]*hook[K, V])
		}
		next.scoped[k][h.key] = append(next.scoped[k][h.key][:len(next.scoped[k][h.key]):len(next.scoped[k][h.key])], h)
	} else {
		next.global[k] = append(next.global[k][:len(next.global[k]):len(next.global[k])], h)
	}
	next.byID[id] = h
	if !h.inline {
		next.async++
	}
	s.current.Store(next)
	s.hookMu.Unlock()
	if k == kindExpire {
		// Pending expiry events were waiting for a listener.
		s.sched.kick()
	}
	return id, nil
}

func (t *hookTable[K, V]) clone() *hookTable[K, V] {
	n := &hookTable[K, V]{byID: make(map[livedict.HookID]*hook[K, V], len(t.byID)+1), async: t.async}
	n.global = t.global
	for k := range t.scoped {
		if t.scoped[k] != nil {
			n.scoped[k] = make(map[K][]*hook[K, V], len(t.scoped[k]))
			for key, hs := range t.scoped[k] {
				n.scoped[k][key] = hs
			}
		}
	}
	for id, h := range t.byID {
		n.byID[id] = h
	}
	return n
}

// SetHookEnabled switches a hook on or off and reports whether it exists.
// Switching on also resets the hook's circuit breaker.
func (s *Store[K, V]) SetHookEnabled(id livedict.HookID, on bool) bool {
	h, ok := s.table().byID[id]
	if ok {
		h.sb.SetEnabled(on)
	}
	return ok
}

// RemoveHook unregisters a hook and reports whether it existed.
func (s *Store[K, V]) RemoveHook(id livedict.HookID) bool {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	old := s.table()
	h, ok := old.byID[id]
	if !ok {
		return false
	}
	h.sb.SetEnabled(false) // calls already queued are skipped
	next := old.clone()
	delete(next.byID, id)
	without := func(list []*hook[K, V]) []*hook[K, V] {
		out := make([]*hook[K, V], 0, len(list))
		for _, x := range list {
			if x != h {
				out = append(out, x)
			}
		}
		return out
	}
	if h.scoped {
		if l := without(next.scoped[h.kind][h.key]); len(l) > 0 {
			next.scoped[h.kind][h.key] = l
		} else {
			delete(next.scoped[h.kind], h.key)
		}
	} else {
		next.global[h.kind] = without(next.global[h.kind])
	}
	if !h.inline {
		next.async--
	}
	s.current.Store(next)
	return true
}

// OnSet registers fn to run after each Set or Update that stores a value.
// Options: livedict.HookTimeout, Inline, HookName and the store's ForKey; a
// bad one is an error wrapping livedict.ErrInvalidOption.
func (s *Store[K, V]) OnSet(fn func(ctx context.Context, key K, v V), opts ...livedict.HookOption) (livedict.HookID, error) {
	return s.register(kindSet, fn, opts)
}

// OnGet registers fn to run after each Get that finds a value. Options:
// livedict.HookTimeout, Inline, HookName and the store's ForKey; a bad one
// is an error wrapping livedict.ErrInvalidOption.
func (s *Store[K, V]) OnGet(fn func(ctx context.Context, key K, v V), opts ...livedict.HookOption) (livedict.HookID, error) {
	return s.register(kindGet, fn, opts)
}

// OnDelete registers fn to run after each Delete (or Update) that removed a
// value, with that value. Options: livedict.HookTimeout, Inline, HookName
// and the store's ForKey; a bad one is an error wrapping
// livedict.ErrInvalidOption.
func (s *Store[K, V]) OnDelete(fn func(ctx context.Context, key K, v V), opts ...livedict.HookOption) (livedict.HookID, error) {
	return s.register(kindDelete, fn, opts)
}

// OnExpire registers fn to run once for each key that expires, with its last
// value. Expiries that happened before any OnExpire hook was registered are
// delivered to the first one (up to the retention limit). Options:
// livedict.HookTimeout, Inline, HookName and the store's ForKey; a bad one
// is an error wrapping livedict.ErrInvalidOption.
func (s *Store[K, V]) OnExpire(fn func(ctx context.Context, key K, v V), opts ...livedict.HookOption) (livedict.HookID, error) {
	return s.register(kindExpire, fn, opts)
}

// OnEvict registers fn to run for each value the key limit pushed out.
// Options: livedict.HookTimeout, Inline, HookName and the store's ForKey; a
// bad one is an error wrapping livedict.ErrInvalidOption.
func (s *Store[K, V]) OnEvict(fn func(ctx context.Context, key K, v V), opts ...livedict.HookOption) (livedict.HookID, error) {
	return s.register(kindEvict, fn, opts)
}

// OnChange registers fn to run after each Set or Update that stores a
// value, as OnSet does, with the live value the write replaced and whether
// there was one. Writes ask the backend for that value only while an
// OnChange hook is registered. Options: livedict.HookTimeout, Inline,
// HookName and the store's ForKey; a bad one is an error wrapping
// livedict.ErrInvalidOption.
func (s *Store[K, V]) OnChange(fn func(ctx context.Context, key K, ch livedict.Change[V]), opts ...livedict.HookOption) (livedict.HookID, error) {
	return s.add(kindChange, &hook[K, V]{change: fn}, fn == nil, opts)
}

// hookArg is what a hook call gets of its event, carried by value in the
// hook queue: the key and the value, or for OnChange the change.
type hookArg[K comparable, V any] struct {
	key    K
	v      V
	change *livedict.Change[V]
}

// call is one hook call: queued to the pool, or an inline one waiting for
// its operation to finish.
type call[K comparable, V any] = sandbox.CallOf[hookArg[K, V]]

// queued is a call of a batch, with the hash of its key.
type queued[K comparable, V any] = sandbox.QueuedOf[hookArg[K, V]]

// hookValue gives a hook its own copy of an event's value: hooks run
// concurrently with the caller and with each other. A value the caller does
// not share (owned) goes, uncopied, to the last hook, once no more copies
// will be made from it.
func (s *Store[K, V]) hookValue(v V, shared bool, hooksLeft int) V {
	if shared || hooksLeft > 0 {
		return s.clone(v)
	}
	return v
}

func (s *Store[K, V]) hookFailed(f sandbox.Failure) {
	if s.cfg.OnHookError != nil {
		s.cfg.OnHookError(f)
	}
}

// latency returns the call latencies of the registered hooks, by ID.
func (t *hookTable[K, V]) latency() []livedict.HookLatency {
	if len(t.byID) == 0 {
		return nil
	}
	out := make([]livedict.HookLatency, 0, len(t.byID))
	for id, h := range t.byID {
		l := h.sb.Latency()
		out = append(out, livedict.HookLatency{
			ID: id, Name: h.sb.Name(), Event: kindNames[h.kind],
			Count: l.Count, Sum: l.Sum, Buckets: slices.Clone(l.Buckets[:]),
		})
	}
	slices.SortFunc(out, func(a, b livedict.HookLatency) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

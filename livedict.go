// Package livedict is a typed, TTL-aware key-value store for Go.
//
// A generator, livedictgen, turns a struct annotated with //livedict:store
// into a store type with typed methods (Set, Get, Delete, Update, Lock, ...),
// typed hooks (OnSet, OnGet, OnDelete, OnExpire, OnEvict) and a
// reflection-free serializer. The store runs on an in-process memory backend
// by default, or on SQLite or Redis when several processes share it.
//
// This package holds what users of generated stores name: options, errors,
// Lock, Future, Stats and backend selection by URI. The memory backend is
// built in; the SQLite and Redis backends add their URI schemes when their
// packages are imported:
//
//	import _ "github.com/livedict/livedict/backends/sqlite" // sqlite://
//	import _ "github.com/livedict/livedict/backends/redis"  // redis://, rediss://
package livedict

import (
	"fmt"
	"slices"
	"time"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/sandbox"
)

// Backend is a backend that stores share: one opened with OpenURI, or
// sqlite.Open, redis.New or memory.New. Its contract is package backend's.
type Backend = backend.Backend

// Policy says what a store that is full (WithMaxKeys) does with a new key.
type Policy int

// Key limit policies, for WithMaxKeys.
const (
	RejectNew = Policy(backend.RejectNew) // a new key gets ErrLimit
	EvictLRU  = Policy(backend.EvictLRU)  // the least recently used key makes room, raising OnEvict
)

func (p Policy) String() string { return backend.Policy(p).String() }

// Overflow says what an event does when the hook queue is full.
type Overflow int

// Hook queue overflow policies, for WithHookQueue.
const (
	Block = Overflow(sandbox.Block) // the operation waits for room while its ctx allows
	Drop  = Overflow(sandbox.Drop)  // the event is dropped and counted
)

// HookID names a registered hook, for SetHookEnabled and RemoveHook.
type HookID uint64

// HookError is one hook failure, as given to the WithHookErrorHandler
// function.
type HookError struct {
	Kind     string // "panic", "timeout", "tripped" (switched off by the breaker) or "dropped" (queue full)
	HookID   HookID
	HookName string
	Key      string
	Err      error // for a panic, the value and the stack
}

func (e HookError) Error() string {
	name := e.HookName
	if name == "" {
		name = fmt.Sprintf("#%d", e.HookID)
	}
	return fmt.Sprintf("livedict: hook %s %s on key %q: %v", name, e.Kind, e.Key, e.Err)
}

func (e HookError) Unwrap() error { return e.Err }

// Change is what an OnChange hook hears of a write that stored a value:
// the value, and the live value it replaced, if the key held one.
type Change[V any] struct {
	Value   V
	Prev    V    // the zero value when Existed is false
	Existed bool // the key held a live value before the write
}

// Lookup is the result of an asynchronous Get or TTL.
type Lookup[T any] struct {
	Value T
	Found bool
}

// Stats are a store's counters since it opened.
type Stats struct {
	Hits, Misses   uint64 // Get calls that found a value, and that did not
	Sets, Deletes  uint64 // values written (Set, Update) and removed (Delete, Update)
	Expired        uint64 // keys this process swept after their deadline
	Evicted        uint64 // keys pushed out by WithMaxKeys(n, EvictLRU)
	ExpiredDropped uint64 // expiry events dropped by the retention limit, unheard
	// Loads counts the calls of a loader (GetOrLoad, WithLoader) this
	// process made, LoadErrors those that failed, LoadTime their total time.
	Loads, LoadErrors uint64
	LoadTime          time.Duration
	Refreshes         uint64 // the loads that refreshed a key ahead of its deadline (WithRefreshAhead)
	Hooks             HookStats
	// HookLatency holds, for each registered hook, how long its calls took.
	HookLatency []HookLatency
}

// HitRatio is Hits / (Hits + Misses), or 0 before any Get.
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// HookLatency is how long the calls of one registered hook took: those
// that returned, in time or late, panicking or not.
type HookLatency struct {
	ID    HookID
	Name  string // HookName's, else the event and the ID: "OnSet#3"
	Event string // "OnSet", "OnGet", "OnDelete", "OnExpire", "OnEvict" or "OnChange"
	Count uint64
	Sum   time.Duration
	// Buckets[i] counts the calls that took at most LatencyBounds()[i] and
	// more than the bound before it; the last counts those over them all.
	Buckets []uint64
}

// LatencyBounds returns the upper bounds of the buckets of HookLatency:
// 5µs to 10s in 1-2.5-5 steps.
func LatencyBounds() []time.Duration { return slices.Clone(sandbox.LatencyBounds[:]) }

// HookStats count hook calls: queued, run, failed, skipped.
type HookStats struct {
	Submitted uint64 // calls queued (or dropped, or skipped) and inline calls run
	Completed uint64 // calls that returned in time without panicking
	Panics    uint64 // calls that panicked
	Timeouts  uint64 // calls that overran their timeout
	Dropped   uint64 // calls dropped because a queue was full
	Skipped   uint64 // calls not run because their hook was disabled or switched off
	Tripped   uint64 // times the circuit breaker switched a hook off
	Runaway   int64  // hook goroutines still running past their timeout
	Queued    int64  // calls waiting in queues
}

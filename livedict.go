// Package livedict is a typed, TTL-aware key-value store for Go.
//
// A generator, livedictgen, turns a struct annotated with //livedict:store
// into a store type with typed methods (Set, Get, Delete, Update, Lock, ...),
// typed hooks (OnSet, OnGet, OnDelete, OnExpire, OnEvict) and a
// reflection-free serializer. The store runs on an in-process memory backend
// by default, or on SQLite or Redis when several processes share it.
//
// This package holds what users name: options, errors, Lock, Future, Stats
// and backend selection by URI. The generated code links against package
// runtime; the types here are the same types.
package livedict

import (
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/clock"
	"github.com/livedict/livedict/runtime"
)

type (
	// Option configures a store; see the With functions.
	Option = runtime.Option
	// SetOption changes one Set or Update: TTL, NoExpiry, KeepTTL.
	SetOption = runtime.SetOption
	// HookOption changes one hook: HookTimeout, Inline, ForKey, HookName.
	HookOption = runtime.HookOption
	// LockOption changes one Lock or TryLock: Lease.
	LockOption = runtime.LockOption

	// Lock is a held advisory lease on one key, with a fencing token.
	Lock = runtime.Lock
	// HookID names a registered hook.
	HookID = runtime.HookID
	// HookError is one hook failure, given to WithHookErrorHandler.
	HookError = runtime.HookError
	// Stats are a store's counters.
	Stats = runtime.Stats
	// HookStats count hook calls.
	HookStats = runtime.HookStats
	// Future is the result of an asynchronous operation.
	Future[T any] = runtime.Future[T]
	// Lookup is the result of an asynchronous Get or TTL.
	Lookup[T any] = runtime.Lookup[T]

	// Backend is a backend shared by several stores: SQLite or Redis, or
	// memory.New() to share one memory backend between stores.
	Backend = backend.Backend
	// Policy says what a full store does with a new key.
	Policy = backend.Policy
	// Overflow says what an event does when the hook queue is full.
	Overflow = runtime.Overflow
	// Clock is a store's time source; clock.NewFake makes one for tests.
	Clock = clock.Clock
)

// Key limit policies, for WithMaxKeys.
const (
	RejectNew = backend.RejectNew // a new key gets ErrLimit
	EvictLRU  = backend.EvictLRU  // the least recently used key makes room, raising OnEvict
)

// Hook queue overflow policies, for WithHookQueue.
const (
	Block = runtime.Block // the operation waits for room while its ctx allows
	Drop  = runtime.Drop  // the event is dropped and counted
)

// Errors, matched with errors.Is.
var (
	ErrClosed        = backend.ErrClosed        // the store was closed
	ErrInvalidTTL    = backend.ErrInvalidTTL    // TTL(d) with d <= 0
	ErrLimit         = backend.ErrLimit         // WithMaxKeys(n, RejectNew) is full
	ErrLockTimeout   = backend.ErrLockTimeout   // ctx ended before Lock got the key
	ErrLockLost      = backend.ErrLockLost      // the lease ended before Unlock or Extend
	ErrCorrupt       = backend.ErrCorrupt       // a stored record does not decode; it is left in place
	ErrSchema        = backend.ErrSchema        // a record was written by an incompatible schema
	ErrInvalidOption = backend.ErrInvalidOption // an option was given a bad value
)

// RecordError names the bucket and key of a record that does not decode. It
// matches ErrCorrupt or ErrSchema.
type RecordError = backend.RecordError

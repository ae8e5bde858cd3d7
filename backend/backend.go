// Package backend is the contract between the livedict store core and the
// places values live: memory, SQLite and Redis.
//
// The store core (internal/engine) owns the semantics users see: default
// TTLs, hooks, the expiry scheduler, Update's retry loop, lock waiting. A
// backend owns storage and the few operations that must be atomic where the
// data lives, so that they stay correct when several processes share one
// SQLite file or one Redis:
//
//   - Reads and writes of one key, with a deadline in Unix milliseconds. A
//     backend never returns an entry whose deadline is at or before the now it
//     is given, even when the entry has not been swept yet.
//   - Versions. Every write gives the entry a new Version; Put and DeleteIf
//     can be made conditional on it (compare-and-swap), which is how Update
//     is built without holding a lock across user code.
//   - Limits. The key limit of a bucket is enforced inside the write, so that
//     RejectNew never overshoots and EvictLRU reports what it pushed out.
//   - Expiry, in two steps. SweepExpired atomically moves due entries, with
//     their last value, into the bucket's outbox; ClaimExpired hands outbox
//     events to one consumer at a time; AckExpired removes them after the
//     hooks ran. On a shared backend the outbox is durable, so an event whose
//     consumer crashed is claimed again once its claim lease ends
//     (at-least-once; a live consumer renews its claims with ExtendClaims),
//     and entries that expired while no process ran are swept by the next
//     one. The outbox keeps at most Retention events; older
//     unclaimed ones are dropped and counted, so events do not pile up when
//     nobody listens. A write over an entry that expired but was not swept
//     yet moves that entry to the outbox too: an expiry is never lost to a
//     later Set. The write may instead take that one event itself, claimed
//     as ClaimExpired would hand it out (Write.ClaimDisplaced), so that the
//     store delivers it before the write's own events without taking the
//     rest of the outbox.
//   - Locks: advisory per-key leases held by an owner token, with a fencing
//     number that grows with every acquisition. Lock keys are a namespace of
//     their own, apart from data keys.
//
// A backend is shared by the stores of one process and, for SQLite and
// Redis, by many processes; every store writes in its own bucket and a bucket
// never reads, counts, lists or deletes anything outside itself.
//
// SQLite and Redis implement Backend, which stores bytes under string keys;
// the store core encodes keys and values with the code livedictgen generates.
// The memory backend is typed instead (no serialization on any path): it
// implements Bucket[K, V] directly for the user's key and value types.
package backend

import (
	"context"
	"fmt"
	"time"
)

// Backend is a byte-oriented backend shared by many buckets (SQLite, Redis).
type Backend interface {
	// Bucket opens the named bucket, creating what it needs on first use.
	Bucket(ctx context.Context, cfg BucketConfig) (Bucket[string, []byte], error)
	// PollInterval says how often the expiry scheduler must look for
	// deadlines written by other processes; 0 means every write goes through
	// this process, so the scheduler may sleep until the next known deadline.
	PollInterval() time.Duration
	// Close releases the backend. Buckets opened from it fail afterwards.
	Close() error
}

// BucketConfig describes a bucket when it is opened.
type BucketConfig struct {
	Name      string
	Limit     Limit
	Retention int // outbox capacity; 0 means DefaultRetention
	// Type identifies the type of the values the bucket holds (see
	// TypeID). A backend records it when the bucket is first opened with
	// one, and refuses to open the bucket for another type with the error
	// WrongType makes. Empty means unchecked and unrecorded (raw access).
	Type string
}

// DefaultRetention is how many expiry events a bucket keeps for a listener
// that has not registered yet.
const DefaultRetention = 100_000

// Normalize checks c and fills in its defaults; every backend reads its
// BucketConfig through it when a bucket opens. The name must not be empty,
// a key limit needs a known Policy, and Retention 0 becomes
// DefaultRetention. An invalid config is an error wrapping
// ErrInvalidOption.
func (c BucketConfig) Normalize() (BucketConfig, error) {
	if c.Name == "" {
		return c, fmt.Errorf("%w: bucket name is empty", ErrInvalidOption)
	}
	if c.Limit.MaxKeys < 0 || c.Limit.MaxKeys > 0 && c.Limit.Policy != RejectNew && c.Limit.Policy != EvictLRU {
		return c, fmt.Errorf("%w: bucket %q: bad limit %d (%v)", ErrInvalidOption, c.Name, c.Limit.MaxKeys, c.Limit.Policy)
	}
	if c.Retention < 0 {
		return c, fmt.Errorf("%w: bucket %q: retention %d is negative", ErrInvalidOption, c.Name, c.Retention)
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	return c, nil
}

// Policy says what a full bucket does with a new key.
type Policy int

const (
	// RejectNew refuses a new key with ErrLimit; existing keys can still be set.
	RejectNew Policy = iota + 1
	// EvictLRU removes the least recently used key to make room.
	EvictLRU
)

func (p Policy) String() string {
	switch p {
	case RejectNew:
		return "RejectNew"
	case EvictLRU:
		return "EvictLRU"
	}
	return "Policy(?)"
}

// Limit caps the number of live keys in a bucket. MaxKeys 0 means no limit.
type Limit struct {
	MaxKeys int
	Policy  Policy
}

// Entry is a stored value with its deadline and version.
type Entry[V any] struct {
	Value    V
	Deadline int64  // Unix milliseconds; 0 means no expiry
	Version  uint64 // changes with every write of the key; never 0 for a stored entry
	// Idle, in milliseconds, makes the entry sliding: each read pushes its
	// deadline to the read's now+Idle (through Touch). 0 for a fixed
	// deadline.
	Idle int64
}

// Live reports whether the entry is still readable at now (Unix ms).
func (e Entry[V]) Live(now int64) bool { return e.Deadline == 0 || e.Deadline > now }

// SlideDue reports whether a read of e at now moves its deadline: e is
// sliding and now+Idle is past its deadline by at least a tenth of Idle (a
// millisecond at least). So a key lives at least 0.9 Idle after its last
// read, and of the reads of a hot key only about one per tenth of Idle
// writes, which on SQLite and Redis keeps most reads reads.
func (e Entry[V]) SlideDue(now int64) bool {
	return e.Idle > 0 && now+e.Idle-e.Deadline >= max(1, e.Idle/10)
}

// Slide is Touch's rule, for backends that keep deadline and idle as
// numbers: the deadline a touch at now gives an entry, and whether it
// moved (a sliding entry whose deadline is before now+idle). idle comes
// back as it is, so that Slide serves as a change of both.
func Slide(deadline, idle, now int64) (int64, int64, bool) {
	if idle > 0 && now+idle > deadline {
		return now + idle, idle, true
	}
	return deadline, idle, false
}

// Write is one Put.
type Write[V any] struct {
	Value    V
	Deadline int64 // Unix ms; 0 means no expiry
	// Idle (ms) makes the entry sliding (see Entry.Idle); the caller sets
	// Deadline to now+Idle.
	Idle int64
	// KeepTTL keeps the deadline and Idle of a live existing entry; a new
	// key gets Deadline and Idle.
	KeepTTL bool
	// Conditional makes the write succeed only if the live entry's version is
	// IfVersion (IfVersion 0: only if the key is absent); otherwise Put
	// returns ErrConflict and changes nothing.
	Conditional bool
	IfVersion   uint64
	// WantPrev asks for the live entry the write replaces, in
	// WriteResult.Prev. Without it a backend does not read the previous
	// value, nor ship it back.
	WantPrev bool
	// ClaimDisplaced, when positive, hands the event of an expired, unswept
	// entry this write displaces to the caller, in WriteResult.Displaced,
	// instead of leaving it in the outbox for ClaimExpired. The event is
	// claimed by this bucket handle for ClaimDisplaced, exactly as if
	// ClaimExpired had returned it with that lease: no other consumer gets
	// it meanwhile, the caller acknowledges it with AckExpired, and a
	// durable backend hands it out again once the lease has passed
	// unacknowledged (its consumer crashed).
	ClaimDisplaced time.Duration
}

// KV is a key with its entry.
type KV[K comparable, V any] struct {
	Key   K
	Entry Entry[V]
}

// WriteResult tells what a Put replaced or pushed out.
type WriteResult[K comparable, V any] struct {
	// Prev is the live entry the write replaced, and Existed says there was
	// one; both are reported only when the write asked (Write.WantPrev).
	Prev    Entry[V]
	Existed bool
	// Evicted holds entries that EvictLRU removed to make room.
	Evicted []KV[K, V]
	// ExpiredMoved is true when the key held an entry that had expired but
	// was not swept yet. It went to the outbox, or to Displaced when the
	// write claimed it.
	ExpiredMoved bool
	// Displaced is the event of that expired entry, claimed by this bucket
	// handle, when the write asked for it (Write.ClaimDisplaced); nil
	// otherwise.
	Displaced *Expired[K, V]
	// Replaced is set when the write replaced a record the backend could
	// not read (see CorruptRecord).
	Replaced *CorruptRecord
}

// Expired is one outbox event: a key that expired with its last value.
type Expired[K comparable, V any] struct {
	// ID names the event to AckExpired and ExtendClaims. It is empty for
	// an event that needs no acknowledgement: one its backend took out of
	// the outbox for good when it handed it out (the memory backend, which
	// cannot deliver anything again after a crash).
	ID       string
	Key      K
	Value    V
	Deadline int64
}

// Bucket is one store's data. Every method is safe for concurrent use.
// Values passed in are not retained and values returned are the caller's:
// mutating them never changes what is stored.
type Bucket[K comparable, V any] interface {
	Get(ctx context.Context, key K, now int64) (Entry[V], bool, error)
	// Put writes key. It may displace an expired entry even when it then
	// fails with ErrConflict or ErrLimit: its result then still reports
	// ExpiredMoved and Displaced, and a Displaced event is the caller's to
	// deliver.
	Put(ctx context.Context, key K, w Write[V], now int64) (WriteResult[K, V], error)
	// Delete removes the live entry of key and returns it. An expired entry
	// is not deleted: the sweep reports it.
	Delete(ctx context.Context, key K, now int64) (Entry[V], bool, error)
	// DeleteIf deletes key only when its live version is version; otherwise
	// it returns ErrConflict.
	DeleteIf(ctx context.Context, key K, version uint64, now int64) error
	Len(ctx context.Context, now int64) (int, error)
	// Range calls fn for the live entries, in no particular order, never
	// while holding a backend lock; it stops when fn returns false. Entries
	// written during Range may or may not be seen.
	Range(ctx context.Context, now int64, fn func(key K, e Entry[V]) bool) error
	// Clear deletes every entry of the bucket, expired or not, and the
	// outbox events no consumer has claimed yet; none of them is reported.
	// Events already claimed are being delivered: they stay until
	// acknowledged (or, on a durable backend, are claimed again once their
	// lease has passed).
	Clear(ctx context.Context, now int64) error

	// NextDeadline returns the earliest deadline of any entry, swept or not.
	NextDeadline(ctx context.Context) (int64, bool, error)
	// SweepExpired moves up to max entries whose deadline is at or before
	// now into the outbox, atomically per entry, and returns how many moved.
	SweepExpired(ctx context.Context, now int64, max int) (int, error)
	// ClaimExpired hands up to max outbox events to the caller. A claimed
	// event is not handed out again until lease has passed without an ack
	// (backends that lose everything on a crash may drop it at once).
	ClaimExpired(ctx context.Context, now int64, max int, lease time.Duration) ([]Expired[K, V], error)
	// AckExpired removes delivered events from the outbox.
	AckExpired(ctx context.Context, ids []string) error
	// ExtendClaims moves the lease of the events this handle claimed (by
	// ClaimExpired or Write.ClaimDisplaced) and has not acknowledged to
	// now+lease. A store renews its claims this way while its process
	// lives, so that a short lease holds an event for as long as its hooks
	// run, and the events of a process that died reach another one soon.
	// Events another consumer claimed meanwhile, or that are gone, are left
	// alone. A backend that never hands an event out twice does nothing.
	ExtendClaims(ctx context.Context, ids []string, lease time.Duration, now int64) error
	// DroppedExpired counts the events the outbox retention dropped.
	DroppedExpired() uint64

	// TryLock takes the lease on key for owner if it is free or its lease
	// ended. It returns the fencing number of this acquisition, or ok false
	// with the deadline of the current holder's lease.
	TryLock(ctx context.Context, key K, owner string, lease time.Duration, now int64) (fence uint64, ok bool, heldUntil int64, err error)
	// Unlock ends owner's lease; ErrLockLost when owner does not hold it.
	Unlock(ctx context.Context, key K, owner string, now int64) error
	// ExtendLock moves owner's lease deadline to now+lease; ErrLockLost when
	// owner does not hold it.
	ExtendLock(ctx context.Context, key K, owner string, lease time.Duration, now int64) error

	// Touch slides the live entry of key: if it is sliding (Idle > 0) and
	// now+Idle is later than its deadline, the deadline becomes now+Idle.
	// A fixed deadline stays. The value and version stay too: a touch is
	// no write for Put's and DeleteIf's version checks. Touch reports
	// whether key has a live entry at now; for a record it cannot read it
	// returns the CorruptRecord error Get returns and changes nothing.
	Touch(ctx context.Context, key K, now int64) (bool, error)
	// Retime gives the live entry of key the deadline and Idle given
	// (deadline 0: no expiry), keeping its value and version, and reports
	// whether there was one. A deadline at or before now makes the entry
	// expired: the sweep reports it, as for any other entry.
	Retime(ctx context.Context, key K, deadline, idle int64, now int64) (bool, error)

	// Close releases what the bucket holds; the backend stays open.
	Close() error
}

// Batcher is a Bucket that does the operations of many keys in one step:
// one transaction on SQLite, one round trip on Redis, one pass per shard
// in memory. Each key's operation is atomic on its own and has the result
// the single-key method would have given (a batch is not a transaction
// across keys); results are in the order of the input. The error returned
// beside them is the whole batch's: nothing was done, or for writes, their
// outcome is unknown (ErrOutcomeUnknown); the results are then nil. A store
// on a bucket without Batcher runs a batch as single operations.
type Batcher[K comparable, V any] interface {
	GetMany(ctx context.Context, keys []K, now int64) ([]Read[V], error)
	// PutMany applies ws in order: a key given twice ends with its last
	// write, as two Puts would leave it.
	PutMany(ctx context.Context, ws []KeyWrite[K, V], now int64) ([]Written[K, V], error)
	DeleteMany(ctx context.Context, keys []K, now int64) ([]Read[V], error)
}

// Read is one key's result in GetMany or DeleteMany: what Get or Delete
// would have returned.
type Read[V any] struct {
	Entry Entry[V]
	Found bool
	Err   error
}

// KeyWrite is one key's write in PutMany.
type KeyWrite[K comparable, V any] struct {
	Key   K
	Write Write[V]
}

// Written is one key's result in PutMany: what Put would have returned.
type Written[K comparable, V any] struct {
	Result WriteResult[K, V]
	Err    error
}

// Erase turns the opener of a concrete backend into an opener of Backend,
// for livedict.RegisterScheme: a failed open gives a nil Backend, never a
// nil *B inside a non-nil interface.
func Erase[B Backend](open func(context.Context) (B, error)) func(context.Context) (Backend, error) {
	return func(ctx context.Context) (Backend, error) {
		b, err := open(ctx)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}

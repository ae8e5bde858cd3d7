package livedict

import (
	"log/slog"
	"time"

	"github.com/livedict/livedict/runtime"
)

// WithBackend makes the store use b, which the caller owns and closes after
// the stores that use it.
func WithBackend(b Backend) Option { return runtime.WithBackend(b) }

// WithBucket names the bucket the store reads and writes. The default is the
// type name in snake_case, or the directive's bucket=.
func WithBucket(name string) Option { return runtime.WithBucket(name) }

// WithDefaultTTL sets the TTL of a Set that names none. Without it (and
// without ttl= in the directive) values are kept until deleted.
func WithDefaultTTL(d time.Duration) Option { return runtime.WithDefaultTTL(d) }

// WithMaxKeys caps the store at n live keys; policy is RejectNew or EvictLRU.
func WithMaxKeys(n int, policy Policy) Option { return runtime.WithMaxKeys(n, policy) }

// WithClock sets the time source, for tests (see package clock).
func WithClock(c Clock) Option { return runtime.WithClock(c) }

// WithHookWorkers sets how many goroutines run asynchronous hooks (default:
// the number of CPUs, at least 4). One key's events always go to one worker,
// so they arrive in order.
func WithHookWorkers(n int) Option { return runtime.WithHookWorkers(n) }

// WithHookQueue sets the capacity of each hook worker's queue (default 1024)
// and the overflow policy, Block (default) or Drop.
func WithHookQueue(n int, overflow Overflow) Option { return runtime.WithHookQueue(n, overflow) }

// WithHookErrorHandler receives every hook failure: a panic (with its
// stack), a timeout, a dropped event, a hook switched off by the breaker.
func WithHookErrorHandler(fn func(HookError)) Option { return runtime.WithHookErrorHandler(fn) }

// WithLogger sets where the store logs (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return runtime.WithLogger(l) }

// WithCipher encrypts values at rest on SQLite and Redis with AES-GCM. The
// first key encrypts and every key decrypts, so keys rotate by putting the
// new one first; the bucket and key are bound to each record, so a record
// copied under another key does not decrypt.
func WithCipher(keys ...[]byte) Option { return runtime.WithCipher(keys...) }

// WithExpiryRetention sets how many expiry events wait for an OnExpire hook
// while none is registered (default 100,000); older ones are dropped and
// counted in Stats.ExpiredDropped.
func WithExpiryRetention(n int) Option { return runtime.WithExpiryRetention(n) }

// TTL makes a value expire d after it is set; d must be > 0 (else
// ErrInvalidTTL).
func TTL(d time.Duration) SetOption { return runtime.TTL(d) }

// NoExpiry keeps a value until it is deleted, whatever the default TTL.
func NoExpiry() SetOption { return runtime.NoExpiry() }

// KeepTTL keeps the deadline the key has; a new key gets the default TTL.
func KeepTTL() SetOption { return runtime.KeepTTL() }

// HookTimeout bounds each call of the hook (default 2s); its ctx ends then.
func HookTimeout(d time.Duration) HookOption { return runtime.HookTimeout(d) }

// Inline runs the hook on the caller's goroutine before the operation
// returns. By default hooks run asynchronously and never delay the caller.
func Inline() HookOption { return runtime.Inline() }

// ForKey limits a hook to one key. Key-scoped hooks run before global ones.
func ForKey(key any) HookOption { return runtime.ForKey(key) }

// HookName names a hook in errors, logs and Stats.
func HookName(name string) HookOption { return runtime.HookName(name) }

// Lease sets how long a lock lasts (default 30s) unless released or extended.
func Lease(d time.Duration) LockOption { return runtime.Lease(d) }

package livedict

import (
	"context"
	"crypto/aes"
	"fmt"
	"log/slog"
	"time"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/clock"
	"github.com/livedict/livedict/internal/impl"
	"github.com/livedict/livedict/sandbox"
)

// Option configures a store, given to its New function. Options apply in
// order and a later option overrides an earlier one of the same name; two
// different options that decide the same thing (WithURI and WithBackend)
// are an error. Every bad value returns an error wrapping ErrInvalidOption
// that names the option.
type Option func(*impl.Config) error

// WithBackend makes the store use b, which the caller owns and closes after
// the stores that use it.
func WithBackend(b Backend) Option {
	return func(c *impl.Config) error {
		if b == nil {
			return impl.Invalid("WithBackend", "backend is nil")
		}
		if err := c.ChooseBackend("WithBackend"); err != nil {
			return err
		}
		c.Backend, c.Open = b, nil
		return nil
	}
}

// WithBucket names the bucket the store reads and writes. The default is the
// type name in snake_case, or the directive's bucket=.
func WithBucket(name string) Option {
	return func(c *impl.Config) error {
		if name == "" {
			return impl.Invalid("WithBucket", "bucket name is empty")
		}
		if len(name) > 200 {
			return impl.Invalid("WithBucket", "bucket name is %d bytes long; the limit is 200", len(name))
		}
		c.Bucket = name
		return nil
	}
}

// WithDefaultTTL sets the TTL of a Set that names none; d must be at least
// 1ms and at most MaxTTL (100 years), else ErrInvalidOption. Without it
// (and without ttl= in the directive) values are kept until deleted.
func WithDefaultTTL(d time.Duration) Option {
	return func(c *impl.Config) error {
		if d <= 0 {
			return impl.Invalid("WithDefaultTTL", "TTL %v is not positive (omit the option for no default expiry)", d)
		}
		if why := checkDuration(d); why != "" {
			return impl.Invalid("WithDefaultTTL", "TTL %v: %s", d, why)
		}
		if err := c.ChooseDefault("WithDefaultTTL"); err != nil {
			return err
		}
		c.DefaultTTL, c.HasDefaultTTL, c.DefaultIdle = d, true, false
		return nil
	}
}

// WithDefaultIdle makes a Set that names no expiry store a sliding value,
// as Idle(d) does: it expires d after it was last read or written. d must
// be at least 1ms and at most MaxTTL, else ErrInvalidOption; it replaces
// the directive's ttl= or idle=, and giving WithDefaultTTL too is an error.
func WithDefaultIdle(d time.Duration) Option {
	return func(c *impl.Config) error {
		if why := checkDuration(d); why != "" {
			return impl.Invalid("WithDefaultIdle", "idle time %v: %s", d, why)
		}
		if err := c.ChooseDefault("WithDefaultIdle"); err != nil {
			return err
		}
		c.DefaultTTL, c.HasDefaultTTL, c.DefaultIdle = d, true, true
		return nil
	}
}

// WithMaxKeys caps the store at n live keys; policy (RejectNew or EvictLRU)
// says what a new key does when the store is full.
func WithMaxKeys(n int, policy Policy) Option {
	return func(c *impl.Config) error {
		if n <= 0 {
			return impl.Invalid("WithMaxKeys", "limit %d is not positive", n)
		}
		if policy != RejectNew && policy != EvictLRU {
			return impl.Invalid("WithMaxKeys", "unknown policy %d (use RejectNew or EvictLRU)", int(policy))
		}
		c.Limit = backend.Limit{MaxKeys: n, Policy: backend.Policy(policy)}
		return nil
	}
}

// WithClock sets the time source, for tests (see clock.NewFake).
func WithClock(clk clock.Clock) Option {
	return func(c *impl.Config) error {
		if clk == nil {
			return impl.Invalid("WithClock", "clock is nil")
		}
		c.Clock = clk
		return nil
	}
}

// WithHookWorkers sets how many goroutines run asynchronous hooks (default:
// the number of CPUs, at least 4). One key's events always go to one worker,
// so they arrive in order.
func WithHookWorkers(n int) Option {
	return func(c *impl.Config) error {
		if n <= 0 || n > 4096 {
			return impl.Invalid("WithHookWorkers", "%d workers is outside 1..4096", n)
		}
		c.HookWorkers = n
		return nil
	}
}

// WithHookQueue sets the capacity of each hook worker's queue (default 1024)
// and what an event does when it is full: Block (the default) or Drop.
func WithHookQueue(n int, overflow Overflow) Option {
	return func(c *impl.Config) error {
		if n <= 0 {
			return impl.Invalid("WithHookQueue", "queue size %d is not positive", n)
		}
		if overflow != Block && overflow != Drop {
			return impl.Invalid("WithHookQueue", "unknown overflow policy %d (use Block or Drop)", int(overflow))
		}
		c.HookQueue, c.Overflow = n, sandbox.Overflow(overflow)
		return nil
	}
}

// WithHookErrorHandler receives every hook failure: a panic (with its
// stack), a timeout, a dropped event, a hook switched off by the circuit
// breaker. It runs on a hook worker; a panic in it is recovered.
func WithHookErrorHandler(fn func(HookError)) Option {
	return func(c *impl.Config) error {
		if fn == nil {
			c.OnHookError = nil
			return nil
		}
		c.OnHookError = func(f sandbox.Failure) {
			fn(HookError{Kind: f.Kind.String(), HookID: HookID(f.HookID), HookName: f.HookName, Key: f.Key, Err: f.Err})
		}
		return nil
	}
}

// WithLogger sets where the store logs hook failures and background errors
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *impl.Config) error {
		if l == nil {
			return impl.Invalid("WithLogger", "logger is nil")
		}
		c.Logger = l
		return nil
	}
}

// WithCipher encrypts values at rest on SQLite and Redis with AES-GCM. Keys
// are 16, 24 or 32 bytes. The first key encrypts and every key decrypts, so
// keys rotate by putting the new one first; the bucket and key are bound to
// each record as additional data, so a record copied under another key does
// not decrypt. The memory backend keeps values in process and ignores the
// cipher.
func WithCipher(keys ...[]byte) Option {
	return func(c *impl.Config) error {
		if len(keys) == 0 {
			return impl.Invalid("WithCipher", "no key given")
		}
		for i, k := range keys {
			if _, err := aes.NewCipher(k); err != nil {
				return impl.Invalid("WithCipher", "key %d is %d bytes; AES needs 16, 24 or 32", i, len(k))
			}
		}
		c.CipherKeys = keys
		return nil
	}
}

// WithExpiryRetention sets how many expiry events wait for an OnExpire hook
// while none is registered (default 100,000); older ones are dropped and
// counted in Stats.ExpiredDropped.
func WithExpiryRetention(n int) Option {
	return func(c *impl.Config) error {
		if n <= 0 {
			return impl.Invalid("WithExpiryRetention", "retention %d is not positive", n)
		}
		c.Retention = n
		return nil
	}
}

// WithoutCopies makes the store keep and hand out the values it is given
// instead of deep copies: a Set stores the value as it is, a Get returns the
// stored value itself, and hooks get it too, as other in-process caches do.
// It is a promise the program makes: it never mutates a value (the slices,
// maps and pointers it holds) after passing it to Set, nor one that Get or a
// hook gave it; breaking it changes what the store holds for every reader,
// without a lock. It costs nothing when the value type holds no references
// (such values are copied by assignment either way), and changes nothing on
// SQLite and Redis, whose values are decoded afresh for every read. The
// directive option copy=false makes it the default of a type's stores.
func WithoutCopies() Option {
	return func(c *impl.Config) error {
		c.NoCopies = true
		return nil
	}
}

// WithLoader makes Get read through load: a Get that misses calls it (as
// GetOrLoad does, once for all concurrent misses of a key, and stores its
// value with the store's default TTL) and returns what it loaded. The
// store's key and value types must be load's: a store of another type
// fails to open with ErrInvalidOption.
func WithLoader[K comparable, V any](load func(ctx context.Context, key K) (V, error)) Option {
	return func(c *impl.Config) error {
		if load == nil {
			return impl.Invalid("WithLoader", "the loader is nil")
		}
		c.Loader = load
		return nil
	}
}

// WithRefreshAhead makes a read that has a loader (Get with WithLoader,
// GetOrLoad) and finds its key within window of its deadline reload the key
// in the background, once per key at a time, so that a key read often
// never misses: the read returns the value it found, which keeps serving
// until the new one is stored (or, if the reload fails, until its
// deadline). window must be > 0; a window longer than a key's TTL reloads
// it on every read.
func WithRefreshAhead(window time.Duration) Option {
	return func(c *impl.Config) error {
		if window <= 0 {
			return impl.Invalid("WithRefreshAhead", "window %v is not positive", window)
		}
		c.RefreshAhead = window
		return nil
	}
}

// WithOpenTimeout bounds how long New waits for the backend to open and
// answer its first round trip (default 5s): a Redis URI with no server
// behind it fails within d with an error naming the address. d must be > 0.
func WithOpenTimeout(d time.Duration) Option {
	return func(c *impl.Config) error {
		if d <= 0 {
			return impl.Invalid("WithOpenTimeout", "timeout %v is not positive", d)
		}
		c.OpenTimeout = d
		return nil
	}
}

// SetOption changes one Set or Update: TTL, Idle, NoExpiry or KeepTTL, at
// most one of them.
type SetOption func(*impl.SetConfig)

// TTL makes a value expire d after it is set: it is readable for at least
// d, and gone from the first millisecond at or after it. d must be at least
// 1ms and at most MaxTTL (100 years), and the deadline before 2250-01-01
// UTC; else the write is ErrInvalidTTL and stores nothing.
func TTL(d time.Duration) SetOption {
	return func(c *impl.SetConfig) {
		if d <= 0 {
			if c.Err == nil {
				c.Err = fmt.Errorf("%w: TTL(%v): a TTL must be positive; use NoExpiry() to keep a value forever", ErrInvalidTTL, d)
			}
			return
		}
		if why := checkDuration(d); why != "" {
			if c.Err == nil {
				c.Err = fmt.Errorf("%w: TTL(%v): %s; use NoExpiry() to keep a value forever", ErrInvalidTTL, d, why)
			}
			return
		}
		c.Choose(impl.TTLGiven, d)
	}
}

// Idle makes a value sliding, as a session is: it expires d after it was
// last read or written. A read that finds it (Get, GetMany, GetOrLoad, and
// Touch) pushes its deadline to d after the read, but only once the push
// moves it by at least a tenth of d: so a value stays readable for at least
// 0.9 d after every read and exactly d after its write, and of many reads
// close together only about one per tenth of d writes the new deadline (on
// SQLite and Redis the others stay plain reads). Has, TTL, Range, All,
// Keys and Update's read do not push it. d must be at least 1ms and at
// most MaxTTL; else the write is ErrInvalidTTL and stores nothing.
func Idle(d time.Duration) SetOption {
	return func(c *impl.SetConfig) {
		if why := checkDuration(d); why != "" {
			if c.Err == nil {
				c.Err = fmt.Errorf("%w: Idle(%v): %s", ErrInvalidTTL, d, why)
			}
			return
		}
		c.Choose(impl.TTLIdle, d)
	}
}

// NoExpiry keeps a value until it is deleted, whatever the default TTL.
func NoExpiry() SetOption { return func(c *impl.SetConfig) { c.Choose(impl.TTLNone, 0) } }

// KeepTTL keeps the deadline the key has (and keeps a sliding key
// sliding); a new key gets the default TTL.
func KeepTTL() SetOption { return func(c *impl.SetConfig) { c.Choose(impl.TTLKeep, 0) } }

// HookOption changes one hook registration: HookTimeout, Inline, HookName,
// and the store's own ForKey.
type HookOption func(*impl.HookConfig)

// HookTimeout bounds each call of the hook (default 2s); its ctx ends then.
// d must be > 0.
func HookTimeout(d time.Duration) HookOption {
	return func(c *impl.HookConfig) {
		if d <= 0 {
			if c.Err == nil {
				c.Err = impl.Invalid("HookTimeout", "timeout %v is not positive", d)
			}
			return
		}
		c.Timeout = d
	}
}

// Inline runs the hook on the caller's goroutine before the operation
// returns. By default hooks run asynchronously and never delay the caller.
func Inline() HookOption { return func(c *impl.HookConfig) { c.Inline = true } }

// HookName names a hook in errors, logs and Stats.
func HookName(name string) HookOption { return func(c *impl.HookConfig) { c.Name = name } }

// LockOption changes one Lock or TryLock: Lease.
type LockOption func(*impl.LockConfig)

// Lease sets how long a lock lasts (default 30s) unless released or
// extended; a holder that died frees the key when its lease ends. The
// lease ends at the first millisecond at or after now+d, so it lasts at
// least d. d must be at least 1ms and at most MaxTTL (100 years), and the
// lease end before 2250-01-01 UTC; else Lock and TryLock return
// ErrInvalidOption.
func Lease(d time.Duration) LockOption {
	return func(c *impl.LockConfig) {
		if why := checkDuration(d); why != "" {
			if c.Err == nil {
				c.Err = impl.Invalid("Lease", "lease %v: %s", d, why)
			}
			return
		}
		c.Lease = d
	}
}

// MaxTTL is the longest TTL or lease: 100 years of 365 days (876000h). The
// shortest is a millisecond, the unit of every deadline and lease end. A
// deadline or lease end must also fall before 2250-01-01 UTC, whatever the
// clock says, so that every backend keeps it exactly (int64 Unix
// nanoseconds end in 2262, float64 milliseconds of Redis scripts stop
// being exact in 2255).
const MaxTTL = 100 * 365 * 24 * time.Hour

// checkDuration returns why d is no TTL or lease, or "".
func checkDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "it must be positive"
	case d < time.Millisecond:
		return "it must be at least 1ms, the unit of deadlines and lease ends"
	case d > MaxTTL:
		return "it must be at most livedict.MaxTTL (" + MaxTTL.String() + ", 100 years)"
	}
	return ""
}

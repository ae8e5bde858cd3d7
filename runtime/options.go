package runtime

import (
	"context"
	"crypto/aes"
	"fmt"
	"log/slog"
	"time"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/memory"
	"github.com/livedict/livedict/clock"
	"github.com/livedict/livedict/sandbox"
)

// Config is what the options of a store resolve to. Package livedict builds
// it through Option values; generated code and users never fill it in.
type Config struct {
	// Backend is the backend to use; nil means a private memory backend.
	Backend backend.Backend
	// Open, when set, opens a backend the store owns and closes (WithURI).
	Open func(ctx context.Context) (backend.Backend, error)

	Bucket        string
	DefaultTTL    time.Duration
	hasDefaultTTL bool
	Limit         backend.Limit
	Clock         clock.Clock
	HookWorkers   int
	HookQueue     int
	Overflow      Overflow
	OnHookError   func(HookError)
	Logger        *slog.Logger
	CipherKeys    [][]byte
	Retention     int
}

// Option configures a store. Options are applied in order; a bad value
// returns an error wrapping ErrInvalidOption that names the option.
type Option func(*Config) error

// Overflow says what an event does when the hook queue is full.
type Overflow = sandbox.Overflow

// Overflow policies.
const (
	// Block makes the operation that raised the event wait for room, as long
	// as its ctx allows.
	Block = sandbox.Block
	// Drop drops the event and counts it in Stats.
	Drop = sandbox.Drop
)

func invalid(option, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", backend.ErrInvalidOption, option, fmt.Sprintf(format, args...))
}

// WithBackend makes the store use b. The caller owns b and closes it after
// the stores that use it.
func WithBackend(b backend.Backend) Option {
	return func(c *Config) error {
		if b == nil {
			return invalid("WithBackend", "backend is nil")
		}
		c.Backend, c.Open = b, nil
		return nil
	}
}

// WithOpener makes the store open its backend with open and close it on
// Close. Package livedict uses it for WithURI.
func WithOpener(open func(ctx context.Context) (backend.Backend, error)) Option {
	return func(c *Config) error {
		c.Backend, c.Open = nil, open
		return nil
	}
}

// WithBucket names the bucket the store reads and writes.
func WithBucket(name string) Option {
	return func(c *Config) error {
		if name == "" {
			return invalid("WithBucket", "bucket name is empty")
		}
		if len(name) > 200 {
			return invalid("WithBucket", "bucket name is %d bytes long; the limit is 200", len(name))
		}
		c.Bucket = name
		return nil
	}
}

// WithDefaultTTL sets the TTL of a Set that names none. d must be > 0.
func WithDefaultTTL(d time.Duration) Option {
	return func(c *Config) error {
		if d <= 0 {
			return invalid("WithDefaultTTL", "TTL %v is not positive (omit the option for no default expiry)", d)
		}
		c.DefaultTTL, c.hasDefaultTTL = d, true
		return nil
	}
}

// WithMaxKeys caps the live keys of the store at n, applying policy to a new
// key when the store is full.
func WithMaxKeys(n int, policy backend.Policy) Option {
	return func(c *Config) error {
		if n <= 0 {
			return invalid("WithMaxKeys", "limit %d is not positive", n)
		}
		if policy != backend.RejectNew && policy != backend.EvictLRU {
			return invalid("WithMaxKeys", "unknown policy %d (use RejectNew or EvictLRU)", int(policy))
		}
		c.Limit = backend.Limit{MaxKeys: n, Policy: policy}
		return nil
	}
}

// WithClock sets the time source; tests use clock.NewFake.
func WithClock(clk clock.Clock) Option {
	return func(c *Config) error {
		if clk == nil {
			return invalid("WithClock", "clock is nil")
		}
		c.Clock = clk
		return nil
	}
}

// WithHookWorkers sets how many goroutines run asynchronous hooks. Events of
// one key always go to the same worker, so they arrive in order.
func WithHookWorkers(n int) Option {
	return func(c *Config) error {
		if n <= 0 || n > 4096 {
			return invalid("WithHookWorkers", "%d workers is outside 1..4096", n)
		}
		c.HookWorkers = n
		return nil
	}
}

// WithHookQueue sets the capacity of each hook worker's queue and what an
// event does when it is full.
func WithHookQueue(n int, overflow Overflow) Option {
	return func(c *Config) error {
		if n <= 0 {
			return invalid("WithHookQueue", "queue size %d is not positive", n)
		}
		if overflow != Block && overflow != Drop {
			return invalid("WithHookQueue", "unknown overflow policy %d (use Block or Drop)", int(overflow))
		}
		c.HookQueue, c.Overflow = n, overflow
		return nil
	}
}

// WithHookErrorHandler receives every hook failure: panics (with their
// stack), timeouts, dropped events and hooks the circuit breaker switched
// off. It runs on a hook worker; a panic in it is recovered.
func WithHookErrorHandler(fn func(HookError)) Option {
	return func(c *Config) error {
		c.OnHookError = fn
		return nil
	}
}

// WithLogger sets where the store logs hook failures and background errors.
// The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *Config) error {
		if l == nil {
			return invalid("WithLogger", "logger is nil")
		}
		c.Logger = l
		return nil
	}
}

// WithCipher encrypts values at rest with AES-GCM on SQLite and Redis. The
// first key encrypts; every key decrypts, so keys can be rotated by putting
// the new one first. Keys are 16, 24 or 32 bytes. The bucket and key are
// bound to each record as additional data, so a record copied under another
// key does not decrypt. The memory backend keeps values in process and
// ignores the cipher.
func WithCipher(keys ...[]byte) Option {
	return func(c *Config) error {
		if len(keys) == 0 {
			return invalid("WithCipher", "no key given")
		}
		for i, k := range keys {
			if _, err := aes.NewCipher(k); err != nil {
				return invalid("WithCipher", "key %d is %d bytes; AES needs 16, 24 or 32", i, len(k))
			}
		}
		c.CipherKeys = keys
		return nil
	}
}

// WithExpiryRetention sets how many expiry events wait for an OnExpire hook
// when none is registered (default backend.DefaultRetention). The oldest are
// dropped past it, and counted in Stats.ExpiredDropped.
func WithExpiryRetention(n int) Option {
	return func(c *Config) error {
		if n <= 0 {
			return invalid("WithExpiryRetention", "retention %d is not positive", n)
		}
		c.Retention = n
		return nil
	}
}

// SetOption changes one Set or Update.
type SetOption func(*setOptions)

type setOptions struct {
	mode ttlMode
	ttl  time.Duration
	err  error
}

type ttlMode int

const (
	ttlDefault ttlMode = iota
	ttlGiven
	ttlNone
	ttlKeep
)

// TTL makes the value expire d after it is set. d must be > 0.
func TTL(d time.Duration) SetOption {
	return func(o *setOptions) {
		if d <= 0 {
			o.err = fmt.Errorf("%w: TTL(%v): a TTL must be positive; use NoExpiry() to keep a value forever", backend.ErrInvalidTTL, d)
			return
		}
		o.mode, o.ttl = ttlGiven, d
	}
}

// NoExpiry keeps the value until it is deleted, whatever the default TTL.
func NoExpiry() SetOption {
	return func(o *setOptions) { o.mode = ttlNone }
}

// KeepTTL keeps the deadline the key already has; a new key gets the
// default TTL.
func KeepTTL() SetOption {
	return func(o *setOptions) { o.mode = ttlKeep }
}

// HookOption changes one hook registration.
type HookOption func(*hookOptions)

type hookOptions struct {
	timeout time.Duration
	inline  bool
	scoped  bool
	key     any
	name    string
}

// DefaultHookTimeout bounds a hook call unless HookTimeout says otherwise.
const DefaultHookTimeout = 2 * time.Second

// HookTimeout bounds each call of the hook; its ctx ends after d.
func HookTimeout(d time.Duration) HookOption {
	return func(o *hookOptions) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// Inline runs the hook before the operation returns, on the caller's
// goroutine, instead of on the hook pool. A slow inline hook delays its
// caller: that is what it is for.
func Inline() HookOption { return func(o *hookOptions) { o.inline = true } }

// ForKey limits the hook to one key. The key must have the store's key type.
// Key-scoped hooks run before global ones.
func ForKey(key any) HookOption {
	return func(o *hookOptions) { o.scoped, o.key = true, key }
}

// HookName names the hook in errors, logs and Stats.
func HookName(name string) HookOption { return func(o *hookOptions) { o.name = name } }

// LockOption changes one Lock or TryLock.
type LockOption func(*lockOptions)

type lockOptions struct {
	lease time.Duration
}

// DefaultLease is how long a lock lasts unless Lease says otherwise.
const DefaultLease = 30 * time.Second

// Lease sets how long the lock lasts if its holder neither unlocks nor
// extends it; a holder that died frees the key when its lease ends.
func Lease(d time.Duration) LockOption {
	return func(o *lockOptions) {
		if d > 0 {
			o.lease = d
		}
	}
}

// Ensure the memory backend satisfies the byte contract too (a memory
// backend passed with WithBackend is used typed; see New).
var _ backend.Backend = (*memory.Backend)(nil)

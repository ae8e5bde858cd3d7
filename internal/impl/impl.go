// Package impl holds the state behind the user-facing types of package
// livedict. Package livedict defines Option, Lock, Future and the other
// option types over these types and gives them their methods and their
// documentation; the store engine (internal/engine) builds and reads them.
// Keeping the state here lets both sides reach it without an import cycle
// and without a second, aliased copy of the public API.
package impl

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/clock"
	"github.com/livedict/livedict/sandbox"
)

// Invalid is an error wrapping ErrInvalidOption that names the option.
func Invalid(option, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", backend.ErrInvalidOption, option, fmt.Sprintf(format, args...))
}

// Conflict is the error of two options that each decide the same thing.
func Conflict(first, second, what string) error {
	return fmt.Errorf("%w: %s and %s both set %s; give one", backend.ErrInvalidOption, first, second, what)
}

// Config is what the options of a store resolve to.
type Config struct {
	// Backend is the backend to use; nil means a private memory backend.
	Backend backend.Backend
	// Open, when set, opens a backend the store owns and closes (WithURI).
	Open func(ctx context.Context) (backend.Backend, error)
	// BackendBy names the option that chose the backend, so that a second,
	// different one is reported as a conflict.
	BackendBy string

	Bucket        string
	DefaultTTL    time.Duration
	HasDefaultTTL bool
	// DefaultIdle makes DefaultTTL an idle time: a Set without options
	// stores a sliding value (WithDefaultIdle, idle=).
	DefaultIdle bool
	// DefaultBy names the option that set the default expiry, so that the
	// other one is reported as a conflict.
	DefaultBy   string
	Limit       backend.Limit
	Clock       clock.Clock
	HookWorkers int
	HookQueue   int
	Overflow    sandbox.Overflow
	OnHookError func(sandbox.Failure)
	Logger      *slog.Logger
	CipherKeys  [][]byte
	Retention   int
	// OpenTimeout bounds opening the backend and the bucket; 0 means
	// DefaultOpenTimeout.
	OpenTimeout time.Duration
	// NoCopies keeps values as given instead of deep copies (WithoutCopies).
	NoCopies bool
	// Loader is WithLoader's func(context.Context, K) (V, error); the store
	// checks its type.
	Loader any
	// RefreshAhead is WithRefreshAhead's window; 0 means off.
	RefreshAhead time.Duration
}

// DefaultOpenTimeout bounds opening a store unless WithOpenTimeout says
// otherwise.
const DefaultOpenTimeout = 5 * time.Second

// ChooseBackend records that option chose the backend, or returns the
// conflict with the option that chose it before.
func (c *Config) ChooseBackend(option string) error {
	if c.BackendBy != "" && c.BackendBy != option {
		return Conflict(c.BackendBy, option, "the backend")
	}
	c.BackendBy = option
	return nil
}

// TTLMode is how a Set chooses its deadline.
type TTLMode int

// The TTL modes of a Set.
const (
	TTLDefault TTLMode = iota // the store's default TTL, if any
	TTLGiven                  // SetConfig.TTL
	TTLNone                   // never expires
	TTLKeep                   // the deadline the key has
	TTLIdle                   // sliding: SetConfig.TTL after the last read
)

var ttlModeOption = [...]string{TTLGiven: "TTL", TTLNone: "NoExpiry", TTLKeep: "KeepTTL", TTLIdle: "Idle"}

// ChooseDefault records that option sets the store's default expiry, or
// returns the conflict with the other option that set it before.
func (c *Config) ChooseDefault(option string) error {
	if c.DefaultBy != "" && c.DefaultBy != option {
		return Conflict(c.DefaultBy, option, "the default expiry")
	}
	c.DefaultBy = option
	return nil
}

// SetConfig is what the options of one Set or Update resolve to.
type SetConfig struct {
	Mode TTLMode
	TTL  time.Duration
	Err  error
}

// Choose sets the TTL mode, or records the conflict with another mode
// chosen before. The same option given twice is no conflict: the later
// one wins, as with every option.
func (c *SetConfig) Choose(m TTLMode, ttl time.Duration) {
	if c.Mode != TTLDefault && c.Mode != m && c.Err == nil {
		c.Err = Conflict(ttlModeOption[c.Mode], ttlModeOption[m], "the expiry")
		return
	}
	c.Mode, c.TTL = m, ttl
}

// DefaultHookTimeout bounds a hook call unless HookTimeout says otherwise.
const DefaultHookTimeout = 2 * time.Second

// HookConfig is what the options of one hook registration resolve to.
type HookConfig struct {
	Timeout time.Duration
	Inline  bool
	Scoped  bool
	Key     any // the ForKey key, of the store's key type
	Name    string
	Err     error
}

// DefaultLease is how long a lock lasts unless Lease says otherwise.
const DefaultLease = 30 * time.Second

// LockConfig is what the options of one Lock or TryLock resolve to.
type LockConfig struct {
	Lease time.Duration
	Err   error
}

// Lock is the state of a held lock.
type Lock struct {
	Name  string // the key, as text
	Fence uint64
	Mu    sync.Mutex // guards Until
	Until time.Time
	// Release ends the lease; Renew moves its end to d from now and returns
	// the new end.
	Release func(ctx context.Context) error
	Renew   func(ctx context.Context, d time.Duration) (time.Time, error)
}

// Future is the state of an asynchronous operation.
type Future[T any] struct {
	Ch  chan struct{} // closed when Val and Err are set
	Val T
	Err error
}

// NewFuture returns a future that is not complete yet.
func NewFuture[T any]() *Future[T] { return &Future[T]{Ch: make(chan struct{})} }

// Complete sets the result; it is called once.
func (f *Future[T]) Complete(v T, err error) {
	f.Val, f.Err = v, err
	close(f.Ch)
}

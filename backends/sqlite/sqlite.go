// Package sqlite is the livedict backend that keeps every bucket in one
// SQLite file, shared by the stores of a process and by any number of
// processes on one machine. It uses github.com/mattn/go-sqlite3 (cgo).
//
// # Connections and transactions
//
// A Backend holds two pools on the file: one writer connection
// (database/sql with SetMaxOpenConns(1)) and a pool of reader connections
// (PRAGMA query_only). The file is in WAL mode, so readers never wait for
// the writer nor the writer for readers. Every write transaction takes
// SQLite's write lock when it begins (BEGIN IMMEDIATE), so a read-then-write
// such as Put's limit check or TryLock's test-and-set is atomic across
// processes, and a transaction never fails half way on a lock upgrade.
// Other processes wait on the file's write lock for up to the busy timeout
// (WithBusyTimeout, 5s by default). Plain reads (Get of a bucket without
// EvictLRU, GetMany, Len, Range, NextDeadline) go to the readers.
//
// # Group commit
//
// The writes of a process share the writer connection by group commit:
// while one transaction runs, the writes that arrive queue, and the next
// transaction runs all of them, each in its own savepoint where it needs
// one, and commits once (up to 256 writes a transaction). There is no
// writer goroutine: the first writer to find the connection free runs its
// transaction, then the next group (the writes that queued meanwhile), and
// then hands the connection to the next writer that queued. What a group
// shares is the COMMIT and, with WithDurability(Full), its fsync; each
// write keeps its own result:
//
//   - A write that fails with an outcome error (backend.ErrConflict,
//     backend.ErrLimit, backend.ErrLockLost) keeps what it did before, as
//     alone (an expired entry it moved to the outbox stays there); a write
//     that fails otherwise is undone back to its savepoint. Neither touches
//     the other writes of its group.
//   - A failed COMMIT fails every write of the group: none of them
//     happened, each caller gets the error, and what a write would have
//     changed in memory (the events it claimed, the dropped-event count) is
//     only changed after a COMMIT succeeded. The same holds when a write's
//     error makes SQLite roll the whole transaction back (a full disk, an
//     I/O error).
//   - No caller returns before the COMMIT of its write has returned.
//   - A caller whose ctx ends while its write waits in the queue, or in a
//     group that has not reached it yet, returns ctx's error at once, and
//     its write never runs. Once a write has begun, it completes with its
//     group whatever its ctx does: interrupting the shared connection
//     would undo the other writes too. (A write whose goroutine was handed
//     the connection runs that group to the end before it returns.)
//
// A write that is one statement and finds the connection free runs
// without BEGIN and COMMIT, which SQLite makes atomic by itself: most Puts
// over a live entry (one UPDATE whose WHERE clause checks what the general
// path reads first: the deadline, the version and, for a conditional
// write, its version), DeleteIf, ExtendLock, ExtendClaims and AckExpired;
// and Touch and Retime outside EvictLRU buckets (one UPDATE, followed by a
// read only when it changed no row, to tell an entry that needed no change
// from no entry).
//
// GetMany, PutMany and DeleteMany (backend.Batcher) do their keys in one
// statement per up to 256 keys (GetMany on a reader) or in one write
// transaction, each key as its single operation would, in its own
// savepoint where it needs one. A batch that cannot commit returns the
// error and no results.
//
// # Durability
//
// WithDurability(Normal), the default, is WAL with synchronous=NORMAL: a
// transaction is committed once it is in the write-ahead log, and the log is
// synced to disk at checkpoints. If the process crashes (panic, SIGKILL, OOM
// kill), nothing that was committed is lost: the log is in the operating
// system's cache and the next connection replays it. If the machine loses
// power or the kernel crashes, the transactions committed since the last
// checkpoint may be lost, but the file is never corrupt: it opens at an
// earlier consistent state.
//
// WithDurability(Full) is WAL with synchronous=FULL: the log is synced at
// every commit, so a write is on disk when Set returns and survives a power
// loss too, at the cost of one fsync per commit: per group of writes that
// queued together, so concurrent writers share it.
//
// # Schema
//
// All tables start with livedict_, so the file may hold other tables too.
// Bucket names and keys are always bound parameters, never SQL text.
//
//	livedict_schema   (version)                       the schema version, one row
//	livedict_buckets  (bucket PK, seq, fence)         per-bucket counters
//	livedict_entries  (bucket, key) PK, value, deadline, version, accessed,
//	                  idle
//	                  index (bucket, deadline) WHERE deadline > 0
//	livedict_outbox   (id AUTOINCREMENT, bucket, key, value, deadline,
//	                  owner, claimed_until)           index (bucket)
//	livedict_locks    (bucket, key) PK, owner, until
//	livedict_bucket_types (bucket PK, value_type)     the value type each bucket holds
//
// Deadlines, lease ends and claim ends are wall-clock Unix milliseconds, 0
// meaning none, so processes agree on them.
//
// A version is generation<<20 + n. A new key takes the next number of its
// bucket's seq counter as its generation; a write over a live entry adds
// one to its version, or takes a new generation when that would carry into
// the next one. Generations only grow, so versions are never 0 and a key
// never sees one again, even across a Delete and a new Set, and rewriting a
// key touches no row but its own (a shared counter row in every write would
// double the pages each commit writes).
//
// The access stamp (accessed) orders EvictLRU: in a bucket opened with
// EvictLRU every write and every Get stamps the entry with the next seq
// number, so a Get there is a write transaction; in other buckets the stamp
// stays 0 and a Get is a plain read. The order is by counter rather than
// by clock, so uses within one millisecond are still ordered.
//
// A store records the identity of its value type (backend.TypeID) in
// livedict_bucket_types when it first opens its bucket, and a store of
// another type is refused that bucket (an error wrapping
// backend.ErrInvalidOption). Buckets of files from before version 2 record
// their type when a store first opens them.
//
// idle (milliseconds, version 3) makes an entry sliding (backend.Entry.Idle):
// Touch moves its deadline to now+idle when that is later. Entries of files
// from before version 3 have idle 0, a fixed deadline. Touch and Retime
// change deadline and idle only, never the version, so a Put or DeleteIf
// conditional on the version read before them still succeeds; in an
// EvictLRU bucket they stamp the entry as used, as a Get does. A Retime to
// a deadline at or before now leaves the entry expired, for the sweep. On
// a record whose deadline or idle is not an integer (written by something
// else than this backend), Touch and Retime return the
// backend.CorruptRecord Get returns, and change nothing.
//
// The fencing token is the bucket's fence counter, which grows with every
// lock acquisition and never goes down. A file whose schema version is
// newer than this package knows is refused with an error wrapping
// backend.ErrSchema; an older one is migrated when opened.
//
// # Expiry
//
// A read never returns an entry whose deadline has passed, swept or not.
// SweepExpired moves due entries (oldest deadline first, up to its batch
// size) from livedict_entries to livedict_outbox in one transaction.
// ClaimExpired marks unclaimed outbox events, and those whose claim lease
// ended, as claimed by this bucket handle until now+lease, in one UPDATE ...
// RETURNING inside a write transaction, so each event goes to exactly one
// process at a time; AckExpired deletes them. A Put that displaces an
// expired entry and claims it (Write.ClaimDisplaced) inserts its outbox row
// already claimed by its handle, in the same transaction. An event whose consumer died
// is claimed again when its lease ends (at-least-once); a live handle
// renews the lease of the events it holds (ExtendClaims). A handle does not
// hand an event back to its own store while that event is in flight, until
// the lease has also passed on the monotonic clock, so a wall clock that
// jumps forward does not cause a second delivery in the same process. Entries that expired
// while no process ran are swept by the first store that starts. A Put or
// eviction check that meets an expired, unswept entry moves it to the
// outbox in the same transaction, so no expiry is lost to a later Set.
// Clear deletes the bucket's entries, expired or not, and its outbox events
// that no handle has claimed yet (owner NULL), without reporting them.
//
// Each bucket keeps at most its retention (BucketConfig.Retention, default
// backend.DefaultRetention) unclaimed outbox events, those that wait for a
// listener: when a move goes beyond it, the oldest unclaimed events are
// deleted and counted in DroppedExpired (a count of this process's drops). Because other processes write deadlines
// too, PollInterval returns the interval at which stores look for them
// (WithPollInterval, 250ms by default). The sweep and claim first check on
// a reader whether there is anything to do, so an idle poll takes no write
// lock.
//
// # Limits
//
// A new key in a bucket with a key limit counts the bucket's live entries
// inside its write transaction (a scan of the bucket, so limits suit
// buckets of up to some hundred thousand keys). RejectNew then fails with
// backend.ErrLimit; EvictLRU deletes the live entries with the oldest
// access stamps and reports them.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/livedict/livedict/backend"
)

// Durability says when a committed write reaches the disk.
type Durability int

const (
	// Normal is WAL with synchronous=NORMAL: a process crash loses nothing
	// committed; a power loss may lose the last transactions, never the
	// file's consistency.
	Normal Durability = iota
	// Full is WAL with synchronous=FULL: every commit is synced; a write is
	// durable when it returns.
	Full
)

func (d Durability) String() string {
	switch d {
	case Normal:
		return "Normal"
	case Full:
		return "Full"
	}
	return "Durability(" + strconv.Itoa(int(d)) + ")"
}

// Defaults of the options.
const (
	DefaultPollInterval = 250 * time.Millisecond
	DefaultBusyTimeout  = 5 * time.Second
)

type config struct {
	durability  Durability
	busyTimeout time.Duration
	poll        time.Duration
	readers     int
}

func defaultConfig() config {
	return config{durability: Normal, busyTimeout: DefaultBusyTimeout, poll: DefaultPollInterval, readers: 4}
}

// Option configures Open.
type Option func(*config) error

func invalid(option, format string, args ...any) error {
	return fmt.Errorf("%w: sqlite.%s: %s", backend.ErrInvalidOption, option, fmt.Sprintf(format, args...))
}

// WithDurability chooses Normal (the default) or Full; see the package doc.
func WithDurability(d Durability) Option {
	return func(c *config) error {
		if d != Normal && d != Full {
			return invalid("WithDurability", "unknown durability %d (use Normal or Full)", int(d))
		}
		c.durability = d
		return nil
	}
}

// WithBusyTimeout sets how long a write waits for another process holding
// the file's write lock before it fails (5s by default).
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return invalid("WithBusyTimeout", "%v is below a millisecond", d)
		}
		c.busyTimeout = d
		return nil
	}
}

// WithPollInterval sets how often stores look for deadlines and expiry
// events written by other processes (250ms by default). Shorter intervals
// deliver other processes' expiries sooner and cost more idle reads.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return invalid("WithPollInterval", "%v is below a millisecond", d)
		}
		c.poll = d
		return nil
	}
}

// WithReaders sets the size of the reader pool (4 by default).
func WithReaders(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 1024 {
			return invalid("WithReaders", "%d readers is outside 1..1024", n)
		}
		c.readers = n
		return nil
	}
}

// Backend is an SQLite file holding any number of buckets. It implements
// backend.Backend; its methods are safe for concurrent use.
type Backend struct {
	path   string
	w      *sql.DB // the one writer connection
	wr     writer  // runs the write transactions on w, in groups
	r      *sql.DB // the readers
	poll   time.Duration
	closed atomic.Bool

	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	dropped map[string]*atomic.Uint64 // outbox drops of this process, by bucket
}

var _ backend.Backend = (*Backend)(nil)

// Open opens (creating it if needed) the SQLite file at path. The caller
// closes the Backend after the stores that use it.
func Open(path string, opts ...Option) (*Backend, error) {
	return OpenContext(context.Background(), path, opts...)
}

// OpenContext is Open with a context for the first connection and the
// schema check or migration.
func OpenContext(ctx context.Context, path string, opts ...Option) (*Backend, error) {
	c := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if path == "" || path == ":memory:" || len(path) > 5 && path[:5] == "file:" {
		return nil, invalid("Open", "path %q is not a file path (an in-memory database cannot be shared by two pools)", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("livedict/sqlite: open %s: %w", path, err)
	}
	b := &Backend{path: abs, poll: c.poll, dropped: make(map[string]*atomic.Uint64)}
	if b.w, err = sql.Open("sqlite3", dsn(abs, c, true)); err != nil {
		return nil, fmt.Errorf("livedict/sqlite: open %s: %w", abs, err)
	}
	b.w.SetMaxOpenConns(1)
	b.w.SetMaxIdleConns(1)
	b.w.SetConnMaxLifetime(0)
	b.wr.db = b.w
	if err := migrate(ctx, b.w, abs); err != nil {
		b.w.Close()
		return nil, err
	}
	// The readers open once the schema (and WAL mode) is in place.
	if b.r, err = sql.Open("sqlite3", dsn(abs, c, false)); err == nil {
		b.r.SetMaxOpenConns(c.readers)
		b.r.SetMaxIdleConns(c.readers)
		b.r.SetConnMaxLifetime(0)
		err = b.r.PingContext(ctx)
	}
	if err != nil {
		b.w.Close()
		if b.r != nil {
			b.r.Close()
		}
		return nil, fmt.Errorf("livedict/sqlite: open readers on %s: %w", abs, err)
	}
	return b, nil
}

// dsn is the go-sqlite3 data source name of a writer or reader connection.
func dsn(path string, c config, writer bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(c.busyTimeout.Milliseconds(), 10))
	q.Set("_stmt_cache_size", "64") // the driver reuses prepared statements by SQL text
	sync := "NORMAL"
	if c.durability == Full {
		sync = "FULL"
	}
	q.Set("_synchronous", sync)
	if writer {
		q.Set("_journal_mode", "WAL")
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	if u.Path != "" && u.Path[0] != '/' { // a Windows path: file:///C:/...
		u.Path = "/" + u.Path
	}
	return u.String()
}

// Path returns the absolute path of the file.
func (b *Backend) Path() string { return b.path }

// PollInterval is how often stores look for other processes' deadlines
// and expiry events.
func (b *Backend) PollInterval() time.Duration { return b.poll }

// Close closes both connection pools. It is idempotent; buckets opened from
// the Backend fail with backend.ErrClosed afterwards.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.closeErr = errors.Join(b.r.Close(), b.w.Close())
		if b.closeErr != nil {
			b.closeErr = fmt.Errorf("livedict/sqlite: close %s: %w", b.path, b.closeErr)
		}
	})
	return b.closeErr
}

// Bucket opens the bucket cfg names. Its rows are created by its first
// write; two handles of one name, in one process or several, share them.
// A cfg with a Type records it on first use, and fails when the bucket
// holds another type.
func (b *Backend) Bucket(ctx context.Context, cfg backend.BucketConfig) (backend.Bucket[string, []byte], error) {
	if b.closed.Load() {
		return nil, backend.ErrClosed
	}
	cfg, err := cfg.Normalize()
	if err != nil {
		return nil, fmt.Errorf("livedict/sqlite: open bucket: %w", err)
	}
	if cfg.Type != "" {
		// One statement records the type or returns the one recorded.
		var have string
		err := b.w.QueryRowContext(ctx, `INSERT INTO livedict_bucket_types (bucket, value_type) VALUES (?, ?)
			ON CONFLICT (bucket) DO UPDATE SET value_type = value_type RETURNING value_type`, cfg.Name, cfg.Type).Scan(&have)
		if err != nil {
			return nil, fmt.Errorf("livedict/sqlite: open bucket %q: %w", cfg.Name, err)
		}
		if have != cfg.Type {
			return nil, fmt.Errorf("livedict/sqlite: %w", backend.WrongType(cfg.Name, have, cfg.Type))
		}
	}
	b.mu.Lock()
	dropped, ok := b.dropped[cfg.Name]
	if !ok {
		dropped = new(atomic.Uint64)
		b.dropped[cfg.Name] = dropped
	}
	b.mu.Unlock()
	return &bucket{
		be:        b,
		name:      cfg.Name,
		limit:     cfg.Limit,
		lru:       cfg.Limit.MaxKeys > 0 && cfg.Limit.Policy == backend.EvictLRU,
		retention: cfg.Retention,
		owner:     randomID(),
		dropped:   dropped,
		inflight:  make(map[int64]time.Time),
	}, nil
}

// schemaVersion is the version of the schema this package writes.
// migrations[v] takes a file from version v to v+1.
const schemaVersion = 3

var migrations = [schemaVersion]string{
	0: `
CREATE TABLE livedict_buckets (
	bucket TEXT PRIMARY KEY,
	seq    INTEGER NOT NULL DEFAULT 0, -- the last version generation or access stamp given out
	fence  INTEGER NOT NULL DEFAULT 0  -- the last fencing token given out
) WITHOUT ROWID;

CREATE TABLE livedict_entries (
	bucket   TEXT NOT NULL,
	key      TEXT NOT NULL,
	value    BLOB NOT NULL,
	deadline INTEGER NOT NULL, -- Unix ms; 0: no expiry
	version  INTEGER NOT NULL,
	accessed INTEGER NOT NULL, -- EvictLRU buckets: seq at the last use; others: 0
	PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE INDEX livedict_entries_deadline ON livedict_entries (bucket, deadline) WHERE deadline > 0;

CREATE TABLE livedict_outbox (
	id            INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, so a late ack hits nothing else
	bucket        TEXT NOT NULL,
	key           TEXT NOT NULL,
	value         BLOB NOT NULL,
	deadline      INTEGER NOT NULL,
	owner         TEXT,                      -- the bucket handle that claimed it last
	claimed_until INTEGER NOT NULL DEFAULT 0 -- Unix ms; claimable at or after it
);
CREATE INDEX livedict_outbox_bucket ON livedict_outbox (bucket);

CREATE TABLE livedict_locks (
	bucket TEXT NOT NULL,
	key    TEXT NOT NULL,
	owner  TEXT NOT NULL,
	until  INTEGER NOT NULL, -- Unix ms; the lease ends then
	PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
`,
	1: `
CREATE TABLE livedict_bucket_types (
	bucket     TEXT PRIMARY KEY,
	value_type TEXT NOT NULL -- backend.TypeID of the values, recorded by the first store
) WITHOUT ROWID;
`,
	// Adding a column with a constant default rewrites no row: a large
	// file migrates as fast as an empty one, and its entries keep their
	// fixed deadlines.
	2: `
ALTER TABLE livedict_entries ADD COLUMN idle INTEGER NOT NULL DEFAULT 0; -- ms; > 0: sliding, reads push the deadline to now+idle
`,
}

// migrate brings the file's schema to schemaVersion in one write
// transaction, so processes opening a new file at once do it once.
func migrate(ctx context.Context, db *sql.DB, path string) error {
	fail := func(err error) error { return fmt.Errorf("livedict/sqlite: open %s: schema: %w", path, err) }
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS livedict_schema (version INTEGER NOT NULL)`); err != nil {
		return fail(err)
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM livedict_schema`).Scan(&v); err != nil {
		return fail(err)
	}
	if v > schemaVersion {
		return fmt.Errorf("%w: livedict/sqlite: %s has livedict schema version %d, newer than the %d this build knows: open it with a newer livedict",
			backend.ErrSchema, path, v, schemaVersion)
	}
	if v == schemaVersion {
		return nil
	}
	for ; v < schemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fail(fmt.Errorf("migrating from version %d: %w", v, err))
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM livedict_schema`); err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO livedict_schema (version) VALUES (?)`, schemaVersion); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

package sqlite

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/mattn/go-sqlite3"

	"github.com/livedict/livedict/backend"
)

// DSN is the data source name Open uses for the writer (or a reader) of
// the file at path with opts, for benchmarks that compare with plain
// database/sql on the same pragmas.
func DSN(path string, writer bool, opts ...Option) string {
	c := defaultConfig()
	for _, o := range opts {
		if err := o(&c); err != nil {
			panic(err)
		}
	}
	return dsn(path, c, writer)
}

// HoldWriter makes b's writer busy with a write that waits until release
// is called, so that the writes issued meanwhile queue, and then run as one
// group (which the holding goroutine may lead: release does not wait for
// it).
func HoldWriter(b *Backend) (release func()) {
	started, rel := make(chan struct{}), make(chan struct{})
	go func() {
		b.wr.do(context.Background(), op{fn: func(context.Context, *txn) error {
			close(started)
			<-rel
			return nil
		}})
	}()
	<-started
	return func() { close(rel) }
}

// BlockingWrite queues a write on b that, once its group reaches it,
// signals started and waits until release is called: the writes of its
// group before it have run then, and the group has not committed.
func BlockingWrite(b *Backend) (started <-chan struct{}, release func()) {
	st, rel, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		b.wr.do(context.Background(), op{fn: func(context.Context, *txn) error {
			close(st)
			<-rel
			return nil
		}})
	}()
	return st, func() { close(rel); <-done }
}

// QueuedWrites counts the writes waiting for the next group of b.
func QueuedWrites(b *Backend) int { return b.wr.queued() }

// FailCommits makes SQLite refuse every commit on b's writer connection
// after the next pass ones: its commit hook turns the COMMIT into a
// ROLLBACK, and the COMMIT statement (or an autocommit statement) fails.
// stop removes the hook.
func FailCommits(b *Backend, pass int) (stop func()) {
	left := new(atomic.Int64)
	left.Store(int64(pass))
	setCommitHook(b, func() int {
		if left.Add(-1) < 0 {
			return 1
		}
		return 0
	})
	return func() { setCommitHook(b, nil) }
}

func setCommitHook(b *Backend, hook func() int) {
	conn, err := b.w.Conn(context.Background())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	conn.Raw(func(dc any) error {
		dc.(*sqlite3.SQLiteConn).RegisterCommitHook(hook)
		return nil
	})
}

// InFlight counts the events the bucket handle has handed out and not
// seen acknowledged.
func InFlight(b backend.Bucket[string, []byte]) int {
	bk := b.(*bucket)
	bk.inflightMu.Lock()
	defer bk.inflightMu.Unlock()
	return len(bk.inflight)
}

// SchemaDDL is the DDL that makes a file of the given schema version from
// an empty one (without livedict_schema, which migrate creates).
func SchemaDDL(version int) string { return strings.Join(migrations[:version], "") }

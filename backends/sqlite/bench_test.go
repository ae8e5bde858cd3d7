package sqlite_test

// Benchmarks of the SQLite backend through engine.Store, side by side with
// plain database/sql on the same file, schema and pragmas (WAL,
// synchronous=NORMAL, busy timeout, BEGIN IMMEDIATE, the driver's statement
// cache, one writer connection and a pool of readers). Run them in one go:
//
//	go test -run '^$' -bench . -benchmem ./backends/sqlite/
//
// What is compared:
//
//   - Set: Store.Set of a 100-byte string value over 1,000 keys, versus one
//     autocommit upsert of the same row (plain SQL keeps no version
//     counter, checks no limit, moves no expired row, has no hooks to
//     order). Store.Set is one BEGIN IMMEDIATE transaction of a read, a
//     counter update and a write.
//   - Get: Store.Get of those keys (a read on the reader pool and a decode),
//     versus the same SELECT through database/sql; also in parallel.
//   - SetBatch100: 100 Store.Async().Set calls waited for together, versus
//     100 upserts in one transaction of plain SQL. These are different
//     things: each async Set is its own transaction (livedict has no
//     multi-key transaction), so the batch only overlaps the callers'
//     waiting; the SQL batch pays one commit for 100 rows. The metric
//     ns/set divides by 100.
//
// A small string codec is used, so that the numbers show the store and the
// backend rather than a serializer.

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backends/sqlite"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
)

const benchKeys = 1000

var benchValue = strings.Repeat("v", 100)

// benchStore opens a store on a new file with every key set.
func benchStore(b *testing.B) (*engine.Store[string, string], string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.db")
	be := openAt(b, path)
	s, err := engine.New(conformance.StringCodec(), livedict.WithBackend(be))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	for _, k := range conformance.BenchKeys(benchKeys) {
		if err := s.Set(bg, k, benchValue); err != nil {
			b.Fatal(err)
		}
	}
	return s, path
}

// plainSQL opens the writer and reader pools of plain database/sql on a file
// with livedict's schema and every key set.
func plainSQL(b *testing.B) (w, r *sql.DB) {
	b.Helper()
	_, path := benchStore(b) // creates the schema and the rows
	var err error
	if w, err = sql.Open("sqlite3", sqlite.DSN(path, true)); err != nil {
		b.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	if r, err = sql.Open("sqlite3", sqlite.DSN(path, false)); err != nil {
		b.Fatal(err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	b.Cleanup(func() { w.Close(); r.Close() })
	return w, r
}

const (
	upsertSQL = `INSERT INTO livedict_entries (bucket, key, value, deadline, version, accessed) VALUES ('bench', ?, ?, 0, ?, ?)
		ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value, deadline = 0, version = excluded.version, accessed = excluded.accessed`
	selectSQL = `SELECT value, deadline, version FROM livedict_entries WHERE bucket = 'bench' AND key = ? AND (deadline = 0 OR deadline > ?)`
)

func BenchmarkSet(b *testing.B) {
	keys := conformance.BenchKeys(benchKeys)
	b.Run("livedict", func(b *testing.B) {
		s, _ := benchStore(b)
		b.ResetTimer()
		for i := range b.N {
			if err := s.Set(bg, keys[i%benchKeys], benchValue); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sql", func(b *testing.B) {
		w, _ := plainSQL(b)
		val := []byte(benchValue)
		b.ResetTimer()
		for i := range b.N {
			if _, err := w.ExecContext(bg, upsertSQL, keys[i%benchKeys], val, i+1, i+1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGet(b *testing.B) {
	keys := conformance.BenchKeys(benchKeys)
	b.Run("livedict", func(b *testing.B) {
		s, _ := benchStore(b)
		b.ResetTimer()
		for i := range b.N {
			if _, ok, err := s.Get(bg, keys[i%benchKeys]); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("sql", func(b *testing.B) {
		_, r := plainSQL(b)
		b.ResetTimer()
		for i := range b.N {
			if _, err := plainGet(r, keys[i%benchKeys]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("livedict-parallel", func(b *testing.B) {
		s, _ := benchStore(b)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, ok, err := s.Get(bg, keys[i%benchKeys]); err != nil || !ok {
					b.Error(ok, err)
					return
				}
			}
		})
	})
	b.Run("sql-parallel", func(b *testing.B) {
		_, r := plainSQL(b)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, err := plainGet(r, keys[i%benchKeys]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func plainGet(r *sql.DB, key string) (string, error) {
	var val []byte
	var deadline int64
	var version uint64
	err := r.QueryRowContext(bg, selectSQL, key, time.Now().UnixMilli()).Scan(&val, &deadline, &version)
	return string(val), err
}

func BenchmarkSetBatch100(b *testing.B) {
	const batch = 100
	keys := conformance.BenchKeys(benchKeys)
	b.Run("livedict-async", func(b *testing.B) {
		s, _ := benchStore(b)
		a := s.Async()
		futs := make([]*livedict.Future[struct{}], batch)
		b.ResetTimer()
		for i := range b.N {
			for j := range futs {
				futs[j] = a.Set(bg, keys[(i*batch+j)%benchKeys], benchValue)
			}
			for _, f := range futs {
				if _, err := f.Wait(bg); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/set")
	})
	b.Run("sql-one-tx", func(b *testing.B) {
		w, _ := plainSQL(b)
		val := []byte(benchValue)
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			tx, err := w.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			for j := range batch {
				n := i*batch + j
				if _, err := tx.ExecContext(ctx, upsertSQL, keys[n%benchKeys], val, n+1, n+1); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/set")
	})
}

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
//     order). A Set over a live key, alone on the writer, is one UPDATE
//     that checks in its WHERE clause what a transaction would have read
//     first; SetNew writes new keys (a transaction of a counter update and
//     an insert) against a plain INSERT.
//   - Get: Store.Get of those keys (a read on the reader pool and a decode),
//     versus the same SELECT through database/sql; also in parallel.
//   - SetBatch100: 100 Sets issued together, versus 100 upserts in one
//     transaction of plain SQL. livedict-async is 100 Store.Async().Set
//     calls waited for together (64 of them in flight at a time);
//     livedict-goroutines-N is N goroutines sharing the 100 Sets. Each Set
//     is its own write, but the writes that queue while a transaction runs
//     commit together in the next one (group commit), so the batch pays a
//     few commits rather than 100. The metric ns/set divides by 100.
//   - PutMany100: one PutMany of 100 keys on the backend's bucket (no
//     store above it), versus the same 100 upserts in one transaction.
//   - Rotated: the pairs above once more (and SetBatch100 with durability
//     Full, an fsync per commit), each contender run in turn for a
//     short slice in every round, in one process, and reported as the
//     median of the per-round ratios with their interquartile range
//     (metrics ratio, ratio-p25, ratio-p75), which holds on a machine busy
//     with other work where whole runs of one and then the other do not.
//   - Touch: Touch of a sliding key on the backend's bucket, versus a Put
//     of the same key (value, deadline and idle time), each alone and
//     rotated; and a Touch of a key with a fixed deadline, which its
//     UPDATE does not change, so that a read follows it.
//
// A small string codec is used, so that the numbers show the store and the
// backend rather than a serializer.

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedict/livedict/internal/benchrot"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/sqlite"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
)

const benchKeys = 1000

var benchValue = strings.Repeat("v", 100)

// benchStore opens a store on a new file with every key set.
func benchStore(b *testing.B, opts ...sqlite.Option) (*engine.Store[string, string], string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.db")
	be := openAt(b, path, opts...)
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
// with livedict's schema and every key set, with the pragmas opts give.
func plainSQL(b *testing.B, opts ...sqlite.Option) (w, r *sql.DB) {
	b.Helper()
	_, path := benchStore(b) // creates the schema and the rows
	var err error
	if w, err = sql.Open("sqlite3", sqlite.DSN(path, true, opts...)); err != nil {
		b.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	if r, err = sql.Open("sqlite3", sqlite.DSN(path, false, opts...)); err != nil {
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

// batchSets returns the livedict side of SetBatch100: each call issues
// 100 Sets of the keys from offset on, from workers goroutines (0: with
// Store.Async), and waits for them.
func batchSets(b *testing.B, s *engine.Store[string, string], workers int) func(offset int) {
	const batch = 100
	keys := conformance.BenchKeys(benchKeys)
	if workers == 0 {
		a := s.Async()
		futs := make([]*livedict.Future[struct{}], batch)
		return func(offset int) {
			for j := range futs {
				futs[j] = a.Set(bg, keys[(offset+j)%benchKeys], benchValue)
			}
			for _, f := range futs {
				if _, err := f.Wait(bg); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	return func(offset int) {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := w; j < batch; j += workers {
					if err := s.Set(bg, keys[(offset+j)%benchKeys], benchValue); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
}

// plainBatch returns the SQL side of SetBatch100 and PutMany100: 100
// upserts from offset on in one transaction.
func plainBatch(b *testing.B, w *sql.DB) func(offset int) {
	keys := conformance.BenchKeys(benchKeys)
	val := []byte(benchValue)
	return func(offset int) {
		tx, err := w.BeginTx(bg, nil)
		if err != nil {
			b.Fatal(err)
		}
		for j := range 100 {
			n := offset + j
			if _, err := tx.ExecContext(bg, upsertSQL, keys[n%benchKeys], val, n+1, n+1); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// putMany returns the livedict side of PutMany100: one PutMany of 100 keys
// from offset on, on the bucket of a store's file.
func putMany(b *testing.B) func(offset int) {
	_, path := benchStore(b)
	be := openAt(b, path)
	raw, err := be.Bucket(bg, backend.BucketConfig{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	bm, ok := raw.(backend.Batcher[string, []byte])
	if !ok {
		b.Skip("the SQLite bucket has no PutMany")
	}
	keys := conformance.BenchKeys(benchKeys)
	ws := make([]backend.KeyWrite[string, []byte], 100)
	val := []byte(benchValue)
	return func(offset int) {
		for j := range ws {
			ws[j] = backend.KeyWrite[string, []byte]{Key: keys[(offset+j)%benchKeys], Write: backend.Write[[]byte]{Value: val}}
		}
		rs, err := bm.PutMany(bg, ws, time.Now().UnixMilli())
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rs {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
}

// runBatches times b.N calls of run, each of 100 operations, and reports
// the time per operation in unit.
func runBatches(b *testing.B, run func(offset int), unit string) {
	b.ResetTimer()
	for i := range b.N {
		run(i * 100)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), unit)
}

func BenchmarkSetBatch100(b *testing.B) {
	for _, c := range []struct {
		name    string
		workers int
	}{{"livedict-async", 0}, {"livedict-goroutines-8", 8}, {"livedict-goroutines-100", 100}} {
		b.Run(c.name, func(b *testing.B) {
			s, _ := benchStore(b)
			runBatches(b, batchSets(b, s, c.workers), "ns/set")
		})
	}
	b.Run("sql-one-tx", func(b *testing.B) {
		w, _ := plainSQL(b)
		runBatches(b, plainBatch(b, w), "ns/set")
	})
}

func BenchmarkPutMany100(b *testing.B) {
	b.Run("livedict", func(b *testing.B) { runBatches(b, putMany(b), "ns/key") })
	b.Run("sql-one-tx", func(b *testing.B) {
		w, _ := plainSQL(b)
		runBatches(b, plainBatch(b, w), "ns/key")
	})
}

// contender and rotate are benchrot's, under the names this file uses.
type contender = benchrot.Contender

func rotate(b *testing.B, cs ...contender) { benchrot.Rotate(b, cs...) }

// BenchmarkRotated measures each pair of the benchmarks above by rotate.
// Run it with a fixed number of rounds, e.g. -benchtime 40x.
func BenchmarkRotated(b *testing.B) {
	keys := conformance.BenchKeys(benchKeys)
	val := []byte(benchValue)
	const singles = 200 // single operations per slice
	// single is a contender that runs op singles times per slice, with the
	// number of the operation in the benchmark (never negative).
	single := func(name string, op func(n int) error) contender {
		return contender{Name: name, Ops: singles, Slice: func(r int) {
			for i := range singles {
				if err := op((r+1)*singles + i); err != nil {
					b.Fatal(err)
				}
			}
		}}
	}
	b.Run("Set", func(b *testing.B) {
		s, _ := benchStore(b)
		w, _ := plainSQL(b)
		rotate(b,
			single("sql", func(n int) error {
				_, err := w.ExecContext(bg, upsertSQL, keys[n%benchKeys], val, n+1, n+1)
				return err
			}),
			single("livedict", func(n int) error { return s.Set(bg, keys[n%benchKeys], benchValue) }))
	})
	b.Run("SetNew", func(b *testing.B) {
		s, _ := benchStore(b)
		w, _ := plainSQL(b)
		rotate(b,
			single("sql", func(n int) error {
				_, err := w.ExecContext(bg, `INSERT INTO livedict_entries (bucket, key, value, deadline, version, accessed) VALUES ('bench', ?, ?, 0, 1, 0)`,
					fmt.Sprint("new-", n), val)
				return err
			}),
			single("livedict", func(n int) error { return s.Set(bg, fmt.Sprint("new-", n), benchValue) }))
	})
	b.Run("Get", func(b *testing.B) {
		s, _ := benchStore(b)
		_, rd := plainSQL(b)
		rotate(b,
			single("sql", func(n int) error {
				_, err := plainGet(rd, keys[n%benchKeys])
				return err
			}),
			single("livedict", func(n int) error {
				_, ok, err := s.Get(bg, keys[n%benchKeys])
				if !ok && err == nil {
					err = fmt.Errorf("Get(%s) found nothing", keys[n%benchKeys])
				}
				return err
			}))
	})
	const batches = 4 // batches of 100 per slice
	batched := func(name string, run func(offset int)) contender {
		return contender{Name: name, Ops: batches * 100, Slice: func(r int) {
			for i := range batches {
				run(((r+1)*batches + i) * 100)
			}
		}}
	}
	b.Run("SetBatch100", func(b *testing.B) {
		w, _ := plainSQL(b)
		cs := []contender{batched("sql-one-tx", plainBatch(b, w))}
		for _, c := range []struct {
			name    string
			workers int
		}{{"async", 0}, {"goroutines-8", 8}, {"goroutines-100", 100}} {
			s, _ := benchStore(b)
			cs = append(cs, batched(c.name, batchSets(b, s, c.workers)))
		}
		rotate(b, cs...)
	})
	b.Run("PutMany100", func(b *testing.B) {
		w, _ := plainSQL(b)
		rotate(b, batched("sql-one-tx", plainBatch(b, w)), batched("putmany", putMany(b)))
	})
	// With durability Full every commit is an fsync: 100 Sets share a few,
	// where one at a time each would pay one.
	b.Run("SetBatch100Full", func(b *testing.B) {
		full := sqlite.WithDurability(sqlite.Full)
		w, _ := plainSQL(b, full)
		s, _ := benchStore(b, full)
		rotate(b, batched("sql-one-tx", plainBatch(b, w)), batched("goroutines-100", batchSets(b, s, 100)))
	})
}

// BenchmarkTouch measures Touch against a Put of the same key, which the
// store would otherwise have to write to push a deadline on: alone on the
// writer, each is one UPDATE outside a transaction. Every operation takes
// the next millisecond of a clock of its own, so that each Touch of the
// sliding key moves its deadline (the operation before set it a
// millisecond too early). Run it as
//
//	go test -run '^$' -bench Touch ./backends/sqlite
//
// The rotated contenders share that clock, and report touch/put and
// touch-fixed/put ratios.
func BenchmarkTouch(b *testing.B) {
	const idle = 60_000
	val := []byte(benchValue)
	// setup opens a bucket with the sliding key k and the fixed key f, and
	// returns the three operations on them.
	setup := func(b *testing.B) (put, touch, touchFixed func() error) {
		raw := rawBucket(b, openTemp(b), backend.BucketConfig{Name: "bench"})
		clock := time.Now().UnixMilli()
		if _, err := raw.Put(bg, "k", backend.Write[[]byte]{Value: val, Deadline: clock + idle, Idle: idle}, clock); err != nil {
			b.Fatal(err)
		}
		if _, err := raw.Put(bg, "f", backend.Write[[]byte]{Value: val, Deadline: clock + 1000*idle}, clock); err != nil {
			b.Fatal(err)
		}
		put = func() error {
			clock++
			_, err := raw.Put(bg, "k", backend.Write[[]byte]{Value: val, Deadline: clock + idle, Idle: idle}, clock)
			return err
		}
		touchKey := func(key string) func() error {
			return func() error {
				clock++
				if live, err := raw.Touch(bg, key, clock); !live || err != nil {
					return fmt.Errorf("Touch(%s) = %v, %v", key, live, err)
				}
				return nil
			}
		}
		return put, touchKey("k"), touchKey("f")
	}
	loop := func(b *testing.B, op func() error) {
		b.ResetTimer()
		for range b.N {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("put", func(b *testing.B) { put, _, _ := setup(b); loop(b, put) })
	b.Run("touch", func(b *testing.B) { _, touch, _ := setup(b); loop(b, touch) })
	b.Run("touch-fixed", func(b *testing.B) { _, _, fixed := setup(b); loop(b, fixed) })
	b.Run("rotated", func(b *testing.B) {
		put, touch, fixed := setup(b)
		const singles = 200
		slice := func(name string, op func() error) contender {
			return contender{Name: name, Ops: singles, Slice: func(int) {
				for range singles {
					if err := op(); err != nil {
						b.Fatal(err)
					}
				}
			}}
		}
		rotate(b, slice("put", put), slice("touch", touch), slice("touch-fixed", fixed))
	})
}

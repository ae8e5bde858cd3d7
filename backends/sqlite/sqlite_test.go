package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/sqlite"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
)

func TestMain(m *testing.M) {
	// The multi-process tests run this binary again as their workers.
	if role := os.Getenv(workerEnv); role != "" {
		os.Exit(runWorker(role))
	}
	goleak.VerifyTestMain(m)
}

var bg = context.Background()

// openTemp opens a backend on a new file in t's temporary directory and
// closes it after the test.
func openTemp(t testing.TB, opts ...sqlite.Option) *sqlite.Backend {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "livedict.db"), opts...)
}

func openAt(t testing.TB, path string, opts ...sqlite.Option) *sqlite.Backend {
	t.Helper()
	b, err := sqlite.Open(path, opts...)
	if err != nil {
		t.Fatalf("sqlite.Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func rawBucket(t testing.TB, b backend.Backend, cfg backend.BucketConfig) backend.Bucket[string, []byte] {
	t.Helper()
	raw, err := b.Bucket(bg, cfg)
	if err != nil {
		t.Fatalf("Bucket(%q): %v", cfg.Name, err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Name:   "sqlite",
		Shared: true,
		Open:   func(t *testing.T) backend.Backend { return openTemp(t) },
		Raw: func(t *testing.T, b backend.Backend, bucket string) backend.Bucket[string, []byte] {
			return rawBucket(t, b, backend.BucketConfig{Name: bucket})
		},
		Damage: damage,
	})
}

// damage breaks an entry below the backend, through a connection of its
// own to the file: a deadline that is a fraction (a REAL, which sorts among
// the deadlines, so the sweep meets it), or text where the integer belongs
// (which sorts after every number: never due).
func damage(t *testing.T, b backend.Backend, bucket, key string, fault conformance.Fault) bool {
	t.Helper()
	db, err := sql.Open("sqlite3", sqlite.DSN(b.(*sqlite.Backend).Path(), true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set := "deadline + 0.5"
	if fault == conformance.FaultType {
		set = "'soon'"
	}
	res, err := db.Exec(`UPDATE livedict_entries SET deadline = `+set+` WHERE bucket = ? AND key = ?`, bucket, key)
	if err != nil {
		t.Fatalf("damaging %q: %v", key, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("damaging %q: %d rows", key, n)
	}
	return fault == conformance.FaultDeadline
}

// TestCipher runs a store with WithCipher on SQLite: values are sealed at
// rest, and a sealed record moved to another key does not open.
func TestCipher(t *testing.T) {
	b := openTemp(t)
	key := make([]byte, 32)
	s, err := engine.New(conformance.ItemCodec(), livedict.WithBackend(b), livedict.WithCipher(key))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := conformance.Item{Name: "secret", N: 7}
	if err := s.Set(bg, "k", want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(bg, "k")
	if err != nil || !ok || got.Name != want.Name || got.N != want.N {
		t.Fatalf("Get = %+v, %v, %v", got, ok, err)
	}
	raw := rawBucket(t, b, backend.BucketConfig{Name: "items"})
	e, ok, err := raw.Get(bg, "k", time.Now().UnixMilli())
	if err != nil || !ok || e.Value[0] != 0xE1 || strings.Contains(string(e.Value), "secret") {
		t.Fatalf("raw record %q, %v, %v: want it sealed", e.Value, ok, err)
	}
	if _, err := raw.Put(bg, "other", backend.Write[[]byte]{Value: e.Value}, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(bg, "other"); !errors.Is(err, backend.ErrCorrupt) {
		t.Fatalf("Get of a record sealed for another key: %v, want ErrCorrupt", err)
	}
}

// TestVersions: every write of a key gets a new version, never 0, also
// after a Delete; Get does not change it.
func TestVersions(t *testing.T) {
	b := openTemp(t)
	raw := rawBucket(t, b, backend.BucketConfig{Name: "v"})
	seen := map[uint64]bool{}
	now := time.Now().UnixMilli()
	version := func(key string) uint64 {
		t.Helper()
		e, ok, err := raw.Get(bg, key, now)
		if err != nil || !ok {
			t.Fatalf("Get(%q) = %+v, %v, %v", key, e, ok, err)
		}
		return e.Version
	}
	for i := range 20 {
		if _, err := raw.Put(bg, "k", backend.Write[[]byte]{Value: []byte{byte(i)}}, now); err != nil {
			t.Fatal(err)
		}
		v := version("k")
		if v == 0 || seen[v] {
			t.Fatalf("write %d got version %d (seen: %v)", i, v, seen)
		}
		seen[v] = true
		if again := version("k"); again != v {
			t.Fatalf("Get after write %d changed the version from %d to %d", i, v, again)
		}
		if i%3 == 0 {
			if _, ok, err := raw.Delete(bg, "k", now); !ok || err != nil {
				t.Fatalf("Delete: %v, %v", ok, err)
			}
		}
	}
	// A write that would carry a version into the next generation takes a
	// new generation from the counter instead (here one below the planted
	// generation, which only the counter may hand out).
	const gen = 1 << 20
	if _, err := plainDB(t, b.Path()).Exec(`UPDATE livedict_entries SET version = ? WHERE bucket = 'v' AND key = 'k'`, 1000*gen+gen-1); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Put(bg, "k", backend.Write[[]byte]{Value: []byte("x")}, now); err != nil {
		t.Fatal(err)
	}
	if v := version("k"); v%gen != 0 || v == 1001*gen || seen[v] {
		t.Fatalf("write after the last version of a generation got version %d; want a new generation", v)
	}
	// Conditional writes compare versions.
	if _, err := raw.Put(bg, "c", backend.Write[[]byte]{Value: []byte("a"), Conditional: true}, now); err != nil {
		t.Fatalf("conditional create: %v", err)
	}
	first := version("c")
	if _, err := raw.Put(bg, "c", backend.Write[[]byte]{Value: []byte("b"), Conditional: true}, now); !errors.Is(err, backend.ErrConflict) {
		t.Fatalf("conditional create of an existing key: %v, want ErrConflict", err)
	}
	if _, err := raw.Put(bg, "c", backend.Write[[]byte]{Value: []byte("b"), Conditional: true, IfVersion: first}, now); err != nil {
		t.Fatalf("conditional write at the right version: %v", err)
	}
	if err := raw.DeleteIf(bg, "c", first, now); !errors.Is(err, backend.ErrConflict) {
		t.Fatalf("DeleteIf at an old version: %v, want ErrConflict", err)
	}
}

// TestParametersAreBound: bucket names and keys that look like SQL, or
// hold quotes and NUL bytes, are data.
func TestParametersAreBound(t *testing.T) {
	b := openTemp(t)
	now := time.Now().UnixMilli()
	names := []string{`x'); DROP TABLE livedict_entries; --`, "a\x00b", `"quoted"`, "ünï"}
	for _, name := range names {
		raw := rawBucket(t, b, backend.BucketConfig{Name: name})
		for _, key := range names {
			if _, err := raw.Put(bg, key, backend.Write[[]byte]{Value: []byte(name + "/" + key)}, now); err != nil {
				t.Fatalf("Put(%q, %q): %v", name, key, err)
			}
		}
		// The empty key is a key too.
		if _, err := raw.Put(bg, "", backend.Write[[]byte]{Value: nil}, now); err != nil {
			t.Fatalf("Put of the empty key with a nil value: %v", err)
		}
	}
	for _, name := range names {
		raw := rawBucket(t, b, backend.BucketConfig{Name: name})
		got := map[string]string{}
		if err := raw.Range(bg, now, func(k string, e backend.Entry[[]byte]) bool { got[k] = string(e.Value); return true }); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(names)+1 || got[""] != "" {
			t.Fatalf("bucket %q holds %q", name, got)
		}
		for _, key := range names {
			if got[key] != name+"/"+key {
				t.Fatalf("bucket %q, key %q = %q", name, key, got[key])
			}
		}
	}
}

// TestRangePages: Range visits every entry once across its pages and may
// write to the bucket as it goes.
func TestRangePages(t *testing.T) {
	b := openTemp(t)
	raw := rawBucket(t, b, backend.BucketConfig{Name: "r"})
	now := time.Now().UnixMilli()
	const n = 1000
	for i := range n {
		if _, err := raw.Put(bg, fmt.Sprintf("k%04d", i), backend.Write[[]byte]{Value: []byte("v")}, now); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	err := raw.Range(bg, now, func(k string, _ backend.Entry[[]byte]) bool {
		seen[k]++
		_, err := raw.Put(bg, k, backend.Write[[]byte]{Value: []byte("w")}, now)
		return err == nil
	})
	if err != nil || len(seen) != n {
		t.Fatalf("Range: %v; visited %d keys, want %d", err, len(seen), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("Range visited %s %d times", k, c)
		}
	}
}

// TestClaimLease: a claimed event is not handed out again until its lease
// ends without an ack, then it is (another process's handle gets it); an
// acked event is gone.
func TestClaimLease(t *testing.T) {
	b := openTemp(t)
	now := time.Now().UnixMilli()
	a := rawBucket(t, b, backend.BucketConfig{Name: "e"})
	other := rawBucket(t, b, backend.BucketConfig{Name: "e"})
	for _, k := range []string{"x", "y"} {
		if _, err := a.Put(bg, k, backend.Write[[]byte]{Value: []byte(k), Deadline: now + 10}, now); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := a.SweepExpired(bg, now+10, 100); n != 2 || err != nil {
		t.Fatalf("SweepExpired = %d, %v; want 2", n, err)
	}
	evs, err := a.ClaimExpired(bg, now+10, 100, time.Second)
	if err != nil || len(evs) != 2 || evs[0].Key != "x" || string(evs[1].Value) != "y" {
		t.Fatalf("ClaimExpired = %+v, %v", evs, err)
	}
	if again, err := other.ClaimExpired(bg, now+999, 100, time.Second); len(again) != 0 || err != nil {
		t.Fatalf("ClaimExpired within the lease = %+v, %v; want nothing", again, err)
	}
	if err := a.AckExpired(bg, []string{evs[0].ID}); err != nil {
		t.Fatal(err)
	}
	again, err := other.ClaimExpired(bg, now+1010, 100, time.Second)
	if err != nil || len(again) != 1 || again[0].ID != evs[1].ID || again[0].Key != "y" {
		t.Fatalf("ClaimExpired after the lease = %+v, %v; want the unacked event of y", again, err)
	}
}

// TestGetStampsOnlyLRU: a Get writes its access stamp only in an EvictLRU
// bucket; in others it is a plain read.
func TestGetStampsOnlyLRU(t *testing.T) {
	b := openTemp(t)
	now := time.Now().UnixMilli()
	db := plainDB(t, b.Path())
	stamp := func(bucket string) (n int64) {
		t.Helper()
		if err := db.QueryRow(`SELECT accessed FROM livedict_entries WHERE bucket = ? AND key = 'k'`, bucket).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		limit   backend.Limit
		touches bool
	}{
		{backend.Limit{}, false},
		{backend.Limit{MaxKeys: 10, Policy: backend.RejectNew}, false},
		{backend.Limit{MaxKeys: 10, Policy: backend.EvictLRU}, true},
	} {
		name := fmt.Sprint("b", tc.limit.MaxKeys, tc.limit.Policy)
		raw := rawBucket(t, b, backend.BucketConfig{Name: name, Limit: tc.limit})
		if _, err := raw.Put(bg, "k", backend.Write[[]byte]{Value: []byte("v")}, now); err != nil {
			t.Fatal(err)
		}
		before := stamp(name)
		if _, ok, err := raw.Get(bg, "k", now); !ok || err != nil {
			t.Fatalf("Get: %v, %v", ok, err)
		}
		if touched := stamp(name) != before; touched != tc.touches {
			t.Fatalf("limit %+v: Get changed the access stamp: %v, want %v", tc.limit, touched, tc.touches)
		}
	}
}

// TestNewerSchemaRefused: a file written by a newer schema is not opened.
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	b, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	db := plainDB(t, path)
	if _, err := db.Exec(`UPDATE livedict_schema SET version = 99`); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(path)
	if !errors.Is(err, backend.ErrSchema) || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("Open of a version 99 file: %v, want ErrSchema naming the version", err)
	}
}

// TestCloseAndErrors: Close is idempotent; buckets fail with ErrClosed
// afterwards; a cancelled ctx and bad options are reported.
func TestCloseAndErrors(t *testing.T) {
	b, err := sqlite.Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Bucket(bg, backend.BucketConfig{Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := raw.Put(ctx, "k", backend.Write[[]byte]{Value: []byte("v")}, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled ctx: %v", err)
	}
	if _, _, err := raw.Get(ctx, "k", 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled ctx: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := raw.Get(bg, "k", 1); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Bucket(bg, backend.BucketConfig{Name: "c"}); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Bucket after Close: %v, want ErrClosed", err)
	}
	for _, bad := range [][]sqlite.Option{
		{sqlite.WithDurability(7)}, {sqlite.WithReaders(0)}, {sqlite.WithPollInterval(0)}, {sqlite.WithBusyTimeout(-1)},
	} {
		if _, err := sqlite.Open(filepath.Join(t.TempDir(), "x.db"), bad...); !errors.Is(err, backend.ErrInvalidOption) {
			t.Fatalf("Open with a bad option: %v, want ErrInvalidOption", err)
		}
	}
	if _, err := sqlite.Open(":memory:"); !errors.Is(err, backend.ErrInvalidOption) {
		t.Fatalf("Open(:memory:): %v, want ErrInvalidOption", err)
	}
}

// plainDB opens the file with database/sql alone, for looking under the
// backend.
func plainDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

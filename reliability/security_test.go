package reliability

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	ex "github.com/livedict/livedict/generated_example"
)

// TestSealedRecordsStayPut: on the backends that store bytes, with
// WithCipher, a sealed record copied to another key of its bucket, or to
// the same key of another bucket, does not open there: Get fails with
// ErrCorrupt naming the key, and the copy is left in place. The bucket and
// key are bound into every record as AES-GCM additional data.
func TestSealedRecordsStayPut(t *testing.T) {
	for _, tg := range targets() {
		if tg.name == "memory" {
			continue // typed values in this process: nothing to copy
		}
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			b, err := livedict.OpenURI(ctx, tg.uri(t))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			cipher := livedict.WithCipher([]byte("0123456789abcdef0123456789abcdef"))
			open := func(bucket string) *ex.SessionStore {
				s, err := ex.NewSessionStore(livedict.WithBackend(b), livedict.WithBucket(bucket), cipher)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			a, other := open("a"), open("b")
			if err := a.Set(ctx, "alice", ex.Session{UserID: "alice", Roles: []string{"admin"}}); err != nil {
				t.Fatal(err)
			}
			raw := func(bucket string) backend.Bucket[string, []byte] {
				bk, err := b.Bucket(ctx, backend.BucketConfig{Name: bucket})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { bk.Close() })
				return bk
			}
			now := time.Now().UnixMilli()
			sealed, ok, err := raw("a").Get(ctx, "alice", now)
			if err != nil || !ok {
				t.Fatalf("raw Get of a/alice: %v, %v", ok, err)
			}
			for _, dst := range []struct {
				bucket, key string
				store       *ex.SessionStore
			}{{"a", "mallory", a}, {"b", "alice", other}} {
				if _, err := raw(dst.bucket).Put(ctx, dst.key, backend.Write[[]byte]{Value: sealed.Value}, now); err != nil {
					t.Fatal(err)
				}
				v, found, err := dst.store.Get(ctx, dst.key)
				var rec *livedict.RecordError
				if !errors.Is(err, livedict.ErrCorrupt) || !errors.As(err, &rec) || rec.Key != dst.key {
					t.Fatalf("Get(%s/%s) of a record sealed for a/alice = %+v, %v, %v; want ErrCorrupt naming the key", dst.bucket, dst.key, v, found, err)
				}
				if _, ok, err := raw(dst.bucket).Get(ctx, dst.key, now); err != nil || !ok {
					t.Fatalf("the record that did not open at %s/%s was removed: %v, %v", dst.bucket, dst.key, ok, err)
				}
			}
			if v, ok, err := a.Get(ctx, "alice"); err != nil || !ok || v.UserID != "alice" {
				t.Fatalf("the original record: %+v, %v, %v", v, ok, err)
			}
		})
	}
}

// TestForeignTablesUntouched: a SQLite file that also holds an
// application's own tables, and rows of a livedict bucket nobody opened,
// keeps them through every operation of a store, Clear and expiry
// included.
func TestForeignTablesUntouched(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	s, err := ex.NewSessionStore(storeOpts("sqlite://" + filepath.ToSlash(path))...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE app_users (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO app_users (name) VALUES ('ann'), ('bob')`,
		`INSERT INTO livedict_entries (bucket, key, value, deadline, version, accessed) VALUES ('someone_else', 'k', x'00', 1, 1, 0)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.OnExpire(func(context.Context, string, ex.Session) {})
	for _, key := range []string{"k", "x", "y"} {
		if err := s.Set(ctx, key, ex.Session{UserID: key}, livedict.TTL(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if n, err := s.Len(ctx); err != nil || n != 0 {
		t.Fatalf("Len = %d, %v", n, err)
	}
	if err := s.Set(ctx, "k", ex.Session{UserID: "k"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	var users, foreign int
	if err := db.QueryRow(`SELECT count(*) FROM app_users`).Scan(&users); err != nil || users != 2 {
		t.Fatalf("app_users has %d rows (%v), want 2", users, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM livedict_entries WHERE bucket = 'someone_else'`).Scan(&foreign); err != nil || foreign != 1 {
		t.Fatalf("the other bucket's expired row: %d left (%v), want 1", foreign, err)
	}
}

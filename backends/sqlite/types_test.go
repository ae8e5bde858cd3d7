package sqlite_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/sqlite"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
)

// TestVersion1FileRecordsType: a file of schema version 1, from before
// buckets recorded their value type, is migrated when opened and keeps its
// data; the first store to open a bucket records its type there, and a
// store of another type is refused the bucket from then on.
func TestVersion1FileRecordsType(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	b, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	items, err := engine.New(conformance.ItemCodec(), livedict.WithBackend(b), livedict.WithBucket("old"))
	if err != nil {
		t.Fatal(err)
	}
	if err := items.Set(bg, "k", conformance.Item{Name: "kept"}); err != nil {
		t.Fatal(err)
	}
	items.Close()
	b.Close()
	// Version 1 is version 3 without the table of bucket types and the
	// idle column.
	db := plainDB(t, path)
	if _, err := db.Exec(`DROP TABLE livedict_bucket_types; ALTER TABLE livedict_entries DROP COLUMN idle; UPDATE livedict_schema SET version = 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	b = openAt(t, path)
	var v int
	if err := plainDB(t, path).QueryRow(`SELECT version FROM livedict_schema`).Scan(&v); err != nil || v != 3 {
		t.Fatalf("schema version after opening a version 1 file = %d, %v; want 3", v, err)
	}
	items, err = engine.New(conformance.ItemCodec(), livedict.WithBackend(b), livedict.WithBucket("old"))
	if err != nil {
		t.Fatalf("an Item store on the bucket of a version 1 file: %v", err)
	}
	defer items.Close()
	if got, ok, err := items.Get(bg, "k"); err != nil || !ok || got.Name != "kept" {
		t.Fatalf("Get after the migration = %+v, %v, %v; want the value written before", got, ok, err)
	}
	var rec string
	if err := plainDB(t, path).QueryRow(`SELECT value_type FROM livedict_bucket_types WHERE bucket = 'old'`).Scan(&rec); err != nil ||
		rec != backend.TypeID[conformance.Item]() {
		t.Fatalf("recorded type = %q, %v; want %q", rec, err, backend.TypeID[conformance.Item]())
	}
	_, err = engine.New(conformance.NoteCodec(), livedict.WithBackend(b), livedict.WithBucket("old"))
	if !errors.Is(err, backend.ErrInvalidOption) || !strings.Contains(err.Error(), "conformance.Item") {
		t.Fatalf("a Note store on the Item bucket: %v; want ErrInvalidOption naming conformance.Item", err)
	}
}

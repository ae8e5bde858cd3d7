package redis_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/redis"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
	"github.com/livedict/livedict/internal/redistest"
)

// TestBucketWithoutTypeRecordsIt: a bucket created before buckets recorded
// their value type (a meta hash without "type") keeps opening and keeps its
// data; the first store to open it records its type, and a store of
// another type is refused the bucket from then on.
func TestBucketWithoutTypeRecordsIt(t *testing.T) {
	url, _ := redistest.Server(t)
	c := newClient(t, url)
	p := uniquePrefix()
	b, err := redis.New(c, redis.WithPrefix(p))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	open := func() (*engine.Store[string, conformance.Item], error) {
		return engine.New(conformance.ItemCodec(), livedict.WithBackend(b), livedict.WithBucket("old"))
	}
	items, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if err := items.Set(bg, "k", conformance.Item{Name: "kept"}); err != nil {
		t.Fatal(err)
	}
	items.Close()
	meta := p + ":{old}:meta"
	if err := c.HDel(bg, meta, "type").Err(); err != nil {
		t.Fatal(err)
	}

	items, err = open()
	if err != nil {
		t.Fatalf("an Item store on a bucket without a recorded type: %v", err)
	}
	defer items.Close()
	if got, ok, err := items.Get(bg, "k"); err != nil || !ok || got.Name != "kept" {
		t.Fatalf("Get = %+v, %v, %v; want the value written before", got, ok, err)
	}
	if rec, err := c.HGet(bg, meta, "type").Result(); err != nil || rec != backend.TypeID[conformance.Item]() {
		t.Fatalf("recorded type = %q, %v; want %q", rec, err, backend.TypeID[conformance.Item]())
	}
	_, err = engine.New(conformance.NoteCodec(), livedict.WithBackend(b), livedict.WithBucket("old"))
	if !errors.Is(err, backend.ErrInvalidOption) || !strings.Contains(err.Error(), "conformance.Item") {
		t.Fatalf("a Note store on the Item bucket: %v; want ErrInvalidOption naming conformance.Item", err)
	}
}

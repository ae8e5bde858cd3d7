package redis_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/redis"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
	"github.com/livedict/livedict/internal/redistest"
)

// entryKey finds the Redis hash of key in the bucket of Items under prefix
// by looking in every shard's index (the layout the package documentation
// gives), so that the test reads what Redis holds without going through
// the backend.
func entryKey(t *testing.T, c *goredis.Client, prefix, key string) string {
	t.Helper()
	for i := range redis.DefaultShards {
		tag := fmt.Sprintf("%s:{%s#%d}", prefix, itemsBucket, i)
		if err := c.ZScore(bg, tag+":idx", key).Err(); err == nil {
			return tag + ":e:" + key
		} else if !errors.Is(err, goredis.Nil) {
			t.Fatal(err)
		}
	}
	t.Fatalf("key %q is in no shard index of bucket %q under %q", key, itemsBucket, prefix)
	return ""
}

// TestCipher: with WithCipher, what Redis holds is sealed (a plain client
// reading the hash finds no plaintext), and a sealed record is bound to its
// key: copied under another key it does not open, which is reported as
// ErrCorrupt and leaves the record in place. A store with another key
// cannot open it either.
func TestCipher(t *testing.T) {
	url, _ := redistest.Server(t)
	c := newClient(t, url)
	prefix := uniquePrefix()
	b := newBackend(t, c, redis.WithPrefix(prefix))
	key := make([]byte, 32)
	rand.Read(key)
	s, err := engine.New(conformance.ItemCodec(), livedict.WithBackend(b), livedict.WithCipher(key))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := conformance.Item{Name: "secret-name", N: 7, Tags: []string{"secret-tag"}}
	if err := s.Set(bg, "k", want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(bg, "k")
	if err != nil || !ok || got.Name != want.Name || got.N != want.N || len(got.Tags) != 1 || got.Tags[0] != want.Tags[0] {
		t.Fatalf("Get = %+v, %v, %v", got, ok, err)
	}

	// At rest: the value field of the entry's hash, read by a plain client.
	ek := entryKey(t, c, prefix, "k")
	sealed, err := c.HGet(bg, ek, "v").Bytes()
	if err != nil {
		t.Fatalf("HGET %s v: %v", ek, err)
	}
	if len(sealed) == 0 || sealed[0] != 0xE1 || bytes.Contains(sealed, []byte("secret")) {
		t.Fatalf("raw value %q: want it sealed", sealed)
	}
	fields, err := c.HGetAll(bg, ek).Result()
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range fields {
		if bytes.Contains([]byte(v), []byte("secret")) {
			t.Errorf("field %s of %s holds plaintext: %q", f, ek, v)
		}
	}

	// The sealed record copied under another key.
	raw := rawBucket(t, b, itemsBucket)
	if _, err := raw.Put(bg, "other", backend.Write[[]byte]{Value: sealed}, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(bg, "other"); !errors.Is(err, livedict.ErrCorrupt) {
		t.Fatalf("Get of a record sealed for another key: %v, want ErrCorrupt", err)
	}
	stayed, err := c.HGet(bg, entryKey(t, c, prefix, "other"), "v").Bytes()
	if err != nil || !bytes.Equal(stayed, sealed) {
		t.Fatalf("after the failed Get, the record of other is %q, %v; want it left in place", stayed, err)
	}

	// A store with another key does not open it, and does not remove it.
	other := make([]byte, 32)
	rand.Read(other)
	s2, err := engine.New(conformance.ItemCodec(), livedict.WithBackend(b), livedict.WithCipher(other))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, _, err := s2.Get(bg, "k"); !errors.Is(err, livedict.ErrCorrupt) {
		t.Fatalf("Get with another cipher key: %v, want ErrCorrupt", err)
	}
	if got, ok, err := s.Get(bg, "k"); err != nil || !ok || got.Name != want.Name {
		t.Fatalf("Get with the right key after a failed one = %+v, %v, %v", got, ok, err)
	}
}

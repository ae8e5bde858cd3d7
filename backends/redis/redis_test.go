package redis_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/redis"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
	"github.com/livedict/livedict/internal/redistest"
)

func TestMain(m *testing.M) {
	// The multi-process tests run this binary again as their workers.
	if role := os.Getenv(workerEnv); role != "" {
		os.Exit(runWorker(role))
	}
	goleak.VerifyTestMain(m)
}

var bg = context.Background()

var prefixes atomic.Int64

// uniquePrefix keeps tests that share one server out of each other's keys.
func uniquePrefix() string { return fmt.Sprintf("t%d-%d", os.Getpid(), prefixes.Add(1)) }

// newClient returns a client on url, closed after the test.
func newClient(t testing.TB, url string) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// newBackend returns a backend on c with a prefix of its own, closed after
// the test (before c).
func newBackend(t testing.TB, c goredis.UniversalClient, opts ...redis.Option) *redis.Backend {
	t.Helper()
	b, err := redis.New(c, append([]redis.Option{redis.WithPrefix(uniquePrefix())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func rawBucket(t *testing.T, b backend.Backend, bucket string) backend.Bucket[string, []byte] {
	t.Helper()
	raw, err := b.Bucket(bg, backend.BucketConfig{Name: bucket})
	if err != nil {
		t.Fatalf("Bucket(%q): %v", bucket, err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// damage breaks an entry below the backend: a deadline field that is not
// a number, or a string where the entry's hash belongs. Either way the
// deadline index still holds the key.
func damage(t *testing.T, b backend.Backend, bucket, key string, fault conformance.Fault) bool {
	t.Helper()
	rb := b.(*redis.Backend)
	ek, err := redis.EntryKey(bg, rb, bucket, key)
	if err != nil {
		t.Fatalf("EntryKey: %v", err)
	}
	c := rb.Client()
	switch fault {
	case conformance.FaultDeadline:
		err = c.HSet(bg, ek, "d", "soon").Err()
	case conformance.FaultType:
		err = c.Del(bg, ek).Err()
		if err == nil {
			err = c.Set(bg, ek, "foreign", 0).Err()
		}
	}
	if err != nil {
		t.Fatalf("damaging %s: %v", ek, err)
	}
	return true
}

func TestConformance(t *testing.T) {
	url, _ := redistest.Server(t)
	c := newClient(t, url)
	conformance.Run(t, conformance.Harness{
		Name:   "redis",
		Shared: true,
		Open:   func(t *testing.T) backend.Backend { return newBackend(t, c) },
		Raw:    rawBucket,
		Damage: damage,
	})
}

func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the cluster run is long; -short skips it")
	}
	addrs := redistest.Cluster(t)
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { c.Close() })
	conformance.Run(t, conformance.Harness{
		Name:   "redis-cluster",
		Shared: true,
		Open:   func(t *testing.T) backend.Backend { return newBackend(t, c) },
		Raw:    rawBucket,
		Damage: damage,
	})
}

// TestForeignKeysUntouched: keys the backend did not write, including ones
// that look like its own under another prefix, survive every operation of
// a store, and are never counted or listed.
func TestForeignKeysUntouched(t *testing.T) {
	url, _ := redistest.Server(t)
	c := newClient(t, url)
	foreign := map[string]string{
		"session:1":                "not livedict's",
		"livedict":                 "a bare prefix",
		"other:{items#0}:e:k1":     "another prefix's entry",
		"other:{items#0}:idx":      "another prefix's index",
		"livedictx:{items#3}:e:k1": "a longer prefix",
	}
	for k, v := range foreign {
		if err := c.Set(bg, k, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	b := newBackend(t, c)
	s, err := engine.New(conformance.ItemCodec(), livedict.WithBackend(b))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 50 {
		if err := s.Set(bg, fmt.Sprint("k", i), conformance.Item{N: int64(i)}, livedict.TTL(time.Duration(1+i%2)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond)
	if n, err := s.Len(bg); err != nil || n != 0 {
		t.Fatalf("Len = %d, %v; want 0 (only expired keys of its own)", n, err)
	}
	if err := s.Clear(bg); err != nil {
		t.Fatal(err)
	}
	for k, v := range foreign {
		if got, err := c.Get(bg, k).Result(); err != nil || got != v {
			t.Errorf("foreign key %q = %q, %v after the store's work; want %q", k, got, err, v)
		}
	}
}

// TestShardCountFixed: a bucket keeps the shard count it was created with,
// and a process asking for another gets an error that says which.
func TestShardCountFixed(t *testing.T) {
	url, _ := redistest.Server(t)
	c := newClient(t, url)
	p := uniquePrefix()
	b16, err := redis.New(c, redis.WithPrefix(p))
	if err != nil {
		t.Fatal(err)
	}
	defer b16.Close()
	rawBucket(t, b16, "items")
	b4, err := redis.New(c, redis.WithPrefix(p), redis.WithShards(4))
	if err != nil {
		t.Fatal(err)
	}
	defer b4.Close()
	_, err = b4.Bucket(bg, backend.BucketConfig{Name: "items"})
	if !errors.Is(err, backend.ErrInvalidOption) || !strings.Contains(err.Error(), "created with 16 shards") {
		t.Fatalf("opening a 16-shard bucket with 4 shards: %v", err)
	}
}

// TestURI opens stores through package livedict, which reaches this package
// by the redis scheme alone, and checks that a bad URI fails where it is
// written.
func TestURI(t *testing.T) {
	url, _ := redistest.Server(t)
	p := uniquePrefix()
	s, err := engine.New(conformance.ItemCodec(), livedict.WithURI(url+"?prefix="+p+"&shards=4&poll_interval=50ms"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(bg, "k", conformance.Item{Name: "v"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, url)
	if n, err := c.Exists(bg, p+":{items}:meta").Result(); err != nil || n != 1 {
		t.Fatalf("the store did not write under prefix %q: %d, %v", p, n, err)
	}
	for _, bad := range []struct{ uri, want string }{
		{url + "?shards=0", "0 shards"},
		{url + "?prefix=a{b", "'{'"},
		{url + "?poll_interval=soon", "poll_interval"},
		{url + "?shards=2&shards=3", "given 2 times"},
		{"redis://127.0.0.1:1/0?nosuch=1", "nosuch"},
	} {
		_, err := engine.New(conformance.ItemCodec(), livedict.WithURI(bad.uri))
		if !errors.Is(err, livedict.ErrInvalidOption) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("WithURI(%q) = %v; want ErrInvalidOption mentioning %q", bad.uri, err, bad.want)
		}
	}
}

// TestContextEndsWaitOnHungServer: with a server that accepts but does not
// answer (stopped with SIGSTOP), an operation returns when its ctx ends,
// not after the client's read timeouts and retries.
func TestContextEndsWaitOnHungServer(t *testing.T) {
	url, p := redistest.Server(t)
	if p == nil {
		t.Skip("needs a server this test can stop (LIVEDICT_REDIS_URL is set)")
	}
	c := newClient(t, url)
	info, err := c.Info(bg, "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatalf("no process_id in INFO server")
	}
	s, err := engine.New(conformance.ItemCodec(), livedict.WithBackend(newBackend(t, c)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Set(bg, "k", conformance.Item{Name: "before"}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	for _, op := range []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"Set", func(ctx context.Context) error { return s.Set(ctx, "k", conformance.Item{Name: "during"}) }},
		{"Get", func(ctx context.Context) error { _, _, err := s.Get(ctx, "k"); return err }},
	} {
		ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
		start := time.Now()
		err := op.run(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s on a hung server with a 200ms ctx = %v; want the ctx's DeadlineExceeded", op.name, err)
		}
		t.Logf("%s on a hung server returned after %v", op.name, time.Since(start).Round(time.Millisecond))
	}
}

package redis_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/redis"
	"github.com/livedict/livedict/conformance"
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

func TestConformance(t *testing.T) {
	url, _ := redistest.Server(t)
	c := newClient(t, url)
	conformance.Run(t, conformance.Harness{
		Name:   "redis",
		Shared: true,
		Open:   func(t *testing.T) backend.Backend { return newBackend(t, c) },
		Raw:    rawBucket,
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
	})
}

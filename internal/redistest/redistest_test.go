package redistest_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/livedict/livedict/internal/redistest"
)

// TestMain checks that the servers, their waiters and every client are
// gone once all cleanups have run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// client returns a client for url that is closed in t.Cleanup, which runs
// before the server's own cleanup because it is registered later.
func client(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", url, err)
	}
	// Fail fast once the server is gone instead of retrying for seconds.
	opt.MaxRetries = -1
	opt.DialTimeout = time.Second
	opt.DialerRetries = 1
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// testContext bounds each test's commands so a wedged server fails the
// test instead of hanging it.
func testContext(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestServerSetGet(t *testing.T) {
	url, _ := redistest.Server(t)
	c := client(t, url)
	ctx := testContext(t)
	if err := c.Set(ctx, "greeting", "hello", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	got, err := c.Get(ctx, "greeting").Result()
	if err != nil || got != "hello" {
		t.Fatalf("GET = %q, %v; want %q", got, err, "hello")
	}
}

func TestServersAreIndependent(t *testing.T) {
	if os.Getenv("LIVEDICT_REDIS_URL") != "" {
		t.Skip("LIVEDICT_REDIS_URL is set: both calls return the same server")
	}
	url1, _ := redistest.Server(t)
	url2, _ := redistest.Server(t)
	if url1 == url2 {
		t.Fatalf("two servers share the URL %s", url1)
	}
	ctx := testContext(t)
	if err := client(t, url1).Set(ctx, "k", "1", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if n, err := client(t, url2).Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS k on the second server = %d, %v; want 0", n, err)
	}
}

func TestKillRestart(t *testing.T) {
	url, p := redistest.Server(t)
	if p == nil {
		if os.Getenv("CI") != "" {
			t.Fatal("LIVEDICT_REDIS_URL is set under CI, so the kill/restart test cannot run")
		}
		t.Skip("LIVEDICT_REDIS_URL is set: an external server cannot be killed")
	}
	c := client(t, url)
	ctx := testContext(t)
	if err := c.Set(ctx, "survivor", "still here", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}

	p.Kill(t)
	if err := c.Get(ctx, "survivor").Err(); err == nil {
		t.Fatal("GET succeeded after Kill")
	}
	p.Kill(t) // killing a dead server is a no-op

	p.Restart(t)
	if got := "redis://" + p.Addr() + "/0"; got != url {
		t.Fatalf("after Restart the server is at %s, want %s", got, url)
	}
	got, err := c.Get(ctx, "survivor").Result()
	if err != nil || got != "still here" {
		t.Fatalf("GET after Restart = %q, %v; want %q", got, err, "still here")
	}

	// Restart of a running server kills it first; writes still survive.
	if err := c.Set(ctx, "second", "also here", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	p.Restart(t)
	got, err = c.Get(ctx, "second").Result()
	if err != nil || got != "also here" {
		t.Fatalf("GET after second Restart = %q, %v; want %q", got, err, "also here")
	}
}

func TestCluster(t *testing.T) {
	addrs := redistest.Cluster(t)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { cc.Close() })
	ctx := testContext(t)

	const n = 200
	for i := range n {
		k := fmt.Sprintf("key:%d", i)
		if err := cc.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	for i := range n {
		k := fmt.Sprintf("key:%d", i)
		got, err := cc.Get(ctx, k).Int()
		if err != nil || got != i {
			t.Fatalf("GET %s = %d, %v; want %d", k, got, err, i)
		}
	}

	// The keys must really be spread: every master holds some of them.
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		size, err := m.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		if size == 0 {
			return fmt.Errorf("master %s holds none of the %d keys", m.Options().Addr, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	info, err := cc.ClusterInfo(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER INFO: %v", err)
	}
	if !strings.Contains(info, "cluster_state:ok") {
		t.Errorf("CLUSTER INFO lacks cluster_state:ok:\n%s", info)
	}
	if os.Getenv("LIVEDICT_REDIS_CLUSTER_ADDRS") == "" && !strings.Contains(info, "cluster_size:3\r\n") {
		t.Errorf("CLUSTER INFO does not report 3 masters (cluster_size:3):\n%s", info)
	}
}

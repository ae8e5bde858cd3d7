package redistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

const (
	clusterNodes = 3

	// busOffset is how far above its client port a cluster node listens
	// for the other nodes (the cluster bus); Redis fixes it at 10000.
	busOffset = 10000

	// Cluster node ports are drawn from [clusterPortLo, clusterPortHi).
	// With the bus ports that covers 10000-32767, which stays below the
	// usual start of the kernel's ephemeral range (32768 on Linux, higher
	// elsewhere), so outgoing connections are not handed these ports
	// between choosing and binding them, and every bus port is valid.
	clusterPortLo = 10000
	clusterPortHi = 32768 - busOffset

	// clusterTimeout bounds creating the cluster and waiting until it
	// serves every slot.
	clusterTimeout = 60 * time.Second

	// probeKeys is how many random keys Cluster writes and reads back
	// before returning; with 3 masters, 100 keys miss one with
	// probability about 1e-17.
	probeKeys = 100
)

// Cluster returns the addresses ("127.0.0.1:PORT") of a running Redis
// Cluster of three masters without replicas, which a go-redis
// ClusterClient can use as its Addrs.
//
// When the environment variable LIVEDICT_REDIS_CLUSTER_ADDRS is set,
// Cluster returns its comma-separated addresses instead.
//
// Otherwise Cluster starts three cluster-enabled redis-server nodes (each
// with its own data directory and cluster config file under t.TempDir()),
// joins them with redis-cli --cluster create, and returns only once every
// node reports cluster_state:ok for three known nodes and a ClusterClient
// has written and read back keys spread over all masters (deleted again
// afterwards). Checking both matters: a node reports ok as soon as its
// own view is complete, but a client that starts before all views agree
// gets redirections and CLUSTERDOWN errors that tests would misread as
// bugs. The nodes are stopped in t.Cleanup.
//
// Expect this to take two to five seconds: a master reports ok no sooner
// than two seconds after it started, and redis-cli checks once a second
// whether the nodes agree. Tests that need several clusters' worth of
// isolation can usually share one cluster and use distinct keys.
func Cluster(t testing.TB) []string {
	t.Helper()
	if v := os.Getenv(clusterAddrsEnv); v != "" {
		var addrs []string
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			t.Fatalf("redistest: %s=%q names no address", clusterAddrsEnv, v)
		}
		return addrs
	}
	server := lookPath(t, "redis-server")
	cli := lookPath(t, "redis-cli")

	procs := make([]*Proc, clusterNodes)
	addrs := make([]string, clusterNodes)
	for i := range procs {
		procs[i] = start(t, server, clusterPort, []string{
			"--cluster-enabled", "yes",
			// Relative to --dir, so each node keeps its own.
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000",
		})
		addrs[i] = procs[i].Addr()
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.WaitDelay = time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s\n%s", strings.Join(args, " "), err, out, nodeTails(procs))
	}

	if err := waitClusterOK(ctx, procs); err != nil {
		t.Fatalf("redistest: cluster %v did not become ready: %v\n%s", addrs, err, nodeTails(procs))
	}
	if err := probeCluster(ctx, addrs); err != nil {
		t.Fatalf("redistest: cluster %v does not serve all slots: %v\n%s", addrs, err, nodeTails(procs))
	}
	return addrs
}

// clusterPort returns a port p such that p and its bus port p+10000 were
// both free a moment ago. Unlike freePort it cannot ask the kernel for a
// port, because a kernel-chosen port may have no valid or free bus port.
func clusterPort() (int, error) {
	for range 100 {
		port := clusterPortLo + rand.IntN(clusterPortHi-clusterPortLo)
		if bindable(port) && bindable(port+busOffset) {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port pair p, p+%d in [%d, %d) after 100 tries", busOffset, clusterPortLo, clusterPortHi)
}

// bindable reports whether 127.0.0.1:port can be listened on now.
func bindable(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// waitClusterOK polls CLUSTER INFO on every node until all of them report
// a healthy cluster of exactly the started nodes with all slots assigned.
func waitClusterOK(ctx context.Context, procs []*Proc) error {
	want := map[string]string{
		"cluster_state":          "ok",
		"cluster_slots_assigned": "16384",
		"cluster_known_nodes":    strconv.Itoa(len(procs)),
		"cluster_size":           strconv.Itoa(len(procs)),
	}
	for _, p := range procs {
		c := redis.NewClient(probeOptions(p.Addr()))
		err := func() error {
			defer c.Close()
			for {
				if !p.running() {
					return fmt.Errorf("node %s: %w", p.Addr(), errExited)
				}
				info, err := c.ClusterInfo(ctx).Result()
				if err == nil {
					err = infoMismatch(info, want)
				}
				if err == nil {
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("node %s: %v", p.Addr(), err)
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// infoMismatch returns an error naming the first field of a CLUSTER INFO
// reply that differs from want, or nil.
func infoMismatch(info string, want map[string]string) error {
	got := parseInfo(info)
	for k, v := range want {
		if got[k] != v {
			return fmt.Errorf("CLUSTER INFO has %s:%s, want %s", k, got[k], v)
		}
	}
	return nil
}

// parseInfo parses the "field:value" lines of an INFO or CLUSTER INFO
// reply into a map, skipping blank and "#" section lines.
func parseInfo(info string) map[string]string {
	m := make(map[string]string)
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// probeCluster has a ClusterClient write, read back and delete random keys
// until one full round succeeds, so the caller's first commands find every
// slot served.
func probeCluster(ctx context.Context, addrs []string) error {
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                    addrs,
		DialTimeout:              time.Second,
		ReadTimeout:              time.Second,
		WriteTimeout:             time.Second,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	defer cc.Close()

	keys := make([]string, probeKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("redistest:probe:%016x", rand.Uint64())
	}
	round := func() error {
		for _, k := range keys {
			if err := cc.Set(ctx, k, k, 0).Err(); err != nil {
				return fmt.Errorf("SET %s: %w", k, err)
			}
		}
		for _, k := range keys {
			v, err := cc.Get(ctx, k).Result()
			if err != nil {
				return fmt.Errorf("GET %s: %w", k, err)
			}
			if v != k {
				return fmt.Errorf("GET %s = %q, want %q", k, v, k)
			}
		}
		for _, k := range keys {
			if err := cc.Del(ctx, k).Err(); err != nil {
				return fmt.Errorf("DEL %s: %w", k, err)
			}
		}
		return nil
	}
	for {
		err := round()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// nodeTails returns the output tail of every node, for failure messages.
func nodeTails(procs []*Proc) string {
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, "--- redis-server on %s ---\n%s\n", p.Addr(), p.reportTail())
	}
	return b.String()
}

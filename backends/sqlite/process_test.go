package sqlite_test

// Tests with several processes on one file. The test binary runs itself
// again as the worker processes (package proctest): TestMain sees
// LIVEDICT_SQLITE_WORKER and runs the role it names instead of the tests.
// Workers talk to the test on their standard streams, a line at a time:
// they print "ready" once their store is open, the test writes "go" when
// they may start, and the expiry and crash workers print one line per event
// or write.
//
// The counts can be changed for CI with environment variables (see
// count); -short divides them.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/backends/sqlite"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
	"github.com/livedict/livedict/internal/proctest"
)

const (
	workerEnv = "LIVEDICT_SQLITE_WORKER" // the role of a worker process
	dbEnv     = "LIVEDICT_SQLITE_DB"     // the file it opens
	argEnv    = "LIVEDICT_SQLITE_ARG"    // a count or a prefix, by role
)

// count returns the value of the environment variable LIVEDICT_SQLITE_name
// when set, else def (short with -short).
func count(t *testing.T, name string, def, short int) int {
	t.Helper()
	return proctest.Count(t, "LIVEDICT_SQLITE_"+name, def, short)
}

// ---- the worker side ----

func runWorker(role string) int {
	roles := map[string]func(path, arg string) error{
		"counter": func(path, arg string) error {
			n, _ := strconv.Atoi(arg)
			return proctest.WorkCounter(func() (*conformance.Store, func() error, error) { return workerStore(path) }, n)
		},
		"expire": func(path, arg string) error {
			return proctest.WorkExpire(func() (*conformance.Store, func() error, error) { return workerStore(path) })
		},
		"hang": func(path, _ string) error {
			return proctest.WorkHang(func() (*conformance.Store, func() error, error) { return workerStore(path) })
		},
		"slow": func(path, _ string) error {
			return proctest.WorkSlow(func() (*conformance.Store, func() error, error) { return workerStore(path) })
		},
		"load": func(path, arg string) error {
			n, _ := strconv.Atoi(arg)
			return proctest.WorkLoad(func() (*conformance.Store, func() error, error) { return workerStore(path) }, n)
		},
		"crash":   workCrash,
		"restart": workRestart,
	}
	work, ok := roles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown worker role %q\n", role)
		return 2
	}
	if err := work(os.Getenv(dbEnv), os.Getenv(argEnv)); err != nil {
		fmt.Fprintf(os.Stderr, "worker %s (pid %d): %v\n", role, os.Getpid(), err)
		return 1
	}
	return 0
}

// workerStore opens the file and a store of Items on it.
func workerStore(path string, opts ...livedict.Option) (*conformance.Store, func() error, error) {
	b, err := sqlite.Open(path)
	if err != nil {
		return nil, nil, err
	}
	s, err := engine.New(conformance.ItemCodec(), append([]livedict.Option{livedict.WithBackend(b)}, opts...)...)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return s, func() error { return errors.Join(s.Close(), b.Close()) }, nil
}

// workCrash writes keys from crashWriters goroutines at once, so that
// the kill comes in the middle of transactions shared by several writes
// (group commit): goroutine g writes arg.g-0, arg.g-1, ... until it is
// killed, printing each key once its Set returned. In between it writes
// keys that expire at once, so that sweeps, claims and acks run too.
func workCrash(path, prefix string) error {
	s, closeAll, err := workerStore(path)
	if err != nil {
		return err
	}
	defer closeAll()
	s.OnExpire(func(context.Context, string, conformance.Item) {})
	proctest.Say("ready")
	errs := make(chan error, crashWriters)
	for g := range crashWriters {
		go func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("%s.%d-%d", prefix, g, i)
				if err := s.Set(context.Background(), key, crashValue(key, i)); err != nil {
					errs <- fmt.Errorf("Set(%s): %w", key, err)
					return
				}
				proctest.Say("%s", key)
				if i%4 == 0 {
					if err := s.Set(context.Background(), "tmp-"+key, crashValue(key, i), livedict.TTL(time.Millisecond)); err != nil {
						errs <- fmt.Errorf("Set(tmp-%s): %w", key, err)
						return
					}
				}
			}
		}()
	}
	return <-errs
}

// crashWriters is how many goroutines of the crash worker write at once.
const crashWriters = 4

func crashValue(key string, i int) conformance.Item {
	return conformance.Item{Name: key, N: int64(i), Tags: []string{strings.Repeat("x", i%300)}}
}

// workRestart writes arg keys, half expiring in 50ms and half in 700ms,
// prints "written" and waits to be killed. It has no OnExpire hook: its
// scheduler sweeps the first half into the outbox and leaves them there.
func workRestart(path, arg string) error {
	n, _ := strconv.Atoi(arg)
	s, closeAll, err := workerStore(path)
	if err != nil {
		return err
	}
	defer closeAll()
	for i := range n {
		ttl := 50 * time.Millisecond
		if i%2 == 1 {
			ttl = 700 * time.Millisecond
		}
		if err := s.Set(context.Background(), fmt.Sprint("k", i), conformance.Item{Name: "restart", N: int64(i)}, livedict.TTL(ttl)); err != nil {
			return err
		}
	}
	proctest.Say("written")
	proctest.AwaitEOF()
	return nil
}

// ---- the test side ----

// startWorker runs this test binary as a worker of role on the file at
// path. It is killed, if still running, when the test ends.
func startWorker(t *testing.T, name, role, path, arg string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, name, workerEnv+"="+role, dbEnv+"="+path, argEnv+"="+arg)
}

// testStore opens a store of Items on b, closed when the test ends.
func testStore(t *testing.T, b *sqlite.Backend, opts ...livedict.Option) *conformance.Store {
	t.Helper()
	s, err := engine.New(conformance.ItemCodec(), append([]livedict.Option{livedict.WithBackend(b)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestProcessesCountUnderLock: several processes increment one stored
// counter under Lock, read-modify-write; no increment is lost.
func TestProcessesCountUnderLock(t *testing.T) {
	procs, n := count(t, "PROCS", 4, 2), count(t, "INCREMENTS", 500, 100)
	path := filepath.Join(t.TempDir(), "counter.db")
	b := openAt(t, path)
	s := testStore(t, b)
	if err := s.Set(bg, "counter", conformance.Item{Name: "counter"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var ws []*proctest.Proc
	for i := range procs {
		ws = append(ws, startWorker(t, fmt.Sprint("counter", i), "counter", path, strconv.Itoa(n)))
	}
	for _, w := range ws {
		w.Expect("ready")
	}
	for _, w := range ws {
		w.Send("go")
	}
	for _, w := range ws {
		w.Wait(2 * time.Minute)
	}
	v, ok, err := s.Get(bg, "counter")
	if err != nil || !ok {
		t.Fatalf("Get(counter) = %v, %v", ok, err)
	}
	if v.N != int64(procs*n) {
		t.Fatalf("counter = %d after %d processes x %d locked increments", v.N, procs, n)
	}
	t.Logf("%d processes x %d locked increments = %d in %v", procs, n, v.N, time.Since(start).Round(time.Millisecond))
}

// TestProcessesExpireOnce: keys expire while several processes, each with
// an OnExpire hook, share the file: every expiry fires exactly once in all,
// with the key's value.
func TestProcessesExpireOnce(t *testing.T) {
	procs, n := count(t, "EXPIRE_PROCS", 3, 2), count(t, "EXPIRE_KEYS", 1000, 200)
	path := filepath.Join(t.TempDir(), "expire.db")
	b := openAt(t, path)
	var ws []*proctest.Proc
	for i := range procs {
		ws = append(ws, startWorker(t, fmt.Sprint("expire", i), "expire", path, ""))
	}
	for _, w := range ws {
		w.Expect("ready")
	}
	// The keys are written by a store of this process that closes before
	// they expire: only the workers sweep and deliver them.
	s := testStore(t, b)
	for i := range n {
		ttl := 200*time.Millisecond + time.Duration(i)*time.Millisecond
		if err := s.Set(bg, fmt.Sprint("k", i), conformance.Item{Name: "v", N: int64(i)}, livedict.TTL(ttl)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	// Several poll intervals give a duplicate time to show up.
	perWorker := proctest.ExpiredOnce(t, ws, n, 4*sqlite.DefaultPollInterval)
	t.Logf("%d expiries over %d processes: %v each", n, procs, perWorker)
}

// TestListenerKilledHandsOver: a listener killed (SIGKILL) while its hooks
// hold the expiry events it claimed does not keep them: renewed while it
// lived, their claim lapses a lease after the kill, and a listener started
// then fires each of them once.
func TestListenerKilledHandsOver(t *testing.T) {
	kills, n := count(t, "HANDOVER_KILLS", 2, 1), count(t, "HANDOVER_KEYS", 50, 20)
	var delays []time.Duration
	for r := range kills {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("handover%d.db", r))
		victim := startWorker(t, fmt.Sprint("hang", r), "hang", path, "")
		victim.Expect("ready")
		proctest.WriteExpiring(t, testStore(t, openAt(t, path)), n)
		start := func() *proctest.Proc { return startWorker(t, fmt.Sprint("listener", r), "expire", path, "") }
		delays = append(delays, proctest.HandOver(t, victim, start, n, claimedIn(t, path))...)
	}
	t.Logf("%d kills x %d claimed events: delivered after the kill in %s", kills, n, proctest.Spread(delays))
}

// TestSlowListenerKeepsItsClaims: a listener whose hooks run longer than
// the claim lease renews its claims, so a second listener never gets its
// events.
func TestSlowListenerKeepsItsClaims(t *testing.T) {
	const n = 4 // within the slow listener's hook workers
	path := filepath.Join(t.TempDir(), "slow.db")
	slow := startWorker(t, "slow", "slow", path, "")
	slow.Expect("ready")
	proctest.WriteExpiring(t, testStore(t, openAt(t, path)), n)
	start := func() *proctest.Proc { return startWorker(t, "listener", "expire", path, "") }
	proctest.KeepsClaims(t, slow, start, n, claimedIn(t, path))
}

// claimedIn returns a count of the outbox events of the file a consumer
// has claimed and not acknowledged.
func claimedIn(t *testing.T, path string) func() int {
	db := plainDB(t, path)
	t.Cleanup(func() { db.Close() })
	return func() int {
		var c int
		if err := db.QueryRow(`SELECT count(*) FROM livedict_outbox WHERE owner IS NOT NULL`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// TestProcessKilledWhileWriting: a writer of several goroutines is killed
// with SIGKILL at a random point, again and again. After each kill the
// file passes integrity_check and holds every write whose Set had
// returned, with its value.
func TestProcessKilledWhileWriting(t *testing.T) {
	rounds := count(t, "KILLS", 50, 10)
	path := filepath.Join(t.TempDir(), "crash.db")
	confirmed, minW, maxW, early := 0, -1, 0, 0
	for r := range rounds {
		w := startWorker(t, fmt.Sprint("crash", r), "crash", path, fmt.Sprint("r", r))
		if r%5 != 4 {
			// Mostly while it writes; one round in five while it opens
			// the file (and recovers the log of the last kill).
			w.Expect("ready")
		} else {
			early++
		}
		time.Sleep(time.Duration(rand.IntN(40_000)) * time.Microsecond)
		w.Kill()
		var keys []string
		for {
			l, ok := w.Line(time.Minute)
			if !ok {
				break
			}
			if l != "ready" {
				keys = append(keys, l)
			}
		}
		if !w.Killed() {
			t.Fatalf("round %d: the worker ended with %v, not by SIGKILL; its stderr:\n%s", r, w.Err(), w.Stderr())
		}
		checkIntegrity(t, path)
		checkWrites(t, path, keys)
		confirmed += len(keys)
		maxW = max(maxW, len(keys))
		if minW < 0 || len(keys) < minW {
			minW = len(keys)
		}
	}
	t.Logf("%d kills (%d from the start, the rest after the store opened); %d confirmed writes all present (%d to %d per run)",
		rounds, early, confirmed, minW, maxW)
}

func checkIntegrity(t *testing.T, path string) {
	t.Helper()
	db := plainDB(t, path)
	defer db.Close()
	var res []string
	rows, err := db.Query(`PRAGMA integrity_check`)
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		res = append(res, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0] != "ok" {
		t.Fatalf("integrity_check: %q", res)
	}
}

// checkWrites opens the file afresh, as the next process would, and checks
// that every key is there with its value.
func checkWrites(t *testing.T, path string, keys []string) {
	t.Helper()
	b, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("reopening after a kill: %v", err)
	}
	defer b.Close()
	s, err := engine.New(conformance.ItemCodec(), livedict.WithBackend(b))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, key := range keys {
		_, num, _ := strings.Cut(key, "-")
		i, _ := strconv.Atoi(num)
		want := crashValue(key, i)
		v, ok, err := s.Get(bg, key)
		if err != nil || !ok || v.Name != want.Name || v.N != want.N || len(v.Tags) != 1 || v.Tags[0] != want.Tags[0] {
			t.Fatalf("after a kill, Get(%s) = %+v, %v, %v: a confirmed write is missing or wrong", key, v, ok, err)
		}
	}
}

// TestRestartFiresMissedExpiries: a process writes keys and dies (SIGKILL)
// before they expire; some were swept into the outbox by its scheduler,
// which had no OnExpire hook, the rest expire while no process runs. A
// store opened afterwards fires OnExpire once for every one of them.
func TestRestartFiresMissedExpiries(t *testing.T) {
	n := count(t, "RESTART_KEYS", 200, 50)
	path := filepath.Join(t.TempDir(), "restart.db")
	w := startWorker(t, "restart", "restart", path, strconv.Itoa(n))
	w.Expect("written")
	written := time.Now()
	db := plainDB(t, path)
	var swept int
	for deadline := time.Now().Add(30 * time.Second); swept < n/2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the worker swept %d of %d keys into the outbox", swept, n/2)
		}
		if err := db.QueryRow(`SELECT count(*) FROM livedict_outbox WHERE bucket = 'items'`).Scan(&swept); err != nil {
			t.Fatal(err)
		}
	}
	w.Kill()
	<-w.Done()
	// The other half expires while no process runs.
	time.Sleep(time.Until(written.Add(800 * time.Millisecond)))

	b := openAt(t, path)
	s := testStore(t, b)
	var mu sync.Mutex
	got := map[string][]int64{}
	s.OnExpire(func(_ context.Context, key string, v conformance.Item) {
		mu.Lock()
		got[key] = append(got[key], v.N)
		mu.Unlock()
	})
	size := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	for deadline := time.Now().Add(30 * time.Second); size() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart, OnExpire fired for %d of %d keys", size(), n)
		}
	}
	time.Sleep(2 * sqlite.DefaultPollInterval)
	s.Close()
	for i := range n {
		key := fmt.Sprint("k", i)
		if len(got[key]) != 1 || got[key][0] != int64(i) {
			t.Errorf("OnExpire of %s after the restart: values %v, want once with N=%d", key, got[key], i)
		}
	}
	t.Logf("%d keys: %d swept before the kill, %d expired while no process ran; all fired once after the restart", n, swept, n-swept)
}

// TestProcessesLoadOnce: 1,000 goroutines in 4 processes miss one key at
// once; the loader runs once in all (the key's lock across processes).
func TestProcessesLoadOnce(t *testing.T) {
	procs, n := count(t, "LOAD_PROCS", 4, 2), count(t, "LOAD_GOROUTINES", 250, 50)
	path := filepath.Join(t.TempDir(), "load.db")
	openAt(t, path).Close() // the file exists before the workers race to create it
	var ws []*proctest.Proc
	for i := range procs {
		ws = append(ws, startWorker(t, fmt.Sprint("load", i), "load", path, strconv.Itoa(n)))
	}
	for _, w := range ws {
		w.Expect("ready")
	}
	per := proctest.LoadOnce(t, ws)
	t.Logf("%d processes x %d goroutines missing one key: loads per process %v", procs, n, per)
}

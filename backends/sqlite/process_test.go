package sqlite_test

// Tests with several processes on one file. The test binary runs itself
// again as the worker processes: TestMain sees LIVEDICT_SQLITE_WORKER and
// runs the role it names instead of the tests. Workers talk to the test on
// their standard streams, a line at a time: they print "ready" once their
// store is open, the test writes "go" when they may start, and the expiry
// and crash workers print one line per event or write.
//
// The counts can be changed for CI with environment variables (see
// count); -short divides them.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livedict/livedict/backends/sqlite"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/runtime"
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
	if v := os.Getenv("LIVEDICT_SQLITE_" + name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("LIVEDICT_SQLITE_%s=%q is not a positive integer", name, v)
		}
		return n
	}
	if testing.Short() {
		return short
	}
	return def
}

// ---- the worker side ----

func runWorker(role string) int {
	roles := map[string]func(path, arg string) error{
		"counter": workCounter,
		"expire":  workExpire,
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
func workerStore(path string, opts ...runtime.Option) (*conformance.Store, func() error, error) {
	b, err := sqlite.Open(path)
	if err != nil {
		return nil, nil, err
	}
	s, err := runtime.New(conformance.ItemCodec(), append([]runtime.Option{runtime.WithBackend(b)}, opts...)...)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return s, func() error { return errors.Join(s.Close(), b.Close()) }, nil
}

// say prints one line on stdout, unbuffered: once it returns, the line is
// the test's even if the worker is killed.
var sayMu sync.Mutex

func say(format string, args ...any) {
	sayMu.Lock()
	defer sayMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

// awaitGo waits for the test's "go" line (or the end of stdin).
func awaitGo() {
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// workCounter increments the stored counter arg times, each under Lock.
func workCounter(path, arg string) error {
	n, _ := strconv.Atoi(arg)
	s, closeAll, err := workerStore(path)
	if err != nil {
		return err
	}
	say("ready")
	awaitGo()
	for i := range n {
		if err := lockedIncrement(s); err != nil {
			closeAll()
			return fmt.Errorf("increment %d: %w", i, err)
		}
	}
	return closeAll()
}

func lockedIncrement(s *conformance.Store) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := s.Lock(ctx, "counter")
	if err != nil {
		return err
	}
	v, ok, err := s.Get(ctx, "counter")
	if err == nil && !ok {
		err = errors.New("the counter is missing")
	}
	if err == nil {
		v.N++
		err = s.Set(ctx, "counter", v)
	}
	return errors.Join(err, l.Unlock(ctx))
}

// workExpire prints "key N" for every OnExpire it gets until stdin ends.
func workExpire(path, _ string) error {
	s, closeAll, err := workerStore(path)
	if err != nil {
		return err
	}
	s.OnExpire(func(_ context.Context, key string, v conformance.Item) { say("%s %d", key, v.N) })
	say("ready")
	io.Copy(io.Discard, os.Stdin)
	return closeAll()
}

// workCrash writes keys arg-0, arg-1, ... until it is killed, printing
// each once its Set returned. In between it writes keys that expire at
// once, so that sweeps, claims and acks run too.
func workCrash(path, prefix string) error {
	s, closeAll, err := workerStore(path)
	if err != nil {
		return err
	}
	defer closeAll()
	s.OnExpire(func(context.Context, string, conformance.Item) {})
	say("ready")
	for i := 0; ; i++ {
		key := fmt.Sprintf("%s-%d", prefix, i)
		if err := s.Set(context.Background(), key, crashValue(key, i)); err != nil {
			return fmt.Errorf("Set(%s): %w", key, err)
		}
		say("%s", key)
		if i%4 == 0 {
			if err := s.Set(context.Background(), "tmp-"+key, crashValue(key, i), runtime.TTL(time.Millisecond)); err != nil {
				return fmt.Errorf("Set(tmp-%s): %w", key, err)
			}
		}
	}
}

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
		if err := s.Set(context.Background(), fmt.Sprint("k", i), conformance.Item{Name: "restart", N: int64(i)}, runtime.TTL(ttl)); err != nil {
			return err
		}
	}
	say("written")
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// ---- the test side ----

// proc is a running worker.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // its stdout, a line at a time; closed at the end
	stderr *syncBuffer
	done   chan struct{} // closed once it has exited and was waited for
	err    error         // its exit status, once done
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startWorker runs this test binary as a worker of role on the file at
// path. It is killed, if still running, when the test ends.
func startWorker(t *testing.T, name, role, path, arg string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+role, dbEnv+"="+path, argEnv+"="+arg)
	p := &proc{t: t, name: name, cmd: cmd, lines: make(chan string, 1<<16), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting worker %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = cmd.Wait() // after the last read of stdout, as exec wants
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// line returns the next line of the worker's stdout, failing the test if
// none comes within d.
func (p *proc) line(d time.Duration) (string, bool) {
	p.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case l, ok := <-p.lines:
		return l, ok
	case <-timer.C:
		p.t.Fatalf("worker %s: no output for %v; its stderr:\n%s", p.name, d, p.stderr.String())
		return "", false
	}
}

func (p *proc) expect(want string) {
	p.t.Helper()
	if got, ok := p.line(time.Minute); !ok || got != want {
		p.t.Fatalf("worker %s printed %q (open: %v), want %q; its stderr:\n%s", p.name, got, ok, want, p.stderr.String())
	}
}

func (p *proc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("writing to worker %s: %v", p.name, err)
	}
}

// wait waits for the worker to exit and fails the test unless it exited 0.
func (p *proc) wait(d time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("worker %s still running after %v; its stderr:\n%s", p.name, d, p.stderr.String())
	}
	if p.err != nil {
		p.t.Fatalf("worker %s: %v; its stderr:\n%s", p.name, p.err, p.stderr.String())
	}
}

// testStore opens a store of Items on b, closed when the test ends.
func testStore(t *testing.T, b *sqlite.Backend, opts ...runtime.Option) *conformance.Store {
	t.Helper()
	s, err := runtime.New(conformance.ItemCodec(), append([]runtime.Option{runtime.WithBackend(b)}, opts...)...)
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
	var ws []*proc
	for i := range procs {
		ws = append(ws, startWorker(t, fmt.Sprint("counter", i), "counter", path, strconv.Itoa(n)))
	}
	for _, w := range ws {
		w.expect("ready")
	}
	for _, w := range ws {
		w.send("go")
	}
	for _, w := range ws {
		w.wait(2 * time.Minute)
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
	var ws []*proc
	for i := range procs {
		ws = append(ws, startWorker(t, fmt.Sprint("expire", i), "expire", path, ""))
	}
	for _, w := range ws {
		w.expect("ready")
	}
	// The keys are written by a store of this process that closes before
	// they expire: only the workers sweep and deliver them.
	s := testStore(t, b)
	for i := range n {
		ttl := 200*time.Millisecond + time.Duration(i)*time.Millisecond
		if err := s.Set(bg, fmt.Sprint("k", i), conformance.Item{Name: "v", N: int64(i)}, runtime.TTL(ttl)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	type fired struct {
		worker int
		line   string
	}
	events := make(chan fired)
	var readers sync.WaitGroup
	for i, w := range ws {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for l := range w.lines {
				events <- fired{i, l}
			}
		}()
	}
	go func() { readers.Wait(); close(events) }()

	got := map[string][]int{} // key -> the workers that fired it
	perWorker := make([]int, procs)
	record := func(e fired) {
		key, num, _ := strings.Cut(e.line, " ")
		if want := strings.TrimPrefix(key, "k"); num != want {
			t.Errorf("worker %d: OnExpire of %s got N=%s, want %s", e.worker, key, num, want)
		}
		got[key] = append(got[key], e.worker)
		perWorker[e.worker]++
	}
	deadline := time.After(time.Minute)
	for total := 0; total < n; total++ {
		select {
		case e := <-events:
			record(e)
		case <-deadline:
			t.Fatalf("after a minute, %d of %d expiries fired", total, n)
		}
	}
	// Give a duplicate time to show up (several poll intervals), then stop
	// the workers and take what they printed before exiting.
	time.Sleep(4 * sqlite.DefaultPollInterval)
	for _, w := range ws {
		w.stdin.Close()
	}
	for e := range events {
		record(e)
	}
	for _, w := range ws {
		w.wait(time.Minute)
	}
	for i := range n {
		key := fmt.Sprint("k", i)
		if len(got[key]) != 1 {
			t.Errorf("OnExpire of %s fired %d times (workers %v), want once", key, len(got[key]), got[key])
		}
	}
	if len(got) != n {
		t.Errorf("OnExpire fired for %d distinct keys, want %d", len(got), n)
	}
	t.Logf("%d expiries over %d processes: %v each", n, procs, perWorker)
}

// TestProcessKilledWhileWriting: a writer is killed with SIGKILL at a random
// point, again and again. After each kill the file passes integrity_check
// and holds every write whose Set had returned, with its value.
func TestProcessKilledWhileWriting(t *testing.T) {
	rounds := count(t, "KILLS", 50, 10)
	path := filepath.Join(t.TempDir(), "crash.db")
	confirmed, minW, maxW, early := 0, -1, 0, 0
	for r := range rounds {
		w := startWorker(t, fmt.Sprint("crash", r), "crash", path, fmt.Sprint("r", r))
		if r%5 != 4 {
			// Mostly while it writes; one round in five while it opens
			// the file (and recovers the log of the last kill).
			w.expect("ready")
		} else {
			early++
		}
		time.Sleep(time.Duration(rand.IntN(40_000)) * time.Microsecond)
		if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for {
			l, ok := w.line(time.Minute)
			if !ok {
				break
			}
			if l != "ready" {
				keys = append(keys, l)
			}
		}
		<-w.done
		if ws, ok := w.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: the worker ended with %v, not by SIGKILL; its stderr:\n%s", r, w.err, w.stderr.String())
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
		t.Fatalf("integrity_check after a kill: %q", res)
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
	s, err := runtime.New(conformance.ItemCodec(), runtime.WithBackend(b))
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
	w.expect("written")
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
	w.cmd.Process.Kill()
	<-w.done
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

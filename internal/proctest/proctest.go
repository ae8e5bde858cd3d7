// Package proctest runs a test binary again as worker processes, for tests
// that need several processes on one shared store (a SQLite file, a Redis
// server): locks and expiry that must hold across processes, and crashes
// that only a real process death shows.
//
// The test binary's TestMain recognises a worker by an environment variable
// of its own choosing and runs the role it names instead of the tests:
//
//	func TestMain(m *testing.M) {
//		if role := os.Getenv("MY_WORKER"); role != "" {
//			os.Exit(runWorker(role))
//		}
//		m.Run()
//	}
//
// The test starts workers with Start, passing that variable and whatever
// else the worker needs in env. Test and workers talk on the workers'
// standard streams, a line at a time: a worker prints with Say (a line is
// the test's as soon as Say returns, even if the worker is killed right
// after) and waits for the test's cue with AwaitGo; the test reads lines
// with Line, Expect or Lines and writes with Send.
package proctest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/conformance"
)

// linesBuffered is how many lines of a worker's output wait for the test
// to read them. A worker whose unread output exceeds it blocks in Say until
// the test reads (or, once the test has ended, until it is killed).
const linesBuffered = 1 << 16

// Proc is a running worker process. Its methods that take no *testing.T of
// their own report to the test that started it, and must be called from
// that test's goroutine (as t.Fatal must); Lines, Done, Err, Killed, Stderr,
// CloseStdin and Kill may be called from any goroutine.
type Proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // its stdout, a line at a time; closed at the end
	stderr *syncBuffer
	done   chan struct{} // closed once it has exited and was waited for
	err    error         // its exit status, once done
}

// Start runs the test binary (os.Args[0]) again with -test.run=^$, the
// current environment and env ("NAME=value" entries, which override it),
// and returns it once it has started. name identifies it in failure
// messages. The process is killed, if still running, when the test ends,
// and the test waits until it has exited.
func Start(t testing.TB, name string, env ...string) *Proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	p := &Proc{t: t, name: name, cmd: cmd, lines: make(chan string, linesBuffered), stderr: &syncBuffer{}, done: make(chan struct{})}
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
		// Drain what nobody read, so the reader above reaches the end of
		// stdout and waits for the process.
		for range p.lines {
		}
		<-p.done
	})
	return p
}

// Name returns the name given to Start.
func (p *Proc) Name() string { return p.name }

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Lines returns the worker's standard output, a line at a time. It is
// closed once the output ends (the worker exited, or closed its stdout).
// Line, Expect and a reader of Lines take lines from the same channel.
func (p *Proc) Lines() <-chan string { return p.lines }

// Done is closed once the worker has exited and its output was read to the
// end (so every line it printed is in Lines).
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err returns how the worker exited: nil for status 0, else an
// *exec.ExitError. It is valid once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Killed reports whether the worker ended by SIGKILL. It waits for Done.
func (p *Proc) Killed() bool {
	<-p.done
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// Stderr returns what the worker has written on its standard error so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Kill sends SIGKILL and returns without waiting: the lines the worker
// printed before it died stay readable from Lines, and Done is closed once
// they have all been read (or buffered). Killing a worker that has exited
// does nothing.
func (p *Proc) Kill() {
	p.cmd.Process.Kill()
}

// CloseStdin closes the worker's standard input, which a worker waiting for
// the end of its input takes as the cue to stop.
func (p *Proc) CloseStdin() {
	p.stdin.Close()
}

// Line returns the next line of the worker's output and true, or "" and
// false once the output has ended. It fails the test if no line and no end
// comes within d.
func (p *Proc) Line(d time.Duration) (string, bool) {
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

// Expect fails the test unless the worker's next line, within a minute, is
// want.
func (p *Proc) Expect(want string) {
	p.t.Helper()
	if got, ok := p.Line(time.Minute); !ok || got != want {
		p.t.Fatalf("worker %s printed %q (open: %v), want %q; its stderr:\n%s", p.name, got, ok, want, p.stderr.String())
	}
}

// Send writes line and a newline to the worker's standard input.
func (p *Proc) Send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("writing to worker %s: %v", p.name, err)
	}
}

// Wait waits up to d for the worker to exit and fails the test unless it
// exited with status 0. Lines it printed and nobody read stay in Lines; a
// worker that printed more than linesBuffered unread lines is blocked in
// Say and does not exit until they are read.
func (p *Proc) Wait(d time.Duration) {
	p.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		p.t.Fatalf("worker %s still running after %v; its stderr:\n%s", p.name, d, p.stderr.String())
	}
	if p.err != nil {
		p.t.Fatalf("worker %s: %v; its stderr:\n%s", p.name, p.err, p.stderr.String())
	}
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

// ---- the worker side ----

var sayMu sync.Mutex

// Say prints one line on standard output, unbuffered, for the test to read.
// Once it returns, the line is the test's even if the worker is killed.
// It is safe for concurrent use (hooks running on several goroutines);
// lines are never interleaved.
func Say(format string, args ...any) {
	sayMu.Lock()
	defer sayMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

// AwaitGo waits for the test's next line on standard input (its "go"), or
// for the end of the input.
func AwaitGo() {
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// AwaitEOF waits for the end of standard input: the test closed it
// (CloseStdin) or ended.
func AwaitEOF() {
	io.Copy(io.Discard, os.Stdin)
}

// ---- sizes ----

// Count returns the value of the environment variable envName when set,
// else def, or short when the tests run with -short. It lets CI run the
// multi-process tests bigger (or smaller) without a code change; a value
// that is not a positive integer fails the test.
func Count(t testing.TB, envName string, def, short int) int {
	t.Helper()
	if v := os.Getenv(envName); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q is not a positive integer", envName, v)
		}
		return n
	}
	if testing.Short() {
		return short
	}
	return def
}

// ExpiredOnce checks the expiry-once test of a shared backend: workers
// print "kI I" for every OnExpire they get (key kI holding N = I). It reads
// their lines until n events arrived (failing after a minute), waits settle
// for a duplicate to show up, closes the workers' stdin and reads what they
// printed before exiting, then checks that each of k0..k(n-1) fired exactly
// once in all, with its value. It returns how many events each worker got.
func ExpiredOnce(t *testing.T, ws []*Proc, n int, settle time.Duration) []int {
	t.Helper()
	type fired struct {
		worker int
		line   string
	}
	// Buffered for every line the workers may print, so that the readers
	// never block when the test stops listening early (a failure).
	events := make(chan fired, 2*n+len(ws))
	var readers sync.WaitGroup
	for i, w := range ws {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for l := range w.Lines() {
				events <- fired{i, l}
			}
		}()
	}
	go func() { readers.Wait(); close(events) }()

	got := map[string][]int{} // key -> the workers that fired it
	perWorker := make([]int, len(ws))
	record := func(e fired) {
		key := firedKey(t, e.line)
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
	time.Sleep(settle)
	for _, w := range ws {
		w.CloseStdin()
	}
	for e := range events {
		record(e)
	}
	for _, w := range ws {
		w.Wait(time.Minute)
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
	return perWorker
}

// HandOver checks that the expiry events a listener had claimed when it
// was killed reach another listener promptly: victim is a WorkHang worker,
// the only listener while n keys k0..k(n-1) (kI holding N = I) expire;
// claimed reports how many of the bucket's events a consumer has claimed
// and not acknowledged. Once claimed reports n, HandOver kills the victim,
// starts a WorkExpire worker with start, and fails unless that one fires
// every key once, with its value, within a minute (the claim lease of a
// live process is renewed; a dead one's lapses in seconds). It returns how
// long after the kill each event arrived, in arrival order.
func HandOver(t *testing.T, victim *Proc, start func() *Proc, n int, claimed func() int) []time.Duration {
	t.Helper()
	awaitClaimed(t, "the listener", n, claimed)
	victim.Kill()
	killed := time.Now()
	<-victim.Done()
	w := start()
	w.Expect("ready")
	got := map[string]int{}
	var delays []time.Duration
	deadline := time.After(time.Minute)
	for len(got) < n {
		select {
		case l, ok := <-w.Lines():
			if !ok {
				t.Fatalf("the new listener exited after %d of %d events; its stderr:\n%s", len(got), n, w.Stderr())
			}
			key := firedKey(t, l)
			got[key]++
			if got[key] > 1 {
				t.Errorf("OnExpire of %s fired twice on the new listener", key)
			}
			delays = append(delays, time.Since(killed))
		case <-deadline:
			t.Fatalf("a minute after the kill, %d of the %d events the killed listener held were delivered", len(got), n)
		}
	}
	return delays
}

// KeepsClaims checks that a live listener keeps the expiry events it
// claimed while its hooks run longer than the claim lease: slow is a
// WorkSlow worker, the only listener while n keys k0..k(n-1) (kI holding
// N = I) expire, n no more than its hook workers; claimed is as for
// HandOver. Once claimed reports n, a WorkExpire worker is started with
// start; when slow has fired all n, and a second more, both stop, and each
// key must have fired once, on slow.
func KeepsClaims(t *testing.T, slow *Proc, start func() *Proc, n int, claimed func() int) {
	t.Helper()
	awaitClaimed(t, "the slow listener", n, claimed)
	other := start()
	other.Expect("ready")
	got := map[string]int{}
	for len(got) < n {
		l, ok := slow.Line(time.Minute)
		if !ok {
			t.Fatalf("the slow listener fired %d of %d events; its stderr:\n%s", len(got), n, slow.Stderr())
		}
		got[firedKey(t, l)]++
	}
	time.Sleep(time.Second)
	for _, w := range []*Proc{slow, other} {
		w.CloseStdin()
		for l := range w.Lines() {
			t.Errorf("%s fired after the slow listener had fired every key: %s", w.Name(), l)
		}
		w.Wait(time.Minute)
	}
	for key, c := range got {
		if c != 1 {
			t.Errorf("OnExpire of %s fired %d times on the slow listener, want once", key, c)
		}
	}
}

// LoadOnce checks the cross-process half of read-through loading: ws are
// WorkLoad workers on one shared store, all "ready". It sends them "go" at
// once and fails unless their loaders ran once in all. It returns the
// loads of each worker.
func LoadOnce(t *testing.T, ws []*Proc) []int {
	t.Helper()
	for _, w := range ws {
		w.Send("go")
	}
	per := make([]int, len(ws))
	total := 0
	for i, w := range ws {
		l, ok := w.Line(time.Minute)
		n, err := strconv.Atoi(strings.TrimPrefix(l, "loads "))
		if !ok || err != nil {
			t.Fatalf("worker %s printed %q, want \"loads N\"; its stderr:\n%s", w.Name(), l, w.Stderr())
		}
		per[i], total = n, total+n
	}
	for _, w := range ws {
		w.CloseStdin()
		w.Wait(time.Minute)
	}
	if total != 1 {
		t.Errorf("the misses of one key in %d processes ran the loader %d times (%v), want once in all", len(ws), total, per)
	}
	return per
}

// firedKey returns the key of a listener's "kI I" line and checks that it
// fired with N = I.
func firedKey(t *testing.T, line string) string {
	t.Helper()
	key, num, _ := strings.Cut(line, " ")
	if want := strings.TrimPrefix(key, "k"); num != want {
		t.Errorf("OnExpire of %s got N=%s, want %s", key, num, want)
	}
	return key
}

// WriteExpiring writes k0..k(n-1) (kI holding N = I), due in 50-100ms,
// from s, which it closes before they expire: another process's store
// sweeps and delivers them.
func WriteExpiring(t *testing.T, s *conformance.Store, n int) {
	t.Helper()
	for i := range n {
		ttl := 50*time.Millisecond + time.Duration(i%50)*time.Millisecond
		if err := s.Set(context.Background(), fmt.Sprint("k", i), conformance.Item{Name: "v", N: int64(i)}, livedict.TTL(ttl)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
}

// awaitClaimed waits until claimed reports n events claimed by who.
func awaitClaimed(t *testing.T, who string, n int, claimed func() int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); claimed() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s claimed %d of %d expiry events", who, claimed(), n)
		}
	}
}

// Spread describes durations for a test log: their count, minimum, median
// and maximum.
func Spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("%d samples: min %v, median %v, max %v", len(s), r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}

// Package redistest gives tests a real redis-server, either a single
// server (Server) or a small Redis Cluster (Cluster).
//
// Tests talk to the genuine server rather than a mock or an in-process
// imitation because what they check (persistence across a crash, cluster
// redirections, the exact error a dead server produces) is exactly what an
// imitation gets subtly wrong.
//
// By default each call starts its own redis-server processes on free
// loopback ports with their data in t.TempDir(), and stops them in
// t.Cleanup, so tests never share state and can run in parallel. Two
// environment variables point the tests at servers started elsewhere
// instead (for example by a CI service container):
//
//	LIVEDICT_REDIS_URL            a redis:// URL returned by Server
//	LIVEDICT_REDIS_CLUSTER_ADDRS  comma-separated host:port list returned by Cluster
//
// When redis-server (or redis-cli, for Cluster) is needed but not
// installed, the test is skipped, except when the environment variable CI
// is non-empty: there a missing server is a broken setup, so the test
// fails instead of silently testing nothing.
//
// While a server runs, this package keeps one goroutine waiting for the
// process and one copying its output. Both end when the server is stopped
// in t.Cleanup, so goleak.VerifyTestMain sees none of them; a test that
// calls goleak.VerifyNone itself before its cleanups run will.
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

const (
	urlEnv          = "LIVEDICT_REDIS_URL"
	clusterAddrsEnv = "LIVEDICT_REDIS_CLUSTER_ADDRS"
	ciEnv           = "CI"

	// readyTimeout bounds how long a started server may take to answer
	// PING. It is generous because loaded CI machines under -race are slow,
	// and a replayed append-only file must be loaded before PING succeeds.
	readyTimeout = 10 * time.Second

	// startAttempts is how often a server is started on a fresh port when
	// the previous port was taken between choosing it and binding it.
	startAttempts = 5

	// tailBytes is how much of a server's output failure messages show.
	tailBytes = 4 << 10
)

// errExited reports that redis-server exited before it answered PING.
var errExited = errors.New("redis-server exited before answering PING")

// Server returns a running single redis-server for the test.
//
// When the environment variable LIVEDICT_REDIS_URL is set, Server returns
// that URL and a nil Proc: the server belongs to someone else, so it cannot
// be killed or restarted. Tests that need the Proc (fault tests) must then
// t.Skip with a reason, or fail when CI is set, so that CI never skips them
// unnoticed.
//
// Otherwise Server starts redis-server on a free 127.0.0.1 port with its
// data directory in t.TempDir(), without snapshots and with an append-only
// file synced on every write, so that a Kill loses nothing that was
// acknowledged and Restart gets it all back. It returns once the server
// answers PING, and stops it (and waits for it) in t.Cleanup. Because that
// cleanup is registered here, it runs after any cleanup the caller registers
// later, such as closing its clients.
//
// The URL has the form "redis://127.0.0.1:PORT/0".
func Server(t testing.TB) (url string, p *Proc) {
	t.Helper()
	if u := os.Getenv(urlEnv); u != "" {
		return u, nil
	}
	bin := lookPath(t, "redis-server")
	p = start(t, bin, freePort, nil)
	return "redis://" + p.Addr() + "/0", p
}

// Proc is a redis-server process started by this package. Its methods may
// be called from the test's goroutine while clients are connected to it.
type Proc struct {
	bin   string
	port  int
	dir   string
	extra []string // arguments added after the common ones
	out   *logBuffer

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed once cmd has exited and been waited for
	reported bool          // a failure message already showed the output
}

// Addr returns the server's address, "127.0.0.1:PORT". It stays the same
// across Restart.
func (p *Proc) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port))
}

// Kill sends SIGKILL to the server and waits until it has exited, to
// simulate a crash: nothing is flushed beyond what appendfsync always has
// already written. Connected clients see their connections drop. Killing a
// server that is not running does nothing.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	p.kill()
}

// Restart starts the server again on the same port and data directory, so
// it replays its append-only file, and returns once it answers PING (which
// it does only after the replay). A server that is still running is killed
// first, so Restart alone simulates a crash and recovery.
//
// Another process may grab the port while the server is down; Restart
// retries for a while and then fails the test, since a different port would
// defeat the point of a restart.
func (p *Proc) Restart(t testing.TB) {
	t.Helper()
	p.kill()
	deadline := time.Now().Add(readyTimeout)
	for {
		p.out.note("restarting")
		mark := p.out.len()
		if err := p.launch(); err != nil {
			t.Fatalf("redistest: restarting redis-server on %s: %v", p.Addr(), err)
		}
		err := p.waitReady(time.Until(deadline))
		if err == nil {
			return
		}
		p.kill()
		if errors.Is(err, errExited) && p.out.portInUseSince(mark) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t.Fatalf("redistest: restarting redis-server on %s: %v\n%s", p.Addr(), err, p.reportTail())
	}
}

// args returns the command line. Everything goes on the command line rather
// than in a config file so that a failure message can show the whole setup.
func (p *Proc) args() []string {
	args := []string{
		"--port", strconv.Itoa(p.port),
		"--bind", "127.0.0.1",
		"--protected-mode", "no",
		"--dir", p.dir,
		// No RDB snapshots: the append-only file alone is the durable
		// state, and snapshot forks would only slow the tests down.
		"--save", "",
		"--appendonly", "yes",
		"--appendfsync", "always",
		// An empty logfile sends the log to stdout, which start captures.
		"--logfile", "",
		"--daemonize", "no",
	}
	return append(args, p.extra...)
}

// launch starts the process and a goroutine that waits for it.
func (p *Proc) launch() error {
	cmd := exec.Command(p.bin, p.args()...)
	cmd.Dir = p.dir
	// The same writer for both streams makes exec share one pipe and one
	// copying goroutine between them.
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	cmd.SysProcAttr = sysProcAttr()
	// Should a child of the server still hold the output pipe after the
	// server exits, stop waiting for it rather than hang the test.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		p.out.note("redis-server exited: " + err.Error())
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return nil
}

// kill stops the current process, if any, and waits until it has exited.
func (p *Proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	killProcess(cmd)
	<-done
}

// reportTail returns the tail of the output for a failure message and
// notes that it was shown, so the cleanup does not log it a second time.
func (p *Proc) reportTail() string {
	p.mu.Lock()
	p.reported = true
	p.mu.Unlock()
	return p.out.tail()
}

func (p *Proc) tailReported() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reported
}

// running reports whether the current process has been started and has
// not exited.
func (p *Proc) running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// waitReady polls the server until it answers PING, it exits (errExited),
// or timeout passes.
func (p *Proc) waitReady(timeout time.Duration) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()

	deadline := time.Now().Add(timeout)
	var c *redis.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	delay := time.NewTimer(0)
	defer delay.Stop()
	var lastErr error
	for {
		select {
		case <-done:
			return errExited
		case <-delay.C:
		}
		if lastErr = p.ping(&c); lastErr == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("no answer to PING within %v: %v", timeout, lastErr)
		}
		delay.Reset(25 * time.Millisecond)
	}
}

// ping sends one PING, creating *c on first use. It first checks with a
// plain TCP dial that the server accepts connections, because a go-redis
// pool that fails to dial often enough starts a background redialer that
// would outlive Close by up to a second, and goleak would report it.
func (p *Proc) ping(c **redis.Client) error {
	conn, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err != nil {
		return err
	}
	conn.Close()
	if *c == nil {
		*c = redis.NewClient(probeOptions(p.Addr()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return (*c).Ping(ctx).Err()
}

// probeOptions configures the short-lived clients this package uses for its
// own checks: one connection, no retries (the callers poll), and none of the
// optional handshakes that an old server rejects and go-redis then logs.
func probeOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:                     addr,
		DialTimeout:              time.Second,
		ReadTimeout:              time.Second,
		WriteTimeout:             time.Second,
		MaxRetries:               -1,
		DialerRetries:            1,
		PoolSize:                 1,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

// start starts redis-server with the extra arguments on a port from pick,
// retrying on a fresh port and directory when the port turns out to be
// taken, and registers its stop in t.Cleanup.
func start(t testing.TB, bin string, pick func() (int, error), extra []string) *Proc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port, err := pick()
		if err != nil {
			t.Fatalf("redistest: choosing a port: %v", err)
		}
		p := &Proc{
			bin:   bin,
			port:  port,
			dir:   t.TempDir(), // registered before the cleanup below, so removed after the server stops
			extra: extra,
			out:   &logBuffer{},
		}
		if err := p.launch(); err != nil {
			t.Fatalf("redistest: starting %s: %v", bin, err)
		}
		t.Cleanup(func() {
			p.kill()
			// The server's view of a failed test often explains it.
			if t.Failed() && !p.tailReported() {
				t.Logf("redistest: output of redis-server on %s:\n%s", p.Addr(), p.out.tail())
			}
		})
		err = p.waitReady(readyTimeout)
		if err == nil {
			return p
		}
		p.kill()
		if errors.Is(err, errExited) && p.out.portInUseSince(0) && attempt < startAttempts {
			continue
		}
		t.Fatalf("redistest: starting redis-server on %s (attempt %d): %v\ncommand: %s %s\n%s",
			p.Addr(), attempt, err, bin, quoteArgs(p.args()), p.reportTail())
	}
}

// lookPath returns the path of the named program, or ends the test: a
// skip on a developer machine, where a missing server is just an
// unprepared machine, and a failure under CI.
func lookPath(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	const hint = "install redis-server (e.g. apt-get install -y redis-server, which also provides redis-cli)"
	if os.Getenv(ciEnv) != "" {
		t.Fatalf("redistest: %s not found on PATH and CI is set: %s", name, hint)
	}
	t.Skipf("redistest: %s not found on PATH; %s, or set %s / %s to use a running server",
		name, hint, urlEnv, clusterAddrsEnv)
	return ""
}

// freePort returns a loopback port that was free a moment ago, by letting
// the kernel choose one. It may be taken again before redis-server binds
// it; start retries then.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// quoteArgs renders a command line for a failure message, with empty and
// spaced arguments quoted.
func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// logBuffer collects a server's output. It is written by the goroutine exec
// starts to copy the output pipe and read by the test, hence the lock.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// note adds a line of this package's own to the output, so that a tail
// shows where restarts and exits happened.
func (b *logBuffer) note(s string) {
	b.Write([]byte("[redistest] " + s + "\n"))
}

func (b *logBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// portInUseSince reports whether the output from offset on says that a
// port (the client port or, for a cluster node, the bus port) was taken.
func (b *logBuffer) portInUseSince(offset int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Contains(b.buf.Bytes()[offset:], []byte("already in use"))
}

// tail returns the last few kilobytes of output, starting at a line.
func (b *logBuffer) tail() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.buf.Bytes()
	if len(out) > tailBytes {
		out = out[len(out)-tailBytes:]
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
		return "...\n" + string(out)
	}
	if len(out) == 0 {
		return "(no output)"
	}
	return string(out)
}

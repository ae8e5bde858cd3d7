package redis_test

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livedict/livedict"
	"github.com/livedict/livedict/conformance"
	"github.com/livedict/livedict/internal/engine"
)

// TestOpenNoServer: a redis URI with no server behind it makes New fail
// within WithOpenTimeout with an error naming the address, and go-redis'
// own log lines go to the store's logger, not to stderr.
func TestOpenNoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	// Catch what reaches file descriptor 2 while New runs: go-redis' default
	// logger holds os.Stderr from its init.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup2(int(w.Fd()), 2); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	l := slog.New(slog.NewTextHandler(&logs, nil))
	const bound = 300 * time.Millisecond
	start := time.Now()
	s, err := engine.New(conformance.ItemCodec(), livedict.WithURI("redis://"+addr+"/0"),
		livedict.WithOpenTimeout(bound), livedict.WithLogger(l))
	took := time.Since(start)
	syscall.Dup2(saved, 2)
	syscall.Close(saved)
	w.Close()
	var stderr bytes.Buffer
	stderr.ReadFrom(r)
	r.Close()

	if err == nil {
		s.Close()
		t.Fatalf("New on %s with no server succeeded", addr)
	}
	t.Logf("New failed after %v: %v", took, err)
	if took > bound+200*time.Millisecond {
		t.Fatalf("New took %v, over the %v bound", took, bound)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %q does not name the address %s", err, addr)
	}
	if stderr.Len() > 0 {
		t.Fatalf("New wrote to stderr: %q", stderr.String())
	}
	t.Logf("store log: %q", logs.String())
}

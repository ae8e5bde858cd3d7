//go:build unix

package redistest

import (
	"syscall"
	"testing"
)

// Pause stops the server with SIGSTOP: it keeps its connections and its
// port but answers nothing, as a server stalled by the machine (swapping,
// a long fork, a VM pause) does, until Resume. Clients see read timeouts;
// whatever they sent meanwhile waits in the socket and runs once the server
// resumes. A Kill or Restart of a paused server works as usual, and the
// test's cleanup resumes it before stopping it.
func (p *Proc) Pause(t testing.TB) {
	t.Helper()
	p.signal(t, syscall.SIGSTOP)
	t.Cleanup(func() { p.signalQuiet(syscall.SIGCONT) })
}

// Resume continues a server stopped by Pause.
func (p *Proc) Resume(t testing.TB) {
	t.Helper()
	p.signal(t, syscall.SIGCONT)
}

func (p *Proc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.signalQuiet(sig); err != nil {
		t.Fatalf("redistest: sending %v to redis-server on %s: %v", sig, p.Addr(), err)
	}
}

// signalQuiet signals the server process.
func (p *Proc) signalQuiet(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || !p.running() {
		return nil
	}
	return cmd.Process.Signal(sig)
}

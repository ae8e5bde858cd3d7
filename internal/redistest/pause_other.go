//go:build !unix

package redistest

import "testing"

// Pause stops the server until Resume; it needs SIGSTOP, so elsewhere it
// skips the test.
func (p *Proc) Pause(t testing.TB) {
	t.Helper()
	t.Skip("redistest: Pause needs SIGSTOP (a unix system)")
}

// Resume continues a server stopped by Pause.
func (p *Proc) Resume(t testing.TB) { t.Helper() }

//go:build !linux

package redistest

import (
	"os/exec"
	"syscall"
)

// sysProcAttr returns nil: the process group and parent-death signal are
// set up on Linux only. Elsewhere a child the server forked is left to
// finish on its own, and a server outlives a test binary that crashed.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// killProcess sends SIGKILL (or its equivalent) to the server.
func killProcess(cmd *exec.Cmd) { cmd.Process.Kill() }

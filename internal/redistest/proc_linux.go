package redistest

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts the server in a process group of its own, so that
// killProcess also reaches any child it forked (an append-only file
// rewrite), and has the kernel kill it should the test binary die without
// running its cleanups (a panic, or -timeout), so no server outlives the
// test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killProcess sends SIGKILL to the server's process group.
func killProcess(cmd *exec.Cmd) {
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		cmd.Process.Kill()
	}
}

//go:build !linux

package rusage

import (
	"syscall"
	"time"
)

// Process is the CPU time of the process so far, user and system.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Thread is not available outside Linux: it returns 0.
func Thread() time.Duration { return 0 }

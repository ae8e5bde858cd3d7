// Package rusage reads the CPU time the benchmarks report: of the process,
// and of the calling thread where the system tells it.
package rusage

import (
	"syscall"
	"time"
)

// rusageThread is Linux's RUSAGE_THREAD, which package syscall does not name.
const rusageThread = 1

// Process is the CPU time of the process so far, user and system.
func Process() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// Thread is the CPU time of the calling thread; the caller locks its
// goroutine to the thread.
func Thread() time.Duration { return rusage(rusageThread) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

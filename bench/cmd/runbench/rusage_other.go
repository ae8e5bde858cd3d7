//go:build !linux

package main

import (
	"syscall"
	"time"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPU is not available outside Linux: the readers' CPU then stays in
// the expiry's figure, which the report says.
func threadCPU() time.Duration { return 0 }

//go:build unix

package cputime

import (
	"syscall"
	"time"
)

// Self is the CPU time this process has used so far: user and system, every thread.
func Self() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

//go:build unix

package schema

import (
	"syscall"
	"time"
)

// mkfifo makes a named pipe at p (the reader must refuse it).
func mkfifo(p string) error { return syscall.Mkfifo(p, 0o644) }

// cpuTime is the user+system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

//go:build unix

package schema_test

import "syscall"

// cpuTime is the process's user+system CPU time in nanoseconds: on a shared machine it
// says what a run costs when wall time says mostly how busy the neighbours were.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

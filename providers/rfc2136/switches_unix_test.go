//go:build unix

package rfc2136

import (
	"os"
	"syscall"
	"testing"
)

// selfSwitches is this process's context switches so far, voluntary (it slept:
// a wait for the network, a parked goroutine's thread) and not (preempted).
func selfSwitches(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Nvcsw + ru.Nivcsw
}

// processSwitches is an ended child's context switches.
func processSwitches(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Nvcsw + ru.Nivcsw
	}
	return 0
}

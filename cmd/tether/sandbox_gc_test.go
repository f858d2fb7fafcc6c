package main

import (
	"runtime/debug"
	"testing"
)

// TestServeGCPolicy: sandbox serve raises GOGC and caps memory at half the machine's
// unless $GOGC, $GOMEMLIMIT or --gc-percent 0 say otherwise.
func TestServeGCPolicy(t *testing.T) {
	origPercent := debug.SetGCPercent(100)
	origLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(origPercent)
		debug.SetMemoryLimit(origLimit)
	})
	const noLimit = int64(1<<63 - 1) // math.MaxInt64: Go's "no limit"
	half := physicalMemory() / 2
	if half <= 0 {
		t.Skip("no /proc/meminfo here")
	}
	for _, tc := range []struct {
		name         string
		percent      int
		gogc, memlim string
		wantPercent  int
		wantLimit    int64
	}{
		{name: "default", percent: serveGCPercent, wantPercent: serveGCPercent, wantLimit: half},
		{name: "flag", percent: 250, wantPercent: 250, wantLimit: half},
		{name: "flag 0 keeps Go's", percent: 0, wantPercent: 100, wantLimit: noLimit},
		{name: "GOGC wins", percent: serveGCPercent, gogc: "100", wantPercent: 100, wantLimit: noLimit},
		{name: "GOMEMLIMIT wins", percent: serveGCPercent, memlim: "8GiB", wantPercent: serveGCPercent, wantLimit: noLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			t.Setenv("GOMEMLIMIT", tc.memlim)
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(noLimit)
			serveGCPolicy(tc.percent)
			if got := debug.SetGCPercent(100); got != tc.wantPercent {
				t.Errorf("GOGC %d, want %d", got, tc.wantPercent)
			}
			if got := debug.SetMemoryLimit(noLimit); got != tc.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tc.wantLimit)
			}
		})
	}
}

package main

import (
	"runtime"
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
			if got := serveGCPolicy(tc.percent); got != (tc.wantPercent != 100) {
				t.Errorf("serveGCPolicy reported %t, want %t", got, tc.wantPercent != 100)
			}
			if got := debug.SetGCPercent(100); got != tc.wantPercent {
				t.Errorf("GOGC %d, want %d", got, tc.wantPercent)
			}
			if got := debug.SetMemoryLimit(noLimit); got != tc.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tc.wantLimit)
			}
		})
	}
}

// TestWarmServeHeap: after warming, the heap keeps free memory (idle, not released
// to the system) for at least most of the live heap, and GOGC is what it was.
// (Whether allocations then fault less is the serving process's measurement: a
// test binary's small heap reuses pages either way.)
func TestWarmServeHeap(t *testing.T) {
	origPercent := debug.SetGCPercent(serveGCPercent)
	t.Cleanup(func() { debug.SetGCPercent(origPercent) })
	live := make([][]byte, 0, 1<<14)
	for range 64 << 8 { // a live heap of 64 MB in 4 KB objects, like a small state
		live = append(live, make([]byte, 4096))
	}
	runtime.GC()
	warmServeHeap()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(live)
	if kept := ms.HeapIdle - ms.HeapReleased; kept < 48<<20 {
		t.Errorf("free memory kept in the heap after warming %d MB: want at least 48 MB (three quarters of the 64 MB live)", kept>>20)
	}
	if got := debug.SetGCPercent(serveGCPercent); got != serveGCPercent {
		t.Errorf("GOGC %d after warming, want %d", got, serveGCPercent)
	}
}

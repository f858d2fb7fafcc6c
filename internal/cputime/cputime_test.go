package cputime

import (
	"runtime"
	"testing"
)

// TestSelfGrowsWithWork: spinning for a while shows up as CPU time (where it is
// measured at all).
func TestSelfGrowsWithWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("not measured here")
	}
	before := Self()
	if before <= 0 {
		t.Fatalf("CPU time so far %v, want > 0", before)
	}
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	if after := Self(); after <= before {
		t.Errorf("CPU time %v after spinning (x=%d), %v before", after, x, before)
	}
}

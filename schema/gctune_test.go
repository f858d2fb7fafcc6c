package schema

import (
	"runtime/debug"
	"testing"
)

// A large load raises the GC target and caps memory while it runs; overlapping loads
// restore the operator's settings only when the last one ends, and a small load
// changes nothing.
func TestTuneGCForLoadRestores(t *testing.T) {
	if loadGC.userPercent || loadGC.userL {
		t.Skip("GOGC or GOMEMLIMIT is set: the load leaves them alone")
	}
	percent := debug.SetGCPercent(77)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })
	cur := func() (int, int64) {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p, debug.SetMemoryLimit(-1)
	}

	tuneGCForLoad(loadGCMinBytes - 1)()
	if p, _ := cur(); p != 77 {
		t.Fatalf("a small load set GOGC to %d", p)
	}
	undo1 := tuneGCForLoad(loadGCMinBytes)
	undo2 := tuneGCForLoad(40 << 20)
	if p, l := cur(); p != loadGCPercent || l != loadMemoryLimit {
		t.Fatalf("during loads GOGC=%d limit=%d, want %d and %d", p, l, loadGCPercent, loadMemoryLimit)
	}
	undo1()
	undo1() // twice is once
	if p, _ := cur(); p != loadGCPercent {
		t.Fatalf("one load of two ended: GOGC=%d, want %d still", p, loadGCPercent)
	}
	undo2()
	if p, l := cur(); p != 77 || l != limit {
		t.Fatalf("after the loads GOGC=%d limit=%d, want 77 and %d", p, l, limit)
	}
}

// A CUE evaluation within a tuned load runs with collection off under the CUE limit
// and gives the load its GC target back (the limit stays raised until the load ends); outside a load it changes nothing, and an
// evaluation that outlives its load (abandoned at a timeout) does not bring the
// load's settings back after the load restored the operator's.
func TestPauseGCForCUE(t *testing.T) {
	if loadGC.userPercent || loadGC.userL {
		t.Skip("GOGC or GOMEMLIMIT is set: the load leaves them alone")
	}
	percent := debug.SetGCPercent(77)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })
	cur := func() (int, int64) {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p, debug.SetMemoryLimit(-1)
	}

	pauseGCForCUE()()
	if p, l := cur(); p != 77 || l != limit {
		t.Fatalf("a pause outside a load left GOGC=%d limit=%d, want 77 and %d", p, l, limit)
	}

	undo := tuneGCForLoad(loadGCMinBytes)
	resume := pauseGCForCUE()
	if p, l := cur(); p != -1 || l != cueMemoryLimit {
		t.Fatalf("while a CUE fleet evaluates GOGC=%d limit=%d, want off and %d", p, l, int64(cueMemoryLimit))
	}
	resume()
	if p, l := cur(); p != loadGCPercent || l != cueMemoryLimit {
		t.Fatalf("after the evaluation GOGC=%d limit=%d, want the load's %d and still %d", p, l, loadGCPercent, int64(cueMemoryLimit))
	}
	undo()
	if p, l := cur(); p != 77 || l != limit {
		t.Fatalf("after the load GOGC=%d limit=%d, want 77 and %d", p, l, limit)
	}

	t.Setenv(CUEMemoryEnv, "256MiB")
	undo = tuneGCForLoad(loadGCMinBytes)
	kept := pauseGCForCUE()
	if p, _ := cur(); p != loadGCPercent {
		t.Fatalf("under a %s of 256 MiB, a CUE evaluation set GOGC=%d, want the load's %d (garbage counts towards the bound)", CUEMemoryEnv, p, loadGCPercent)
	}
	kept()
	undo()
	t.Setenv(CUEMemoryEnv, "")

	undo = tuneGCForLoad(loadGCMinBytes)
	late := pauseGCForCUE()
	undo() // the load ends first: its evaluation was abandoned
	late()
	if p, l := cur(); p != 77 || l != limit {
		t.Fatalf("an evaluation that outlived its load left GOGC=%d limit=%d, want 77 and %d", p, l, limit)
	}
}

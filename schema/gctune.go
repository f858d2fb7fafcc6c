package schema

import (
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// A large load allocates several times the fleet it returns (yaml.Node trees, ~80
// allocations per account), and at the default GOGC=100 the collector runs often
// enough to take about a sixth of the CPU. While a large fleet loads the target is
// raised, and a soft memory limit keeps the peak under loadMemoryLimit, so the
// trade is CPU for memory the load is allowed anyway (≤ 500 MB for 100k accounts).
// A CUE fleet's evaluation and decode run with collection paused instead
// (pauseGCForCUE). An operator's own GOGC or GOMEMLIMIT is left alone.
const (
	// cueAllocWeight is how much a byte of CUE source counts, against a byte of YAML,
	// towards loadGCMinBytes: a CUE fleet of 64 KiB and more gets the tuning.
	cueAllocWeight  = 64
	loadGCMinBytes  = 4 << 20
	loadGCPercent   = 300
	loadMemoryLimit = 420 << 20
	// cueMemoryLimit is the soft memory limit while a CUE fleet evaluates and decodes
	// with collection paused (pauseGCForCUE).
	cueMemoryLimit = 768 << 20
)

var loadGC struct {
	sync.Mutex
	active             int
	oldPercent         int
	oldLimit           int64
	userPercent, userL bool
	// paused counts the CUE evaluations running with collection off
	// (pauseGCForCUE); round changes whenever the tuning ends, so an evaluation that
	// outlives its load (abandoned, cue_timeout.go) does not restore settings that
	// are no longer the load's.
	paused int
	round  int
}

func init() {
	_, loadGC.userPercent = os.LookupEnv("GOGC")
	_, loadGC.userL = os.LookupEnv("GOMEMLIMIT")
}

// tuneGCForLoad raises the GC target for a load of size bytes and returns the undo.
// Loads may overlap (a daemon and a CLI path in one process): the first in sets, the
// last out restores.
func tuneGCForLoad(size int64) (restore func()) {
	if size < loadGCMinBytes || loadGC.userPercent {
		return func() {}
	}
	loadGC.Lock()
	defer loadGC.Unlock()
	if loadGC.active == 0 {
		loadGC.oldLimit = debug.SetMemoryLimit(-1)
		if !loadGC.userL && loadGC.oldLimit == math.MaxInt64 {
			// A process already holding much (a daemon with other fleets) gets room
			// above what it holds, so the limit never makes the collector thrash.
			debug.SetMemoryLimit(max(loadMemoryLimit, liveHeap()+loadMemoryLimit/2))
		}
		loadGC.oldPercent = debug.SetGCPercent(loadGCPercent)
	}
	loadGC.active++
	var once sync.Once
	return func() {
		once.Do(func() {
			loadGC.Lock()
			defer loadGC.Unlock()
			if loadGC.active--; loadGC.active == 0 {
				debug.SetGCPercent(loadGC.oldPercent)
				debug.SetMemoryLimit(loadGC.oldLimit)
				loadGC.paused = 0
				loadGC.round++
			}
		})
	}
}

// pauseGCForCUE turns collection off while a CUE fleet is evaluated and decoded,
// within a tuned load, and returns the undo. The CUE graph (about 20 KiB per
// account) grows through the evaluation, is live throughout the decode and dead right
// after it, and the decode allocates mostly garbage (each cue.Value lookup allocates
// an evaluation context): every collection before the end marks the graph to free
// little. At 10k accounts four did, a quarter of the load's CPU time, and as many as
// cue vet's own collector makes (GOGC=100). Paused, the first collection after the
// decode finds the graph dead. The memory limit stays in force, raised to
// cueMemoryLimit (a 10k-account fleet peaks at about 700 MB) and never lowered:
// past it the collector runs as the limit requires. It stays raised until the load
// ends: lowered under the heap the graph just left, it would make the allocator hand
// that memory back to the OS there and then (a tenth of a CPU-second at 10k
// accounts), which the end of the load leaves to the background scavenger.
func pauseGCForCUE() (resume func()) {
	if loadGC.userPercent {
		return func() {}
	}
	if bound, bad := cueMemory(); bad == nil && bound > 0 && bound < 2*cueMemoryLimit {
		// The evaluation's growth bound (TETHER_CUE_MEMORY) counts every heap object,
		// dead or alive: with collection paused, garbage alone could pass a bound an
		// operator lowered, and a fleet that fits would be stopped. Such a bound keeps
		// the load's ordinary collection.
		return func() {}
	}
	loadGC.Lock()
	defer loadGC.Unlock()
	if loadGC.active == 0 {
		return func() {} // not a tuned load: the process's settings are someone else's
	}
	if loadGC.paused == 0 {
		if limit := debug.SetMemoryLimit(-1); !loadGC.userL && limit < cueMemoryLimit {
			debug.SetMemoryLimit(cueMemoryLimit)
		}
		debug.SetGCPercent(-1)
	}
	loadGC.paused++
	round := loadGC.round
	var once sync.Once
	return func() {
		once.Do(func() {
			loadGC.Lock()
			defer loadGC.Unlock()
			if loadGC.round != round || loadGC.paused == 0 {
				return // the load ended meanwhile and restored everything
			}
			if loadGC.paused--; loadGC.paused == 0 {
				debug.SetGCPercent(loadGCPercent)
			}
		})
	}
}

// liveHeap is the heap the last collection found live (0 before the first one).
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

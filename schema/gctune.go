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
// An operator's own GOGC or GOMEMLIMIT is left alone.
const (
	// cueAllocWeight is how much a byte of CUE source counts, against a byte of YAML,
	// towards loadGCMinBytes: a CUE fleet of 64 KiB and more gets the tuning.
	cueAllocWeight  = 64
	loadGCMinBytes  = 4 << 20
	loadGCPercent   = 300
	loadMemoryLimit = 420 << 20
)

var loadGC struct {
	sync.Mutex
	active             int
	oldPercent         int
	oldLimit           int64
	userPercent, userL bool
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

package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles writes a CPU profile of the whole run to $TETHER_CPUPROFILE and a heap
// profile at its end to $TETHER_MEMPROFILE, when set: how scripts/bench and anyone
// chasing a slow command see where a real run's time goes. The returned function ends
// them; it must run before the process exits.
func startProfiles() func() {
	cpu, mem := os.Getenv("TETHER_CPUPROFILE"), os.Getenv("TETHER_MEMPROFILE")
	var stopCPU func()
	if cpu != "" {
		f, err := os.Create(cpu)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "TETHER_CPUPROFILE: %v\n", err)
		} else {
			stopCPU = func() { pprof.StopCPUProfile(); f.Close() }
		}
	}
	return func() {
		if stopCPU != nil {
			stopCPU()
		}
		if mem == "" {
			return
		}
		f, err := os.Create(mem)
		if err == nil {
			runtime.GC()
			err = pprof.WriteHeapProfile(f)
			f.Close()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "TETHER_MEMPROFILE: %v\n", err)
		}
	}
}

package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// startProfiles writes a CPU profile of the whole run to $TETHER_CPUPROFILE, a heap
// profile at its end to $TETHER_MEMPROFILE and an execution trace to $TETHER_TRACE,
// when set: how scripts/bench and anyone chasing a slow command see where a real run's
// time goes (the trace shows what a profile cannot: phases that leave a core idle).
// The returned function ends them; it must run before the process exits.
func startProfiles() func() {
	cpu, mem := os.Getenv("TETHER_CPUPROFILE"), os.Getenv("TETHER_MEMPROFILE")
	var stopCPU, stopTrace func()
	if path := os.Getenv("TETHER_TRACE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = trace.Start(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "TETHER_TRACE: %v\n", err)
		} else {
			stopTrace = func() { trace.Stop(); f.Close() }
		}
	}
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
		if stopTrace != nil {
			stopTrace()
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

package schema_test

import (
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/tether-dev/tether/internal/fleetgen"
	"github.com/tether-dev/tether/schema"
)

// benchmarkLoad generates a 1000-node fleet with n accounts into one YAML file and
// measures Load (parse, decode, every rule). It reports ns/account and the heap's peak
// over the run (peak-heap-MB, from the runtime's total mapped heap memory).
func benchmarkLoad(b *testing.B, accounts int) {
	path := filepath.Join(b.TempDir(), "fleet.yaml")
	if _, err := fleetgen.WriteFile(path, fleetgen.Large(accounts)); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, ds, err := schema.Load(path)
		if err != nil || len(ds) > 0 || len(f.Accounts) != accounts {
			b.Fatalf("load: err=%v, %d problems (first: %v), %d accounts", err, len(ds), first(ds), len(f.Accounts))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(accounts), "ns/account")
	b.ReportMetric(float64(heapPeak())/(1<<20), "peak-heap-MB")
}

func first(ds schema.Diagnostics) string {
	if len(ds) == 0 {
		return ""
	}
	return ds[0].String()
}

// heapPeak returns the most memory the heap has had mapped from the OS (it is never
// returned to the OS within a benchmark this short, so it is the peak).
func heapPeak() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}, {Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	var total uint64
	for _, x := range s[:3] {
		total += x.Value.Uint64()
	}
	return total
}

func BenchmarkLoadYAML10k(b *testing.B)  { benchmarkLoad(b, 10_000) }
func BenchmarkLoadYAML100k(b *testing.B) { benchmarkLoad(b, 100_000) }

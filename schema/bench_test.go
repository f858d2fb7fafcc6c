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

// BenchmarkLoadYAML100kWhole parses the same file in one piece, no chunks and no
// parallelism: the baseline the chunked parse is measured against.
func BenchmarkLoadYAML100kWhole(b *testing.B) {
	path := filepath.Join(b.TempDir(), "fleet.yaml")
	if _, err := fleetgen.WriteFile(path, fleetgen.Large(100_000)); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ds := schema.LoadChunked(path, 1<<40, 1<<40); len(ds) > 0 {
			b.Fatal(first(ds))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/account")
	b.ReportMetric(float64(heapPeak())/(1<<20), "peak-heap-MB")
}

// BenchmarkCheck100k is the rules alone on a decoded 100k-account fleet.
func BenchmarkCheck100k(b *testing.B) {
	f := fleetgen.Generate(fleetgen.Large(100_000))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ds := schema.Check(f); len(ds) > 0 {
			b.Fatal(first(ds))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/account")
}

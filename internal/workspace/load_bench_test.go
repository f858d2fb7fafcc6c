package workspace

import (
	"path/filepath"
	"testing"

	"github.com/tether-dev/tether/internal/cputime"
	"github.com/tether-dev/tether/internal/fleetgen"
)

// BenchmarkLoad100k is a plan's first step on the 100k-account fleet (1,000 nodes):
// Load reads, decodes and checks it (the rules and the providers' capabilities) and
// fingerprints its file. Besides time it reports cpu-s/op and cores (CPU over wall:
// how much of the machine's cores the step keeps busy; 2 is all of a 2-core one,
// when nothing else runs on it).
func BenchmarkLoad100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "fleet.yaml")
	if _, err := fleetgen.WriteFile(path, fleetgen.Large(100_000)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cputime.Self()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, src, err := Load(path)
		if err != nil || len(f.Accounts) != 100_000 || src.Fingerprint == "" {
			b.Fatalf("Load: %v", err)
		}
	}
	b.StopTimer()
	cpu := cputime.Self() - cpu0
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(cpu.Seconds()/b.Elapsed().Seconds(), "cores")
}

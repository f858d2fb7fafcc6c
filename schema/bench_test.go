package schema_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tether-dev/tether/internal/cputime"
	"github.com/tether-dev/tether/internal/fleetgen"
	"github.com/tether-dev/tether/schema"
	"github.com/tether-dev/tether/schema/fastyaml"
)

// benchmarkLoad generates a 1000-node fleet with n accounts into one YAML file and
// measures Load (parse, decode, every rule). It reports ns/account and the heap's peak
// over the run (peak-heap-MB, from the runtime's total mapped heap memory).
func benchmarkLoad(b *testing.B, accounts int) { benchmarkLoadWith(b, accounts, schema.Load) }

func benchmarkLoadWith(b *testing.B, accounts int, load func(string) (*schema.Fleet, schema.Diagnostics, error)) {
	path := filepath.Join(b.TempDir(), "fleet.yaml")
	if _, err := fleetgen.WriteFile(path, fleetgen.Large(accounts)); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ReportAllocs()
	cpu0 := cputime.Self()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, ds, err := load(path)
		if err != nil || len(ds) > 0 || len(f.Accounts) != accounts {
			b.Fatalf("load: err=%v, %d problems (first: %v), %d accounts", err, len(ds), first(ds), len(f.Accounts))
		}
	}
	b.StopTimer()
	if cpu := cputime.Self() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/1e9/float64(b.N), "cpu-s/op")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(accounts), "ns/account")
	b.ReportMetric(float64(heapPeak())/(1<<20), "peak-heap-MB")
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
	}
}

// peakRSS is the process's resident high-water mark (Linux VmHWM), 0 elsewhere. It
// covers the whole test process, fleet generation included, so it bounds Load's peak
// from above.
func peakRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
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
	benchmarkLoadWith(b, 100_000, func(path string) (*schema.Fleet, schema.Diagnostics, error) {
		f, ds := schema.LoadChunked(path, 1<<40, 1<<40)
		return f, ds, nil
	})
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

// BenchmarkParseChunks100k parses the chunks Load cuts the 100k-account fleet into,
// one after the other on one goroutine, to yaml.Node trees: with yaml.v3 alone (the
// anchor, what Load did for every chunk before schema/fastyaml), with the fast path,
// and with the fast path reusing one parser's memory (as Load's workers do).
// cpu-s/op includes the collector's work on the other core.
func BenchmarkParseChunks100k(b *testing.B) {
	var buf bytes.Buffer
	if err := fleetgen.WriteYAML(&buf, fleetgen.Generate(fleetgen.Large(100_000))); err != nil {
		b.Fatal(err)
	}
	chunks := schema.ChunkTexts(buf.Bytes())
	reused := new(fastyaml.Parser)
	for _, bc := range []struct {
		name  string
		parse func([]byte) bool
	}{
		{"yamlv3", func(text []byte) bool {
			var n yaml.Node
			return yaml.Unmarshal(text, &n) == nil
		}},
		{"fast", func(text []byte) bool {
			_, ok := fastyaml.Parse(text)
			return ok
		}},
		{"fast-reuse", func(text []byte) bool {
			_, ok := reused.Parse(text)
			return ok
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			runtime.GC()
			b.SetBytes(int64(buf.Len()))
			b.ReportAllocs()
			cpu0 := cputime.Self()
			for i := 0; i < b.N; i++ {
				for _, c := range chunks {
					if !bc.parse(c) {
						b.Fatalf("%s failed on a chunk of fleetgen's fleet", bc.name)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cputime.Self()-cpu0)/1e9/float64(b.N), "cpu-s/op")
		})
	}
}

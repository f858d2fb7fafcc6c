//go:build unix

package schema

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/cputime"
)

// BenchmarkCUEVsCueVet loads a CUE fleet of 10,000 accounts written with a
// comprehension over a table (writeCUEFleet) the way `tether validate` does (Load:
// evaluate with the schema, decode, the Go rules), against CUE's own `cue vet -c`
// on the same fleet file and the same schema, in turns within each round. Metrics:
// cue-vet-s and tether-s (medians of wall time), x-cue-vet-wall and x-cue-vet-cpu
// (medians of Tether's time over cue vet's in the same round; ≤ 1 means Tether is as
// fast), tether-cpu-s, and each side's peak RSS (cue vet's from one more run under
// /usr/bin/time, see peakRSSOf; Tether's is the whole test process's).
//
// The cue binary is the version go.mod requires: $TETHER_CUE_BIN, else one built
// once with `go install cuelang.org/go/cmd/cue@VERSION` into the user cache
// (never into the repository).
//
//	go test -run XXX -bench CUEVsCueVet -benchtime 3x ./schema
func BenchmarkCUEVsCueVet(b *testing.B) {
	const n = 10000
	cueBin := cueBinary(b)
	dir := b.TempDir()
	files := writeCUEFleet(b, dir, n)
	schemaFile := filepath.Join(b.TempDir(), "schema.cue")
	if err := os.WriteFile(schemaFile, FleetCUE(), 0o644); err != nil {
		b.Fatal(err)
	}
	var cueWall, cueCPU, tWall, tCPU []time.Duration
	for b.Loop() {
		cmd := exec.Command(cueBin, "vet", "-c", files[0], schemaFile)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		cueWall = append(cueWall, time.Since(start))
		if err != nil {
			b.Fatalf("cue vet: %v\n%s", err, out)
		}
		cueCPU = append(cueCPU, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())

		runtime.GC() // each side starts from a clean heap
		cpu0 := cputime.Self()
		start = time.Now()
		f, ds, err := Load(dir)
		tWall = append(tWall, time.Since(start))
		tCPU = append(tCPU, cputime.Self()-cpu0)
		if err != nil || len(ds) > 0 || len(f.Accounts) != n {
			b.Fatalf("load: %v, %d accounts, diagnostics:\n%v", err, len(f.Accounts), ds)
		}
		runtime.KeepAlive(f)
	}
	b.StopTimer()
	ratio := func(num, den []time.Duration) float64 {
		r := make([]float64, len(num))
		for i := range num {
			r[i] = num[i].Seconds() / den[i].Seconds()
		}
		slices.Sort(r)
		return r[len(r)/2]
	}
	median := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2].Seconds()
	}
	b.ReportMetric(median(cueWall), "cue-vet-s")
	b.ReportMetric(median(tWall), "tether-s")
	b.ReportMetric(median(tCPU), "tether-cpu-s")
	b.ReportMetric(median(cueCPU), "cue-vet-cpu-s")
	b.ReportMetric(ratio(tWall, cueWall), "x-cue-vet-wall")
	b.ReportMetric(ratio(tCPU, cueCPU), "x-cue-vet-cpu")
	if rss := peakRSSOf(cueBin, "vet", "-c", files[0], schemaFile); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "cue-vet-peak-RSS-MB")
	}
	if hwm := peakRSS(); hwm > 0 {
		// The whole test process: the generated fleet and the test binary included.
		b.ReportMetric(float64(hwm)/(1<<20), "tether-peak-RSS-MB")
	}
}

// peakRSSOf runs a command once more under /usr/bin/time for its peak RSS (0 without
// it). The rusage of a child os/exec starts carries its parent's high-water mark on
// Linux (vfork and exec), the test process's, which is what this metric showed
// before; /usr/bin/time, a small parent, reports the command's own.
func peakRSSOf(name string, args ...string) int64 {
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		return 0
	}
	out, err := exec.Command("/usr/bin/time", append([]string{"-f", "%M", name}, args...)...).CombinedOutput()
	if err != nil {
		return 0
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		return 0
	}
	kb, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}

// cueBinary finds the cue command of the version go.mod requires, building it into
// the user cache on first use.
func cueBinary(b *testing.B) string {
	if p := os.Getenv("TETHER_CUE_BIN"); p != "" {
		return p
	}
	// A test binary carries no module list: ask go, from this package's folder.
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "cuelang.org/go").Output()
	version := strings.TrimSpace(string(out))
	if err != nil || version == "" {
		b.Skipf("cannot tell which cuelang.org/go version go.mod requires (%v); set TETHER_CUE_BIN", err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	gobin := filepath.Join(cache, "tether-bench", "cue-"+version)
	bin := filepath.Join(gobin, "cue")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "install", "cuelang.org/go/cmd/cue@"+version)
	cmd.Dir = os.TempDir() // outside this module: its go.mod has no say
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Skipf("go install cue@%s: %v\n%s", version, err, out)
	}
	return bin
}

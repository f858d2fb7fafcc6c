package schema

import (
	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cuebuild "cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"

	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tether-dev/tether/internal/cputime"
)

// writeCUEFleet writes a CUE fleet of n accounts into dir: three nodes, a reseller,
// and the accounts generated from a template over a table, one row per account, the
// way an operator with many accounts writes them. Every third account is distributed.
func writeCUEFleet(tb testing.TB, dir string, n int) []string {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`package fleet

nodes: {
	web1: {role: "parent", host: "web1.example.net", version: 118, profile: "STANDARD", credentials: {user: "root", tokenEnv: "WEB1_TOKEN"}}
	mail1: {role: "child", parent: "web1", host: "mail1.example.net", version: 118, profile: "MAILNODE", services: ["mail"]}
	ns1: {role: "dnsonly", host: "ns1.example.net", version: 118}
}
resellers: bob: {parent: "web1", domain: "bob.example"}
dnsClusters: web1: {enabled: true, members: ns1: {node: "ns1", role: "sync"}}

accounts: {
	for user, row in _rows {
		(user): {
			parent: "web1"
			domain: row.d
			if row.o != "" {owner: row.o}
			if row.m != "" {
				mail: node: row.m
				features: apitokens: true
			}
			plan: "basic"
		}
	}
}

_rows: {
`)
	for i := 0; i < n; i++ {
		owner, mail := "", ""
		if i%5 == 0 {
			owner = "bob"
		}
		if i%3 == 0 {
			mail = "mail1"
		}
		fmt.Fprintf(&b, "\tu%07d: {d: \"site%d.example\", o: %q, m: %q}\n", i, i, owner, mail)
	}
	b.WriteString("}\n")
	name := filepath.Join(dir, "fleet.cue")
	if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return []string{name}
}

func TestLoadCUEGenerated(t *testing.T) {
	files := writeCUEFleet(t, t.TempDir(), 300)
	f, ds := loadCUE(files)
	if len(ds) > 0 {
		t.Fatalf("diagnostics:\n%v", ds)
	}
	if len(f.Accounts) != 300 || f.Accounts["u0000003"].MailNode() != "mail1" || f.Accounts["u0000005"].OwnerName() != "bob" {
		t.Fatalf("decoded %d accounts, u0000003 mail %q, u0000005 owner %q", len(f.Accounts), f.Accounts["u0000003"].MailNode(), f.Accounts["u0000005"].OwnerName())
	}
	if p := f.Accounts["u0000007"].Src.At("domain"); p.Line != 7+27 {
		t.Errorf("u0000007 domain at %v, want its table row (line %d)", p, 7+27)
	}
}

// BenchmarkLoadCUE10k measures loadCUE on a 10k-account fleet. Besides ns/op it
// reports CPU time per load (the machine is shared: wall time includes waiting for a
// core) and the process's peak RSS (VmHWM, which includes the test binary and the
// generated fleet, so it bounds the loader's peak from above).
func BenchmarkLoadCUE10k(b *testing.B) {
	const n = 10000
	files := writeCUEFleet(b, b.TempDir(), n)
	cpu0 := cputime.Self()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, ds := loadCUE(files)
		if len(ds) > 0 || len(f.Accounts) != n {
			b.Fatalf("%d accounts, diagnostics:\n%v", len(f.Accounts), ds)
		}
		runtime.KeepAlive(f)
	}
	b.StopTimer()
	cpu := cputime.Self() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/account")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	if hwm := peakRSS(); hwm > 0 {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MB")
	}
}

// peakRSS reads VmHWM from /proc (Linux); 0 elsewhere.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkDecodeCUE10k compares the decoder (one pass over the fields, with
// positions) with cue.Value.Decode into the same types (no positions) on one evaluated
// 10k-account fleet, to justify hand-decoding.
func BenchmarkDecodeCUE10k(b *testing.B) {
	files := writeCUEFleet(b, b.TempDir(), 10000)
	asts, ds := parseCUEFiles(files)
	if len(ds) > 0 {
		b.Fatal(ds)
	}
	all, ds := withSchema(asts)
	if len(ds) > 0 {
		b.Fatal(ds)
	}
	v := cuecontext.New().BuildInstance(buildInstance(b, all))
	if err := v.Validate(cue.Concrete(true)); err != nil {
		b.Fatal(err)
	}
	idx := indexLabels(all[1:])
	b.Run("walk", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, ds := decodeFleet(v, idx); len(ds) > 0 {
				b.Fatal(ds)
			}
		}
	})
	b.Run("Value.Decode", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var f Fleet
			if err := v.Decode(&f); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func buildInstance(tb testing.TB, files []*ast.File) *cuebuild.Instance {
	inst := cuebuild.NewContext().NewInstance("", nil)
	for _, f := range files {
		if err := inst.AddSyntax(f); err != nil {
			tb.Fatal(err)
		}
	}
	return inst
}

// BenchmarkCUELean loads the 10k-account CUE fleet of writeCUEFleet as Load does,
// with the lean schema first (lean) and with the whole schema only (whole), valid and
// with one account whose mail is on a DNS-only node (TETHER-L05, which only the
// whole schema and the Go checks see), and with one domain declared twice
// (TETHER-D05, which only the Go checks see): the lean schema's gain on a valid
// fleet, and what the second evaluation costs a fleet with a problem (none when the
// problem is one the schema does not state). Reports CPU-s per load.
func BenchmarkCUELean(b *testing.B) {
	for _, fleet := range []struct {
		name, extra string
		problems    bool
	}{
		{"valid", "", false},
		{"one-error", `accounts: zz: {parent: "web1", domain: "zz.example", mail: node: "ns1"}`, true},
		// A domain declared twice (TETHER-D05): a rule only the Go checks state.
		{"go-only-error", `accounts: zz: {parent: "web1", domain: "site1.example"}`, true},
	} {
		dir := b.TempDir()
		writeCUEFleet(b, dir, 10000)
		if fleet.extra != "" {
			if err := os.WriteFile(filepath.Join(dir, "extra.cue"), []byte("package fleet\n"+fleet.extra+"\n"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		for _, lean := range []bool{true, false} {
			name := fleet.name + "/whole"
			if lean {
				name = fleet.name + "/lean"
			}
			b.Run(name, func(b *testing.B) {
				runtime.GC()
				cpu0 := cputime.Self()
				for b.Loop() {
					f, ds, _ := load(dir, lean)
					if (len(ds) > 0) != fleet.problems {
						b.Fatalf("diagnostics:\n%v", ds)
					}
					runtime.KeepAlive(f)
				}
				b.ReportMetric((cputime.Self()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
			})
		}
	}
}

package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzLoadCUE feeds arbitrary bytes to the CUE loader as one fleet file. Whatever the
// input, it must return (never panic), and either a Fleet or diagnostics that each
// name a rule and a file, without leaking a long CUE dump. Seeds: the example fleet,
// every bad input of testdata/cue, and a few shapes the evaluator finds awkward.
// One iteration evaluates the schema once (a few milliseconds).
func FuzzLoadCUE(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "examples", "cue", "*.cue"))
	more, _ := filepath.Glob(filepath.Join("..", "testdata", "cue", "*", "*.cue"))
	for _, p := range append(seeds, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"",
		"package fleet",
		"[1, 2, 3]",
		"42",
		"nodes: nodes",
		"a: b\nb: a",
		"nodes: web1: {role: \"parent\", host: \"web1.example.net\"}\naccounts: alice: {parent: \"web1\", domain: \"alice.example\", mail: node: accounts.alice.parent}",
		"import \"list\"\n_r: list.Range(0, 100, 1)\naccounts: {for i in _r {\"u\\(i)\": {parent: \"w\", domain: \"d.example\"}}}",
		"nodes: [string]: role: \"parent\"\nnodes: x: host: \"x.example\"",
		"accounts: alice: _|_",
		"#Fleet: 1",
		"_tetherRules: 1",
		"nodes: web1: {role: \"parent\", host: \"web1.example.net\"} & {role: \"child\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		name := filepath.Join(t.TempDir(), "fleet.cue")
		if err := os.WriteFile(name, src, 0o644); err != nil {
			t.Fatal(err)
		}
		var fl *Fleet
		var ds Diagnostics
		done := make(chan struct{})
		go func() { fl, ds = loadCUE([]string{name}); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("loadCUE did not return within 5s on %q", src)
		}
		if fl == nil && len(ds) == 0 {
			t.Fatal("no fleet and no diagnostics")
		}
		if fl != nil && len(ds) > 0 {
			t.Fatalf("a fleet and diagnostics: %v", ds)
		}
		for _, d := range ds {
			if !strings.HasPrefix(d.Rule, "TETHER-") || d.Pos.File != name || len(d.Message) > maxMessage+len("…") || d.Message == "" {
				t.Fatalf("malformed diagnostic: %#v", d)
			}
		}
	})
}

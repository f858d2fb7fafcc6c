package schema

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"cuelang.org/go/cue/format"
	cueyaml "cuelang.org/go/encoding/yaml"
)

func TestLeanText(t *testing.T) {
	tests := []struct {
		name, src, want, err string
	}{
		{"no markers", "a: 1\nb: 2\n", "a: 1\nb: 2\n", ""},
		{"one region", "a: 1\n// lean:omit (why)\nb: 2\n\tc: 3\n// lean:end\nd: 4", "a: 1\n\n\n\n\nd: 4", ""},
		{"indented markers", "x: {\n\t// lean:omit\n\ty: 1\n\t// lean:end\n}\n", "x: {\n\n\n\n}\n", ""},
		{"two regions", "// lean:omit\na\n// lean:end\nb\n// lean:omit\nc\n// lean:end\n", "\n\n\nb\n\n\n\n", ""},
		{"unclosed", "a\n// lean:omit\nb\n", "", "fleet.cue:2: // lean:omit without // lean:end"},
		{"end alone", "a\n// lean:end\n", "", "fleet.cue:2: // lean:end without // lean:omit"},
		{"nested", "// lean:omit\n// lean:omit\n// lean:end\n", "", "fleet.cue:2: // lean:omit inside the one opened at line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := leanText([]byte(tt.src))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// The embedded schema's lean form keeps every line in its place, and leaves out
// exactly the per-account rules: the rules the Go checks must enforce too.
func TestLeanSchemaOmitsThePerAccountRules(t *testing.T) {
	lean, err := leanSchema()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(string(lean), "\n"), strings.Count(string(fleetCUE), "\n"); got != want {
		t.Errorf("lean schema has %d lines, fleet.cue %d", got, want)
	}
	for _, gone := range []string{"_l06", "_l07", "_l08", "_l09", "_a03from", "_a03to", "_r01owner", "_r01mail", "_l05", "_l13", "TETHER-D03: DNSSEC is on"} {
		if strings.Contains(string(lean), gone) {
			t.Errorf("lean schema still has %s", gone)
		}
	}
	for _, kept := range []string{"#Account:", "#Node:", "_user:", "_alias:", "_l16", "_l01", "_l03", "_l02", "_d01", "_r01node", "_tetherRules"} {
		if !strings.Contains(string(lean), kept) {
			t.Errorf("lean schema lost %s", kept)
		}
	}
}

// leanCase is one fleet folder loaded both ways.
type leanCase struct {
	name, dir string
	valid     bool // must load clean, and then through the lean schema
}

// TestLeanLoadSameAsFull loads every fixture written in CUE both ways, with the
// lean schema first and with the whole schema only: the same fleet (positions
// included) and the same diagnostics. A valid fleet must be the lean schema's (that
// is the point of it); an invalid one falls back. The fixtures are the CUE ones
// (testdata/cue, examples/cue), every YAML fixture and example rewritten as CUE
// (testdata/invalid, testdata/valid, examples), and that again with one file left
// in YAML where a folder has several (the CUE files then hold part of the fleet).
func TestLeanLoadSameAsFull(t *testing.T) {
	var cases []leanCase
	cueDirs, _ := filepath.Glob(filepath.Join("..", "testdata", "cue", "*"))
	for _, d := range cueDirs {
		cases = append(cases, leanCase{"cue-" + filepath.Base(d), d, false})
	}
	cases = append(cases, leanCase{"examples-cue", filepath.Join("..", "examples", "cue"), true})
	invalid, _ := filepath.Glob(filepath.Join("..", "testdata", "invalid", "*"))
	valid, _ := filepath.Glob(filepath.Join("..", "testdata", "valid", "*"))
	for _, y := range []string{"quickstart", "nodes"} {
		valid = append(valid, filepath.Join("..", "examples", y))
	}
	tmp := t.TempDir()
	for _, group := range []struct {
		dirs  []string
		valid bool
	}{{invalid, false}, {valid, true}} {
		for _, d := range group.dirs {
			base := filepath.Base(d)
			if strings.Contains(base, "alias-bomb") {
				continue // CUE's YAML decoder would expand the bomb (cue_instep_test.go)
			}
			names, _ := filepath.Glob(filepath.Join(d, "*.y*ml"))
			sort.Strings(names)
			if len(names) == 0 {
				continue
			}
			if out, ok := yamlAsCUE(t, names, filepath.Join(tmp, base), 0); ok {
				cases = append(cases, leanCase{base, out, group.valid})
			}
			if len(names) > 1 {
				if out, ok := yamlAsCUE(t, names, filepath.Join(tmp, base+"-mixed"), 1); ok {
					cases = append(cases, leanCase{base + "-mixed", out, group.valid})
				}
			}
		}
	}
	cleanByLean, invalidByLean := 0, []string(nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lf, lds, lean := load(c.dir, true)
			ff, fds, _ := load(c.dir, false)
			if got, want := renderDiags(lds, c.dir), renderDiags(fds, c.dir); got != want {
				t.Fatalf("diagnostics differ:\n--- lean first\n%s--- whole schema\n%s", got, want)
			}
			if !reflect.DeepEqual(lf, ff) {
				t.Fatalf("fleets differ:\n--- lean first\n%+v\n--- whole schema\n%+v", lf, ff)
			}
			if c.valid && len(lds) > 0 {
				t.Fatalf("a valid fixture does not load:\n%v", lds)
			}
			// A fixture invalid in YAML may be valid as CUE (a section written twice
			// unifies): whatever is clean comes from the lean schema, and so do the
			// fleets whose only problems are rules the schema does not state (D05).
			if len(lds) == 0 && !lean {
				t.Errorf("a clean fleet not taken from the lean schema")
			}
			switch {
			case lean && len(lds) == 0:
				cleanByLean++
			case lean:
				invalidByLean = append(invalidByLean, c.name)
			}
		})
	}
	t.Logf("with problems, taken from the lean schema: %v", invalidByLean)
	if cleanByLean == 0 || len(invalidByLean) == 0 {
		t.Errorf("taken from the lean schema: %d clean fleets, %d with problems; want some of each", cleanByLean, len(invalidByLean))
	}
}

// yamlAsCUE writes the YAML files names into dir as CUE (as cue import would), but
// the first keep of them, which are copied as they are; ok is false when CUE's YAML
// decoder cannot read one (a fixture of broken YAML: nothing to rewrite).
func yamlAsCUE(t *testing.T, names []string, dir string, keep int) (string, bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(name)
		if i < keep {
			if err := os.WriteFile(filepath.Join(dir, base), src, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		f, err := cueyaml.Extract(name, src)
		if err != nil {
			return "", false
		}
		out, err := format.Node(f)
		if err != nil {
			return "", false
		}
		cueName := strings.TrimSuffix(base, filepath.Ext(base)) + ".cue"
		if err := os.WriteFile(filepath.Join(dir, cueName), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, true
}

// TestLeanLoadEdges are fleets written to go where the lean schema and the whole one
// could part: each must load the same both ways, and the invalid ones through the
// whole schema.
func TestLeanLoadEdges(t *testing.T) {
	const nodes = `nodes: {
	web1: {role: "parent", host: "web1.example.net", version: 118}
	mail1: {role: "child", parent: "web1", host: "mail1.example.net", version: 118, services: SERVICES}
}
`
	fleet := func(services, rest string) string {
		return strings.Replace(nodes, "SERVICES", services, 1) + rest
	}
	tests := []struct {
		name, src     string
		valid, byLean bool
	}{
		{"clean", fleet(`["mail"]`, `accounts: alice: {parent: "web1", domain: "alice.example", mail: node: "mail1"}`), true, true},
		// services: [] takes no mail: the schema's L05; the Go check sees it only if
		// the decoder keeps the empty list.
		{"child takes no service", fleet(`[]`, `accounts: alice: {parent: "web1", domain: "alice.example", mail: node: "mail1"}`), false, false},
		// ſ (long s) lowers to itself: an address of another domain to the schema
		// (A03), and to the Go check, which compares lowered as well.
		{"forwarder from a folded domain", fleet(`["mail"]`, `accounts: sam: {parent: "web1", domain: "sales.example", forwarders: [{from: "x@ſales.example", to: "a@b.example"}]}`), false, false},
		{"forwarder from the domain in capitals", fleet(`["mail"]`, `accounts: sam: {parent: "web1", domain: "sales.example", forwarders: [{from: "x@SALES.Example", to: "a@b.example"}]}`), true, true},
		// The operator's files share the schema's package: a hidden field of the
		// schema's that they set would meet the omitted rules only in the whole one,
		// so they are evaluated with it only. (CUE reports the clash of a hidden
		// field only when a rule fires there.)
		{"sets _tetherRules", fleet(`["mail"]`, `accounts: alice: {parent: "web1", domain: "alice.example"}
_tetherRules: accounts: 5`), true, false},
		{"sets _tetherRules, a rule fires", fleet(`["mail"]`, `accounts: alice: {parent: "web2", domain: "alice.example"}
_tetherRules: accounts: 5`), false, false},
		{"reads _tetherRules", fleet(`["mail"]`, `accounts: alice: {parent: "web1", domain: "alice.example", plan: "p\(len(_tetherRules.accounts))"}`), true, false},
		{"sets an account's _l06", fleet(`["mail"]`, `accounts: alice: {parent: "web1", domain: "alice.example", mail: node: "mail1", ipv6: true, _l06: "x"}`), false, false},
		{"own hidden helpers", fleet(`["mail"]`, `_accounts: {alice: "alice.example"}
_node: "web1"
accounts: {for k, d in _accounts {(k): {parent: _node, domain: d}}}`), true, true},
		{"pipe on a distributed account", fleet(`["mail"]`, `accounts: alice: {parent: "web1", domain: "alice.example", mail: node: "mail1", forwarders: [{from: "x", to: "|/bin/prog"}]}`), false, false},
		{"owner on another parent", fleet(`["mail"]`, `nodes: web2: {role: "parent", host: "web2.example.net"}
resellers: bob: {parent: "web2", domain: "bob.example"}
accounts: alice: {parent: "web1", domain: "alice.example", owner: "bob"}`), false, false},
		// A rule the schema does not state (D05): the whole schema would find the
		// fleet clean as the lean one did, so Check's diagnostics stand.
		{"a domain twice", fleet(`["mail"]`, `accounts: alice: {parent: "web1", domain: "a.example"}
accounts: bob: {parent: "web1", domain: "a.example"}`), false, true},
		{"a domain twice and a pipe", fleet(`["mail"]`, `accounts: alice: {parent: "web1", domain: "a.example"}
accounts: bob: {parent: "web1", domain: "a.example", mail: node: "mail1", forwarders: [{from: "x", to: "|/bin/prog"}]}`), false, false},
		{"template with the schema's definitions", fleet(`["mail"]`, `#Mine: #Account & {parent: "web1", plan: "basic"}
accounts: alice: #Mine & {domain: "alice.example"}`), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte("package fleet\n\n"+tt.src+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			lf, lds, lean := load(dir, true)
			ff, fds, _ := load(dir, false)
			if got, want := renderDiags(lds, dir), renderDiags(fds, dir); got != want {
				t.Fatalf("diagnostics differ:\n--- lean first\n%s--- whole schema\n%s", got, want)
			}
			if !reflect.DeepEqual(lf, ff) {
				t.Fatalf("fleets differ:\n--- lean first\n%+v\n--- whole schema\n%+v", lf, ff)
			}
			if tt.valid != (len(lds) == 0) {
				t.Fatalf("valid=%v, diagnostics:\n%v", tt.valid, lds)
			}
			if lean != tt.byLean {
				t.Errorf("taken from the lean schema: %v, want %v", lean, tt.byLean)
			}
		})
	}
}

// FuzzCUELeanSameAsFull: whatever the CUE file, loading it with the lean schema
// first gives what the whole schema alone gives, the fleet and the diagnostics.
// Seeds: FuzzLoadCUE's files and a violation of each rule the lean schema leaves out.
func FuzzCUELeanSameAsFull(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "examples", "cue", "*.cue"))
	more, _ := filepath.Glob(filepath.Join("..", "testdata", "cue", "*", "*.cue"))
	for _, p := range append(seeds, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	const base = "nodes: {\n\tweb1: {role: \"parent\", host: \"web1.example.net\", version: 118}\n\tmail1: {role: \"child\", parent: \"web1\", host: \"mail1.example.net\", version: 118}\n}\n" +
		"resellers: bob: {parent: \"web1\", domain: \"bob.example\"}\ndnsClusters: web1: {enabled: true, members: m: {node: \"mail1\", role: \"sync\"}}\n"
	for _, s := range []string{
		`accounts: a: {parent: "web1", domain: "a.example", mail: node: "mail1", ipv6: true}`,
		`accounts: a: {parent: "web1", domain: "a.example", mail: node: "mail1", features: apitokens: false}`,
		`accounts: a: {parent: "web1", domain: "a.example", mail: node: "mail1", autossl: dcv: ["http"]}`,
		`accounts: a: {parent: "web1", domain: "a.example", mail: node: "mail1", forwarders: [{from: "x", to: " |/bin/x"}]}`,
		`accounts: a: {parent: "web1", domain: "a.example", forwarders: [{from: "x@b.example", to: "y@c.example"}]}`,
		`accounts: a: {parent: "web1", domain: "a.example", forwarders: [{from: "x y", to: "y@c.example, z@c.example"}]}`,
		`accounts: a: {parent: "mail1", domain: "a.example"}`,
		`accounts: a: {parent: "web9", domain: "a.example", owner: "carl"}`,
		`accounts: a: {parent: "web1", domain: "a.example", mail: node: "web1"}`,
		`accounts: a: {parent: "web1", domain: "a.example", mail: node: "mail9"}`,
		`accounts: a: {parent: "web1", domain: "a.example", dnssec: true}`,
		`resellers: bob: owner: "bob"`,
		`nodes: mail1: lost: true` + "\n" + `accounts: a: {parent: "web1", domain: "a.example", mail: node: "mail1"}`,
		`nodes: mail1: services: []` + "\n" + `accounts: a: {parent: "web1", domain: "a.example", mail: node: "mail1"}`,
		`accounts: a: {parent: "web1", domain: "a.example", _l06: 1}`,
	} {
		f.Add([]byte(base + s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		lf, lds, _ := load(dir, true)
		ff, fds, _ := load(dir, false)
		if got, want := renderDiags(lds, dir), renderDiags(fds, dir); got != want {
			t.Fatalf("diagnostics differ on %q:\n--- lean first\n%s--- whole schema\n%s", src, got, want)
		}
		if !reflect.DeepEqual(lf, ff) {
			t.Fatalf("fleets differ on %q", src)
		}
	})
}

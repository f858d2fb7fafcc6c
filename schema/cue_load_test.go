package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The golden files are rewritten with `go test ./schema -update`; the flag is
// declared by the YAML loader's tests (load_test.go) and read here by name, since two
// declarations in one test binary panic.
func updateGoldens() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// renderDiags prints diagnostics as `tether validate` does, with dir stripped so the
// golden files do not depend on where the repository is.
func renderDiags(ds Diagnostics, dir string) string {
	var b strings.Builder
	for _, d := range ds.Sort() {
		b.WriteString(strings.ReplaceAll(d.String(), dir+string(filepath.Separator), ""))
		b.WriteByte('\n')
	}
	return b.String()
}

func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if updateGoldens() {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./schema -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", golden, got, want)
	}
}

// TestLoadCUEBadInputs runs every folder of testdata/cue: CUE fleets that must fail,
// each with the exact diagnostics expected in expected.txt.
func TestLoadCUEBadInputs(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "testdata", "cue", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no testdata/cue cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(dir, "*.cue"))
			f, ds := loadCUE(files)
			if len(ds) == 0 || f != nil {
				t.Fatalf("loaded without diagnostics")
			}
			for _, d := range ds {
				if !d.Pos.IsValid() || d.Pos.Line == 0 {
					t.Errorf("no position: %v", d)
				}
				if strings.Contains(d.String(), "ABCDEF0123456789") || strings.Contains(d.String(), "c2VjcmV0") {
					t.Errorf("secret printed: %v", d)
				}
			}
			checkGolden(t, filepath.Join(dir, "expected.txt"), renderDiags(ds, dir))
		})
	}
}

// TestLoadCUEUnreadable covers files the parser must never see.
func TestLoadCUEUnreadable(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, file, want string
	}{
		{"binary", write("bin.cue", []byte("package fleet\x00\x01\x02\xff")), "a fleet file is CUE text"},
		{"invalid utf-8", write("latin1.cue", []byte("package fleet\n// caf\xe9\n")), "not valid UTF-8"},
		{"huge", sparse(t, filepath.Join(dir, "huge.cue"), MaxFileSize+1), "over the 40 MiB limit"},
		{"missing", filepath.Join(dir, "missing.cue"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ds := loadCUE([]string{tt.file})
			if f != nil || len(ds) != 1 || ds[0].Rule != RuleLoad || !strings.Contains(ds[0].Message, tt.want) || ds[0].Pos.File != tt.file {
				t.Fatalf("got %v, want one %s diagnostic on %s containing %q", ds, RuleLoad, tt.file, tt.want)
			}
		})
	}
}

// TestLoadCUEExample loads examples/cue: no diagnostics, the fleet the quickstart
// describes, and positions that point into the example's files.
func TestLoadCUEExample(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "examples", "cue", "*.cue"))
	f, ds := loadCUE(files)
	if len(ds) > 0 {
		t.Fatalf("examples/cue:\n%v", ds)
	}
	if got := []int{len(f.Nodes), len(f.Resellers), len(f.Accounts), len(f.DNSClusters)}; !reflect.DeepEqual(got, []int{5, 1, 10, 1}) {
		t.Errorf("nodes, resellers, accounts, clusters = %v, want [5 1 10 1]", got)
	}
	alice := f.Accounts["alice"]
	if alice.MailNode() != "mail1" || alice.OwnerName() != "bob" || !alice.Protect || len(alice.Forwarders) != 1 {
		t.Errorf("alice decoded as %+v", alice)
	}
	if frank := f.Accounts["frank"]; frank.Owner != "" || frank.Mail != nil || frank.Plan != "basic" {
		t.Errorf("frank: owner %q (a schema default must decode as the Go zero value), mail %+v, plan %q", frank.Owner, frank.Mail, frank.Plan)
	}
	if m := f.Nodes["mail2"]; m.Version != 118 || m.Credentials.TokenEnv != "MAIL2_WHM_TOKEN" {
		t.Errorf("mail2 decoded as %+v", m)
	}
	if c := f.DNSClusters["web1"]; c.FailureThreshold.Value() != 10 || c.Members["ns2"].Role != DNSRoleWriteOnly {
		t.Errorf("cluster decoded as %+v", c)
	}
	for _, tc := range []struct {
		pos  Pos
		file string
		line int
	}{
		{alice.Src.Key, "accounts.cue", 61},          // the literal `alice:` beside the template
		{alice.Src.At("domain"), "accounts.cue", 43}, // the template
		{alice.Src.At("owner"), "accounts.cue", 19},  // the table row
		{alice.Src.At("forwarders[0].to"), "accounts.cue", 64},
		{f.Accounts["erin"].Src.Key, "accounts.cue", 42}, // no literal label: the template
		{f.Nodes["web1"].Src.Key, "nodes.cue", 10},
		{f.Nodes["web1"].Src.At("profile"), "nodes.cue", 15},
		{f.Nodes["mail2"].Src.At("host"), "nodes.cue", 24},
		{f.Resellers["bob"].Src.At("mail.node"), "accounts.cue", 10},
	} {
		if filepath.Base(tc.pos.File) != tc.file || tc.pos.Line != tc.line {
			t.Errorf("position %v, want %s:%d", tc.pos, tc.file, tc.line)
		}
	}
}

// TestCUEExampleEqualsQuickstart: examples/cue is the quickstart fleet written in CUE,
// so both load (through Load, as tether validate does) to the same Fleet.
func TestCUEExampleEqualsQuickstart(t *testing.T) {
	yf, yds, err := Load(filepath.Join("..", "examples", "quickstart"))
	if err != nil || len(yds) > 0 {
		t.Fatalf("quickstart: %v %v", err, yds)
	}
	cf, cds, err := Load(filepath.Join("..", "examples", "cue"))
	if err != nil || len(cds) > 0 {
		t.Fatalf("examples/cue: %v %v", err, cds)
	}
	// Source positions differ by nature and are not marshalled; everything else is.
	yj, _ := json.MarshalIndent(yf, "", " ")
	cj, _ := json.MarshalIndent(cf, "", " ")
	if !bytes.Equal(yj, cj) {
		t.Errorf("examples/cue and examples/quickstart differ:\n--- yaml\n%s\n--- cue\n%s", yj, cj)
	}
}

// TestCUEFleetThroughGoRules: the rules CUE leaves to Go (fleet.cue lists them) run on
// a CUE fleet through Load, and point into the operator's .cue file by the positions
// the decoder recorded.
func TestCUEFleetThroughGoRules(t *testing.T) {
	dir := t.TempDir()
	src := `package fleet

nodes: {
	web1: {role: "parent", host: "web1.example.net", version: 118}
	ns1: {role: "dnsonly", host: "ns1.example.net", version: 118}
}
_domains: {alice: "shop.example", bob: "shop.example"}
accounts: {for u, d in _domains {(u): {parent: "web1", domain: d}}}
dnsClusters: web1: members: {
	a: {node: "ns1", role: "sync"}
	b: {backend: "rfc2136", host: "ns1.example.net", address: "127.0.0.1:5300", role: "write-only"}
}
`
	name := filepath.Join(dir, "fleet.cue")
	if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ds, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int{}
	for _, d := range ds {
		if d.Pos.File != name {
			t.Errorf("not in the fleet file: %v", d)
		}
		got[d.Rule] = append(got[d.Rule], d.Pos.Line)
	}
	// D05 at the table row of each domain (line 7), D02 at the members (lines 10-11).
	if !hasLine(got[RuleD05], 7) || !(hasLine(got[RuleD02], 10) || hasLine(got[RuleD02], 11)) {
		t.Errorf("want TETHER-D05 on line 7 and TETHER-D02 on line 10 or 11, got:\n%v", ds)
	}
}

func hasLine(lines []int, l int) bool {
	for _, x := range lines {
		if x == l {
			return true
		}
	}
	return false
}

// TestMixedYAMLAndCUE: a folder may keep nodes in YAML and accounts in CUE. The CUE
// part alone references nodes it cannot see; the references are checked on the merged
// fleet instead, by the Go rules.
func TestMixedYAMLAndCUE(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"nodes.yaml":   "nodes:\n  web1: {role: parent, host: web1.example.net, version: 118}\n  mail1: {role: child, parent: web1, host: mail1.example.net, version: 118, services: [mail]}\n",
		"accounts.cue": "package fleet\n\naccounts: {\n\talice: {parent: \"web1\", domain: \"alice.example\", mail: node: \"mail1\"}\n\tbob: {parent: \"web9\", domain: \"bob.example\"}\n}\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, ds, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Only bob's parent is wrong, reported once, by the Go rules, at the .cue line.
	if len(ds) != 1 || ds[0].Rule != RuleR01 || filepath.Base(ds[0].Pos.File) != "accounts.cue" || ds[0].Pos.Line != 5 {
		t.Fatalf("want one TETHER-R01 at accounts.cue:5, got:\n%v", ds)
	}
	if f.Accounts["alice"].MailNode() != "mail1" {
		t.Errorf("alice not merged: %+v", f.Accounts["alice"])
	}
}

// An empty list in a CUE fleet is kept empty, as the YAML loader keeps it: services:
// [] (a child taking no service) and acls: [] (every ACL removed) are not the
// absent field (the default, and ACLs not managed).
func TestLoadCUEEmptyListsKept(t *testing.T) {
	dir := t.TempDir()
	src := `nodes: {
	web1: {role: "parent", host: "web1.example.net"}
	mail1: {role: "child", parent: "web1", host: "mail1.example.net", services: []}
}
resellers: bob: {parent: "web1", domain: "bob.example", acls: []}
accounts: alice: {parent: "web1", domain: "alice.example", autossl: dcv: []}
`
	if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	f, ds := loadCUE([]string{filepath.Join(dir, "fleet.cue")})
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	for _, tt := range []struct {
		name string
		list []string
	}{
		{"services", f.Nodes["mail1"].Services},
		{"acls", f.Resellers["bob"].ACLs},
		{"autossl.dcv", f.Accounts["alice"].AutoSSL.DCV},
	} {
		if tt.list == nil || len(tt.list) != 0 {
			t.Errorf("%s: decoded %#v, want an empty list", tt.name, tt.list)
		}
	}
}

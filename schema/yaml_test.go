package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tiny cuts every section entry into its own chunk: the harshest test of the splitter.
var tiny = chunking{minBytes: 0, targetBytes: 1}

// loadBytes loads data as Load would load a file holding it: readFleetFile's text
// check, then build.
func loadBytes(data []byte, ch chunking) (*Fleet, Diagnostics) {
	if ds := checkText("fleet.yaml", data); len(ds) > 0 {
		return newFleet(), ds
	}
	return build([]yamlSource{{"fleet.yaml", data}}, nil, nil, ch)
}

// FuzzLoadYAML feeds arbitrary bytes to the YAML loader. It must never panic or hang,
// every problem must carry the file and a rule, and cutting the file into chunks must
// never change the result.
func FuzzLoadYAML(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/*/*/*.y*ml")
	seeds = append(seeds, "../examples/quickstart/fleet.yaml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(withAnchors))
	f.Add([]byte("accounts:\n  a:\n    plan: \"x\n  b: y\"\n"))
	f.Add([]byte("accounts:\n  a: &x {parent: w}\n  b: *x\n"))
	f.Add([]byte("accounts:\n  a:\n    plan: |\n      x\n  b:\n    plan: y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		fl, ds := loadBytes(data, defaultChunking)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("loading %d bytes took %v", len(data), d)
		}
		if fl == nil {
			t.Fatal("nil fleet")
		}
		for _, d := range ds {
			if d.Pos.File != "fleet.yaml" || !strings.HasPrefix(d.Rule, "TETHER-") || d.Message == "" {
				t.Fatalf("malformed diagnostic %#v", d)
			}
		}
		fl2, ds2 := loadBytes(data, tiny)
		if ds.Error() != ds2.Error() {
			t.Fatalf("chunked parse differs:\nwhole:\n%s\nchunked:\n%s", ds.Error(), ds2.Error())
		}
		if !reflect.DeepEqual(fl, fl2) {
			t.Fatalf("chunked parse gives another fleet for:\n%s", data)
		}
	})
}

// withAnchors is a fleet using YAML templates: anchors in x- keys, merged into
// entries of several sections, one of them overridden, one value wrong.
const withAnchors = `# templates
x-account: &account
  parent: web1
  plan: basic
x-mail: &mail {node: mail1}
nodes:
  web1: {role: parent, host: web1.example.net, version: 118}
  mail1: {role: child, parent: web1, host: mail1.example.net, version: 118}
accounts:
  alice:
    <<: *account
    domain: alice.example
  bob:
    <<: *account
    domain: bob.example
    mail: *mail
    ipv6: true
  carol:
    <<: *account
    domain: carol.example
    plan: premium
    suspended: maybe
`

// TestChunkedEqualsWhole: every fixture and the quickstart give the same fleet and the
// same problems, positions included, whether parsed whole or in one-entry chunks.
func TestChunkedEqualsWhole(t *testing.T) {
	files, _ := filepath.Glob("../testdata/*/*/*.y*ml")
	files = append(files, "../examples/quickstart/fleet.yaml", "withAnchors")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if file == "withAnchors" {
			data, err = []byte(withAnchors), nil
			_, ds := loadBytes(data, tiny)
			if len(ds) != 2 || ds[0].Rule != RuleL06 || ds[0].Pos.Line != 17 || ds[1].Pos.Line != 22 {
				t.Errorf("withAnchors: want L06 at line 17 and SCHEMA at 22, got:\n%s", ds.Error())
			}
			// Each chunk parses alone (the prelude makes the anchors resolve), so
			// this is the chunked path, not the whole-file fallback.
			for _, c := range splitYAML("f.yaml", data, tiny) {
				if _, pds := parseYAML(c, nil); len(pds) > 0 {
					t.Errorf("chunk %q: %s", c.text, pds.Error())
				}
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		f1, ds1 := loadBytes(data, defaultChunking)
		f2, ds2 := loadBytes(data, tiny)
		if ds1.Error() != ds2.Error() {
			t.Errorf("%s: problems differ:\nwhole:\n%s\nchunked:\n%s", file, ds1.Error(), ds2.Error())
		}
		if !reflect.DeepEqual(f1, f2) {
			t.Errorf("%s: fleets differ", file)
		}
	}
}

func TestSplitYAML(t *testing.T) {
	big := "# head comment\nnodes:\n  web1: {role: parent, host: web1.example.net}\naccounts:\n" +
		"  alice:\n    parent: web1\n    domain: alice.example\n" +
		"  # between\n\n  bob:\n    parent: web1\n    domain: bob.example\n" +
		"  carol: {parent: web1, domain: carol.example}\n"
	tests := []struct {
		name   string
		text   string
		chunks int
	}{
		{"small file stays whole", big, 1},
		{"accounts cut per entry", big, 4}, // nodes, then alice, bob, carol
		{"anchors in x- keys: a prelude in every chunk", "x-d: &d {plan: basic}\n" + big, 5},
		{"document marker: whole", "---\n" + big, 1},
		{"flow top level: whole", "{nodes: {}}\n", 1},
		{"sequence entries: section kept whole", "nodes:\n  - a\n  - b\n", 1},
		{"less indented content: section kept whole", "accounts:\n    a: {}\n  b: {}\n", 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := tiny
			if i == 0 {
				ch = defaultChunking
			}
			cs := splitYAML("f.yaml", []byte(tt.text), ch)
			if len(cs) != tt.chunks {
				t.Fatalf("got %d chunks, want %d: %+v", len(cs), tt.chunks, cs)
			}
			// Every line of every chunk is the file's line it maps to (a continued
			// chunk's header copy maps to the header).
			lines := strings.Split(tt.text, "\n")
			for _, c := range cs {
				for i, l := range strings.Split(strings.TrimSuffix(string(c.text), "\n"), "\n") {
					if fl := c.fileLine(i + 1); fl < 1 || fl > len(lines) || lines[fl-1] != l {
						t.Errorf("chunk %q: line %d %q maps to file line %d", c.text, i+1, l, fl)
					}
				}
			}
		})
	}
}

func TestEditDistanceSuggestions(t *testing.T) {
	tests := []struct{ typo, want string }{
		{"contactemial", "contactEmail"},
		{"contactemail", "contactEmail"},
		{"domian", "domain"},
		{"fowarders", "forwarders"},
		{"zzzzzz", ""},
	}
	for _, tt := range tests {
		if got := nearest(tt.typo, accountFields); got != tt.want {
			t.Errorf("nearest(%q) = %q, want %q", tt.typo, got, tt.want)
		}
	}
}

// TestBadInput covers input that is not a fleet at all: each gets one clear TETHER-LOAD
// (or, for a document of the wrong shape, TETHER-SCHEMA) problem, never a panic.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	onlyOthers := filepath.Join(dir, "others")
	write("others/README.md", []byte("# not a fleet"))
	write("others/.hidden.yaml", []byte("nodes: {}"))
	write("others/sub/fleet.yaml", []byte("nodes: {}"))

	huge := make([]byte, MaxFileSize+1)
	for i := range huge {
		huge[i] = '#'
	}
	tests := []struct {
		name, path, rule, msg string
	}{
		{"missing path", filepath.Join(dir, "nope"), RuleLoad, "no such file or directory"},
		{"empty folder", empty, RuleLoad, "holds no fleet files"},
		{"folder without fleet files", onlyOthers, RuleLoad, "holds no fleet files"},
		{"file over the size limit", write("huge.yaml", huge), RuleLoad, "over the 40 MiB limit"},
		{"binary", write("bin.yaml", []byte("\x7fELF\x00\x01")), RuleLoad, "binary file"},
		{"UTF-16", write("u16.yaml", []byte("\xff\xfen\x00o\x00")), RuleLoad, "UTF-16"},
		{"non-UTF-8", write("latin1.yaml", []byte("accounts: {caf\xe9: {}}")), RuleLoad, "not valid UTF-8"},
		{"broken YAML", write("broken.yaml", []byte("nodes:\n  web1: {role: parent\n")), RuleLoad, "invalid YAML"},
		{"multi-document", write("multi.yaml", []byte("nodes: {}\n---\nnodes: {}\n")), RuleLoad, "more than one YAML document"},
		{"list document", write("list.yaml", []byte("- a\n- b\n")), RuleSchema, "must be a mapping"},
		{"scalar document", write("scalar.yaml", []byte("hello\n")), RuleSchema, "must be a mapping"},
		{"deep nesting", write("deep.yaml", []byte(strings.Repeat("[", 20000))), RuleLoad, "invalid YAML"},
		{"device", "/dev/zero", RuleLoad, "not a regular file"},
		{"unknown anchor", write("anchor.yaml", []byte("nodes:\n  web1: *web\n")), RuleLoad, "unknown anchor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ds, err := Load(tt.path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(ds) != 1 || ds[0].Rule != tt.rule || !strings.Contains(ds[0].Message, tt.msg) {
				t.Fatalf("want one %s problem containing %q, got:\n%s", tt.rule, tt.msg, ds.Error())
			}
			if ds[0].Pos.File != tt.path {
				t.Errorf("problem names %q, want the path as given, %q", ds[0].Pos.File, tt.path)
			}
		})
	}
}

// TestEmptyFileIsEmptyFleet: a file with only comments declares nothing; it is not an
// error (a folder may hold a placeholder for a parent not yet populated).
func TestEmptyFileIsEmptyFleet(t *testing.T) {
	f, ds := loadBytes([]byte("# nothing yet\n"), defaultChunking)
	if len(ds) != 0 || len(f.Nodes)+len(f.Accounts) != 0 {
		t.Fatalf("got %d problems, %d nodes", len(ds), len(f.Nodes))
	}
}

// TestSecretsNeverEchoed: an inline token or TSIG secret is reported, and its value is
// in no message, whatever its type.
func TestSecretsNeverEchoed(t *testing.T) {
	for _, secret := range []string{"S3cr3tT0kenValue", "123456789", "true"} {
		data := []byte(`nodes:
  web1: {role: parent, host: web1.example.net, credentials: {user: root, token: ` + secret + `}}
  ns1: {role: dnsonly, host: ns1.example.net}
dnsClusters:
  web1:
    enabled: true
    members:
      ns1: {node: ns1, role: sync}
      b: {backend: rfc2136, host: b.example.org, address: "127.0.0.1:53", role: sync, tsig: {name: k, secret: ` + secret + `}}
`)
		_, ds := loadBytes(data, defaultChunking)
		s01 := 0
		for _, d := range ds {
			if d.Rule == RuleS01 {
				s01++
			}
			if strings.Contains(d.Message+d.Fix, secret) {
				t.Errorf("secret %q echoed: %s", secret, d)
			}
		}
		if s01 != 2 {
			t.Errorf("secret %q: want 2 TETHER-S01 problems, got:\n%s", secret, ds.Error())
		}
	}
}

// TestMergeKeys: YAML anchors and merge keys work as YAML defines them: a mapping's own
// keys win over merged ones, and positions point where each value was written.
func TestMergeKeys(t *testing.T) {
	data := []byte(`x-defaults: &defaults
  parent: web1
  plan: basic
nodes:
  web1: {role: parent, host: web1.example.net}
accounts:
  alice:
    <<: *defaults
    domain: alice.example
    plan: premium
`)
	f, ds := loadBytes(data, defaultChunking)
	if len(ds) != 0 {
		t.Fatalf("problems:\n%s", ds.Error())
	}
	a := f.Accounts["alice"]
	if a.Parent != "web1" || a.Plan != "premium" {
		t.Errorf("alice = %+v", a)
	}
	if p := a.Src.At("parent"); p.Line != 2 {
		t.Errorf("parent position = %v, want line 2 (the anchor)", p)
	}
	if p := a.Src.At("plan"); p.Line != 10 {
		t.Errorf("plan position = %v, want line 10", p)
	}
}

// TestAnchorsAtAnySize: anchors resolve as YAML defines them (an alias names the
// latest definition before it) whether or not the file is big enough to be cut into
// chunks. Each case is about 1 MiB, past the cut, and checked against both the value
// the YAML spec gives and the whole-file parse.
func TestAnchorsAtAnySize(t *testing.T) {
	const n = 22000 // accounts: 1 MiB
	account := func(b *strings.Builder, i int, extra string) {
		fmt.Fprintf(b, "  u%05d:\n    <<: *d\n    domain: u%05d.example\n%s", i, i, extra)
	}
	head := "x-defaults: &d {parent: web1, plan: basic}\nnodes:\n  web1: {role: parent, host: web1.example.net}\naccounts:\n"
	tests := []struct {
		name  string
		build func() string
		plan  func(i int) string // the plan account i must have
		error string             // or the diagnostic the file must give
	}{
		{"redefined in the body", func() string {
			var b strings.Builder
			b.WriteString(head)
			for i := 0; i < n; i++ {
				extra := ""
				if i == n/2 {
					extra = "    x: &d {parent: web1, plan: gold}\n" // unknown field, but defines &d
				}
				account(&b, i, extra)
			}
			return b.String()
		}, func(i int) string {
			if i <= n/2 {
				return "basic"
			}
			return "gold"
		}, ""},
		{"redefined in a later x- key", func() string {
			var b strings.Builder
			b.WriteString(head)
			for i := 0; i < n; i++ {
				account(&b, i, "")
			}
			b.WriteString("x-late: &d {parent: web1, plan: gold}\nresellers:\n  rr:\n    <<: *d\n    domain: rr.example\n")
			return b.String()
		}, func(i int) string { return "basic" }, ""},
		{"anchor only after its alias", func() string {
			var b strings.Builder
			b.WriteString("nodes:\n  web1: {role: parent, host: web1.example.net}\naccounts:\n")
			for i := 0; i < n; i++ {
				account(&b, i, "")
			}
			b.WriteString("x-late: &d {parent: web1, plan: gold}\n")
			return b.String()
		}, nil, "unknown anchor 'd'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.build())
			if len(data) < 1<<20 {
				t.Fatalf("%d bytes: the case must be 1 MiB, past the size files are cut at", len(data))
			}
			whole, wds := loadBytes(data, chunking{minBytes: 1 << 40})
			chunked, cds := loadBytes(data, defaultChunking)
			if wds.Error() != cds.Error() || !reflect.DeepEqual(whole, chunked) {
				t.Fatalf("chunked load differs from whole:\nwhole: %v\nchunked: %v", wds, cds)
			}
			if tt.error != "" {
				if !strings.Contains(cds.Error(), tt.error) {
					t.Fatalf("want %q, got %v", tt.error, cds)
				}
				return
			}
			for i := 0; i < n; i++ {
				a := chunked.Accounts[fmt.Sprintf("u%05d", i)]
				if a == nil || a.Plan != tt.plan(i) {
					t.Fatalf("account %d: %+v, want plan %s", i, a, tt.plan(i))
				}
			}
		})
	}
}

// TestSyntaxErrorCostsOneChunk: a syntax error near the end of a big file is found
// by parsing from the failing chunk on, not the whole file, and is reported where
// the whole-file parse reports it.
func TestSyntaxErrorCostsOneChunk(t *testing.T) {
	var b strings.Builder
	b.WriteString("nodes:\n  web1: {role: parent, host: web1.example.net}\naccounts:\n")
	const n = 20000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  u%05d:\n    parent: web1\n    domain: u%05d.example\n", i, i)
		if i == n-10 {
			b.WriteString("    plan: [oops\n")
		}
	}
	data := []byte(b.String())
	_, wds := loadBytes(data, chunking{minBytes: 1 << 40})
	_, cds := loadBytes(data, defaultChunking)
	if len(cds) != 1 || wds.Error() != cds.Error() {
		t.Fatalf("chunked: %v\nwhole: %v", cds, wds)
	}
}

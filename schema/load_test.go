package schema_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tether-dev/tether/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/invalid")

// allRules are the ids of DESIGN.md's rule table; each needs a failing fixture.
var allRules = []string{
	schema.RuleSchema, schema.RuleR01, schema.RuleA01, schema.RuleA02, schema.RuleA03, schema.RuleS01,
	schema.RuleL01, schema.RuleL02, schema.RuleL03, schema.RuleL04, schema.RuleL05,
	schema.RuleL06, schema.RuleL07, schema.RuleL08, schema.RuleL09, schema.RuleL10,
	schema.RuleL13, schema.RuleL16, schema.RuleD01, schema.RuleD02, schema.RuleD03,
	schema.RuleD05, schema.RuleD06, schema.RuleLoad,
}

func render(ds schema.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// fixtureRule maps a fixture folder name to the rule it is about: "l04-list" ->
// TETHER-L04, "schema-..." -> TETHER-SCHEMA, "load-..." -> TETHER-LOAD.
func fixtureRule(name string) string {
	id, _, _ := strings.Cut(name, "-")
	return "TETHER-" + strings.ToUpper(id)
}

// wantMarker is a comment on a fixture line naming the rule expected there.
var wantMarker = regexp.MustCompile(`#\s*want:?\s+((?:TETHER-[A-Z0-9]+[ ,]*)+)`)

// TestInvalidFixtures loads every fleet under testdata/invalid and compares the
// problems with the folder's expected.txt (go test ./schema -update rewrites them).
// Independently of the goldens, every "# want TETHER-XNN" comment in a fixture must
// be matched by a problem of that rule on that line, and every problem in a file with
// markers must have one: so a golden cannot drift to the wrong line unnoticed.
func TestInvalidFixtures(t *testing.T) {
	t.Chdir("..") // paths in the goldens are as an operator at the repository root sees them
	dirs, err := os.ReadDir("testdata/invalid")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, e := range dirs {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join("testdata", "invalid", e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			_, ds, err := schema.Load(dir)
			if err != nil {
				t.Fatalf("Load(%s): %v", dir, err)
			}
			if len(ds) == 0 {
				t.Fatalf("Load(%s): no problems; a fixture under testdata/invalid must fail", dir)
			}
			want := fixtureRule(e.Name())
			found := false
			for _, d := range ds {
				covered[d.Rule] = true
				found = found || d.Rule == want
			}
			if !found {
				t.Errorf("no %s problem in %s:\n%s", want, dir, render(ds))
			}
			checkMarkers(t, dir, ds)
			golden := filepath.Join(dir, "expected.txt")
			got := render(ds)
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./schema -update to create it)", err)
			}
			if got != string(exp) {
				t.Errorf("problems differ from %s\n--- got\n%s--- want\n%s", golden, got, exp)
			}
		})
	}
	for _, r := range allRules {
		if !covered[r] {
			t.Errorf("no fixture under testdata/invalid reports %s", r)
		}
	}
}

func checkMarkers(t *testing.T, dir string, ds schema.Diagnostics) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for i, line := range strings.Split(string(data), "\n") {
			if m := wantMarker.FindStringSubmatch(line); m != nil {
				for _, r := range strings.FieldsFunc(m[1], func(c rune) bool { return c == ' ' || c == ',' }) {
					want[lineRule(i+1, r)] = true
				}
			}
		}
		if len(want) == 0 {
			continue
		}
		got := map[string]bool{}
		for _, d := range ds {
			if d.Pos.File == file {
				got[lineRule(d.Pos.Line, d.Rule)] = true
			}
		}
		if missing, extra := diffSets(want, got); len(missing)+len(extra) > 0 {
			t.Errorf("%s: markers not matched by a problem: %v; problems without a marker: %v\n%s", file, missing, extra, render(ds))
		}
	}
}

func lineRule(line int, rule string) string { return rule + "@" + itoa(line) }

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		n /= 10
		if n == 0 {
			return s
		}
	}
}

func diffSets(want, got map[string]bool) (missing, extra []string) {
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return missing, extra
}

// TestValidFixtures: every fleet under testdata/valid loads without a problem, and its
// summary is the one in its expected.txt (go test ./schema -update rewrites them).
func TestValidFixtures(t *testing.T) {
	t.Chdir("..")
	dirs, err := filepath.Glob("testdata/valid/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no valid fixtures: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			f, ds, err := schema.Load(dir)
			if err != nil || len(ds) > 0 {
				t.Fatalf("Load(%s): %v\n%s", dir, err, render(ds))
			}
			got := schema.Summary(f) + "\n"
			golden := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if exp, err := os.ReadFile(golden); err != nil || string(exp) != got {
				t.Errorf("summary %q, want %q (%v)", got, exp, err)
			}
		})
	}
}

// TestQuickstartIsValid keeps examples/quickstart clean: it is the first thing a
// newcomer runs.
func TestQuickstartIsValid(t *testing.T) {
	t.Chdir("..")
	f, ds, err := schema.Load("examples/quickstart")
	if err != nil || len(ds) > 0 {
		t.Fatalf("examples/quickstart: err=%v\n%s", err, render(ds))
	}
	if got, want := schema.Summary(f), "fleet OK: 5 nodes, 1 reseller, 10 accounts, 1 DNS cluster"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	children, distributed, owned := 0, 0, 0
	for _, n := range f.Nodes {
		if n.Role == schema.RoleChild {
			children++
		}
	}
	for _, a := range f.Accounts {
		if a.MailNode() != "" {
			distributed++
		}
		if a.OwnerName() != "root" {
			owned++
		}
	}
	if children != 2 || distributed == 0 || owned == 0 || len(f.DNSClusters["web1"].Members) != 2 {
		t.Errorf("quickstart lost its shape: %d children, %d distributed, %d reseller-owned accounts", children, distributed, owned)
	}
}

// TestLoadWith holds what LoadWith adds to Load: its check's diagnostics are the
// result only when the load and the rules found none; on a fleet the rules reject it
// is dropped, even when it panics, and on one they accept its panic is the caller's.
func TestLoadWith(t *testing.T) {
	dir := t.TempDir()
	invalid := filepath.Join(dir, "invalid.yaml")
	if err := os.WriteFile(invalid, []byte("nodes:\n  web1:\n    role: parent\n    host: web1.example.net\naccounts:\n  alice:\n    parent: nowhere\n    domain: alice.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := schema.Diagnostic{Pos: schema.Pos{File: "x", Line: 1, Col: 1}, Rule: "TETHER-P01", Message: "extra"}
	found := func(*schema.Fleet) schema.Diagnostics { return schema.Diagnostics{extra} }
	clean := func(*schema.Fleet) schema.Diagnostics { return nil }
	panics := func(*schema.Fleet) schema.Diagnostics { panic("assumed the rules held") }
	for _, tc := range []struct {
		name      string
		path      string
		also      func(*schema.Fleet) schema.Diagnostics
		wantExtra bool // the result is exactly also's diagnostic
		wantRules bool // the result is the rules' diagnostics (and no extra)
		wantPanic bool
	}{
		{"valid fleet, also finds a problem", "../examples/quickstart", found, true, false, false},
		{"valid fleet, also finds none", "../examples/quickstart", clean, false, false, false},
		{"invalid fleet: also's problem dropped", invalid, found, false, true, false},
		{"invalid fleet: also's panic dropped", invalid, panics, false, true, false},
		{"valid fleet: also's panic is the caller's", "../examples/quickstart", panics, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); (r != nil) != tc.wantPanic {
					t.Fatalf("panic = %v, want a panic: %v", r, tc.wantPanic)
				}
			}()
			_, ds, err := schema.LoadWith(tc.path, tc.also)
			if err != nil {
				t.Fatal(err)
			}
			_, plain, _ := schema.Load(tc.path)
			switch {
			case tc.wantExtra:
				if len(ds) != 1 || ds[0] != extra {
					t.Fatalf("LoadWith = %s, want only %v", render(ds), extra)
				}
			case tc.wantRules:
				if len(ds) == 0 || render(ds) != render(plain) {
					t.Fatalf("LoadWith = %s, want Load's %s", render(ds), render(plain))
				}
			default:
				if len(ds) != 0 {
					t.Fatalf("LoadWith = %s, want none", render(ds))
				}
			}
		})
	}
}

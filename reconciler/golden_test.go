package reconciler

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/reconciler/render"
	"github.com/tether-dev/tether/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/plans")

const goldenDir = "../testdata/plans"

// caseOptions is options.yaml of a golden case: what Diff and CheckSafety are told
// besides the two fleets.
type caseOptions struct {
	Inventory     []string `yaml:"inventory"`
	Protected     []string `yaml:"protected"`
	FailedScopes  []string `yaml:"failedScopes"`
	ObserveErrors []struct {
		Provider string `yaml:"provider"`
		Scope    string `yaml:"scope"`
		Error    string `yaml:"error"`
	} `yaml:"observeErrors"`
	Force         bool `yaml:"force"`
	AllowDataLoss bool `yaml:"allowDataLoss"`
	// EnableMember plans `tether dns enable MEMBER` instead of a diff.
	EnableMember string `yaml:"enableMember"`
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// loadDesired loads a desired fleet as tether does (schema.Load: positions and every
// rule), so the golden plans are plans of fleets an operator could actually apply.
func loadDesired(t *testing.T, path string) *schema.Fleet {
	t.Helper()
	f, ds, err := schema.Load(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(ds) > 0 {
		t.Fatalf("%s is not a valid fleet:\n%s", path, ds.Error())
	}
	return f
}

// loadFleet reads an observed fleet written in YAML through the model's JSON field
// names, with unknown fields refused, so a typo fails the test instead of silently
// testing less. Observed fleets are not operator files: the fleet rules do not apply
// to them (a server may well be in a state the rules forbid).
func loadFleet(t *testing.T, path string) *schema.Fleet {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	f := &schema.Fleet{}
	if err := dec.Decode(f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

func loadOptions(t *testing.T, dir string) caseOptions {
	t.Helper()
	var o caseOptions
	raw, err := os.ReadFile(filepath.Join(dir, "options.yaml"))
	if errors.Is(err, os.ErrNotExist) {
		return o
	}
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("%s/options.yaml: %v", dir, err)
	}
	return o
}

// goldenCase plans one case directory and returns every render.
func goldenCase(t *testing.T, dir string) map[string][]byte {
	desired := loadDesired(t, filepath.Join(dir, "desired.yaml"))
	observed := loadFleet(t, filepath.Join(dir, "observed.yaml"))
	o := loadOptions(t, dir)
	opts := DiffOptions{
		Inventory:    set(o.Inventory),
		Protected:    set(o.Protected),
		FailedScopes: set(o.FailedScopes),
	}
	for _, e := range o.ObserveErrors {
		opts.ObserveErrors = append(opts.ObserveErrors, &ScopeError{Provider: e.Provider, Scope: e.Scope, Err: errors.New(e.Error)})
	}
	p := Diff(desired, observed, withProviders(opts))
	if o.EnableMember != "" {
		var err error
		if p, err = EnableMember(desired, observed, o.EnableMember, withProviders(DiffOptions{})); err != nil {
			t.Fatal(err)
		}
	}
	checkPlanInvariants(t, p)

	out := map[string][]byte{}
	var txt, js, md bytes.Buffer
	if err := render.Text(&txt, p, render.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := render.JSON(&js, p); err != nil {
		t.Fatal(err)
	}
	if err := render.Markdown(&md, p, render.MarkdownOptions{}); err != nil {
		t.Fatal(err)
	}
	out["expected.txt"], out["expected.json"], out["expected.md"] = txt.Bytes(), js.Bytes(), md.Bytes()

	safety := "allowed\n"
	if err := CheckSafety(p, desired, observed, SafetyOptions{Force: o.Force, AllowDataLoss: o.AllowDataLoss, Inventory: opts.Inventory, Protected: opts.Protected}); err != nil {
		safety = err.Error() + "\n"
	}
	out["expected-safety.txt"] = []byte(safety)

	// A saved plan must read back to the same plan: typed values, same render.
	var back plan.Plan
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("read the JSON plan back: %v", err)
	}
	var js2 bytes.Buffer
	if err := render.JSON(&js2, &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(js.Bytes(), js2.Bytes()) {
		t.Errorf("JSON plan does not survive a round trip:\n%s\n---\n%s", js.String(), js2.String())
	}
	var txt2 bytes.Buffer
	if err := render.Text(&txt2, &back, render.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(txt.Bytes(), txt2.Bytes()) {
		t.Errorf("a plan read back renders differently:\n%s\n---\n%s", txt.String(), txt2.String())
	}

	// Diff is pure: the same inputs give the same plan, byte for byte.
	var again bytes.Buffer
	if err := render.JSON(&again, Diff(desired, observed, withProviders(opts))); err != nil {
		t.Fatal(err)
	}
	if o.EnableMember == "" && !bytes.Equal(js.Bytes(), again.Bytes()) {
		t.Error("two diffs of the same fleets differ")
	}
	return out
}

func TestGoldenPlans(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(goldenDir, "*", "desired.yaml"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases under %s (%v)", goldenDir, err)
	}
	// What the cases cover together; checked at the end so a case removed or
	// changed cannot silently drop an action or a flag from the golden files.
	covered := map[string]bool{}
	for _, d := range dirs {
		dir := filepath.Dir(d)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := goldenCase(t, dir)
			var p plan.Plan
			if err := json.Unmarshal(got["expected.json"], &p); err != nil {
				t.Fatal(err)
			}
			named := map[string][]string{}
			for _, c := range p.Changes {
				named[c.Address] = append(named[c.Address], c.Fields...)
			}
			for _, c := range p.Changes {
				// before and after hold the same fields, but for those the plan changes.
				if bm, am := jsonFields(c.Before), jsonFields(c.After); bm != nil && am != nil {
					for k := range bm {
						if _, ok := am[k]; !ok && !namedField(k, named[c.Address]) {
							t.Errorf("%s: before has %s, after has not, and no change names it", c.ID, k)
						}
					}
					for k := range am {
						if _, ok := bm[k]; !ok && !namedField(k, named[c.Address]) {
							t.Errorf("%s: after has %s, before has not, and no change names it", c.ID, k)
						}
					}
				}
				covered["action "+string(c.Action)] = true
				if c.Action == plan.Dedistribute && c.Flags.DataLoss {
					covered["forced dedistribute"] = true
				}
				covered["flag disruptive"] = covered["flag disruptive"] || c.Flags.Disruptive
				covered["flag destructive"] = covered["flag destructive"] || c.Flags.Destructive
				covered["flag dataLoss"] = covered["flag dataLoss"] || c.Flags.DataLoss
				covered["provider "+c.Provider] = true
			}
			for _, u := range p.Unmanaged {
				covered["unmanaged"] = true
				if strings.Contains(u.Reason, "protected") {
					covered["protected"] = true
				}
			}
			for _, g := range p.Gates {
				covered["gate "+g.Kind] = true
				// Each gate shows in every render, with the flag that lifts it.
				for _, name := range []string{"expected.txt", "expected.md"} {
					if !bytes.Contains(got[name], []byte(g.Flag)) || !bytes.Contains(got[name], []byte(g.Message)) {
						t.Errorf("%s does not show the gate %s (%s)", name, g.Kind, g.Flag)
					}
				}
			}
			covered["unread"] = covered["unread"] || len(p.Unread) > 0
			covered["adoptable"] = covered["adoptable"] || len(p.Adoptable) > 0
			if !p.Complete() {
				covered["incomplete"] = true
				for _, name := range []string{"expected.txt", "expected.md"} {
					if !bytes.Contains(got[name], []byte("INCOMPLETE")) || bytes.Contains(got[name], []byte("No changes")) || bytes.Contains(got[name], []byte("matches")) {
						t.Errorf("%s of an incomplete plan does not say INCOMPLETE, or claims a match", name)
					}
				}
			}
			covered["observation errors"] = covered["observation errors"] || len(p.Errors) > 0
			covered["warnings"] = covered["warnings"] || len(p.Warnings) > 0
			covered["no changes"] = covered["no changes"] || p.Empty() && len(p.Unmanaged) == 0
			covered["refused"] = covered["refused"] || !bytes.Equal(got["expected-safety.txt"], []byte("allowed\n"))
			for name, b := range got {
				path := filepath.Join(dir, name)
				if *update {
					if err := os.WriteFile(path, b, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./reconciler/ -update to create it)", err)
				}
				if !bytes.Equal(want, b) {
					t.Errorf("%s differs from the golden file (go test ./reconciler/ -update rewrites it):\n%s", path, firstDiff(string(want), string(b)))
				}
			}
		})
	}
	var need []string
	for _, a := range []plan.Action{plan.Create, plan.Update, plan.Link, plan.Unlink, plan.Distribute,
		plan.Dedistribute, plan.Delete, plan.Enable, plan.Disable, plan.Resync} {
		need = append(need, "action "+string(a))
	}
	need = append(need, "forced dedistribute", "flag disruptive", "flag destructive", "flag dataLoss",
		"provider whm", "provider rfc2136", "unmanaged", "protected", "observation errors", "warnings", "no changes", "refused",
		"gate "+plan.GateMaxRemove, "gate "+plan.GateDataLoss, "gate "+plan.GateIncomplete, "gate "+plan.GateProtected,
		"unread", "adoptable", "incomplete")
	for _, n := range need {
		if !covered[n] {
			t.Errorf("no golden case covers %s", n)
		}
	}
}

// firstDiff shows where two texts part, enough to read the failure.
func firstDiff(want, got string) string {
	wl, gl := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, w, g)
		}
	}
	return "(equal)"
}

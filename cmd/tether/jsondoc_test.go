package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/dnsverify"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/internal/version"
	"github.com/tether-dev/tether/internal/workspace"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/reconciler/planfile"
	"github.com/tether-dev/tether/reconciler/render"
	"github.com/tether-dev/tether/schema"
)

// jsonDoc is where every JSON document Tether writes is described.
const jsonDoc = "../../reconciler/render/JSON.md"

var exampleRE = regexp.MustCompile("(?s)(?:<!-- example: ([a-z-]+) -->\\s*)?```json\\n(.*?)```")

// TestJSONDocExamples parses every example in JSON.md and checks that it has exactly
// the fields the command writes, object by object: a field the code adds or drops
// without the document following fails here, and so does an example that is not JSON.
func TestJSONDocExamples(t *testing.T) {
	doc, err := os.ReadFile(jsonDoc)
	if err != nil {
		t.Fatal(err)
	}
	refs := referenceDocs(t)
	seen := map[string]bool{}
	for _, m := range exampleRE.FindAllSubmatch(doc, -1) {
		kind, body := string(m[1]), m[2]
		if kind == "" {
			t.Errorf("a ```json block without an <!-- example: KIND --> marker:\n%s", body)
			continue
		}
		ref, ok := refs[kind]
		if !ok {
			t.Errorf("example %q: no such document", kind)
			continue
		}
		seen[kind] = true
		var got any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("example %s is not JSON: %v", kind, err)
			continue
		}
		var want any
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		sameShape(t, kind, got, want)
		// The typed readers accept the examples as they are.
		switch kind {
		case "plan":
			var p plan.Plan
			if err := json.Unmarshal(body, &p); err != nil {
				t.Errorf("example plan does not read as a plan: %v", err)
			}
		case "planfile":
			path := filepath.Join(t.TempDir(), "plan.json")
			if err := os.WriteFile(path, body, 0o600); err != nil {
				t.Fatal(err)
			}
			if !planfile.Is(path) {
				t.Error("example planfile is not recognised as a saved plan")
			}
			if _, err := planfile.Read(path); err != nil {
				t.Errorf("example planfile does not read: %v", err)
			}
		}
	}
	for kind := range refs {
		if !seen[kind] {
			t.Errorf("JSON.md has no example of %s", kind)
		}
	}
}

// referenceDocs writes each document the way the commands do, with every optional
// field filled, so its shape is the full contract.
func referenceDocs(t *testing.T) map[string][]byte {
	t.Helper()
	p := &plan.Plan{
		Changes: []*plan.Change{{
			ID: "account.alice/distribute", Address: "account.alice", Action: plan.Distribute,
			Before: &schema.Account{Parent: "web1", Domain: "alice.example"}, After: &schema.Account{Parent: "web1", Domain: "alice.example"},
			Fields: []string{"mail.node"}, Reason: "r", Provider: "whm", Target: "web1", Parent: "web1",
		}},
		Unmanaged: []plan.Unmanaged{{Address: "account.zed", Target: "web1", Reason: "r"}},
		Errors:    []string{"e"},
		Unread:    []plan.Unread{{Scope: "web2", Provider: "whm", Reason: "r"}},
		Gates:     []plan.Gate{{Kind: plan.GateIncomplete, Flag: "--partial", Message: "m", Addresses: []string{"web2"}}},
		Adoptable: []plan.Adoptable{{Address: "account.carol", Target: "web1"}},
		Warnings:  []string{"w"},
		Source:    plan.Source{Path: "fleet/", Fingerprint: "sha256:x", Commit: "c"},
		Observed:  "sha256:y",
	}
	var pj bytes.Buffer
	if err := render.JSON(&pj, p); err != nil {
		t.Fatal(err)
	}
	empty := &plan.Plan{Source: plan.Source{Path: "/abs/fleet", Fingerprint: "sha256:x"}}
	pf := planfile.New(empty, plan.Source{Path: "/abs/fleet", Fingerprint: "sha256:x", Commit: "c"},
		planfile.Observed{Fingerprint: "sha256:y", Objects: map[string]string{"account.alice": "h"}}, time.Now())
	pf.Plan.Observed = "sha256:y"
	pfj, err := json.Marshal(pf)
	if err != nil {
		t.Fatal(err)
	}
	vj, err := json.Marshal(validateReport{Summary: "s", Problems: []schema.Diagnostic{{Pos: schema.Pos{File: "f", Line: 1, Col: 2}, Rule: "TETHER-A01", Message: "m", Fix: "f"}}})
	if err != nil {
		t.Fatal(err)
	}
	dj, err := json.Marshal(workspace.VerifyReport{Skipped: []string{}, Notes: []string{}, Mismatches: []dnsverify.Mismatch{{Member: "ns1"}}, Summary: "s"})
	if err != nil {
		t.Fatal(err)
	}
	ej, err := json.Marshal(errorJSON{Errors: []errorItem{{Rule: "TETHER-R01", File: "f", Line: 1, Column: 2, Message: "m", Fix: "f"}}})
	if err != nil {
		t.Fatal(err)
	}
	verj, err := json.Marshal(version.Info{Version: "v", Commit: "c", Modified: true, Date: "d", GoVersion: "g", Platform: "p"})
	if err != nil {
		t.Fatal(err)
	}
	aj, err := json.Marshal(applyJSON{Changes: []applyChangeJSON{{ID: "account.alice/create"}}, Errors: []string{}, DNS: &workspace.VerifyReport{}})
	if err != nil {
		t.Fatal(err)
	}
	lj, err := json.Marshal(locksJSON{Locks: []state.LockInfo{{Parent: "web1", Holder: state.Holder{Host: "h", PID: 1, Command: "tether apply", Commit: "c"}}}})
	if err != nil {
		t.Fatal(err)
	}
	adj, err := json.Marshal(adoptJSON{Adopted: []plan.Adoptable{{Address: "account.zed", Target: "hq1"}}})
	if err != nil {
		t.Fatal(err)
	}
	enj, err := json.Marshal(enableJSON{Apply: &applyJSON{Changes: []applyChangeJSON{{}}, Errors: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"dns-enable": enj, "state-locks": lj, "adopt": adj, "apply": aj, "plan": pj.Bytes(), "planfile": pfj, "validate": vj, "dns-verify": dj, "error": ej, "version": verj}
}

// sameShape compares the field names of two JSON values, object by object; lists
// are compared by their first element, and maps keyed by data (observed objects,
// before/after values) only as objects.
func sameShape(t *testing.T, path string, got, want any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: the example has %T, the command writes an object", path, got)
			return
		}
		switch filepath.Base(path) {
		case "objects", "before", "after", "source":
			return // data, or fields that are each omitted when empty
		}
		if gk, wk := keys(g), keys(w); !slices.Equal(gk, wk) {
			t.Errorf("%s: the example has fields %v, the command writes %v", path, gk, wk)
			return
		}
		for k := range w {
			sameShape(t, path+"/"+k, g[k], w[k])
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			t.Errorf("%s: the example has %T, the command writes a list", path, got)
			return
		}
		if len(g) > 0 && len(w) > 0 {
			sameShape(t, path+"[]", g[0], w[0])
		}
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-dev/tether/reconciler/planfile"
)

// The observed fingerprint is made where it is shown or kept: --format json shows it
// (saved or not), a saved plan keeps it whatever the format; a text or markdown plan
// not saved shows none, and skips digesting every observed object.
func TestPlanObservedFingerprintWhereShownOrSaved(t *testing.T) {
	e := newEnv(t)
	saved := filepath.Join(e.dir, "tfplan")
	expect(t, e.run(t, "plan", "-out", saved, e.fleet), 0, "Saved the plan to "+saved)
	pf, err := planfile.Read(saved)
	if err != nil {
		t.Fatal(err)
	}
	want := pf.Observed.Fingerprint
	if !strings.HasPrefix(want, "sha256:") || pf.Plan.Observed != want || len(pf.Observed.Objects) == 0 {
		t.Fatalf("saved text plan: fingerprint %q, plan's %q, %d objects", want, pf.Plan.Observed, len(pf.Observed.Objects))
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"json", []string{"--format", "json"}},
		{"json saved", []string{"--format", "json", "-out", filepath.Join(e.dir, "tfplan2")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(t, append(append([]string{"plan"}, tc.args...), e.fleet)...)
			expect(t, r, 0)
			var doc struct {
				Observed string `json:"observed_fingerprint"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("%v:\n%s", err, r.stdout)
			}
			// Nothing changed on the servers between the plans: the same digest.
			if doc.Observed != want {
				t.Errorf("observed_fingerprint %q, want %q as the saved plan's", doc.Observed, want)
			}
		})
	}
	for _, format := range []string{"text", "markdown"} {
		r := e.run(t, "plan", "--format", format, e.fleet)
		expect(t, r, 0, "account.alice")
		if strings.Contains(r.stdout, "sha256:") {
			t.Errorf("--format %s shows a fingerprint:\n%s", format, r.stdout)
		}
	}
}

package main

import (
	"strings"
	"testing"

	"github.com/tether-dev/tether/internal/sandbox"
)

// A mail child answering HTTP 500 to every call while its declared password strength
// changed: the plan cannot see the pending change, so it must not say "No changes".
// It says INCOMPLETE in text, Markdown and JSON and exits 1; apply refuses to claim a
// match. With the fault gone, the change is planned (exit 2) and applied.
func TestChildAnswering500MakesThePlanIncomplete(t *testing.T) {
	e := quickstartEnv(t)
	expect(t, e.run(t, "apply", "--auto-approve", "--no-verify", e.fleet), 0, "Apply complete!")
	sb := servedSandbox(t, e)
	if err := sb.SetFaults("mail1", sandbox.Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	e.edit(t, "passwordStrength: {virtual: 70, list: 60}", "passwordStrength: {virtual: 80, list: 60}")

	for _, tt := range []struct {
		format string
		wants  []string
	}{
		{"text", []string{"INCOMPLETE PLAN: 1 part(s) of the fleet could not be read (mail1)", "Incomplete plan: nothing to change in what could be read"}},
		{"markdown", []string{"⚠️ INCOMPLETE", "**INCOMPLETE PLAN: 1 part(s) of the fleet could not be read (mail1)"}},
		{"json", []string{`"complete": false`, `"scope": "mail1"`}},
	} {
		r := e.run(t, "plan", "--detailed-exitcode", "--format", tt.format, e.fleet)
		expect(t, r, 1, tt.wants...)
		for _, bad := range []string{"No changes", "matches the configuration"} {
			if strings.Contains(r.stdout, bad) {
				t.Errorf("%s plan says %q:\n%s", tt.format, bad, r.stdout)
			}
		}
	}
	r := e.run(t, "apply", "--auto-approve", "--no-verify", e.fleet)
	expect(t, r, 1, "INCOMPLETE PLAN", "could not be read")
	if strings.Contains(r.stdout, "Nothing to change") {
		t.Errorf("apply of an incomplete plan claims a match:\n%s", r.stdout)
	}

	if err := sb.SetFaults("mail1", sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	expect(t, e.run(t, "plan", "--detailed-exitcode", e.fleet), 2, "node.mail1", "passwordStrength.virtual")
	expect(t, e.run(t, "apply", "--auto-approve", "--no-verify", e.fleet), 0, "Apply complete!")
	e.assertConverged(t)
}

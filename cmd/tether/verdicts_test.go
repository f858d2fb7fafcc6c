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

const twoParents = `nodes:
  hq1:
    role: parent
    host: hq1.example.net
    ipv4: 192.0.2.10
    version: 118
    profile: STANDARD
    credentials: {user: root, tokenEnv: HQ1_WHM_TOKEN}
  hq2:
    role: parent
    host: hq2.example.net
    ipv4: 192.0.2.11
    version: 118
    profile: STANDARD
    credentials: {user: root, tokenEnv: HQ2_WHM_TOKEN}
accounts:
  dave:
    parent: hq1
    domain: dave-shop.test
    contactEmail: dave@example.org
  erin:
    parent: hq2
    domain: erin-shop.test
    contactEmail: erin@example.org
`

// Two parents without a DNS cluster: each holds only its own accounts' zones and is
// asked only about them, so neither apply nor dns verify reports a mismatch. A real
// mismatch (hq2's records no longer say what the fleet implies) makes both exit 1,
// and apply keeps its changes.
func TestDNSVerifyAsksEachParentItsOwnZones(t *testing.T) {
	e := newEnv(t)
	e.write(t, twoParents)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!", "DNS OK: 2 server(s) answer 10 question(s)")
	r := e.run(t, "dns", "verify", e.fleet)
	expect(t, r, 0, "DNS OK: 2 server(s) answer 10 question(s)")
	if strings.Contains(r.stdout, "REFUSED") {
		t.Errorf("a parent was asked about the other's zones:\n%s", r.stdout)
	}
	expect(t, e.run(t, "dns", "verify", "--format", "json", e.fleet), 0, `"mismatches": []`, `"notes": []`, `"checks": 10`)

	// The fleet now says hq2 is at another address; its zones still say the old one.
	e.edit(t, "ipv4: 192.0.2.11", "ipv4: 192.0.2.99")
	e.edit(t, "contactEmail: erin@example.org", "contactEmail: erin@example.net")
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 1, "Apply complete! 0 created, 1 changed", "hq2 (parent): erin-shop.test. A: got 192.0.2.11, want 192.0.2.99",
		"the changes were applied, but DNS verification found 5 mismatch(es)")
	if strings.Contains(r.stdout, "hq1 (parent): erin") || strings.Contains(r.stdout, "dave-shop") {
		t.Errorf("a server was asked about a zone it does not hold:\n%s", r.stdout)
	}
	expect(t, e.run(t, "dns", "verify", e.fleet), 1, "DNS: 5 mismatch(es) on 2 server(s)")
	expect(t, e.run(t, "dns", "verify", "--format", "json", e.fleet), 1, `"member": "hq2 (parent)"`, `"skipped": []`)
	// The change itself stays applied.
	expect(t, e.run(t, "plan", "--detailed-exitcode", e.fleet), 0, "No changes.")
}

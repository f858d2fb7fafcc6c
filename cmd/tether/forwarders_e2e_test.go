package main

import (
	"slices"
	"testing"
)

// Changing a forwarder is planned and applied, and a second plan is empty, over the
// sandbox's HTTPS: on an account whose mail is on the parent (frank) and on one whose
// mail is on a child (alice: the parent sends the calls to mail1). An account whose
// forwarders the fleet does not write keeps its own; a pipe to a program written by
// hand on a distributed account is reported (TETHER-L09) and removed.
func TestForwardersChangedOnExistingAccounts(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!")
	sb := servedSandbox(t, e)
	fwds := func(node, user string, want ...string) {
		t.Helper()
		if got := sb.Forwarders(node, user); !slices.Equal(got, want) {
			t.Fatalf("%s's forwarders on %s: %q, want %q", user, node, got, want)
		}
	}
	if err := sb.AddForwarder("web1", "frank", "old@frank.example", "x@example.org"); err != nil {
		t.Fatal(err)
	}
	// Not written in the fleet: not managed, nothing planned.
	e.assertConverged(t)

	e.edit(t, "    contactEmail: frank@example.org\n", "    contactEmail: frank@example.org\n    forwarders:\n      - {from: sales, to: frank@example.org}\n")
	e.edit(t, "    mail: {node: mail1}\n    features: {apitokens: true}\n    protect: true\n",
		"    mail: {node: mail1}\n    features: {apitokens: true}\n    protect: true\n    forwarders:\n      - {from: info, to: alice@example.org}\n")
	expect(t, e.run(t, "plan", "--detailed-exitcode", e.fleet), 2,
		"~ account.frank", "add forwarder sales → frank@example.org", "remove forwarder old → x@example.org",
		"~ account.alice", "add forwarder info → alice@example.org", "Plan: 0 to create, 2 to change, 0 to remove.")
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete! 0 created, 2 changed, 0 removed.")
	fwds("web1", "frank", "sales@frank.example frank@example.org")
	fwds("mail1", "alice", "info@alice.example alice@example.org")
	fwds("web1", "alice")
	e.assertConverged(t)

	// A forwarder changed: the old one goes, the new one comes.
	e.edit(t, "{from: info, to: alice@example.org}", "{from: info, to: desk@example.org}")
	expect(t, e.run(t, "plan", "--detailed-exitcode", e.fleet), 2,
		"add forwarder info → desk@example.org", "remove forwarder info → alice@example.org", "Plan: 0 to create, 1 to change, 0 to remove.")
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete! 0 created, 1 changed, 0 removed.")
	fwds("mail1", "alice", "info@alice.example desk@example.org")
	e.assertConverged(t)

	// A pipe written by hand on the child: rule debt on the server, repaired.
	if err := sb.AddForwarder("mail1", "alice", "jobs@alice.example", "|/home/alice/jobs.pl"); err != nil {
		t.Fatal(err)
	}
	expect(t, e.run(t, "plan", "--detailed-exitcode", e.fleet), 2,
		"account alice on web1: breaks TETHER-L09 on the servers", "the planned change repairs it", "remove forwarder jobs → |/home/alice/jobs.pl")
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete! 0 created, 1 changed, 0 removed.")
	fwds("mail1", "alice", "info@alice.example desk@example.org")
	e.assertConverged(t)
}

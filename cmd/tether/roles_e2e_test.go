package main

import (
	"testing"
)

// A MAILNODE child keeps the optional roles it has unless the fleet turns one off:
// WHM's start_profile_activation disables every optional role it is not told to keep.
func TestMailNodeKeepsSpamFilterUnlessTurnedOff(t *testing.T) {
	e := newEnv(t)
	e.edit(t, "    services: [mail]\n    credentials: {user: root, tokenEnv: MAIL1_WHM_TOKEN}",
		"    services: [mail]\n    profile: MAILNODE\n    credentials: {user: root, tokenEnv: MAIL1_WHM_TOKEN}")
	r := e.run(t, "plan", e.fleet)
	expect(t, r, 0, "profile STANDARD, the fleet says MAILNODE", "optional roles kept on as the server has them: DNS, MySQL, Postgres, SpamFilter")
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!")
	e.assertConverged(t)
	sb := servedSandbox(t, e)
	if !sb.RoleEnabled("mail1", "SpamFilter") {
		t.Fatal("mail1 lost SpamFilter when it became a MAILNODE")
	}
	if sb.RoleEnabled("mail1", "WebServer") {
		t.Fatal("mail1 still runs WebServer as a MAILNODE")
	}

	e.edit(t, "    profile: MAILNODE\n", "    profile: MAILNODE\n    optionalRoles: {SpamFilter: false}\n")
	r = e.run(t, "plan", "--detailed-exitcode", e.fleet)
	expect(t, r, 2, "~ node.mail1", "turn off optional role SpamFilter", "Plan: 0 to create, 1 to change, 0 to remove.")
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete! 0 created, 1 changed, 0 removed.")
	e.assertConverged(t)
	if sb.RoleEnabled("mail1", "SpamFilter") {
		t.Error("mail1 still filters spam after the fleet turned SpamFilter off")
	}
	for _, r := range []string{"DNS", "MySQL", "Postgres"} {
		if !sb.RoleEnabled("mail1", r) {
			t.Errorf("turning SpamFilter off also turned %s off", r)
		}
	}
}

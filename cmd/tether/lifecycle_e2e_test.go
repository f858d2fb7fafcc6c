package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/sandbox"
)

// A distributed account is created on a server whose default feature list has API
// tokens off: Tether creates it on the parent, gives it the feature, then distributes
// it, the order a real server accepts (the child side of a distributed createacct
// makes an API token as the new user).
func TestDistributedAccountWithAPITokensOffByDefault(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "plan", e.fleet), 0) // creates the blank servers
	sb := servedSandbox(t, e)
	if err := sb.SetFeatureList("web1", "default", "apitokens", false); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "Apply complete! 7 created")
	e.assertConverged(t)
	for user, child := range map[string]string{"alice": "mail1", "dave": "mail2"} {
		if !sb.HasAccount(child, user) {
			t.Errorf("%s has no account on %s", user, child)
		}
	}
}

// A move that fails on the server is reported within --task-timeout, naming the
// account and the child; once the fault is gone the next apply converges.
func TestDistributionFailureReportedWithinBound(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "plan", e.fleet), 0)
	sb := servedSandbox(t, e)
	if err := sb.SetFaults("mail2", sandbox.Faults{FailTasks: true}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := e.run(t, "apply", "--auto-approve", "--task-timeout", "1s", e.fleet)
	took := time.Since(start)
	expect(t, r, 1, "account dave: moving its mail from the parent web1 to child mail2 did not finish within 1s",
		"Offload Functionality to a Child Node Failure")
	if took > 15*time.Second {
		t.Errorf("apply took %s to report a failed move with a 1s bound", took)
	}
	if n := sb.Notifications("web1"); len(n) == 0 || !strings.Contains(strings.Join(n, "\n"), "Accounts::ChildDistributionFailure") {
		t.Errorf("the parent sent no failure notification: %v", n)
	}
	if err := sb.SetFaults("mail2", sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!")
	e.assertConverged(t)
}

// Moving an account's mail between children copies it to the new child and leaves
// the old child's copy in place; the plan says so.
func TestMailMovedBetweenChildrenKeepsOldCopy(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!")
	sb := servedSandbox(t, e)
	if err := sb.AddMail("mail2", "dave", "INBOX", 5); err != nil {
		t.Fatal(err)
	}
	e.edit(t, "    contactEmail: dave@example.org\n    mail: {node: mail2}", "    contactEmail: dave@example.org\n    mail: {node: mail1}")
	expect(t, e.run(t, "plan", e.fleet), 0, "mail moves from mail2 to mail1", "mail2 keeps its copy, and open IMAP/POP3 sessions on mail2 end")
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!")
	e.assertConverged(t)
	if a, b := sb.MessageCount("mail1", "dave"), sb.MessageCount("mail2", "dave"); a != 5 || b != 5 {
		t.Errorf("dave has %d messages on mail1 and %d on mail2, want 5 on both", a, b)
	}
}

// A child named with linkCredentials is linked with that token, not with Tether's
// own; unlinking leaves Tether's token valid on the child.
func TestLinkTokenApartFromTethersToken(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "plan", e.fleet), 0)
	sb := servedSandbox(t, e)
	out := whm(t, e.sandbox, "mail1", "api_token_create", url.Values{"token_name": {"parent-link"}, "acl": {"all"}})
	data, _ := out["data"].(map[string]any)
	linkTok, _ := data["token"].(string)
	if linkTok == "" {
		t.Fatalf("api_token_create: %v", out)
	}
	t.Setenv("MAIL1_LINK_TOKEN", linkTok)
	e.edit(t, "    credentials: {user: root, tokenEnv: MAIL1_WHM_TOKEN}",
		"    credentials: {user: root, tokenEnv: MAIL1_WHM_TOKEN}\n    linkCredentials: {user: root, tokenEnv: MAIL1_LINK_TOKEN}")
	r := e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "Apply complete!")
	if strings.Contains(r.stdout+r.stderr, linkTok) {
		t.Error("the link token was printed")
	}
	e.assertConverged(t)
	eps, err := sandbox.ReadEndpoints(e.sandbox)
	if err != nil {
		t.Fatal(err)
	}
	own := eps.Nodes["mail1"].Token
	if got := sb.LinkToken("web1", "mail1"); got != linkTok || got == own {
		t.Fatalf("web1 stores %q for mail1, want the link token, not Tether's own", got)
	}
	// mail2 is linked with Tether's own token (no linkCredentials); unlinking it must
	// not expire that token.
	whm(t, e.sandbox, "web1", "removeacct", url.Values{"username": {"dave"}})
	e.edit(t, "    mail: {node: mail2}\n", "")
	e.edit(t, "  mail2:\n    role: child\n    parent: web1\n    host: mail2.example.net\n    ipv4: 192.0.2.21\n    version: 118\n    services: [mail]\n    credentials: {user: root, tokenEnv: MAIL2_WHM_TOKEN}\n", "")
	e.edit(t, "nodes:\n", "policy: {prune: true}\nnodes:\n")
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "Apply complete!")
	if sb.LinkToken("web1", "mail2") != "" {
		t.Fatal("mail2 is still linked")
	}
	if exp, ok := sb.TokenExpires("mail2", eps.Nodes["mail2"].Token); !ok || exp != 0 {
		t.Errorf("unlinking mail2 expired Tether's own token on it (expires %d, known %t)", exp, ok)
	}
}

// Turning ipv6 off on an existing account is planned and applied, and a second plan
// is empty; turning it on is said, not planned.
func TestIPv6OffOnExistingAccount(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!")
	sb := servedSandbox(t, e)
	if err := sb.SetIPv6("web1", "frank", "2001:db8::10"); err != nil {
		t.Fatal(err)
	}
	// Not declared: unmanaged, nothing planned.
	e.assertConverged(t)
	e.edit(t, "    contactEmail: frank@example.org\n", "    contactEmail: frank@example.org\n    ipv6: false\n")
	expect(t, e.run(t, "plan", "--detailed-exitcode", e.fleet), 2, "~ account.frank", "ipv6 differs on web1")
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete! 0 created, 1 changed, 0 removed.")
	e.assertConverged(t)
	e.edit(t, "    ipv6: false\n", "    ipv6: true\n")
	expect(t, e.run(t, "plan", "--detailed-exitcode", e.fleet), 0, "Tether does not turn IPv6 on without a range", "write ipv6Range", "No changes.")
	// With a range named, it is planned and applied, and a second plan is empty.
	if err := sb.AddIPv6Range("web1", "Hosting_IPv6_Block", "2001:db8:100:6::/64"); err != nil {
		t.Fatal(err)
	}
	e.edit(t, "    ipv6: true\n", "    ipv6: true\n    ipv6Range: Hosting_IPv6_Block\n")
	expect(t, e.run(t, "plan", "--detailed-exitcode", e.fleet), 2, "~ account.frank", "IPv6 turned on from range Hosting_IPv6_Block")
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete! 0 created, 1 changed, 0 removed.")
	e.assertConverged(t)
	got := whm(t, e.sandbox, "web1", "listaccts", url.Values{"searchtype": {"user"}, "search": {"frank"}, "searchmethod": {"exact"}})
	if !strings.Contains(fmt.Sprint(got["data"]), "2001:0db8:0100:0006:0000:0000:0000:0000") {
		t.Errorf("frank's address is not from the range: %v", got["data"])
	}
}

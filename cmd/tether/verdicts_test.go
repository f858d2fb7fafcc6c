package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
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

// createOutside creates an account on a sandbox parent with WHM's createacct, as an
// operator would in WHM: Tether knows nothing of it.
func createOutside(t *testing.T, e env, parent, user, domain string) {
	t.Helper()
	eps, err := sandbox.ReadEndpoints(e.sandbox)
	if err != nil {
		t.Fatal(err)
	}
	ep := eps.Nodes[parent]
	form := url.Values{"api.version": {"1"}, "username": {user}, "domain": {domain}, "contactemail": {user + "@example.org"}}
	req, err := http.NewRequest(http.MethodPost, ep.WHM+"/json-api/createacct", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "whm "+ep.User+":"+ep.Token)
	// The sandbox's certificate is its own CA (endpoints.json names the file).
	pem, err := os.ReadFile(ep.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"result":1`) {
		t.Fatalf("createacct %s: HTTP %d: %s", user, resp.StatusCode, body)
	}
}

// An account created outside Tether is never pruned, even once declared: it is not
// Tether's. The plan lists it as adoptable; `tether adopt` takes it in (refusing what
// does not qualify, adopting nothing then); once adopted, it is removed when it leaves
// the fleet with pruning on.
func TestAdoptedAccountIsPrunedWhenItLeavesTheFleet(t *testing.T) {
	e := newEnv(t)
	e.write(t, twoParents)
	expect(t, e.run(t, "apply", "--auto-approve", "--no-verify", e.fleet), 0, "Apply complete!")
	servedSandbox(t, e)
	createOutside(t, e, "hq1", "zed", "zed-shop.test")

	e.edit(t, "accounts:", "policy: {prune: true}\naccounts:\n  zed:\n    parent: hq1\n    domain: zed-shop.test\n    contactEmail: zed@example.org")
	r := e.run(t, "plan", "--detailed-exitcode", "--format", "json", e.fleet)
	expect(t, r, 0, `"adoptable": [`, `"address": "account.zed"`)
	expect(t, e.run(t, "plan", e.fleet), 0, "Adoptable", "account.zed on hq1")

	// Not declared, or not on the servers: refused, and nothing is adopted.
	r = e.run(t, "adopt", "--fleet", e.fleet, "account.zed", "account.nobody")
	expect(t, r, 1, "account.nobody: not declared in the fleet")
	if strings.Contains(r.stdout, "adopted account.zed") {
		t.Fatal("adopted part of a refused list")
	}
	// Left out of the fleet before adoption: unmanaged, not removed.
	e.edit(t, "  zed:\n    parent: hq1\n    domain: zed-shop.test\n    contactEmail: zed@example.org\n", "")
	expect(t, e.run(t, "plan", "--detailed-exitcode", e.fleet), 0, "account.zed: on hq1, not in the fleet and not created by Tether")
	e.edit(t, "accounts:", "accounts:\n  zed:\n    parent: hq1\n    domain: zed-shop.test\n    contactEmail: zed@example.org")

	expect(t, e.run(t, "adopt", "--format", "json", "--fleet", e.fleet, "account.nobody"), 1, `"errors": [`, "account.nobody: not declared in the fleet")
	expect(t, e.run(t, "adopt", "--format", "json", "--fleet", e.fleet, "account.zed"), 0, `"adopted": [`, `"address": "account.zed"`, `"summary": "Adopted 1 object(s)."`)
	expect(t, e.run(t, "adopt", "--fleet", e.fleet, "account.zed"), 1, "account.zed: already in Tether's inventory")
	expect(t, e.run(t, "adopt", "--fleet", e.fleet, "--all"), 0, "Nothing to adopt")

	e.edit(t, "  zed:\n    parent: hq1\n    domain: zed-shop.test\n    contactEmail: zed@example.org\n", "")
	r = e.run(t, "plan", "--detailed-exitcode", e.fleet)
	expect(t, r, 2, "- account.zed", "Plan: 0 to create, 0 to change, 1 to remove.")
	expect(t, e.run(t, "apply", "--auto-approve", "--force", "--no-verify", e.fleet), 0, "Apply complete! 0 created, 0 changed, 1 removed.")
	e.assertConverged(t)
}

// import refuses an --out folder that already holds fleet files (the folder's files
// would be merged into one fleet declaring everything twice) unless --force, and
// --adopt takes what it imported into Tether's inventory, saying so.
func TestImportRefusesAFleetFolderAndAdoptsOnRequest(t *testing.T) {
	e := newEnv(t)
	e.write(t, twoParents)
	expect(t, e.run(t, "apply", "--auto-approve", "--no-verify", e.fleet), 0, "Apply complete!")
	out := filepath.Join(e.dir, "imported")
	r := e.run(t, "import", "--out", e.fleet, e.fleet)
	expect(t, r, 1, "already holds fleet files (fleet.yaml)", "add --force")
	if b, _ := os.ReadDir(e.fleet); len(b) != 1 {
		t.Fatalf("import wrote beside the fleet: %v", b)
	}
	servedSandbox(t, e)
	createOutside(t, e, "hq2", "zed", "zed-shop.test")
	// Tether's own accounts are in its inventory already; zed, made in WHM, is adopted.
	r = e.run(t, "import", "--out", out, "--adopt", e.fleet)
	expect(t, r, 0, "The imported fleet is valid", "Adopted 1 object(s)")
	if got, err := e.state(t).Inventory(context.Background()); err != nil || got["account.zed"].Target != "hq2" {
		t.Fatalf("inventory after import --adopt: %v, %v", got, err)
	}
	// A second import into the same folder is refused.
	expect(t, e.run(t, "import", "--out", out, e.fleet), 1, "already holds fleet files")
	expect(t, e.run(t, "import", "--out", out, "--force", e.fleet), 0, "The imported fleet is valid")
}

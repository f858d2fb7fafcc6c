package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/providers/rfc2136"
)

// webhook records the disable notifications posted to it.
type webhook struct {
	mu   sync.Mutex
	got  []rfc2136.Notification
	body []string
}

func startWebhook(t *testing.T) (*webhook, string) {
	t.Helper()
	h := &webhook{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n rfc2136.Notification
		var raw strings.Builder
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b, _ := json.Marshal(n)
		raw.Write(b)
		h.mu.Lock()
		h.got, h.body = append(h.got, n), append(h.body, raw.String())
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func (h *webhook) notifications() []rfc2136.Notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]rfc2136.Notification(nil), h.got...)
}

// A sync BIND member that cannot be read (its address points at nothing): every plan
// says so and exits 1 without counting; every apply still plans and applies the rest
// of the fleet (frank's mail moves, and the other servers answer for it), and counts
// one failed command against the member, so after threshold+1 applies it is
// disabled, notified once, stays disabled across runs once it is back, is skipped by
// dns verify, and returns with `tether dns enable`, resynchronised by the next apply.
func TestDNSUnreadableSyncMemberDisabledByApplyNotPlan(t *testing.T) {
	const threshold = 2
	e := quickstartEnv(t)
	hook, url := startWebhook(t)
	e.edit(t, "failureThreshold: 10", fmt.Sprintf("failureThreshold: %d", threshold))
	e.edit(t, "dnsClusters:", "policy: {notifyWebhook: "+url+"}\n\ndnsClusters:")
	sync := startBIND(t, e, "bind1", "sync")
	addMembers(t, e, sync)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!", "DNS OK: 4 server(s)")

	gone := closedAddr(t)
	e.edit(t, "address: "+sync.n.Addr, "address: "+gone)
	e.edit(t, "contactEmail: frank@example.org", "contactEmail: frank@example.org\n    mail: {node: mail2}")
	// Zones are read four at once (rfc2136 ZoneParallel): the first to fail, whichever
	// it is, names the member.
	unread := "observe web1/bind1 (rfc2136): member bind1 (" + gone + "): zone "

	// Plans read, fail on bind1, plan the rest, and count nothing.
	for range 2 {
		r := e.run(t, "plan", e.fleet)
		expect(t, r, 1, unread, ".example: AXFR: unreachable", "-> account.frank", "The plan is incomplete: 1 part(s) of the fleet could not be read")
	}
	if h := e.health(t, "web1/bind1"); h.ConsecutiveFailures != 0 || h.Disabled {
		t.Fatalf("plan counted a failed read: %+v", h)
	}

	for run := 1; run <= threshold+1; run++ {
		// --partial: the plan is incomplete (bind1 unread); the rest is applied.
		r := e.run(t, "apply", "--auto-approve", "--partial", "--no-verify", e.fleet)
		wants := []string{unread, ".example: AXFR: unreachable", "Error: 1 part(s) of the fleet could not be read"}
		if run == 1 {
			// The rest of the fleet is applied all the same.
			wants = append(wants, "-> account.frank", "Apply complete! 0 created, 1 changed, 0 removed.")
		}
		if run == threshold+1 {
			wants = append(wants, fmt.Sprintf("Warning: member bind1 disabled after %d consecutive failed commands (threshold %d); re-enable with `tether dns enable bind1`", threshold+1, threshold))
		}
		expect(t, r, 1, wants...)
		noSecrets(t, r, sync)
		h := e.health(t, "web1/bind1")
		if h.ConsecutiveFailures != run || h.Disabled != (run > threshold) || !strings.Contains(h.LastError, "AXFR: unreachable") {
			t.Fatalf("after apply %d: %+v", run, h)
		}
		if run <= threshold && strings.Contains(r.stderr, "disabled after") {
			t.Fatalf("apply %d says disabled:\n%s", run, r.stderr)
		}
	}
	ns := hook.notifications()
	if len(ns) != 1 || ns[0].Event != "dns.member.disabled" || ns[0].Member != "bind1" || ns[0].Failures != threshold+1 || ns[0].Threshold != threshold {
		t.Fatalf("notifications %+v, want one for bind1", ns)
	}
	if strings.Contains(strings.Join(hook.body, ""), sync.n.Secret) {
		t.Fatal("the notification carries the TSIG secret")
	}
	// The rest of the fleet did converge: the parent and the cpanel members answer
	// mail.frank with mail2.
	expect(t, e.run(t, "dns", "verify", e.fleet), 0,
		"skipped bind1: disabled after 3 consecutive failed commands, not asked (re-enable: tether dns enable bind1)", "DNS OK: 3 server(s)")

	// Back at its address, it stays out, and nothing more is counted.
	e.edit(t, "address: "+gone, "address: "+sync.n.Addr)
	for range 2 {
		r := e.run(t, "apply", "--auto-approve", e.fleet)
		expect(t, r, 0, "DNS member bind1 of web1 is disabled after too many failed commands; it stays out of the cluster until `tether dns enable bind1`",
			"Apply complete! Nothing to change.")
	}
	if h := e.health(t, "web1/bind1"); h.ConsecutiveFailures != threshold+1 || !h.Disabled {
		t.Fatalf("a disabled member's count moved: %+v", h)
	}
	if got := digA(t, sync, "mail.frank.example"); !only(got, "192.0.2.10") {
		t.Fatalf("disabled bind1 answers mail.frank.example = %v; it was never updated, so the parent's", got)
	}

	expect(t, e.run(t, "dns", "enable", "bind1", "--fleet", e.fleet), 0, "web1/bind1 enabled (it was disabled after 3 consecutive failed commands)")
	expect(t, e.run(t, "dns", "enable", "bind1", "-format=json", "--fleet", e.fleet), 0, `"member": "web1/bind1"`, `"where": "state"`, `"was_disabled": false`, `"apply": null`)
	r := e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "dns.web1.member.bind1", "Apply complete!", "DNS OK: 4 server(s)")
	if got := digA(t, sync, "mail.frank.example"); !only(got, "192.0.2.21") {
		t.Fatalf("resynchronised bind1 answers mail.frank.example = %v, want mail2", got)
	}
	if h := e.health(t, "web1/bind1"); h.Disabled || h.NeedsResync || h.ConsecutiveFailures != 0 {
		t.Fatalf("after the resync: %+v", h)
	}
	if len(hook.notifications()) != 1 {
		t.Fatalf("%d notifications, want the one", len(hook.notifications()))
	}
	e.assertConverged(t)
}

// A cpanel member that WHM disabled is not asked by dns verify: one read of WHM's
// cluster status screen per parent says which, and verify names it as skipped.
func TestDNSVerifySkipsMembersWHMDisabled(t *testing.T) {
	e := quickstartEnv(t)
	e.edit(t, "failureThreshold: 10", "failureThreshold: 1")
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!", "DNS OK: 3 server(s)")
	sb := servedSandbox(t, e)
	if err := sb.SetFaults("ns2", sandbox.Faults{Offline: true}); err != nil {
		t.Fatal(err)
	}
	e.edit(t, "contactEmail: frank@example.org", "contactEmail: frank@example.org\n    mail: {node: mail2}")
	expect(t, e.run(t, "apply", "--auto-approve", "--partial", "--no-verify", e.fleet), 1, "Apply complete! 0 created, 1 changed", "observe ns2")
	_ = sb.ReplicateDNS(context.Background())
	if err := sb.SetFaults("ns2", sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	// ns2 answers again but still holds frank's old records: asking it would report
	// mismatches. WHM keeps it out, so verify does too.
	r := e.run(t, "dns", "verify", e.fleet)
	expect(t, r, 0, "skipped ns2: disabled by WHM on web1 (its DNS cluster no longer replicates to it), not asked (re-enable: tether dns enable ns2)", "DNS OK: 2 server(s)")
	r = e.run(t, "dns", "verify", "--format", "json", e.fleet)
	expect(t, r, 0, `"servers": 2`, `"ns2: disabled by WHM on web1`)

	expect(t, e.run(t, "dns", "enable", "ns2", "--fleet", e.fleet), 0, "Apply complete! 0 created, 1 changed, 0 removed.")
	if err := sb.ReplicateDNS(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = e.run(t, "dns", "verify", e.fleet)
	expect(t, r, 0, "DNS OK: 3 server(s)")
	if strings.Contains(r.stdout, "skipped") {
		t.Fatalf("an enabled member was skipped:\n%s", r.stdout)
	}
}

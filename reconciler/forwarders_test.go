package reconciler

import (
	"slices"
	"strings"
	"testing"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// Forwarders are compared as a set when the fleet writes them: the plan names each
// forwarder added and removed, and an account that does not write them is left alone.
func TestForwardersPlanned(t *testing.T) {
	fw := func(pairs ...string) []schema.Forwarder {
		var out []schema.Forwarder
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, schema.Forwarder{From: pairs[i], To: pairs[i+1]})
		}
		return out
	}
	declared := func(a *schema.Account) { a.Src.Set("forwarders", schema.Pos{File: "fleet.yaml", Line: 1, Col: 1}) }
	cases := []struct {
		name     string
		want     []schema.Forwarder
		declare  bool
		have     []schema.Forwarder
		update   bool
		inReason []string
	}{
		{name: "same set, other order", want: fw("a", "x@e.org", "b", "y@e.org"), have: fw("b", "y@e.org", "A", "x@e.org")},
		{name: "one added one removed", want: fw("sales", "new@e.org"), have: fw("sales", "old@e.org"), update: true,
			inReason: []string{"add forwarder sales → new@e.org", "remove forwarder sales → old@e.org"}},
		{name: "written empty removes all", declare: true, have: fw("x", "y@e.org"), update: true, inReason: []string{"remove forwarder x → y@e.org"}},
		{name: "not written leaves them", have: fw("x", "y@e.org")},
		{name: "a full address on the account's domain is its local part", want: fw("Info@alice.example", "y@e.org"), have: fw("info", "y@e.org")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			desired := newFleet().parent("web1").account("alice", "web1", "").f
			observed := newFleet().parent("web1").account("alice", "web1", "").f
			desired.Accounts["alice"].Forwarders = tc.want
			if tc.declare {
				declared(desired.Accounts["alice"])
			}
			observed.Accounts["alice"].Forwarders = tc.have
			p := Diff(desired, observed, DiffOptions{})
			var upd *plan.Change
			for _, c := range p.Changes {
				if c.Action == plan.Update && slices.Contains(c.Fields, "forwarders") {
					upd = c
				}
			}
			if (upd != nil) != tc.update {
				t.Fatalf("update planned: %v, want %v (%+v)", upd != nil, tc.update, p.Changes)
			}
			for _, s := range tc.inReason {
				if !strings.Contains(upd.Reason, s) {
					t.Errorf("reason %q lacks %q", upd.Reason, s)
				}
			}
			// A second plan against what the apply leaves is empty.
			if upd != nil {
				observed.Accounts["alice"].Forwarders = tc.want
				if p2 := Diff(desired, observed, DiffOptions{}); len(p2.Changes) != 0 {
					t.Errorf("second plan: %+v", p2.Changes)
				}
			}
		})
	}
}

// The forwarders are written before the account's mail moves, so they move with it.
func TestForwardersBeforeDistribution(t *testing.T) {
	desired := newFleet().parent("web1").child("mail1", "web1").account("alice", "web1", "mail1").f
	observed := newFleet().parent("web1").child("mail1", "web1").account("alice", "web1", "").f
	desired.Accounts["alice"].Forwarders = []schema.Forwarder{{From: "sales", To: "x@e.org"}}
	p := Diff(desired, observed, DiffOptions{})
	upd := plan.ChangeID(plan.AccountAddress("alice"), plan.Update)
	var dist *plan.Change
	for _, c := range p.Changes {
		if c.Action == plan.Distribute {
			dist = c
		}
	}
	if dist == nil || !slices.Contains(dist.DependsOn, upd) {
		t.Fatalf("distribution does not wait for the forwarders: %+v", dist)
	}
}

// What the servers hold that breaks L06, L07 and L09 on a distributed account is
// reported, whether or not the fleet manages the field, with what the plan does.
func TestLiveRuleDebt(t *testing.T) {
	desired := newFleet().parent("web1").child("mail1", "web1").account("alice", "web1", "mail1").account("bob", "web1", "mail1").f
	observed := newFleet().parent("web1").child("mail1", "web1").account("alice", "web1", "mail1").account("bob", "web1", "mail1").f
	pipe := []schema.Forwarder{{From: "jobs", To: "|/home/x/jobs.pl"}, {From: "sales", To: "s@e.org"}}
	for _, u := range []string{"alice", "bob"} {
		o := observed.Accounts[u]
		o.Forwarders = pipe
		o.IPv6 = true
		o.Features = map[string]bool{"apitokens": false}
	}
	// bob's forwarders are managed: the plan removes the pipe.
	desired.Accounts["bob"].Forwarders = pipe[1:]
	p := Diff(desired, observed, DiffOptions{})
	all := strings.Join(p.Warnings, "\n")
	for _, want := range []string{
		"account alice on web1: breaks TETHER-L06 on the servers: IPv6 is on while its mail is on mail1; write ipv6: false",
		"account alice on web1: breaks TETHER-L07 on the servers",
		"account alice on web1: breaks TETHER-L09 on the servers: forwarder(s) jobs → |/home/x/jobs.pl pipe to a program while its mail is on mail1; write the account's forwarders",
		"account bob on web1: breaks TETHER-L09 on the servers: forwarder(s) jobs → |/home/x/jobs.pl pipe to a program while its mail is on mail1; the planned change repairs it",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
}

// A signed zone on a parent whose DNS cluster is on breaks TETHER-D03 on the
// servers; dnssec is checked against what the fleet writes, never changed.
func TestDNSSECChecked(t *testing.T) {
	desired := newFleet().parent("web1").account("alice", "web1", "").account("bob", "web1", "").f
	observed := newFleet().parent("web1").account("alice", "web1", "").account("bob", "web1", "").f
	observed.DNSClusters = map[string]*schema.DNSCluster{"web1": {Enabled: true}}
	observed.Accounts["alice"].DNSSEC = true
	desired.Accounts["bob"].DNSSEC = true
	desired.Accounts["bob"].Src.Set("dnssec", schema.Pos{File: "fleet.yaml", Line: 1, Col: 1})
	p := Diff(desired, observed, DiffOptions{})
	all := strings.Join(p.Warnings, "\n")
	for _, want := range []string{
		"account alice on web1: breaks TETHER-D03 on the servers: its zone is signed with DNSSEC and web1's DNS cluster is on",
		"account bob: dnssec is off on web1 and the fleet says on; Tether checks DNSSEC but does not change it",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	for _, c := range p.Changes {
		if c.Action == plan.Update && slices.Contains(c.Fields, "dnssec") {
			t.Errorf("dnssec planned as a change: %+v", c)
		}
	}
}

package whm

import (
	"context"
	"testing"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// TestSandboxForwardersConverge: every form of forwarder the schema accepts
// (TETHER-A03) is planned, applied on the sandbox, observed back as written, and the
// next plan is empty. A from written @ the account's own domain, in any case, or a
// ":fail:" without a message used to plan an addition forever.
func TestSandboxForwardersConverge(t *testing.T) {
	fleet := sandboxFleet()
	fleet.Accounts = map[string]*schema.Account{
		"alice": {Parent: "web1", Domain: "alice.example", Forwarders: []schema.Forwarder{
			{From: "sales", To: "alice@example.org"},
			{From: "info@alice.example", To: "alice@example.org"},
			{From: "Desk@ALICE.Example", To: "desk@example.org"},
			{From: "gone", To: ":fail:"},
			{From: "moved", To: ":fail: Moved to example.org"},
			{From: "void", To: ":blackhole:"},
			{From: "jobs", To: "|/home/alice/bin/jobs"},
		}},
		"bob": {Parent: "web1", Domain: "bob.example", Forwarders: []schema.Forwarder{
			{From: "team@bob.example", To: "one@example.org"},
			{From: "team", To: "two@example.org"},
		}},
	}
	if ds := schema.Check(fleet); len(ds) > 0 {
		t.Fatalf("the fleet breaks rules:\n%v", ds)
	}
	f := startSandbox(t, fleet)
	inventory := map[string]bool{}
	diff := func() *plan.Plan {
		return reconciler.Diff(f.desired, f.observe(t), reconciler.DiffOptions{Fleet: providers.FleetProvider(), Members: providers.MemberPlanners(), Inventory: inventory})
	}
	p := diff()
	if p.Empty() {
		t.Fatal("the first plan is empty: the accounts do not exist yet")
	}
	for _, ch := range p.Changes {
		if err := f.p.Apply(context.Background(), ch); err != nil {
			t.Fatalf("apply %s %s: %v", ch.Address, ch.Action, err)
		}
		inventory[ch.Address] = ch.Action != plan.Delete
	}
	again := diff()
	for _, ch := range again.Changes {
		t.Errorf("plan after apply: %s %s %v: %s", ch.Address, ch.Action, ch.Fields, ch.Reason)
	}
	obs := f.observe(t)
	for user, want := range map[string]int{"alice": 7, "bob": 2} {
		if a := obs.Accounts[user]; a == nil || len(a.Forwarders) != want {
			t.Errorf("%s observed with forwarders %v, want %d", user, a, want)
		}
	}
}

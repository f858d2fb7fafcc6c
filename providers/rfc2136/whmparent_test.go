package rfc2136

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/bindtest"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// TestWHMParentToBIND runs the whole path: a parent's zone, kept by the sandbox as a
// WHM server keeps it (created with the account, its mail records moved to the child
// on distribution), read by the whm provider (the zone source the session wires in),
// pushed to a real named and answered by it. Only this test joins the two providers;
// their code never does.
func TestWHMParentToBIND(t *testing.T) {
	n := bindtest.Start(t, map[string]string{"alice.example": preparedZone("alice.example")}, bindtest.Options{})
	sb, err := sandbox.Start(context.Background(), sandbox.Options{StateDir: t.TempDir(), TaskDelay: 10 * time.Millisecond,
		FlushInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), Fleet: &schema.Fleet{Nodes: map[string]*schema.Node{
			"web1":  {Role: schema.RoleParent, Host: "web1.example.net", IPv4: parentIP, Version: 118},
			"mail1": {Role: schema.RoleChild, Parent: "web1", Host: "mail1.example.net", IPv4: childIP, Version: 118, Services: []string{"mail"}},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	eps := map[string]providers.Endpoint{}
	for name, ep := range sb.Endpoints().Nodes {
		eps[name] = ep.ProviderEndpoint()
	}
	parents, err := whm.New(providers.Config{Endpoints: eps, Logger: slog.New(slog.DiscardHandler)},
		whm.Options{PollBase: 5 * time.Millisecond, PollMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fleet := testFleet(schema.Threshold{}, map[string]*schema.Member{"bind1": member(schema.DNSRoleSync, n.Addr, "NS2_TSIG_SECRET")})
	p, err := New(providers.Config{
		Secrets: secretsFrom(map[string]string{"NS2_TSIG_SECRET": n.Secret}),
		Zones:   parents,
	}, Options{Store: NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	alice := &schema.Account{Parent: "web1", Domain: "alice.example"}
	aliceOnMail1 := &schema.Account{Parent: "web1", Domain: "alice.example", Mail: &schema.MailPlacement{Node: "mail1"}}
	rounds := []struct {
		changes []*plan.Change
		mailIP  string
	}{
		{[]*plan.Change{{Address: "account.alice", Action: plan.Create, After: alice, Target: "web1"}}, parentIP},
		{[]*plan.Change{
			{Address: "node.mail1", Action: plan.Link, After: fleetNode("mail1"), Target: "web1"},
			{Address: "account.alice", Action: plan.Distribute, Before: alice, After: aliceOnMail1, Target: "web1"},
		}, childIP},
	}
	for _, r := range rounds {
		for _, ch := range r.changes {
			if err := parents.Apply(ctx, ch); err != nil {
				t.Fatalf("whm %s %s: %v", ch.Address, ch.Action, err)
			}
		}
		if scopes := p.Scopes(fleet); len(scopes) != 1 || scopes[0] != "web1/bind1" {
			t.Fatalf("scopes %v", scopes)
		}
		if err := p.Apply(ctx, change(plan.Update, "bind1", fleet.DNSClusters["web1"].Members["bind1"])); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"mail.alice.example", "webmail.alice.example"} {
			m := new(dns.Msg)
			m.SetQuestion(name+".", dns.TypeA)
			resp, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, n.Addr)
			if err != nil || len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != r.mailIP {
				t.Fatalf("%s = %v (%v), want %s", name, resp, err, r.mailIP)
			}
		}
	}
}

func fleetNode(name string) *schema.Node {
	return &schema.Node{Role: schema.RoleChild, Parent: "web1", Host: name + ".example.net", Services: []string{"mail"}}
}

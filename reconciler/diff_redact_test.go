package reconciler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/reconciler/render"
	"github.com/tether-dev/tether/schema"
)

// TestRedact is the guard for "secrets never appear": fleets that carry inline
// secrets (as an operator might write against TETHER-S01) are planned through every
// kind of change that holds a node or a member, and no render, nor the plan's own
// JSON, nor its Go formatting, contains a secret's bytes.
func TestRedact(t *testing.T) {
	const token, tsig = "TOKEN-5ecret-d0-not-print", "TSIG-c2VjcmV0LXNlY3JldA=="
	desired := newFleet().prune().parent("web1").child("mail1", "web1").child("mail2", "web1").f
	for _, n := range desired.Nodes {
		n.Credentials = &schema.Credentials{User: "root", Token: token}
	}
	desired.Nodes["mail1"].Profile = schema.ProfileMailNode
	desired.DNSClusters["web1"] = &schema.DNSCluster{Enabled: true, Members: map[string]*schema.Member{
		"new":  {Backend: "rfc2136", Host: "new.example.org", Address: "127.0.0.1:53", Role: schema.DNSRoleSync, TSIG: &schema.TSIG{Name: "k", Secret: tsig}},
		"old":  {Backend: "rfc2136", Host: "old.example.org", Address: "127.0.0.1:54", Role: schema.DNSRoleSync, TSIG: &schema.TSIG{Name: "k", Secret: tsig}},
		"sync": {Backend: "rfc2136", Host: "sync.example.org", Role: schema.DNSRoleSync, TSIG: &schema.TSIG{Name: "k", Secret: tsig}},
	}}
	observed := newFleet().parent("web1").child("mail2", "web1").f
	observed.Nodes["mail1"] = &schema.Node{Host: "mail1.example.net", Credentials: &schema.Credentials{Token: token}}
	observed.Nodes["mail3"] = &schema.Node{Role: schema.RoleChild, Parent: "web1", Credentials: &schema.Credentials{Token: token}}
	observed.DNSClusters["web1"] = &schema.DNSCluster{Members: map[string]*schema.Member{
		"old":  {Backend: "rfc2136", Host: "old.example.org", Address: "127.0.0.1:55", Role: schema.DNSRoleWriteOnly, TSIG: &schema.TSIG{Name: "k2", Secret: tsig}},
		"gone": {Backend: "rfc2136", Host: "gone.example.org", Role: schema.DNSRoleSync, TSIG: &schema.TSIG{Name: "k", Secret: tsig}},
		"sync": {Backend: "rfc2136", Host: "sync.example.org", Role: schema.DNSRoleSync, Zones: &schema.MemberZones{NeedsResync: true}, TSIG: &schema.TSIG{Name: "k", Secret: tsig}},
	}}
	opts := DiffOptions{Inventory: map[string]bool{"node.mail3": true, "dns.web1.member.gone": true}}

	p := Diff(desired, observed, withProviders(opts))
	actions := map[plan.Action]bool{}
	for _, c := range p.Changes {
		actions[c.Action] = true
	}
	for _, a := range []plan.Action{plan.Link, plan.Unlink, plan.Update, plan.Create, plan.Delete, plan.Enable, plan.Resync} {
		if !actions[a] {
			t.Errorf("the fleets plan no %s: the guard would not cover it (plan: %v)", a, ids(p))
		}
	}
	en, err := EnableMember(desired, &schema.Fleet{DNSClusters: map[string]*schema.DNSCluster{"web1": {Members: map[string]*schema.Member{
		"sync": {Backend: "rfc2136", Role: schema.DNSRoleSync, Disabled: true, TSIG: &schema.TSIG{Name: "k", Secret: tsig}},
	}}}}, "sync", withProviders(DiffOptions{}))
	if err != nil {
		t.Fatal(err)
	}

	for i, pl := range []*plan.Plan{p, en} {
		var all bytes.Buffer
		if err := render.Text(&all, pl, render.TextOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := render.Text(&all, pl, render.TextOptions{Color: true}); err != nil {
			t.Fatal(err)
		}
		if err := render.JSON(&all, pl); err != nil {
			t.Fatal(err)
		}
		if err := render.Markdown(&all, pl, render.MarkdownOptions{}); err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(pl)
		all.Write(raw)
		// %+v of every value reaches past JSON tags: the plan must not hold the
		// secrets at all, not merely hide them when serialised.
		for _, c := range pl.Changes {
			fmt.Fprintf(&all, "%+v %+v %+v", c, deref(c.Before), deref(c.After))
		}
		for _, secret := range []string{token, tsig} {
			if bytes.Contains(all.Bytes(), []byte(secret)) {
				t.Errorf("plan %d: a secret appears in its output", i)
			}
		}
	}
}

// deref formats what a pointer value holds, including nested credentials and keys.
func deref(v any) string {
	switch x := v.(type) {
	case *schema.Node:
		if x == nil {
			return ""
		}
		return fmt.Sprintf("%+v %+v %+v", *x, x.Credentials, x.TLS)
	case *schema.Member:
		if x == nil {
			return ""
		}
		return fmt.Sprintf("%+v %+v", *x, x.TSIG)
	}
	return fmt.Sprintf("%+v", v)
}

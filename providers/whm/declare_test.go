package whm

import (
	"slices"
	"testing"

	"github.com/tether-dev/tether/schema"
)

// declare reads, per observed user, what the fleet writes as the look-ups it replaced
// did: features of the user's account and of a reseller of that name, forwarders and
// dnssec of the account first, else the reseller's; a distributed account's
// forwarders and a clustered parent's dnssec are not asked.
func TestDeclare(t *testing.T) {
	withSrc := func(a schema.Account, fields ...string) *schema.Account {
		for _, f := range fields {
			a.Src.Set(f, schema.Pos{Line: 1})
		}
		return &a
	}
	desired := &schema.Fleet{
		Accounts: map[string]*schema.Account{
			"fwd":     {Domain: "fwd.example", Forwarders: []schema.Forwarder{{From: "a", To: "b@c.example"}}, Features: map[string]bool{"wp-toolkit": true}},
			"nofwd":   withSrc(schema.Account{Domain: "nofwd.example"}, "forwarders"),
			"signed":  {Domain: "signed.example", DNSSEC: true},
			"unsign":  withSrc(schema.Account{Domain: "unsign.example"}, "dnssec"),
			"plain":   {Domain: "plain.example", Features: map[string]bool{"cpanel-ai": false}},
			"both":    {Domain: "both.example"},
			"distrib": {Domain: "distrib.example", Forwarders: []schema.Forwarder{{From: "a", To: "b@c.example"}}},
		},
		Resellers: map[string]*schema.Reseller{
			"res":  {Account: schema.Account{Domain: "res.example", DNSSEC: true, Forwarders: []schema.Forwarder{{From: "x", To: "y@z.example"}}, Features: map[string]bool{"zz": true}}},
			"both": {Account: schema.Account{Domain: "both.example", DNSSEC: true}, ACLs: []string{"list-accts"}},
		},
	}
	observed := func() []observedUser {
		var us []observedUser
		for _, n := range []string{"both", "distrib", "fwd", "nodomain", "nofwd", "plain", "res", "signed", "undeclared", "unsign"} {
			a := &schema.Account{Domain: n + ".example"}
			switch n {
			case "distrib":
				a.Mail = &schema.MailPlacement{Node: "mail1"}
			case "nodomain":
				a.Domain = ""
			}
			us = append(us, observedUser{name: n, acc: a, reseller: n == "res"})
		}
		return us
	}
	type marks struct{ forwarders, dnssec []string }
	for _, tc := range []struct {
		name      string
		desired   *schema.Fleet
		clustered bool
		features  []string
		want      marks
	}{
		{"no fleet", nil, false, []string{"apitokens"}, marks{}},
		{"cluster off", desired, false, []string{"apitokens", "cpanel-ai", "wp-toolkit", "zz"},
			marks{forwarders: []string{"fwd", "nofwd", "res"}, dnssec: []string{"res", "signed", "unsign"}}},
		{"cluster on", desired, true, []string{"apitokens", "cpanel-ai", "wp-toolkit", "zz"},
			marks{forwarders: []string{"fwd", "nofwd", "res"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			us := observed()
			if got := declare(tc.desired, us, tc.clustered); !slices.Equal(got, tc.features) {
				t.Errorf("features %v, want %v", got, tc.features)
			}
			var got marks
			for _, u := range us {
				if u.forwarders {
					got.forwarders = append(got.forwarders, u.name)
				}
				if u.dnssec {
					got.dnssec = append(got.dnssec, u.name)
				}
			}
			if !slices.Equal(got.forwarders, tc.want.forwarders) || !slices.Equal(got.dnssec, tc.want.dnssec) {
				t.Errorf("marked %+v, want %+v", got, tc.want)
			}
		})
	}
}

// byName orders a parent's users and keeps, of a name listed twice, the later entry
// (the one out.Accounts holds).
func TestByName(t *testing.T) {
	first, later, other := &schema.Account{Domain: "1"}, &schema.Account{Domain: "2"}, &schema.Account{Domain: "3"}
	for _, tc := range []struct {
		name string
		in   []observedUser
		want []*schema.Account
	}{
		{"empty", nil, nil},
		{"sorted", []observedUser{{name: "a", acc: first}, {name: "b", acc: other}}, []*schema.Account{first, other}},
		{"unsorted", []observedUser{{name: "b", acc: other}, {name: "a", acc: first}}, []*schema.Account{first, other}},
		{"twice", []observedUser{{name: "b", acc: first}, {name: "a", acc: other}, {name: "b", acc: later}}, []*schema.Account{other, later}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := byName(tc.in)
			var accs []*schema.Account
			for i, u := range got {
				accs = append(accs, u.acc)
				if i > 0 && got[i-1].name >= u.name {
					t.Errorf("not in name order: %s before %s", got[i-1].name, u.name)
				}
			}
			if !slices.Equal(accs, tc.want) {
				t.Errorf("got %v, want %v", accs, tc.want)
			}
		})
	}
}

// childrenOf gives a parent's children as observeUnlinked filtered them from the
// whole fleet: children only, not lost, in name order; a second fleet is indexed
// on its own.
func TestChildrenOf(t *testing.T) {
	p := &Provider{}
	one := &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1":   {Role: schema.RoleParent},
		"mail2":  {Role: schema.RoleChild, Parent: "web1"},
		"mail1":  {Role: schema.RoleChild, Parent: "web1"},
		"lost1":  {Role: schema.RoleChild, Parent: "web1", Lost: true},
		"mail3":  {Role: schema.RoleChild, Parent: "web2"},
		"ns1":    {Role: schema.RoleDNSOnly, Parent: "web1"},
		"absent": nil,
	}}
	two := &schema.Fleet{Nodes: map[string]*schema.Node{"mail9": {Role: schema.RoleChild, Parent: "web1"}}}
	for _, tc := range []struct {
		fleet  *schema.Fleet
		parent string
		want   []string
	}{
		{one, "web1", []string{"mail1", "mail2"}},
		{one, "web2", []string{"mail3"}},
		{one, "web3", nil},
		{two, "web1", []string{"mail9"}},
		{one, "web1", []string{"mail1", "mail2"}},
	} {
		if got := p.childrenOf(tc.fleet, tc.parent); !slices.Equal(got, tc.want) {
			t.Errorf("childrenOf(%s) = %v, want %v", tc.parent, got, tc.want)
		}
	}
}

package reconciler

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// fleetBuilder keeps test fleets short to write.
type fleetBuilder struct{ f *schema.Fleet }

func newFleet() *fleetBuilder {
	return &fleetBuilder{&schema.Fleet{
		Nodes: map[string]*schema.Node{}, Accounts: map[string]*schema.Account{},
		Resellers: map[string]*schema.Reseller{}, DNSClusters: map[string]*schema.DNSCluster{},
	}}
}

func (b *fleetBuilder) parent(name string) *fleetBuilder {
	b.f.Nodes[name] = &schema.Node{Role: schema.RoleParent, Host: name + ".example.net", Version: 118}
	return b
}

func (b *fleetBuilder) child(name, parent string) *fleetBuilder {
	b.f.Nodes[name] = &schema.Node{Role: schema.RoleChild, Parent: parent, Host: name + ".example.net", Version: 118, Services: []string{"mail"}}
	return b
}

func (b *fleetBuilder) account(user, parent, mail string) *fleetBuilder {
	a := &schema.Account{Parent: parent, Domain: user + ".example"}
	if mail != "" {
		a.Mail = &schema.MailPlacement{Node: mail}
	}
	b.f.Accounts[user] = a
	return b
}

func (b *fleetBuilder) prune() *fleetBuilder {
	b.f.Policy = &schema.Policy{Prune: true}
	return b
}

func ids(p *plan.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, c.ID)
	}
	return out
}

func TestDiffCases(t *testing.T) {
	tests := []struct {
		name     string
		desired  *schema.Fleet
		observed *schema.Fleet
		opts     DiffOptions
		want     []string // change IDs, in plan order
		wantUnm  []string // unmanaged addresses
		wantErr  string   // substring of one of Plan.Errors
	}{
		{
			name:     "identical fleets plan nothing",
			desired:  newFleet().parent("web1").child("mail1", "web1").account("alice", "web1", "mail1").f,
			observed: newFleet().parent("web1").child("mail1", "web1").account("alice", "web1", "mail1").f,
		},
		{
			name:     "a missing account is created, after its child is linked",
			desired:  newFleet().parent("web1").child("mail1", "web1").account("alice", "web1", "mail1").f,
			observed: newFleet().parent("web1").f,
			want:     []string{"node.mail1/link", "account.alice/create"},
		},
		{
			name:     "an undeclared account is unmanaged without pruning",
			desired:  newFleet().parent("web1").f,
			observed: newFleet().parent("web1").account("zed", "web1", "").f,
			opts:     DiffOptions{Inventory: map[string]bool{"account.zed": true}},
			wantUnm:  []string{"account.zed"},
		},
		{
			name:     "pruning removes only what Tether created",
			desired:  newFleet().prune().parent("web1").f,
			observed: newFleet().parent("web1").account("zed", "web1", "").account("yan", "web1", "").f,
			opts:     DiffOptions{Inventory: map[string]bool{"account.zed": true}},
			want:     []string{"account.zed/delete"},
			wantUnm:  []string{"account.yan"},
		},
		{
			name:     "pruning never removes a protected account",
			desired:  newFleet().prune().parent("web1").f,
			observed: newFleet().parent("web1").account("zed", "web1", "").f,
			opts:     DiffOptions{Inventory: map[string]bool{"account.zed": true}, Protected: map[string]bool{"account.zed": true}},
			wantUnm:  []string{"account.zed"},
		},
		{
			name:     "nothing is planned under a parent that could not be read",
			desired:  newFleet().prune().parent("web1").parent("web2").account("alice", "web2", "").f,
			observed: newFleet().parent("web1").account("bob", "web2", "").f,
			opts: DiffOptions{
				Inventory:     map[string]bool{"account.bob": true},
				ObserveErrors: []error{&ScopeError{Provider: "whm", Scope: "web2", Err: errors.New("timeout")}},
			},
			wantErr: "observe web2 (whm): timeout",
		},
		{
			name:     "nothing is planned for an account whose child could not be read",
			desired:  newFleet().parent("web1").child("mail1", "web1").account("alice", "web1", "").f,
			observed: newFleet().parent("web1").child("mail1", "web1").account("alice", "web1", "mail1").f,
			opts:     DiffOptions{FailedScopes: map[string]bool{"mail1": true}},
		},
		{
			name:     "a child is unlinked only after its last account left",
			desired:  newFleet().prune().parent("web1").account("alice", "web1", "").f,
			observed: newFleet().parent("web1").child("mail9", "web1").account("alice", "web1", "mail9").f,
			opts:     DiffOptions{Inventory: map[string]bool{"node.mail9": true}},
			want:     []string{"account.alice/dedistribute", "node.mail9/unlink"},
		},
		{
			name:     "an account on another parent is refused, not moved",
			desired:  newFleet().parent("web1").parent("web2").account("alice", "web2", "").f,
			observed: newFleet().parent("web1").parent("web2").account("alice", "web1", "").f,
			wantErr:  "Tether does not move accounts between parents",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Diff(tt.desired, tt.observed, withProviders(tt.opts))
			if got := ids(p); !slices.Equal(got, tt.want) {
				t.Errorf("changes %v, want %v", got, tt.want)
			}
			var unm []string
			for _, u := range p.Unmanaged {
				unm = append(unm, u.Address)
			}
			if !slices.Equal(unm, tt.wantUnm) {
				t.Errorf("unmanaged %v, want %v", unm, tt.wantUnm)
			}
			if tt.wantErr != "" && !strings.Contains(strings.Join(p.Errors, "\n"), tt.wantErr) {
				t.Errorf("errors %q, want one containing %q", p.Errors, tt.wantErr)
			}
			if tt.wantErr == "" && len(p.Errors) > 0 {
				t.Errorf("unexpected errors %q", p.Errors)
			}
			checkPlanInvariants(t, p)
		})
	}
}

// checkPlanInvariants holds for every plan: unique IDs of the form ADDRESS/ACTION,
// dependencies that exist and come first, a summary that counts the changes, and
// no delete of anything protected.
func checkPlanInvariants(t *testing.T, p *plan.Plan) {
	t.Helper()
	pos := map[string]int{}
	for i, c := range p.Changes {
		if c.ID != plan.ChangeID(c.Address, c.Action) {
			t.Errorf("change ID %q, want %q", c.ID, plan.ChangeID(c.Address, c.Action))
		}
		if _, dup := pos[c.ID]; dup {
			t.Errorf("change %s twice", c.ID)
		}
		pos[c.ID] = i
		if _, err := plan.ParseAddress(c.Address); err != nil {
			t.Error(err)
		}
		if c.Reason == "" || c.Target == "" || c.Provider == "" {
			t.Errorf("change %s lacks a reason, target or provider: %+v", c.ID, c)
		}
		if c.Action == plan.Delete || c.Action == plan.Unlink {
			if !c.Flags.Destructive {
				t.Errorf("%s is not flagged destructive", c.ID)
			}
			if a, ok := c.Before.(*schema.Account); ok && a.Protect {
				t.Errorf("%s removes a protected account", c.ID)
			}
		}
	}
	for _, c := range p.Changes {
		for _, dep := range c.DependsOn {
			i, ok := pos[dep]
			if !ok {
				t.Errorf("%s depends on %s, which is not in the plan", c.ID, dep)
			} else if i > pos[c.ID] {
				t.Errorf("%s comes before its dependency %s", c.ID, dep)
			}
		}
	}
	if want := plan.Summarize(p.Changes, len(p.Unmanaged)); p.Summary != want {
		t.Errorf("summary %+v, want %+v", p.Summary, want)
	}
}

// TestDiffIsPure: Diff does not touch its inputs, and the plan shares no memory
// with them, so a caller may reuse or change the fleets afterwards.
func TestDiffIsPure(t *testing.T) {
	desired := newFleet().parent("web1").child("mail1", "web1").child("mail2", "web1").
		account("alice", "web1", "mail2").account("bob", "web1", "").f
	desired.Nodes["web1"].PasswordStrength = map[string]int{"ftp": 60}
	desired.Accounts["bob"].Features = map[string]bool{"apitokens": true}
	observed := newFleet().parent("web1").child("mail1", "web1").account("alice", "web1", "mail1").f
	snap := func() string {
		b, _ := json.Marshal([]*schema.Fleet{desired, observed})
		return string(b)
	}
	before := snap()
	p := Diff(desired, observed, withProviders(DiffOptions{}))
	if snap() != before {
		t.Fatal("Diff changed its inputs")
	}
	planJSON, _ := json.Marshal(p)
	desired.Nodes["web1"].PasswordStrength["ftp"] = 1
	desired.Accounts["bob"].Features["apitokens"] = false
	desired.Accounts["alice"].Mail.Node = "mail9"
	observed.Accounts["alice"].Mail.Node = "mail8"
	again, _ := json.Marshal(p)
	if string(again) != string(planJSON) {
		t.Error("changing the fleets after Diff changed the plan: values are shared")
	}
}

func TestDiffReplacesMemberDeleteThenCreate(t *testing.T) {
	desired := newFleet().parent("web1").f
	desired.Nodes["nsnew"] = &schema.Node{Role: schema.RoleDNSOnly, Host: "ns.example.net"}
	desired.DNSClusters["web1"] = &schema.DNSCluster{Enabled: true, Members: map[string]*schema.Member{
		"nsnew": {Node: "nsnew", Role: schema.DNSRoleSync},
	}}
	observed := newFleet().parent("web1").f
	observed.DNSClusters["web1"] = &schema.DNSCluster{Enabled: true, Members: map[string]*schema.Member{
		"nsold": {Host: "NS.example.net.", Role: schema.DNSRoleSync},
	}}
	p := Diff(desired, observed, withProviders(DiffOptions{}))
	want := []string{"dns.web1.member.nsold/delete", "dns.web1.member.nsnew/create"}
	if got := ids(p); !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if got := p.Changes[0].Warnings[1]; got != "records held only by nsold will no longer exist on nsnew, web1" {
		t.Errorf("warning %q", got)
	}
	checkPlanInvariants(t, p)
}

func TestDiffRFC2136Hook(t *testing.T) {
	member := func(zones *schema.MemberZones, disabled bool, role string) *schema.Fleet {
		f := newFleet().parent("web1").f
		f.DNSClusters["web1"] = &schema.DNSCluster{Enabled: true, Members: map[string]*schema.Member{
			"bind1": {Backend: "rfc2136", Host: "bind1.example.org", Address: "127.0.0.1:53", Role: role, Zones: zones, Disabled: disabled},
		}}
		return f
	}
	tests := []struct {
		name     string
		observed *schema.Fleet
		role     string
		want     []string
	}{
		{"in step", member(nil, false, "sync"), "sync", nil},
		{"zones out of step", member(&schema.MemberZones{OutOfStep: []string{"a.example"}}, false, "sync"), "sync", []string{"dns.web1.member.bind1/update"}},
		{"resync due", member(&schema.MemberZones{NeedsResync: true}, false, "write-only"), "write-only", []string{"dns.web1.member.bind1/resync"}},
		{"standalone is never written", member(&schema.MemberZones{OutOfStep: []string{"a.example"}}, false, "standalone"), "standalone", nil},
		{"disabled stays out", member(&schema.MemberZones{NeedsResync: true}, true, "sync"), "sync", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired := member(nil, false, tt.role)
			desired.DNSClusters["web1"].Members["bind1"].TSIG = &schema.TSIG{Name: "k", SecretEnv: "K"}
			p := Diff(desired, tt.observed, withProviders(DiffOptions{}))
			if got := ids(p); !slices.Equal(got, tt.want) {
				t.Errorf("changes %v, want %v", got, tt.want)
			}
			for _, c := range p.Changes {
				if c.Provider != "rfc2136" || c.Target != "bind1" {
					t.Errorf("%s: provider %s target %s, want rfc2136 on bind1", c.ID, c.Provider, c.Target)
				}
			}
		})
	}
}

func TestEnableMember(t *testing.T) {
	desired := newFleet().parent("web1").parent("web2").f
	desired.Nodes["ns1"] = &schema.Node{Role: schema.RoleDNSOnly, Host: "ns1.example.net"}
	for _, p := range []string{"web1", "web2"} {
		desired.DNSClusters[p] = &schema.DNSCluster{Enabled: true, Members: map[string]*schema.Member{"ns1": {Node: "ns1", Role: schema.DNSRoleSync}}}
	}
	observed := newFleet().parent("web1").f
	observed.DNSClusters["web1"] = &schema.DNSCluster{Enabled: true, Members: map[string]*schema.Member{"ns1": {Host: "ns1.example.net", Role: schema.DNSRoleSync, Disabled: true}}}

	if _, err := EnableMember(desired, observed, "ns1", withProviders(DiffOptions{})); err == nil || !strings.Contains(err.Error(), "dns.web1.member.ns1") {
		t.Errorf("ambiguous name: error %v, want one suggesting the address", err)
	}
	p, err := EnableMember(desired, observed, "dns.web1.member.ns1", withProviders(DiffOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(p), []string{"dns.web1.member.ns1/enable"}; !slices.Equal(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	checkPlanInvariants(t, p)
	observed.DNSClusters["web1"].Members["ns1"].Disabled = false
	if p, err := EnableMember(desired, observed, "dns.web1.member.ns1", withProviders(DiffOptions{})); err != nil || !p.Empty() || len(p.Warnings) != 1 {
		t.Errorf("enabled member: plan %+v err %v, want no change and a warning", p, err)
	}
	if _, err := EnableMember(desired, observed, "nsx", withProviders(DiffOptions{})); err == nil {
		t.Error("unknown member: want an error")
	}
}

func TestDiffNilFleets(t *testing.T) {
	p := Diff(nil, nil, withProviders(DiffOptions{}))
	if !p.Empty() || p.FormatVersion != plan.FormatVersion {
		t.Errorf("plan of nothing: %+v", p)
	}
	if !reflect.DeepEqual(p.Summary, plan.Summary{}) {
		t.Errorf("summary %+v", p.Summary)
	}
}

// TestDiffPasswordStrengthGovernance: a child plans only the kinds it governs, even
// if a fleet that skipped validation asks for more; the rest is a warning.
func TestDiffPasswordStrengthGovernance(t *testing.T) {
	desired := newFleet().parent("web1").child("mail1", "web1").f
	desired.Nodes["mail1"].PasswordStrength = map[string]int{"virtual": 80, "ftp": 10, "list": 60}
	observed := newFleet().parent("web1").child("mail1", "web1").f
	observed.Nodes["mail1"].PasswordStrength = map[string]int{"virtual": 70, "list": 60}
	p := Diff(desired, observed, withProviders(DiffOptions{}))
	if got := ids(p); !slices.Equal(got, []string{"node.mail1/update"}) {
		t.Fatalf("changes %v", got)
	}
	after := p.Changes[0].After.(*schema.Node)
	if want := map[string]int{"virtual": 80, "list": 60}; !reflect.DeepEqual(after.PasswordStrength, want) {
		t.Errorf("after.passwordStrength %v, want %v (ftp is the parent's)", after.PasswordStrength, want)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "passwordStrength.ftp is governed by its parent web1") {
		t.Errorf("warnings %q", p.Warnings)
	}
	if desired.Nodes["mail1"].PasswordStrength["ftp"] != 10 {
		t.Error("Diff changed the desired fleet")
	}
}

// TestDiffUnreadableIsNotPlanned: what a provider cannot read (a reseller's ACLs, an
// old node's profile) is not compared; otherwise every plan would repeat an update.
func TestDiffUnreadableIsNotPlanned(t *testing.T) {
	n := 5
	desired := newFleet().parent("web1").child("mail1", "web1").f
	desired.Nodes["mail1"].Profile = schema.ProfileMailNode
	desired.Nodes["mail1"].PasswordStrength = map[string]int{"virtual": 70}
	desired.Resellers["bob"] = &schema.Reseller{Account: schema.Account{Parent: "web1", Domain: "bob.example"}, ACLs: []string{"list-accts"}, Limits: &schema.ResellerLimits{Accounts: &n}}
	observed := newFleet().parent("web1").child("mail1", "web1").f
	observed.Resellers["bob"] = &schema.Reseller{Account: schema.Account{Parent: "web1", Domain: "bob.example"}, Limits: &schema.ResellerLimits{Accounts: &n}}

	p := Diff(desired, observed, withProviders(DiffOptions{}))
	if !p.Empty() {
		t.Errorf("changes %v, want none", ids(p))
	}
	if len(p.Warnings) != 3 || !strings.HasPrefix(p.Warnings[0], "acls: declared on 1 reseller(s)") {
		t.Errorf("warnings %q, want one for the ACLs, one for the profile and one for password strengths", p.Warnings)
	}
	// A provider that declares it reads ACLs (CapObserveResellerACLs) and reads none.
	observed.Resellers["bob"].ACLs = []string{}
	reads := DiffOptions{FleetCapabilities: map[string]bool{CapObserveResellerACLs: true}}
	if got := ids(Diff(desired, observed, withProviders(reads))); !slices.Equal(got, []string{"reseller.bob/update"}) {
		t.Errorf("ACLs read as none: changes %v, want the update", got)
	}
}

// TestDiffUnobservedParent: a parent no provider reported is not planned against an
// empty view (every account would be "created"), and a lost child gets no settings.
func TestDiffUnobservedParent(t *testing.T) {
	desired := newFleet().prune().parent("web1").parent("web2").child("mail3", "web1").
		account("alice", "web2", "").account("bob", "web1", "").f
	desired.Nodes["mail3"].Lost = true
	desired.Nodes["mail3"].Profile = schema.ProfileMailNode
	observed := newFleet().parent("web1").child("mail3", "web1").account("bob", "web1", "").f
	p := Diff(desired, observed, withProviders(DiffOptions{}))
	if !p.Empty() {
		t.Errorf("changes %v, want none", ids(p))
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "node web2: not observed") {
		t.Errorf("warnings %q, want web2 named as not observed", p.Warnings)
	}
}

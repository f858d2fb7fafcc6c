package reconciler

import (
	"slices"
	"strings"
	"testing"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// An rfc2136 member is pushed the parent's zones as they are when its change runs, so
// it runs after the plan's changes to those zones, and a plan that changes them
// updates a member that is in step now. Disabled, standalone and cpanel members are
// left to their own rules.
func TestDiffRFC2136MembersFollowTheParentsZoneChanges(t *testing.T) {
	rfc := func(role string) *schema.Member {
		return &schema.Member{Backend: "rfc2136", Host: "b.example.test", Address: "127.0.0.1:53", Role: role}
	}
	inStep := func(m *schema.Member, disabled bool) *schema.Member {
		c := *m
		c.Disabled = disabled
		if !disabled {
			c.Zones = &schema.MemberZones{Digests: map[string]string{"alice.example": "d"}}
		}
		return &c
	}
	tests := []struct {
		name     string
		member   *schema.Member
		observed *schema.Member // nil: not yet in the cluster
		// wantChange is the member's change ("" for none); wantAfter its dependencies
		// among the account changes.
		wantChange string
		wantAfter  []string
	}{
		{"new sync member after the accounts", rfc(schema.DNSRoleSync), nil, "create", []string{"account.alice/distribute", "account.carol/create"}},
		{"new write-only member after the accounts", rfc(schema.DNSRoleWriteOnly), nil, "create", []string{"account.alice/distribute", "account.carol/create"}},
		{"in-step write-only member updated", rfc(schema.DNSRoleWriteOnly), inStep(rfc(schema.DNSRoleWriteOnly), false), "update", []string{"account.alice/distribute", "account.carol/create"}},
		{"in-step sync member updated", rfc(schema.DNSRoleSync), inStep(rfc(schema.DNSRoleSync), false), "update", []string{"account.alice/distribute", "account.carol/create"}},
		{"standalone member never written", rfc(schema.DNSRoleStandalone), inStep(rfc(schema.DNSRoleStandalone), false), "", nil},
		{"disabled member stays out", rfc(schema.DNSRoleWriteOnly), inStep(rfc(schema.DNSRoleWriteOnly), true), "", nil},
		{"cpanel member: WHM replicates", &schema.Member{Node: "ns1", Role: schema.DNSRoleSync}, &schema.Member{Node: "ns1", Host: "ns1.example.net", Role: schema.DNSRoleSync}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired := newFleet().parent("web1").child("mail1", "web1").account("alice", "web1", "mail1").account("carol", "web1", "").f
			desired.Nodes["ns1"] = &schema.Node{Role: schema.RoleDNSOnly, Host: "ns1.example.net"}
			desired.DNSClusters["web1"] = &schema.DNSCluster{Enabled: true, Members: map[string]*schema.Member{"b": tt.member}}
			observed := newFleet().parent("web1").child("mail1", "web1").account("alice", "web1", "").f
			observed.Nodes["ns1"] = desired.Nodes["ns1"]
			oc := &schema.DNSCluster{Enabled: true, Members: map[string]*schema.Member{}}
			if tt.observed != nil {
				oc.Members["b"] = tt.observed
			}
			observed.DNSClusters["web1"] = oc

			p := Diff(desired, observed, withProviders(DiffOptions{}))
			checkPlanInvariants(t, p)
			var got *plan.Change
			for _, c := range p.Changes {
				if c.Address == plan.MemberAddress("web1", "b") {
					got = c
				}
			}
			if tt.wantChange == "" {
				if got != nil {
					t.Fatalf("planned %s for the member: %s", got.ID, got.Reason)
				}
				return
			}
			if got == nil || string(got.Action) != tt.wantChange {
				t.Fatalf("member change %v, want %s; plan %v", got, tt.wantChange, ids(p))
			}
			var after []string
			for _, d := range got.DependsOn {
				if strings.HasPrefix(d, "account.") {
					after = append(after, d)
				}
			}
			if !slices.Equal(after, tt.wantAfter) {
				t.Errorf("depends on %v, want %v", after, tt.wantAfter)
			}
			if got.Action == plan.Update && !strings.Contains(got.Reason, "web1's zones change in this plan (account.alice distribute, account.carol create): pushed after those changes") {
				t.Errorf("reason %q", got.Reason)
			}
		})
	}
}

package reconciler

import (
	"slices"
	"strings"
	"testing"

	"github.com/tether-dev/tether/schema"
)

// A reseller's ACLs are compared only when the fleet provider declares it reads them
// (DiffOptions.FleetCapabilities); without the capability they are never compared,
// whatever the observation holds, and the plan says so instead.
func TestResellerACLsFollowTheCapability(t *testing.T) {
	reseller := func(acls ...string) *schema.Reseller {
		return &schema.Reseller{Account: schema.Account{Parent: "web1", Domain: "bob.example"}, ACLs: acls}
	}
	desired := newFleet().parent("web1").f
	desired.Resellers["bob"] = reseller("list-accts", "create-acct")
	tests := []struct {
		name        string
		caps        map[string]bool
		observed    *schema.Reseller
		wantUpdate  bool
		wantWarning bool
	}{
		{"declared, ACLs differ", map[string]bool{CapObserveResellerACLs: true}, reseller("list-accts"), true, false},
		{"declared, server reports none", map[string]bool{CapObserveResellerACLs: true}, reseller(), true, false},
		{"declared, same set", map[string]bool{CapObserveResellerACLs: true}, reseller("create-acct", "list-accts"), false, false},
		{"not declared, ACLs differ", map[string]bool{"manage-resellers": true}, reseller("list-accts"), false, true},
		{"none declared", map[string]bool{}, reseller("list-accts"), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			observed := newFleet().parent("web1").f
			observed.Resellers["bob"] = tt.observed
			p := Diff(desired, observed, withProviders(DiffOptions{FleetCapabilities: tt.caps}))
			var update bool
			for _, c := range p.Changes {
				if c.Address == "reseller.bob" && slices.Contains(c.Fields, "acls") {
					update = true
				}
			}
			warned := strings.Contains(strings.Join(p.Warnings, "\n"), "acls: declared on 1 reseller(s)")
			if update != tt.wantUpdate || warned != tt.wantWarning {
				t.Errorf("acls update %t (want %t), warning %t (want %t): changes %v, warnings %q", update, tt.wantUpdate, warned, tt.wantWarning, ids(p), p.Warnings)
			}
		})
	}
}

package providers

import (
	"testing"

	"github.com/tether-dev/tether/schema"
)

// TestCheckAccountsWithoutTheCapabilities: a fleet provider lacking what accounts
// need gets a TETHER-P01 at each account that needs it (Check skips the accounts
// only for a provider that has both), and none without a fleet provider beyond the
// one "no registered provider" diagnostic.
func TestCheckAccountsWithoutTheCapabilities(t *testing.T) {
	mu.Lock()
	saved := registry
	mu.Unlock()
	defer func() { mu.Lock(); registry = saved; mu.Unlock() }()

	at := func(line int) schema.Pos { return schema.Pos{File: "fleet.yaml", Line: line, Col: 5} }
	f := &schema.Fleet{
		Nodes: map[string]*schema.Node{"web1": {Role: schema.RoleParent}},
		Accounts: map[string]*schema.Account{
			"bob":   {Parent: "web1", Features: map[string]bool{"apitokens": true}},
			"alice": {Parent: "web1", Mail: &schema.MailPlacement{Node: "mail1"}},
			"carol": {Parent: "web1"},
		},
	}
	f.Accounts["bob"].Src.Set("features", at(7))
	f.Accounts["alice"].Src.Set("mail.node", at(3))

	for _, tc := range []struct {
		name string
		caps Capabilities
		want []string
	}{
		{"both", Capabilities{CanDistributeMail: true, CanAccountFeatures: true}, nil},
		{"no features", Capabilities{CanDistributeMail: true}, []string{
			"fleet.yaml:7:5: TETHER-P01: account bob: account features: provider fake cannot do it (it lacks account-features)"}},
		{"neither", Capabilities{}, []string{
			"fleet.yaml:3:5: TETHER-P01: account alice: mail on a child: provider fake cannot do it (it lacks distribute-mail)",
			"fleet.yaml:7:5: TETHER-P01: account bob: account features: provider fake cannot do it (it lacks account-features)"}},
	} {
		mu.Lock()
		registry = map[string]Spec{"fake": {Name: "fake", Fleet: true, Capabilities: tc.caps}}
		mu.Unlock()
		var got []string
		for _, d := range Check(f) {
			got = append(got, d.Pos.String()+": "+d.Rule+": "+d.Message)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s: got %q, want %q", tc.name, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: got %q, want %q", tc.name, got[i], tc.want[i])
			}
		}
	}
}

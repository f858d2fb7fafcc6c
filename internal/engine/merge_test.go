package engine

import (
	"fmt"
	"testing"

	"github.com/tether-dev/tether/schema"
)

// mergeFleet keeps an account's first sighting, reports one seen on another parent
// as a conflict (in name order within a part), passes over a second sighting on the
// same parent and nil entries, and leaves the accounts map nil when no part has any.
func TestMergeFleetAccounts(t *testing.T) {
	on := func(parent string) *schema.Account {
		return &schema.Account{Parent: parent, Domain: parent + ".example"}
	}
	for _, tc := range []struct {
		name     string
		parts    []map[string]*schema.Account
		want     map[string]string // user -> parent kept
		nilMap   bool
		conflict []string
	}{
		{"none", []map[string]*schema.Account{nil, {}}, nil, true, nil},
		{"nil entries", []map[string]*schema.Account{{"a": nil}}, nil, true, nil},
		{"disjoint", []map[string]*schema.Account{{"a": on("web1"), "b": on("web1")}, {"c": on("web2")}},
			map[string]string{"a": "web1", "b": "web1", "c": "web2"}, false, nil},
		{"same parent twice", []map[string]*schema.Account{{"a": on("web1")}, {"a": on("web1")}},
			map[string]string{"a": "web1"}, false, nil},
		{"conflicts in name order", []map[string]*schema.Account{
			{"z": on("web1"), "b": on("web1"), "m": on("web1"), "a": on("web1")},
			{"z": on("web2"), "m": on("web2"), "b": on("web1"), "a": on("web2"), "n": on("web2")},
		}, map[string]string{"a": "web1", "b": "web1", "m": "web1", "n": "web2", "z": "web1"}, false, []string{
			"account a is on both web1 and web2; kept the first",
			"account m is on both web1 and web2; kept the first",
			"account z is on both web1 and web2; kept the first",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := &schema.Fleet{}
			sizes := mergeSizes{}
			for _, p := range tc.parts {
				sizes.accounts += len(p)
			}
			var got []string
			for i, p := range tc.parts {
				for _, err := range mergeFleet(dst, &schema.Fleet{Accounts: p}, fmt.Sprintf("web%d", i+1), sizes) {
					got = append(got, err.Error())
				}
			}
			if (dst.Accounts == nil) != tc.nilMap {
				t.Errorf("accounts map nil: %v, want %v", dst.Accounts == nil, tc.nilMap)
			}
			if len(dst.Accounts) != len(tc.want) {
				t.Errorf("%d accounts, want %d", len(dst.Accounts), len(tc.want))
			}
			for u, parent := range tc.want {
				if a := dst.Accounts[u]; a == nil || a.Parent != parent {
					t.Errorf("account %s: %+v, want on %s", u, a, parent)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.conflict) {
				t.Errorf("conflicts %q, want %q", got, tc.conflict)
			}
		})
	}
}

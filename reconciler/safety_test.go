package reconciler

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// removalFleets has n accounts on web1 and a fleet that keeps only keep of them,
// with pruning on and every account in the inventory.
func removalFleets(n, keep int, maxPercent *int) (*schema.Fleet, *schema.Fleet, DiffOptions) {
	desired, observed := newFleet().prune().parent("web1"), newFleet().parent("web1")
	desired.f.Policy.MaxRemovePercent = maxPercent
	inv := map[string]bool{}
	for i := range n {
		user := fmt.Sprintf("u%03d", i)
		observed.account(user, "web1", "")
		if i < keep {
			desired.account(user, "web1", "")
		}
		inv[plan.AccountAddress(user)] = true
	}
	return desired.f, observed.f, DiffOptions{Inventory: inv}
}

func TestCheckSafety(t *testing.T) {
	pct := func(n int) *int { return &n }
	tests := []struct {
		name       string
		n, keep    int
		max        *int
		lost       bool
		opts       SafetyOptions
		wantFlags  []string
		wantInText string
	}{
		{name: "removing 10% is allowed by default", n: 20, keep: 18},
		{name: "removing 15% is refused by default", n: 20, keep: 17, wantFlags: []string{"--force"},
			wantInText: "removes 3 of the 20 accounts on web1 (15%), more than policy.maxRemovePercent (10%)"},
		{name: "--force allows it", n: 20, keep: 17, opts: SafetyOptions{Force: true}},
		{name: "the fleet's policy raises the bar", n: 20, keep: 10, max: pct(50)},
		{name: "a zero policy refuses any removal", n: 20, keep: 19, max: pct(0), wantFlags: []string{"--force"}},
		{name: "data loss needs --allow-data-loss", n: 4, keep: 4, lost: true, wantFlags: []string{"--allow-data-loss"},
			wantInText: "account.u000/dedistribute loses data"},
		{name: "--allow-data-loss allows it", n: 4, keep: 4, lost: true, opts: SafetyOptions{AllowDataLoss: true}},
		{name: "both problems are reported at once", n: 4, keep: 2, lost: true, wantFlags: []string{"--allow-data-loss", "--force"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired, observed, opts := removalFleets(tt.n, tt.keep, tt.max)
			if tt.lost {
				desired.Nodes["mail1"] = &schema.Node{Role: schema.RoleChild, Parent: "web1", Lost: true, Services: []string{"mail"}}
				observed.Nodes["mail1"] = &schema.Node{Role: schema.RoleChild, Parent: "web1", Services: []string{"mail"}}
				observed.Accounts["u000"].Mail = &schema.MailPlacement{Node: "mail1"}
			}
			p := Diff(desired, observed, withProviders(opts))
			err := CheckSafety(p, desired, observed, tt.opts)
			if len(tt.wantFlags) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *SafetyError
			if !errors.As(err, &se) {
				t.Fatalf("error %v, want a *SafetyError", err)
			}
			if got := se.Flags(); !slices.Equal(got, tt.wantFlags) {
				t.Errorf("flags %v, want %v", got, tt.wantFlags)
			}
			if !strings.Contains(err.Error(), tt.wantInText) {
				t.Errorf("error %q, want it to say %q", err, tt.wantInText)
			}
		})
	}
	if err := CheckSafety(&plan.Plan{}, nil, nil, SafetyOptions{}); err != nil {
		t.Errorf("empty plan refused: %v", err)
	}
}

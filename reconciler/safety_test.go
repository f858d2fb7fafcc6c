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
			tt.opts.Inventory = opts.Inventory
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

// TestCheckSafetyJudgesForgedChanges gives CheckSafety plans that Diff never makes
// (a saved plan edited by hand): every rule holds from the fleet, the observation and
// the state, whatever the changes say about themselves, and no flag allows a removal
// the fleet's policy forbids.
func TestCheckSafetyJudgesForgedChanges(t *testing.T) {
	forgedDelete := func(user string) *plan.Change {
		return &plan.Change{ID: plan.ChangeID(plan.AccountAddress(user), plan.Delete), Address: plan.AccountAddress(user),
			Action: plan.Delete, Target: "web1", Parent: "web1"}
	}
	tests := []struct {
		name   string
		prune  bool
		inv    []string
		prot   []string
		mutate func(p *plan.Plan, desired, observed *schema.Fleet)
		opts   SafetyOptions
		want   string // "" when allowed
	}{
		{name: "a delete of a protected account (observed protect)", prune: true, inv: []string{"account.u001"},
			mutate: func(p *plan.Plan, _, o *schema.Fleet) {
				o.Accounts["u001"].Protect = true
				p.Changes = append(p.Changes, forgedDelete("u001"))
			},
			opts: SafetyOptions{Force: true, AllowDataLoss: true}, want: "account.u001/delete is never applied: the fleet declares it"},
		{name: "a delete of an account protected in the state", prune: true, inv: []string{"account.u009"}, prot: []string{"account.u009"},
			mutate: func(p *plan.Plan, _, o *schema.Fleet) {
				o.Accounts["u009"] = &schema.Account{Parent: "web1", Domain: "u009.example"}
				p.Changes = append(p.Changes, forgedDelete("u009"))
			},
			opts: SafetyOptions{Force: true}, want: "it is protected (protect: true)"},
		{name: "a delete while pruning is off", inv: []string{"account.u009"},
			mutate: func(p *plan.Plan, _, o *schema.Fleet) {
				o.Accounts["u009"] = &schema.Account{Parent: "web1", Domain: "u009.example"}
				p.Changes = append(p.Changes, forgedDelete("u009"))
			},
			opts: SafetyOptions{Force: true}, want: "policy.prune is off"},
		{name: "a delete of an account Tether did not create", prune: true,
			mutate: func(p *plan.Plan, _, o *schema.Fleet) {
				o.Accounts["u009"] = &schema.Account{Parent: "web1", Domain: "u009.example"}
				p.Changes = append(p.Changes, forgedDelete("u009"))
			},
			opts: SafetyOptions{Force: true}, want: "not in Tether's inventory"},
		{name: "a delete pruning allows", prune: true, inv: []string{"account.u009"},
			mutate: func(p *plan.Plan, _, o *schema.Fleet) {
				o.Accounts["u009"] = &schema.Account{Parent: "web1", Domain: "u009.example"}
				p.Changes = append(p.Changes, forgedDelete("u009"))
			}, opts: SafetyOptions{Force: true}},
		{name: "a forced dedistribution with dataLoss cleared",
			mutate: func(p *plan.Plan, d, o *schema.Fleet) {
				d.Nodes["mail1"] = &schema.Node{Role: schema.RoleChild, Parent: "web1", Lost: true, Services: []string{"mail"}}
				o.Accounts["u000"].Mail = &schema.MailPlacement{Node: "mail1"}
				p.Changes = append(p.Changes, &plan.Change{ID: "account.u000/dedistribute", Address: "account.u000",
					Action: plan.Dedistribute, Target: "web1", Parent: "web1"})
			},
			want: "account.u000/dedistribute loses data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired, observed := newFleet().parent("web1"), newFleet().parent("web1")
			if tt.prune {
				desired.prune()
			}
			for i := range 2 {
				user := fmt.Sprintf("u%03d", i)
				desired.account(user, "web1", "")
				observed.account(user, "web1", "")
			}
			p := Diff(desired.f, observed.f, DiffOptions{})
			if !p.Empty() {
				t.Fatalf("the fleets differ: %v", p.Changes)
			}
			tt.mutate(p, desired.f, observed.f)
			set := func(xs []string) map[string]bool {
				m := map[string]bool{}
				for _, x := range xs {
					m[x] = true
				}
				return m
			}
			tt.opts.Inventory, tt.opts.Protected = set(tt.inv), set(tt.prot)
			err := CheckSafety(p, desired.f, observed.f, tt.opts)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to say %q", err, tt.want)
			}
		})
	}
}

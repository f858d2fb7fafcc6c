package reconciler

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// everyKindFleets is bigFleets with, besides its differences, accounts that differ in
// every other way the accounts' walks plan or warn about: mail from the parent to a
// child and back, mail on a lost child, owners, a parent changed on the servers or
// unknown to the fleet, pruning (of created and of protected accounts), suspension,
// IPv6 either way, dnssec, AutoSSL, and the linked-node debt of distributed accounts.
func everyKindFleets(n int) (desired, observed *schema.Fleet, opts DiffOptions) {
	desired, observed = bigFleets(n)
	desired.Policy = &schema.Policy{Prune: true}
	desired.Nodes["mail3-1"].Lost = true
	r := &schema.Reseller{Account: schema.Account{Parent: "web1", Domain: "res1.example"}}
	desired.Resellers = map[string]*schema.Reseller{"res1": r}
	or := *r
	observed.Resellers = map[string]*schema.Reseller{"res1": &or}
	opts = DiffOptions{Inventory: map[string]bool{}}
	for i := range n {
		user := fmt.Sprintf("u%07d", i)
		a, o := desired.Accounts[user], observed.Accounts[user]
		if a == nil || o == nil {
			continue
		}
		child := &schema.MailPlacement{Node: fmt.Sprintf("mail%d-%d", i%10, i%2)}
		switch i % 97 {
		case 10: // mail to a child from the parent
			a.Mail, o.Mail = child, nil
		case 11: // mail back to the parent
			a.Mail, o.Mail = nil, child
		case 12: // IPv6 on beside distributed mail (TETHER-L06)
			a.Mail, o.Mail, o.IPv6 = child, child, true
		case 13: // apitokens off beside distributed mail (TETHER-L07), repaired
			a.Mail, o.Mail = child, child
			o.Features = map[string]bool{"apitokens": false}
		case 14: // a pipe beside distributed mail (TETHER-L09)
			a.Mail, o.Mail = child, child
			o.Forwarders = append(o.Forwarders, schema.Forwarder{From: "bot", To: "|/bin/true"})
		case 15: // dnssec written in the fleet, off on the servers
			a.DNSSEC = true
			a.Src.Set("dnssec", schema.Pos{})
		case 16:
			a.AutoSSL = &schema.AutoSSL{DCV: []string{"dns"}}
		case 17: // owned by the reseller
			a.Owner = "res1"
		case 18: // on another parent than the fleet says
			o.Parent = fmt.Sprintf("web%d", (i+1)%10)
		case 19: // left the fleet; Tether created it
			delete(desired.Accounts, user)
			opts.Inventory[plan.AccountAddress(user)] = true
		case 20: // a parent the fleet does not have
			a.Parent = "nowhere"
		case 21:
			o.Suspended = true
		case 22: // IPv6 on in the fleet, without a range
			a.IPv6 = true
		case 23: // IPv6 on in the fleet, from a range
			a.IPv6, a.IPv6Range = true, "SHARED"
		case 24: // left the fleet, created by Tether, protected on the servers
			delete(desired.Accounts, user)
			opts.Inventory[plan.AccountAddress(user)] = true
			o.Protect = true
		case 25: // signed on the servers, distributed
			o.DNSSEC, o.Mail, a.Mail = true, child, child
		}
	}
	return desired, observed, opts
}

// TestParallelDiffEqualsSequential holds the walks shared among goroutines
// (walkAccounts) to the plan of one goroutine, on fleets large enough to be shared,
// with and without a failed scope (which turns the quick comparison off).
func TestParallelDiffEqualsSequential(t *testing.T) {
	if testing.Short() {
		t.Skip("builds fleets of 3 x 8,192 accounts")
	}
	n := 3 * parallelAccounts
	for _, tt := range []struct {
		name   string
		failed map[string]bool
	}{
		{"all read", nil},
		{"web7 failed", map[string]bool{"web7": true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			desired, observed, opts := everyKindFleets(n)
			opts.FailedScopes = tt.failed
			opts = withProviders(opts)
			want := diffWith(desired, observed, opts, 1)
			// The fleet holds every kind of difference, so the comparison below is
			// not of two empty plans.
			actions := map[plan.Action]int{}
			for _, c := range want.Changes {
				actions[c.Action]++
			}
			for _, a := range []plan.Action{plan.Create, plan.Update, plan.Delete, plan.Distribute, plan.Dedistribute} {
				if actions[a] == 0 {
					t.Errorf("sequential plan has no %s change: %v", a, actions)
				}
			}
			if len(want.Warnings) == 0 || len(want.Errors) == 0 || len(want.Unmanaged) == 0 || len(want.Gates) == 0 {
				t.Errorf("sequential plan: %d warnings, %d errors, %d unmanaged, %d gates; want some of each",
					len(want.Warnings), len(want.Errors), len(want.Unmanaged), len(want.Gates))
			}
			for _, workers := range []int{2, 3, 8} {
				got := diffWith(desired, observed, opts, workers)
				if !reflect.DeepEqual(got, want) {
					g, _ := json.MarshalIndent(got, "", " ")
					w, _ := json.MarshalIndent(want, "", " ")
					t.Fatalf("%d workers: plan differs from one worker's (%d vs %d bytes of JSON)", workers, len(g), len(w))
				}
			}
		})
	}
}

// TestWalkAccountsVisitsEachOnce: every entry reaches exactly one part, whatever the
// number of workers, around the size from which the walk is shared.
func TestWalkAccountsVisitsEachOnce(t *testing.T) {
	for _, n := range []int{0, 1, parallelAccounts - 1, parallelAccounts, parallelAccounts + accountBatch + 1} {
		m := make(map[string]*schema.Account, n)
		for i := range n {
			m[fmt.Sprintf("u%d", i)] = &schema.Account{}
		}
		for _, workers := range []int{1, 2, 4} {
			seen := map[string]int{}
			for _, p := range walkAccounts(m, workers, func(p *[]string, user string, _ *schema.Account) { *p = append(*p, user) }) {
				for _, u := range *p {
					seen[u]++
				}
			}
			if len(seen) != n {
				t.Errorf("n=%d, %d workers: %d entries visited", n, workers, len(seen))
			}
			for u, k := range seen {
				if k != 1 {
					t.Errorf("n=%d, %d workers: %s visited %d times", n, workers, u, k)
				}
			}
		}
	}
}

package workspace

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// Adopt records objects that are declared in the fleet and found on the servers where
// it puts them in Tether's inventory, so that pruning may later remove them. Only the
// addresses asked for are adopted (all adoptable ones with all); an address that is
// not adoptable is refused with the reason, and nothing is recorded then. It observes
// first: nothing is adopted on the strength of the files alone.
func (w *Workspace) Adopt(ctx context.Context, addresses []string, all bool, parallelism int) ([]plan.Adoptable, error) {
	errs, err := w.Observe(ctx, parallelism)
	if err != nil {
		return nil, err
	}
	inv, err := w.State.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	owned := make(map[string]bool, len(inv))
	for a := range inv {
		owned[a] = true
	}
	failed := reconciler.FailedScopes(errs)
	isFailed := func(keys ...string) bool {
		for _, k := range keys {
			if failed[k] {
				return true
			}
		}
		return false
	}
	candidates := reconciler.Adoptable(w.Fleet, w.Observed, owned, isFailed)
	var chosen []plan.Adoptable
	if all {
		chosen = candidates
	} else {
		byAddr := make(map[string]plan.Adoptable, len(candidates))
		for _, c := range candidates {
			byAddr[c.Address] = c
		}
		var problems []string
		for _, a := range addresses {
			c, ok := byAddr[a]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %s", a, w.whyNotAdoptable(a, owned, isFailed)))
				continue
			}
			chosen = append(chosen, c)
		}
		if len(problems) > 0 {
			sort.Strings(problems)
			return nil, fmt.Errorf("nothing adopted:\n  %s", strings.Join(problems, "\n  "))
		}
	}
	if len(chosen) == 0 {
		return nil, nil
	}
	now := time.Now().UTC()
	entries := make([]state.Entry, len(chosen))
	for i, c := range chosen {
		entries[i] = state.Entry{Address: c.Address, Target: c.Target, Created: now}
	}
	if err := w.State.UpdateInventory(ctx, entries, nil); err != nil {
		return nil, fmt.Errorf("adopt: %w", err)
	}
	return chosen, nil
}

// whyNotAdoptable says why an address cannot be adopted, for the refusal.
func (w *Workspace) whyNotAdoptable(addr string, owned map[string]bool, failed func(keys ...string) bool) string {
	a, err := plan.ParseAddress(addr)
	if err != nil {
		return err.Error()
	}
	switch {
	case owned[addr]:
		return "already in Tether's inventory"
	case failed(addr, a.Name, a.Cluster):
		return "its server could not be read"
	}
	declared := false
	switch a.Kind {
	case plan.KindNode:
		n := w.Fleet.Nodes[a.Name]
		declared = n != nil
		if declared && n.Role != schema.RoleChild {
			return "only a linked child can be adopted among nodes (Tether never removes a parent or a DNS-only node)"
		}
	case plan.KindAccount:
		declared = w.Fleet.Accounts[a.Name] != nil
	case plan.KindReseller:
		declared = w.Fleet.Resellers[a.Name] != nil
	case plan.KindCluster, plan.KindMember:
		declared = w.Fleet.DNSClusters[a.Cluster] != nil
	}
	if !declared {
		return "not declared in the fleet (declare it first: only what the fleet declares can be adopted)"
	}
	return "not found on the servers where the fleet puts it"
}

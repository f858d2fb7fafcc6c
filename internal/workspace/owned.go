package workspace

import (
	"slices"
	"strings"

	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// Units are what replicas of the daemon divide between them: the fleet's parents and
// DNS-only nodes, each a part of the fleet observed, planned, locked and applied on
// its own (a parent's children, accounts, resellers and DNS cluster go with it).
func Units(f *schema.Fleet) []string {
	var out []string
	for _, name := range schema.Names(f.Nodes) {
		if n := f.Nodes[name]; n != nil && (n.Role == schema.RoleParent || n.Role == schema.RoleDNSOnly) {
			out = append(out, name)
		}
	}
	return out
}

// unitOf is the unit a provider's scope belongs to: a parent or DNS-only node is its
// own ("web1"), a DNS member is its parent's ("web1/ns1").
func unitOf(scope string) string {
	u, _, _ := strings.Cut(scope, "/")
	return u
}

// ownedProvider observes only the scopes of owned units.
type ownedProvider struct {
	providers.Provider
	owns func(string) bool
}

func (p ownedProvider) Scopes(desired *schema.Fleet) []string {
	var out []string
	for _, s := range p.Provider.Scopes(desired) {
		if p.owns(unitOf(s)) {
			out = append(out, s)
		}
	}
	return out
}

// scopedProviders wraps the providers so that observing reads only owned units.
func (w *Workspace) scopedProviders() []providers.Provider {
	provs := providerList(w.Session.Providers)
	if w.Owns == nil {
		return provs
	}
	for i, p := range provs {
		provs[i] = ownedProvider{Provider: p, owns: w.Owns}
	}
	return provs
}

// notOwned are the scopes of the units another replica owns: to the planner, parts of
// the fleet not read, under which nothing is planned (reconciler.DiffOptions
// FailedScopes) — never "absent", which would plan creating (or pruning) everything.
func (w *Workspace) notOwned() map[string]bool {
	if w.Owns == nil {
		return nil
	}
	out := map[string]bool{}
	for _, u := range Units(w.Fleet) {
		if !w.Owns(u) {
			out[u] = true
		}
	}
	for name, n := range w.Fleet.Nodes {
		if n != nil && n.Role == schema.RoleChild && out[n.Parent] {
			out[name] = true
		}
	}
	for parent, c := range w.Fleet.DNSClusters {
		if c == nil || !out[parent] {
			continue
		}
		for m := range c.Members {
			out[parent+"/"+m] = true
		}
	}
	return out
}

// keepOwned drops from p any change on a unit this workspace does not own (the
// planner plans none; this holds even if it did), with the changes depending on it.
func (w *Workspace) keepOwned(p *plan.Plan) {
	if w.Owns == nil {
		return
	}
	drop := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, c := range p.Changes {
			if drop[c.ID] {
				continue
			}
			unit := c.Parent
			if unit == "" {
				unit = c.Target
			}
			if (unit != "" && !w.Owns(unit)) || slices.ContainsFunc(c.DependsOn, func(id string) bool { return drop[id] }) {
				drop[c.ID], changed = true, true
			}
		}
	}
	if len(drop) == 0 {
		return
	}
	p.Changes = slices.DeleteFunc(p.Changes, func(c *plan.Change) bool { return drop[c.ID] })
	p.Summary = plan.Summarize(p.Changes, len(p.Unmanaged))
	p.Warnings = append(p.Warnings, "changes on parents another replica owns were left to it")
}

// ownedJournals keeps the journals that touch an owned unit: another replica's
// journal is its own apply, running or left for it to finish.
func (w *Workspace) ownedJournals(js []*state.Journal) []*state.Journal {
	if w.Owns == nil {
		return js
	}
	var out []*state.Journal
	for _, j := range js {
		if slices.ContainsFunc(j.Parents, w.Owns) {
			out = append(out, j)
		}
	}
	return out
}

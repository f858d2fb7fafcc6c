package workspace

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strings"

	"github.com/tether-dev/tether/internal/dnsverify"
	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// VerifyReport is what `tether dns verify` found (its --format json, documented in
// reconciler/render/JSON.md).
type VerifyReport struct {
	Servers    int                  `json:"servers"`
	Checks     int                  `json:"checks"`
	Skipped    []string             `json:"skipped"`
	Notes      []string             `json:"notes"`
	Mismatches []dnsverify.Mismatch `json:"mismatches"`
	Summary    string               `json:"summary"`
}

// Verify asks each server about the zones it holds, for the names the fleet implies:
// every parent about its own accounts, every enabled member of an enabled DNS cluster
// about its parent's (a server asked about a zone it does not hold answers REFUSED,
// which says nothing about the fleet). Members out of their cluster are skipped and
// named: rfc2136 members Tether disabled (from the state's health), cpanel members
// WHM disabled (one read of each parent's cluster status screen).
func Verify(ctx context.Context, fleet *schema.Fleet, sess *session.Session) (*VerifyReport, error) {
	health, err := stateHealth(ctx, sess.State)
	if err != nil {
		return nil, fmt.Errorf("read the DNS members' health: %w", err)
	}
	whmOff, notes := WHMDisabled(ctx, fleet, sess.Providers[providers.FleetProvider()])
	targets, skipped := DNSTargets(fleet, sess.Config.Endpoints, health, whmOff)
	mism := dnsverify.Verify(ctx, fleet, targets, dnsverify.Options{})
	checks := dnsverify.Checks(dnsverify.Expectations(fleet), targets)
	r := &VerifyReport{Servers: len(targets), Checks: checks,
		Skipped: nonNil(skipped), Notes: nonNil(notes), Mismatches: nonNil(mism),
		Summary: fmt.Sprintf("DNS OK: %d server(s) answer %d question(s) about their own zones as the fleet implies", len(targets), checks)}
	if len(mism) > 0 {
		r.Summary = fmt.Sprintf("DNS: %d mismatch(es) on %d server(s)", len(mism), len(targets))
	}
	return r, nil
}

// nonNil makes an empty list [] in JSON rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// clusterReader reads a parent's DNS cluster from WHM's status screen, once per
// parent (providers/whm).
type clusterReader interface {
	DNSCluster(ctx context.Context, parent string, desired *schema.Fleet) (*schema.DNSCluster, error)
}

// WHMDisabled asks each parent whose enabled cluster has cpanel members which of them
// WHM has disabled: one read of its cluster status screen per parent, nothing per
// account. It returns them as "PARENT/MEMBER"; a parent whose screen cannot be read
// gets a note, and its members are asked anyway.
func WHMDisabled(ctx context.Context, fleet *schema.Fleet, whm providers.Provider) (map[string]bool, []string) {
	out := map[string]bool{}
	r, ok := whm.(clusterReader)
	if !ok {
		return out, nil
	}
	var notes []string
	for _, parent := range slices.Sorted(maps.Keys(fleet.DNSClusters)) {
		c := fleet.DNSClusters[parent]
		if c == nil || !c.Enabled || !hasCPanelMember(c) {
			continue
		}
		cl, err := r.DNSCluster(ctx, parent, fleet)
		if err != nil {
			notes = append(notes, fmt.Sprintf("WHM's DNS cluster status of %s could not be read (%v); its cpanel members are asked, disabled by WHM or not", parent, err))
			continue
		}
		for name, m := range cl.Members {
			if m != nil && m.Disabled {
				out[parent+"/"+name] = true
			}
		}
	}
	return out, notes
}

// hasCPanelMember reports whether a cluster has a member on a node of the fleet,
// which the fleet provider (WHM) replicates to and may disable.
func hasCPanelMember(c *schema.DNSCluster) bool {
	for _, m := range c.Members {
		if m != nil && m.OnNode() {
			return true
		}
	}
	return false
}

// DNSTargets lists the servers to ask, each with the parents whose zones it holds:
// every parent (its own), and every enabled sync or write-only member of an enabled
// cluster (the cluster's parent's); standalone members receive no zones and are
// skipped. Members Tether disabled after failures, and cpanel members WHM
// disabled (whmOff, "PARENT/MEMBER"), are skipped and named.
func DNSTargets(fleet *schema.Fleet, eps map[string]providers.Endpoint, health map[string]providers.MemberHealth, whmOff map[string]bool) ([]dnsverify.Target, []string) {
	var out []dnsverify.Target
	var skipped []string
	addrOf := func(node string) string {
		if ep, ok := eps[node]; ok && ep.DNS != "" {
			return ep.DNS
		}
		n := fleet.Nodes[node]
		if n == nil {
			return ""
		}
		if n.IPv4 != "" {
			return net.JoinHostPort(n.IPv4, "53")
		}
		if n.Host != "" {
			return net.JoinHostPort(n.Host, "53")
		}
		return ""
	}
	for name, n := range fleet.Nodes {
		if n.Role == schema.RoleParent {
			if a := addrOf(name); a != "" {
				out = append(out, dnsverify.Target{Member: name + " (parent)", Addr: a, Parents: []string{name}})
			}
		}
	}
	for parent, c := range fleet.DNSClusters {
		if !c.Enabled {
			skipped = append(skipped, fmt.Sprintf("the DNS cluster of %s: disabled in the fleet", parent))
			continue
		}
		for name, m := range c.Members {
			if m.Role == schema.DNSRoleStandalone {
				// The parent reads a standalone member's records and writes nothing to
				// it (DESIGN.md, DNS cluster roles): it holds none of the parent's zones.
				skipped = append(skipped, fmt.Sprintf("%s: a standalone member of %s's cluster receives none of its zones, not asked", name, parent))
				continue
			}
			// Tether's state holds the health of the members it disables itself
			// (rfc2136); the fleet provider's cluster screens that of members on a node.
			if h := health[parent+"/"+name]; h.Disabled {
				skipped = append(skipped, fmt.Sprintf("%s: disabled after %d consecutive failed commands, not asked (re-enable: tether dns enable %s)", name, h.ConsecutiveFailures, name))
				continue
			}
			if !m.OnNode() {
				out = append(out, dnsverify.Target{Member: name, Addr: m.Address, Parents: []string{parent}})
				continue
			}
			if whmOff[parent+"/"+name] {
				skipped = append(skipped, fmt.Sprintf("%s: disabled by WHM on %s (its DNS cluster no longer replicates to it), not asked (re-enable: tether dns enable %s)", name, parent, name))
				continue
			}
			if a := addrOf(m.Node); a != "" {
				out = append(out, dnsverify.Target{Member: name, Addr: a, Parents: []string{parent}})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Member < out[j].Member })
	sort.Strings(skipped)
	return out, skipped
}

// FindMember resolves a member as an operator types it: NAME, PARENT/NAME or
// dns.PARENT.member.NAME.
func FindMember(fleet *schema.Fleet, arg string) (parent, name string, m *schema.Member, err error) {
	wantParent, wantName := "", arg
	if a, err := plan.ParseAddress(arg); err == nil && a.Kind == plan.KindMember {
		wantParent, wantName = a.Cluster, a.Name
	} else if p, n, ok := strings.Cut(arg, "/"); ok {
		wantParent, wantName = p, n
	}
	var found []string
	for _, p := range slices.Sorted(maps.Keys(fleet.DNSClusters)) {
		c := fleet.DNSClusters[p]
		if c == nil || c.Members[wantName] == nil || (wantParent != "" && p != wantParent) {
			continue
		}
		found = append(found, p)
	}
	switch len(found) {
	case 0:
		return "", "", nil, fmt.Errorf("dns enable %s: no DNS cluster in the fleet has a member %s", arg, wantName)
	case 1:
		return found[0], wantName, fleet.DNSClusters[found[0]].Members[wantName], nil
	default:
		return "", "", nil, fmt.Errorf("dns enable %s: %s is a member of the clusters of %s; name one as PARENT/%s", arg, wantName, strings.Join(found, ", "), wantName)
	}
}

// EnabledInState reports whether a member is re-enabled in Tether's state alone
// (its backend keeps its health there: providers.MemberBackend.EnableInState), so no
// server is contacted; otherwise EnableWHM re-enables it on its server.
func EnabledInState(m *schema.Member) bool {
	_, mb, ok := providers.MemberServer(m.BackendName())
	return ok && mb.EnableInState != nil
}

// EnableState re-enables a member in Tether's state, the only place that knows it is
// out (EnabledInState): its failure count is cleared and the next apply
// resynchronises it. It returns the member's health before.
func EnableState(ctx context.Context, st providers.State, parent, name string, m *schema.Member) (providers.MemberHealth, error) {
	id := parent + "/" + name
	_, mb, ok := providers.MemberServer(m.BackendName())
	if !ok || mb.EnableInState == nil {
		return providers.MemberHealth{}, fmt.Errorf("dns enable %s: backend %s does not keep its members' health in Tether's state", id, m.BackendName())
	}
	return mb.EnableInState(ctx, st, id)
}

// stateHealth reads what Tether's state says of the members it disables itself,
// from every member backend that keeps health there, by "PARENT/MEMBER".
func stateHealth(ctx context.Context, st providers.State) (map[string]providers.MemberHealth, error) {
	out := map[string]providers.MemberHealth{}
	for _, s := range providers.Specs() {
		for _, mb := range s.Members {
			if mb.Health == nil {
				continue
			}
			h, err := mb.Health(ctx, st)
			if err != nil {
				return nil, err
			}
			for id, v := range h {
				out[id] = v
			}
		}
	}
	return out, nil
}

// EnableOptions are the choices of re-enabling a cpanel member.
type EnableOptions struct {
	Retry  engine.Retry
	Events func(engine.Event)
	// Planned sees the one-change plan before it runs (the command line prints it).
	Planned func(*plan.Plan) error
}

// EnableWHM reads the parent's DNS cluster and applies reconciler.EnableMember's
// one-change plan through the whm provider (WHM's enable-member screen). A plan with
// no change (the member is not disabled) is returned with its warnings, not applied.
func EnableWHM(ctx context.Context, sess *session.Session, fleet *schema.Fleet, parent, name string, o EnableOptions) (*plan.Plan, *engine.Result, error) {
	whm := sess.Providers[providers.FleetProvider()]
	if whm == nil {
		return nil, nil, fmt.Errorf("dns enable %s: no fleet provider registered", name)
	}
	observed, errs := engine.Observe(ctx, []providers.Provider{whm}, fleet, 1)
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("dns enable %s: read the DNS cluster of %s: %w", name, parent, errors.Join(errs...))
	}
	p, err := reconciler.EnableMember(fleet, observed, plan.MemberAddress(parent, name), PlanOptions())
	if err != nil || len(p.Changes) == 0 {
		return p, nil, err
	}
	if o.Planned != nil {
		if err := o.Planned(p); err != nil {
			return p, nil, err
		}
	}
	res, err := engine.Apply(ctx, p, sess.Providers, engine.ApplyOptions{
		State: sess.State, Locks: engine.Locks(p, nil), Retry: o.Retry, Events: o.Events,
	})
	return p, res, err
}

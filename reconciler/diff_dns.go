package reconciler

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tether-dev/tether/reconciler/backend"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

func (d *differ) diffDNS() {
	for _, parent := range schema.Names(d.d.DNSClusters) {
		c := d.d.DNSClusters[parent]
		if c == nil {
			continue
		}
		addr := plan.ClusterAddress(parent)
		if d.isFailed(parent, addr) {
			continue
		}
		o := d.o.DNSClusters[parent]
		if o == nil {
			o = &schema.DNSCluster{} // never configured: clustering off, WHM defaults
		}
		d.diffCluster(parent, addr, c, o)
		d.diffMembers(parent, c, o)
	}
	for _, parent := range schema.Names(d.o.DNSClusters) {
		o := d.o.DNSClusters[parent]
		if o == nil || d.d.DNSClusters[parent] != nil || !o.Enabled {
			continue
		}
		addr := plan.ClusterAddress(parent)
		if d.isFailed(parent, addr) {
			continue
		}
		reason := d.leftFleet(addr, parent, "on "+parent, false)
		if reason == "" {
			continue
		}
		d.add(&plan.Change{
			Address:  addr,
			Action:   plan.Disable,
			Flags:    plan.Flags{Destructive: true},
			Before:   cloneCluster(o),
			Fields:   []string{"enabled"},
			Reason:   reason,
			Warnings: []string{fmt.Sprintf("zones on %s stop replicating to the members of its cluster (%s)", parent, listNames(schema.Names(o.Members), 9))},
			Target:   parent,
			Parent:   parent,
		})
	}
}

func (d *differ) diffCluster(parent, addr string, c, o *schema.DNSCluster) {
	switch {
	case c.Enabled && !o.Enabled:
		d.add(&plan.Change{
			Address: addr, Action: plan.Enable,
			Before: cloneCluster(o), After: cloneCluster(c), Fields: []string{"enabled"},
			Reason: "DNS clustering is off on " + parent + ", the fleet turns it on",
			Target: parent, Parent: parent,
		})
	case !c.Enabled && o.Enabled:
		d.add(&plan.Change{
			Address: addr, Action: plan.Disable, Flags: plan.Flags{Destructive: true},
			Before: cloneCluster(o), After: cloneCluster(c), Fields: []string{"enabled"},
			Reason:   "the fleet turns DNS clustering off on " + parent,
			Warnings: []string{fmt.Sprintf("zones on %s stop replicating to its members (%s)", parent, listNames(schema.Names(o.Members), 9))},
			Target:   parent, Parent: parent,
		})
	}
	var fields, why []string
	if c.FailureThreshold.Value() != o.FailureThreshold.Value() {
		fields = append(fields, "failureThreshold")
		why = append(why, fmt.Sprintf("failure threshold %s, the fleet says %s", thresholdText(o.FailureThreshold), thresholdText(c.FailureThreshold)))
	}
	if c.NotifyOnDisable != o.NotifyOnDisable {
		fields = append(fields, "notifyOnDisable")
		why = append(why, fmt.Sprintf("notify on disable is %t, the fleet says %t", o.NotifyOnDisable, c.NotifyOnDisable))
	}
	if len(fields) > 0 {
		d.add(&plan.Change{
			Address: addr, Action: plan.Update,
			Before: cloneCluster(o), After: cloneCluster(c), Fields: fields,
			Reason: joinReasons("", why),
			Target: parent, Parent: parent,
		})
	}
}

func thresholdText(t schema.Threshold) string {
	if t.Value() == 0 {
		return "never"
	}
	return fmt.Sprint(t.Value())
}

// memberHost is a member's host name, the identity WHM keeps one entry per: an
// rfc2136 member's own, or a cpanel member's node's.
func (d *differ) memberHost(m *schema.Member) string {
	h := m.Host
	if h == "" && m.Node != "" {
		if n := d.d.Nodes[m.Node]; n != nil {
			h = n.Host
		} else if n := d.o.Nodes[m.Node]; n != nil {
			h = n.Host
		}
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// observedHost is an observed member's host; a member the provider could not match
// to the fleet is keyed by its host name, which then is the best identity there is.
func observedHost(key, host string) string {
	if host == "" && strings.Contains(key, ".") {
		return strings.ToLower(strings.TrimSuffix(key, "."))
	}
	return host
}

// memberBackend finds a member's backend; a member of a backend no provider serves
// is reported once as a plan error and gets no change.
func (d *differ) memberBackend(parent, name string, m *schema.Member) (backend.Member, bool) {
	b, ok := d.opts.Members[m.BackendName()]
	if ok && b.Planner != nil {
		return b, true
	}
	key := parent + "/" + name
	if d.unplannable == nil {
		d.unplannable = map[string]bool{}
	}
	if !d.unplannable[key] {
		d.unplannable[key] = true
		d.errorf("DNS member %s of %s: no provider serves backend %q; nothing is planned for it", name, parent, m.BackendName())
	}
	return backend.Member{}, false
}

// memberAfter is the member as the plan carries it: a member on a node has its host
// filled from the node so the provider need not look it up.
func (d *differ) memberAfter(m *schema.Member) *schema.Member {
	c := cloneMember(m)
	c.Zones, c.Disabled = nil, false
	if c.Node != "" && c.Host == "" {
		c.Host = d.memberHost(m)
	}
	return c
}

// replacedMembers maps each observed member of cluster o that leaves to make room to
// the declared member of c taking its place: a declared member takes its host, or its
// own name now means another server (another host or backend).
func (d *differ) replacedMembers(c, o *schema.DNSCluster) map[string]string {
	byHost := map[string]string{}
	for _, name := range schema.Names(c.Members) {
		if m := c.Members[name]; m != nil {
			byHost[d.memberHost(m)] = name
		}
	}
	replaced := map[string]string{} // observed name -> desired name taking its place
	for _, name := range schema.Names(o.Members) {
		om := o.Members[name]
		if om == nil {
			continue
		}
		host := observedHost(name, d.memberHost(om))
		if dm := c.Members[name]; dm != nil {
			// An unknown host on either side is no evidence of another server.
			dh := d.memberHost(dm)
			if (dh != "" && host != "" && dh != host) || dm.BackendName() != om.BackendName() {
				replaced[name] = name
			}
			continue
		}
		if other, ok := byHost[host]; ok && host != "" && o.Members[other] == nil {
			replaced[name] = other
		}
	}
	return replaced
}

func (d *differ) diffMembers(parent string, c, o *schema.DNSCluster) {
	clusterDeps := []string{plan.ChangeID(plan.ClusterAddress(parent), plan.Enable)}

	replaced := d.replacedMembers(c, o)

	// The servers that keep the cluster's records after removals: the parent and
	// every declared member.
	remaining := []string{parent}
	for _, name := range schema.Names(c.Members) {
		remaining = append(remaining, name)
	}
	sort.Strings(remaining)

	for _, name := range schema.Names(o.Members) {
		om := o.Members[name]
		if om == nil {
			continue
		}
		addr := plan.MemberAddress(parent, name)
		if d.isFailed(addr, parent+"/"+name, name, om.Node) {
			continue
		}
		var reason string
		if by, ok := replaced[name]; ok {
			reason = fmt.Sprintf("replaced by %s (host %s): WHM keeps one entry per host, so the old entry goes first", by, orNone(d.memberHost(c.Members[by])))
			if by == name {
				reason = fmt.Sprintf("%s now names another server (host %s, backend %s): removed, then added again", name, orNone(d.memberHost(c.Members[name])), c.Members[name].BackendName())
			}
		} else if c.Members[name] == nil {
			reason = d.leftFleet(addr, parent, "in the DNS cluster of "+parent, false)
			if reason == "" {
				d.explainKeptMember(addr, parent, om)
			}
		}
		if reason == "" {
			continue
		}
		others := make([]string, 0, len(remaining))
		for _, r := range remaining {
			if r != name {
				others = append(others, r)
			}
		}
		b, ok := d.memberBackend(parent, name, om)
		if !ok {
			continue
		}
		warnings := []string{
			fmt.Sprintf("%s stops synchronising with the cluster of %s", name, parent),
			fmt.Sprintf("records held only by %s will no longer exist on %s", name, listNames(others, 20)),
		}
		if w := b.Planner.RemoveWarning(name); w != "" {
			warnings = append(warnings, w)
		}
		d.add(&plan.Change{
			Address: addr, Action: plan.Delete, Flags: plan.Flags{Destructive: true},
			Before: cloneMember(om), Reason: reason, Warnings: warnings,
			Provider: b.Provider, Target: b.Planner.Target(parent, name), Parent: parent,
		})
	}

	for _, name := range schema.Names(c.Members) {
		m := c.Members[name]
		if m == nil {
			continue
		}
		addr := plan.MemberAddress(parent, name)
		if d.isFailed(addr, parent+"/"+name, name, m.Node) {
			continue
		}
		b, ok := d.memberBackend(parent, name, m)
		if !ok {
			continue
		}
		provider, target := b.Provider, b.Planner.Target(parent, name)
		om := o.Members[name]
		if om == nil || replaced[name] == name {
			deps := append([]string(nil), clusterDeps...)
			deps = append(deps, plan.ChangeID(addr, plan.Delete))
			for old, by := range replaced {
				if by == name {
					deps = append(deps, plan.ChangeID(plan.MemberAddress(parent, old), plan.Delete))
				}
			}
			if b.Planner.PushesZones(m) {
				deps = append(deps, zoneChangeIDs(d.zoneChanges(parent))...)
			}
			d.add(&plan.Change{
				Address: addr, Action: plan.Create,
				After:    d.memberAfter(m),
				Reason:   fmt.Sprintf("%s joins the DNS cluster of %s as a %s member", name, parent, m.Role),
				Warnings: b.Planner.CreateWarnings(parent, name, m),
				Provider: provider, Target: target, Parent: parent,
			}, deps...)
			continue
		}
		d.diffMember(parent, name, addr, m, om, b.Planner, provider, target)
	}
}

// explainKeptMember says what a member that left the fleet but is kept (unmanaged)
// still does: it stays in the cluster, so an operator who deleted its lines does not
// believe it gone. Its removal is planned, with its warning, once pruning is on.
func (d *differ) explainKeptMember(addr, parent string, om *schema.Member) {
	var does string
	switch om.Role {
	case schema.DNSRoleSync:
		does = "it stays a sync member and keeps exchanging records with " + parent
	case schema.DNSRoleWriteOnly:
		does = "it stays a write-only member and keeps receiving " + parent + "'s zones"
	case schema.DNSRoleStandalone:
		does = "it stays a standalone member and " + parent + " keeps reading its records"
	default:
		does = "it stays in the cluster"
	}
	if b, ok := d.opts.Members[om.BackendName()]; ok && b.Planner != nil {
		if note := b.Planner.KeptNote(); note != "" {
			does = note
		}
	}
	switch {
	case d.prune && !d.opts.Inventory[addr], !d.prune && !d.opts.Inventory[addr]:
		does += "; Tether did not add it, so only an operator removes it"
	case !d.prune:
		does += "; with policy.prune: true its removal is planned"
	}
	for i := len(d.unmanaged) - 1; i >= 0; i-- {
		if d.unmanaged[i].Address == addr {
			d.unmanaged[i].Reason += ": " + does
			return
		}
	}
}

func (d *differ) diffMember(parent, name, addr string, m, om *schema.Member, bp backend.Planner, provider, target string) {
	var fields, why []string
	if m.Role != om.Role {
		fields = append(fields, "role")
		why = append(why, fmt.Sprintf("role %s, the fleet says %s", orNone(om.Role), m.Role))
	}
	if m.BackendName() == om.BackendName() {
		// Only what the backend observes is compared (backend.Planner.Differs).
		if more := bp.Differs(m, om); len(more) > 0 {
			fields = append(fields, more...)
			verb := " differs"
			if len(more) > 1 {
				verb = " differ"
			}
			why = append(why, strings.Join(more, ", ")+verb)
		}
	}
	if om.Disabled {
		// The documents keep a disabled member out until an operator re-enables it.
		d.warnf("DNS member %s of %s is disabled after too many failed commands; it stays out of the cluster until `tether dns enable %s`", name, parent, name)
		if len(fields) == 0 {
			return
		}
	}
	// The hook for a member's own observation (rfc2136: schema.MemberZones): zones
	// out of step are brought in step by an update, a due resync rewrites them all.
	// Only members that are written to get either; the fleet's role decides.
	writes := m.Role == schema.DNSRoleSync || m.Role == schema.DNSRoleWriteOnly
	var resync bool
	if z := om.Zones; z != nil && !om.Disabled {
		if len(z.Missing) > 0 {
			d.warnf("DNS member %s of %s does not serve %d of %s's zones (%s): RFC 2136 cannot create a zone; create them on the nameserver", name, parent, len(z.Missing), parent, listNames(z.Missing, 5))
		}
		switch {
		case !writes:
		case z.NeedsResync:
			resync = true
		case len(z.OutOfStep) > 0:
			fields = append(fields, "zones")
			why = append(why, fmt.Sprintf("%d zones out of step: %s", len(z.OutOfStep), listNames(z.OutOfStep, 5)))
		}
	}
	// Tether itself pushes the parent's zones to an rfc2136 member, as they are when
	// the change runs: it runs after this plan's changes to those zones, and a plan
	// that changes them updates the member even when it is in step now.
	var zoneDeps []string
	if bp.PushesZones(m) && !om.Disabled {
		zc := d.zoneChanges(parent)
		zoneDeps = zoneChangeIDs(zc)
		if len(zc) > 0 && !slices.Contains(fields, "zones") && !resync {
			fields = append(fields, "zones")
			why = append(why, fmt.Sprintf("%s's zones change in this plan (%s): pushed after those changes", parent, zoneChangeNames(zc)))
		}
	}
	if len(fields) > 0 {
		d.add(&plan.Change{
			Address: addr, Action: plan.Update,
			Before: cloneMember(om), After: d.memberAfter(m), Fields: fields,
			Reason:   name + ": " + strings.Join(why, "; "),
			Provider: provider, Target: target, Parent: parent,
		}, zoneDeps...)
	}
	if resync {
		d.add(&plan.Change{
			Address: addr, Action: plan.Resync,
			Before: cloneMember(om), After: d.memberAfter(m),
			Reason:   fmt.Sprintf("%s was offline or disabled: all of %s's zones are resynchronised to it before it is trusted", name, parent),
			Provider: provider, Target: target, Parent: parent,
		}, append(zoneDeps, plan.ChangeID(addr, plan.Update))...)
	}
}

// zoneChanges are this plan's changes to the zones a parent serves: its accounts and
// resellers created, changed, moved or removed. DNS is diffed last, so they are all
// known here.
func (d *differ) zoneChanges(parent string) []*plan.Change {
	var out []*plan.Change
	for _, c := range d.changes {
		if c.Parent == parent && c.Addr().OwnsZones() {
			out = append(out, c)
		}
	}
	return out
}

func zoneChangeIDs(cs []*plan.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func zoneChangeNames(cs []*plan.Change) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Address + " " + string(c.Action)
	}
	sort.Strings(names)
	return listNames(names, 3)
}

package reconciler

import (
	"fmt"
	"strings"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// EnableMember plans what `tether dns enable MEMBER` does: re-enable a DNS cluster
// member that was disabled after too many failed commands; its backend's planner
// says what happens to its zones (EnableNote). member is a member name, or an
// address (dns.PARENT.member.NAME) when the name is in more than one cluster; opts
// gives the member backends (Members). Like Diff it is pure.
func EnableMember(desired, observed *schema.Fleet, member string, opts DiffOptions) (*plan.Plan, error) {
	if desired == nil || observed == nil {
		return nil, fmt.Errorf("dns enable %s: no fleet", member)
	}
	parent, name := "", member
	if strings.HasPrefix(member, "dns.") {
		a, err := plan.ParseAddress(member)
		if err != nil || a.Kind != plan.KindMember {
			return nil, fmt.Errorf("dns enable %s: want a member name or dns.PARENT.member.NAME", member)
		}
		parent, name = a.Cluster, a.Name
	} else {
		var in []string
		for _, p := range schema.Names(desired.DNSClusters) {
			if c := desired.DNSClusters[p]; c != nil && c.Members[name] != nil {
				in = append(in, p)
			}
		}
		switch len(in) {
		case 0:
			return nil, fmt.Errorf("dns enable %s: no DNS cluster in the fleet has a member %s", member, name)
		case 1:
			parent = in[0]
		default:
			return nil, fmt.Errorf("dns enable %s: member of the clusters of %s; name one: %s",
				member, strings.Join(in, ", "), plan.MemberAddress(in[0], name))
		}
	}
	c := desired.DNSClusters[parent]
	if c == nil || c.Members[name] == nil {
		return nil, fmt.Errorf("dns enable %s: the DNS cluster of %s has no member %s in the fleet", member, parent, name)
	}
	m := c.Members[name]
	var om *schema.Member
	if oc := observed.DNSClusters[parent]; oc != nil {
		om = oc.Members[name]
	}
	if om == nil {
		return nil, fmt.Errorf("dns enable %s: %s is not in the DNS cluster of %s on the server yet (run tether apply to add it)", member, name, parent)
	}
	p := &plan.Plan{FormatVersion: plan.FormatVersion, Changes: []*plan.Change{}}
	if !om.Disabled {
		p.Warnings = append(p.Warnings, fmt.Sprintf("DNS member %s of %s is not disabled; nothing to enable", name, parent))
		return p, nil
	}
	d := &differ{d: desired, o: observed, opts: opts, byID: map[string]*plan.Change{}}
	addr := plan.MemberAddress(parent, name)
	b, ok := d.memberBackend(parent, name, m)
	if !ok {
		return nil, fmt.Errorf("dns enable %s: %s", member, strings.Join(d.errors, "; "))
	}
	reason := fmt.Sprintf("%s was disabled after too many failed commands; an operator re-enables it", name)
	reason += b.Planner.EnableNote(parent, m)
	d.add(&plan.Change{
		Address: addr, Action: plan.Enable,
		Before: cloneMember(om), After: d.memberAfter(m), Fields: []string{"disabled"},
		Reason:   reason,
		Provider: b.Provider, Target: b.Planner.Target(parent, name), Parent: parent,
	})
	p.Changes = d.ordered()
	p.Summary = plan.Summarize(p.Changes, 0)
	return p, nil
}

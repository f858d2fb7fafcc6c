package whm

import (
	"fmt"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

// Backend is the DNS member backend this provider serves, the default one: a
// cPanel & WHM or DNSONLY node of the fleet, added to the parent's DNS cluster
// through WHM's cluster screens. WHM replicates the parent's zones to it.
const Backend = "cpanel"

// memberBackend is what the loader, the planner, dns verify and dns enable know of
// a cpanel member.
var memberBackend = providers.MemberBackend{
	Schema: schema.MemberBackend{
		Name:    Backend,
		Default: true,
		OnNode:  true,
		Needs:   []string{"node"},
		Takes:   []string{"software"},
		Refuse: func(field string) (string, string) {
			return "a cpanel member takes its " + field + " from its node", "remove " + field + ": or set backend: rfc2136"
		},
		NodeFix: "name a node declared under nodes:, or use backend: rfc2136 for a server outside the fleet",
	},
	Planner: planner{},
}

// planner is the cpanel backend's part in planning (reconciler/backend.Planner).
type planner struct{}

// Target: a member's change runs on WHM's cluster screens of the parent.
func (planner) Target(parent, _ string) string { return parent }

// Differs: WHM's cluster status reports a member's role only, which the planner
// compares itself.
func (planner) Differs(_, _ *schema.Member) []string { return nil }

// PushesZones: WHM replicates the parent's zones to its cluster on its own.
func (planner) PushesZones(*schema.Member) bool { return false }

func (planner) KeptNote() string            { return "" }
func (planner) RemoveWarning(string) string { return "" }
func (planner) EnableNote(_ string, m *schema.Member) string {
	if m.Role == schema.DNSRoleSync {
		return "; if it was off for long, resynchronise the cluster's zones to it in WHM"
	}
	return ""
}

// CreateWarnings says where adding a cpanel member leaves credentials: WHM
// writes the member's API token in plain text into the parent's cluster
// configuration (/var/cpanel/cluster/root/config/<address>,
// Cpanel/NameServer/Setup/Remote/cPanel.pm), and reverse trust (sync and
// standalone) leaves a token of the parent on the member.
func (planner) CreateWarnings(parent, name string, m *schema.Member) []string {
	node := m.Node
	if node == "" {
		node = name
	}
	out := []string{fmt.Sprintf("the API token of %s is stored on %s in plain text (/var/cpanel/cluster/root/config/<address of %s>), as WHM keeps DNS cluster credentials; anyone with root on %s can use it on %s",
		node, parent, node, parent, node)}
	if m.Role == schema.DNSRoleSync || m.Role == schema.DNSRoleStandalone {
		out = append(out, fmt.Sprintf("reverse trust: %s creates an API token with the clustering ACL and stores it on %s, which adds %s to its own cluster as standalone",
			parent, node, parent))
	}
	return out
}

package reconciler

import (
	"github.com/tether-dev/tether/schema"
)

// The values a plan carries are copies (schema's Clone methods, the one deep copy):
// they never share memory with the fleets (a caller may reuse them), carry no
// positions (a saved plan must not depend on where a file declared something) and
// never hold a secret, even one an operator wrote inline against the rules
// (TETHER-S01).

func cloneNode(n *schema.Node) *schema.Node             { return n.Clone() }
func cloneAccount(a *schema.Account) *schema.Account    { return a.Clone() }
func cloneReseller(r *schema.Reseller) *schema.Reseller { return r.Clone() }

// cloneCluster copies the cluster settings only: members are planned, and shown, as
// changes of their own.
func cloneCluster(c *schema.DNSCluster) *schema.DNSCluster {
	if c == nil {
		return nil
	}
	return &schema.DNSCluster{
		Enabled:          c.Enabled,
		FailureThreshold: c.FailureThreshold,
		NotifyOnDisable:  c.NotifyOnDisable,
	}
}

func cloneMember(m *schema.Member) *schema.Member {
	c := m.Clone()
	if c != nil && c.Zones != nil {
		// Per-zone digests are the provider's working data; a plan keeps what a
		// person reviews (which zones are out of step or missing).
		c.Zones.Digests = nil
	}
	return c
}

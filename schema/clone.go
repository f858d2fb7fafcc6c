package schema

import (
	"maps"
	"slices"
)

// The one deep copy of the fleet's objects. A copy shares no memory with its original
// (a caller may change either), carries no source positions and holds no inline
// secret (Credentials.Token, TSIG.Secret: TETHER-S01), so a plan or an imported fleet
// made of copies can neither point into an operator's files nor leak what they held.
// The planner (reconciler) and import (internal/importer) copy through these;
// clone_test.go fills every field of every type by reflection and fails when a new
// field is shared or lost.

// Clone copies the node.
func (n *Node) Clone() *Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Src = Source{}
	c.Services = slices.Clone(n.Services)
	c.PasswordStrength = maps.Clone(n.PasswordStrength)
	c.OptionalRoles = maps.Clone(n.OptionalRoles)
	c.TLS = n.TLS.Clone()
	c.Credentials = n.Credentials.Clone()
	c.LinkCredentials = n.LinkCredentials.Clone()
	return &c
}

// Clone copies the TLS settings.
func (t *TLS) Clone() *TLS {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// Clone copies the credentials' references, never an inline token.
func (cr *Credentials) Clone() *Credentials {
	if cr == nil {
		return nil
	}
	c := *cr
	c.Token = ""
	c.Src = Source{}
	return &c
}

// Clone copies the account.
func (a *Account) Clone() *Account {
	if a == nil {
		return nil
	}
	c := *a
	c.Src = Source{}
	c.Features = maps.Clone(a.Features)
	c.Forwarders = slices.Clone(a.Forwarders)
	if a.Mail != nil {
		m := *a.Mail
		m.ExtraNodes = slices.Clone(a.Mail.ExtraNodes)
		c.Mail = &m
	}
	if a.AutoSSL != nil {
		s := *a.AutoSSL
		s.DCV = slices.Clone(a.AutoSSL.DCV)
		c.AutoSSL = &s
	}
	return &c
}

// Clone copies the reseller.
func (r *Reseller) Clone() *Reseller {
	if r == nil {
		return nil
	}
	c := *r
	c.Account = *r.Account.Clone()
	c.ACLs = slices.Clone(r.ACLs)
	if r.Limits != nil {
		l := *r.Limits
		if r.Limits.Accounts != nil {
			n := *r.Limits.Accounts
			l.Accounts = &n
		}
		c.Limits = &l
	}
	return &c
}

// Clone copies the cluster and its members.
func (dc *DNSCluster) Clone() *DNSCluster {
	if dc == nil {
		return nil
	}
	c := *dc
	c.Src = Source{}
	if dc.Members != nil {
		c.Members = make(map[string]*Member, len(dc.Members))
		for k, m := range dc.Members {
			c.Members[k] = m.Clone()
		}
	}
	return &c
}

// Clone copies the member, its observed zones included.
func (m *Member) Clone() *Member {
	if m == nil {
		return nil
	}
	c := *m
	c.Src = Source{}
	if m.TSIG != nil {
		t := *m.TSIG
		t.Secret = ""
		t.Src = Source{}
		c.TSIG = &t
	}
	if m.Zones != nil {
		z := *m.Zones
		z.Digests = maps.Clone(m.Zones.Digests)
		z.OutOfStep = slices.Clone(m.Zones.OutOfStep)
		z.Missing = slices.Clone(m.Zones.Missing)
		c.Zones = &z
	}
	return &c
}

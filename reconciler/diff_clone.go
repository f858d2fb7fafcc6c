package reconciler

import (
	"maps"
	"slices"

	"github.com/tether-dev/tether/schema"
)

// The values a plan carries are copies: they never share memory with the fleets (a
// caller may reuse them), carry no positions (a saved plan must not depend on where
// a file declared something) and never hold a secret, even one an operator wrote
// inline against the rules (TETHER-S01).

func cloneNode(n *schema.Node) *schema.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Src = schema.Source{}
	c.Services = slices.Clone(n.Services)
	c.PasswordStrength = maps.Clone(n.PasswordStrength)
	c.OptionalRoles = maps.Clone(n.OptionalRoles)
	if n.LinkCredentials != nil {
		cr := *n.LinkCredentials
		cr.Token = ""
		cr.Src = schema.Source{}
		c.LinkCredentials = &cr
	}
	if n.TLS != nil {
		t := *n.TLS
		c.TLS = &t
	}
	if n.Credentials != nil {
		cr := *n.Credentials
		cr.Token = ""
		cr.Src = schema.Source{}
		c.Credentials = &cr
	}
	return &c
}

func cloneAccount(a *schema.Account) *schema.Account {
	if a == nil {
		return nil
	}
	c := *a
	c.Src = schema.Source{}
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

func cloneReseller(r *schema.Reseller) *schema.Reseller {
	if r == nil {
		return nil
	}
	c := *r
	c.Account = *cloneAccount(&r.Account)
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
	if m == nil {
		return nil
	}
	c := *m
	c.Src = schema.Source{}
	if m.TSIG != nil {
		t := *m.TSIG
		t.Secret = ""
		t.Src = schema.Source{}
		c.TSIG = &t
	}
	if m.Zones != nil {
		// Per-zone digests are the provider's working data; a plan keeps what a
		// person reviews (which zones are out of step or missing).
		c.Zones = &schema.MemberZones{
			OutOfStep:   slices.Clone(m.Zones.OutOfStep),
			Missing:     slices.Clone(m.Zones.Missing),
			NeedsResync: m.Zones.NeedsResync,
		}
	}
	return &c
}

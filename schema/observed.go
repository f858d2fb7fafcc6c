package schema

// MemberZones is what the rfc2136 provider observed about one member's zones,
// compared with the zones its parent holds (read from WHM with listzones and
// parse_dns_zone). It is set only on observed members; a desired member leaves it nil.
//
// How the reconciler uses it (Member.UpdateDue): a sync or write-only member, not
// disabled, with zones out of step gets an `update` of dns.PARENT.member.NAME; one
// marked NeedsResync (re-enabled after being disabled) gets a `resync`. A standalone
// member is never written, so its differences are only reported.
type MemberZones struct {
	// Digests maps each of the parent's zones to a digest of the member's copy:
	// read by AXFR for sync and standalone members, remembered from the last push for
	// write-only members (never read). Absent: unknown or never pushed.
	Digests map[string]string `json:"digests,omitempty"`
	// OutOfStep lists the zones whose copy differs from the parent's, sorted.
	OutOfStep []string `json:"outOfStep,omitempty"`
	// Missing lists the zones the member does not serve (NOTAUTH/NOTZONE): RFC 2136
	// cannot create a zone, so an operator must create them on the nameserver. They
	// are not in OutOfStep: an update could not fix them.
	Missing []string `json:"missing,omitempty"`
	// NeedsResync: the member was re-enabled and must be compared in full and
	// rewritten before it is trusted again.
	NeedsResync bool `json:"needsResync,omitempty"`
}

// UpdateDue reports whether an observed member needs writing, and whether that is a
// full resync rather than an update.
func (m *Member) UpdateDue() (due, resync bool) {
	if m == nil || m.Disabled || m.Zones == nil {
		return false, false
	}
	if m.Role != DNSRoleSync && m.Role != DNSRoleWriteOnly {
		return false, false
	}
	if m.Zones.NeedsResync {
		return true, true
	}
	return len(m.Zones.OutOfStep) > 0, false
}

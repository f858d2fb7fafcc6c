package sandbox

import (
	"maps"
	"slices"
)

// Reads of what WHM API 1 does not return, for tests that must see what a write
// stored: a reseller's ACLs (setacls has no reading counterpart for one reseller)
// and an account's per-user feature overrides apart from its feature list's.

// ResellerACLs is the ACLs user holds on node as a reseller (sorted), and whether
// user is a reseller there.
func (sb *Sandbox) ResellerACLs(nodeName, user string) ([]string, bool) {
	n, err := sb.mustNode(nodeName)
	if err != nil {
		return nil, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.st.Accounts[user]
	if a == nil || !a.Reseller {
		return nil, false
	}
	return slices.Sorted(slices.Values(a.ACLs)), true
}

// FeatureOverrides is the features set for user on node itself
// (add_override_features_for_user), without those of its feature list; nil when
// there is no such account.
func (sb *Sandbox) FeatureOverrides(nodeName, user string) map[string]bool {
	n, err := sb.mustNode(nodeName)
	if err != nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.st.Accounts[user]
	if a == nil {
		return nil
	}
	out := maps.Clone(a.Features)
	if out == nil {
		out = map[string]bool{}
	}
	return out
}

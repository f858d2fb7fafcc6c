package plan

import (
	"fmt"
	"strings"
)

// Kinds of object an address names.
const (
	KindNode     = "node"
	KindAccount  = "account"
	KindReseller = "reseller"
	KindCluster  = "cluster"
	KindMember   = "member"
)

// Address is a parsed change address.
type Address struct {
	Kind string // KindNode, KindAccount, ...
	// Cluster is the parent of a DNS cluster address; empty otherwise.
	Cluster string
	// Name is the node, user or member name; for a cluster, the parent again.
	Name string
}

// String writes the address back in its canonical form.
func (a Address) String() string {
	switch a.Kind {
	case KindCluster:
		return ClusterAddress(a.Cluster)
	case KindMember:
		return MemberAddress(a.Cluster, a.Name)
	default:
		return a.Kind + "." + a.Name
	}
}

// NodeAddress and the functions below build addresses, so no caller spells them.
func NodeAddress(name string) string     { return "node." + name }
func AccountAddress(user string) string  { return "account." + user }
func ResellerAddress(user string) string { return "reseller." + user }
func ClusterAddress(parent string) string {
	return "dns." + parent + ".cluster"
}
func MemberAddress(parent, member string) string {
	return "dns." + parent + ".member." + member
}

// ChangeID is the ID of the change of action on address.
func ChangeID(address string, a Action) string { return address + "/" + string(a) }

// ParseAddress splits an address into its kind and names.
func ParseAddress(s string) (Address, error) {
	kind, rest, ok := strings.Cut(s, ".")
	if !ok || rest == "" {
		return Address{}, fmt.Errorf("address %q: want KIND.NAME (node, account, reseller, dns)", s)
	}
	switch kind {
	case KindNode, KindAccount, KindReseller:
		return Address{Kind: kind, Name: rest}, nil
	case "dns":
		if parent, ok := strings.CutSuffix(rest, ".cluster"); ok && parent != "" && !strings.Contains(parent, ".") {
			return Address{Kind: KindCluster, Cluster: parent, Name: parent}, nil
		}
		if parent, member, ok := strings.Cut(rest, ".member."); ok && parent != "" && member != "" {
			return Address{Kind: KindMember, Cluster: parent, Name: member}, nil
		}
		return Address{}, fmt.Errorf("address %q: want dns.PARENT.cluster or dns.PARENT.member.NAME", s)
	default:
		return Address{}, fmt.Errorf("address %q: unknown kind %q (want node, account, reseller, dns)", s, kind)
	}
}

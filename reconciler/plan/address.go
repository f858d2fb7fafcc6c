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

// Address is the one typed address of an object Tether manages. Every address is
// built and parsed here: a change's Address, the inventory's and protection's keys,
// the fingerprint's objects and the importer's comments all hold its String form,
// which is a contract (plan JSON, saved plans, state):
//
//	node.NAME, account.USER, reseller.USER, dns.PARENT.cluster, dns.PARENT.member.NAME
type Address struct {
	Kind string // KindNode, KindAccount, ...
	// Cluster is the parent of a DNS cluster address; empty otherwise.
	Cluster string
	// Name is the node, user or member name; for a cluster, the parent again.
	Name string
}

// Node, Account, Reseller, Cluster and Member build typed addresses.
func Node(name string) Address     { return Address{Kind: KindNode, Name: name} }
func Account(user string) Address  { return Address{Kind: KindAccount, Name: user} }
func Reseller(user string) Address { return Address{Kind: KindReseller, Name: user} }
func Cluster(parent string) Address {
	return Address{Kind: KindCluster, Cluster: parent, Name: parent}
}
func Member(parent, member string) Address {
	return Address{Kind: KindMember, Cluster: parent, Name: member}
}

// String writes the address in its canonical form.
func (a Address) String() string {
	switch a.Kind {
	case KindCluster:
		return "dns." + a.Cluster + ".cluster"
	case KindMember:
		return "dns." + a.Cluster + ".member." + a.Name
	default:
		return a.Kind + "." + a.Name
	}
}

// MarshalText writes the canonical form, so an Address is a string in JSON.
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses the canonical form.
func (a *Address) UnmarshalText(b []byte) error {
	p, err := ParseAddress(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

// OwnsZones reports whether the object has zones on its parent: an account or a
// reseller (its domain). A change to one changes what the parent's nameservers serve.
func (a Address) OwnsZones() bool { return a.Kind == KindAccount || a.Kind == KindReseller }

// IsDNS reports whether the address names a DNS cluster or one of its members.
func (a Address) IsDNS() bool { return a.Kind == KindCluster || a.Kind == KindMember }

// MemberID is a member's id in Tether's state and in provider scopes,
// "PARENT/MEMBER"; empty for any other kind.
func (a Address) MemberID() string {
	if a.Kind != KindMember {
		return ""
	}
	return a.Cluster + "/" + a.Name
}

// NodeAddress and the functions below build address strings, so no caller spells them.
func NodeAddress(name string) string             { return Node(name).String() }
func AccountAddress(user string) string          { return Account(user).String() }
func ResellerAddress(user string) string         { return Reseller(user).String() }
func ClusterAddress(parent string) string        { return Cluster(parent).String() }
func MemberAddress(parent, member string) string { return Member(parent, member).String() }

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
			return Cluster(parent), nil
		}
		if parent, member, ok := strings.Cut(rest, ".member."); ok && parent != "" && member != "" {
			return Member(parent, member), nil
		}
		return Address{}, fmt.Errorf("address %q: want dns.PARENT.cluster or dns.PARENT.member.NAME", s)
	default:
		return Address{}, fmt.Errorf("address %q: unknown kind %q (want node, account, reseller, dns)", s, kind)
	}
}

// Addr is the change's address, parsed; the zero Address when it does not parse
// (a change Diff made always does; a saved plan's was checked when it was read).
func (c *Change) Addr() Address {
	a, _ := ParseAddress(c.Address)
	return a
}

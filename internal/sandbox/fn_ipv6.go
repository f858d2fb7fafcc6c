package sandbox

import (
	"math/big"
	"net/netip"
	"sort"
	"strings"
)

// ipv6Range is one of the server's IPv6 address ranges (reference "Return available
// IPv6 address ranges", ipv6_range_list, 11.138.0.6).
type ipv6Range struct {
	Name       string   `json:"name"`
	CIDR       string   `json:"cidr"`
	Note       string   `json:"note,omitempty"`
	Enabled    bool     `json:"enabled"`
	MostRecent string   `json:"most_recent,omitempty"`
	Users      []string `json:"users,omitempty"`
}

// expanded writes an address the way the reference's examples do
// ("2001:0db8:0100:0006:0000:0000:0000:0000").
func expanded(a netip.Addr) string { return a.StringExpanded() }

// bounds are a range's first and last addresses.
func (r *ipv6Range) bounds() (first, last netip.Addr, ok bool) {
	p, err := netip.ParsePrefix(r.CIDR)
	if err != nil || !p.Addr().Is6() {
		return netip.Addr{}, netip.Addr{}, false
	}
	p = p.Masked()
	first = p.Addr()
	b := first.As16()
	host := 128 - p.Bits()
	for i := 15; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	return first, netip.AddrFrom16(b), true
}

// next is the address after the most recently assigned one (the first for a fresh
// range), or false when the range is used up.
func (r *ipv6Range) next() (netip.Addr, bool) {
	first, last, ok := r.bounds()
	if !ok {
		return netip.Addr{}, false
	}
	if r.MostRecent == "" {
		return first, true
	}
	cur, err := netip.ParseAddr(r.MostRecent)
	if err != nil {
		return first, true
	}
	n := new(big.Int).SetBytes(cur.AsSlice())
	n.Add(n, big.NewInt(1))
	var b [16]byte
	n.FillBytes(b[:])
	a := netip.AddrFrom16(b)
	if last.Less(a) {
		return netip.Addr{}, false
	}
	return a, true
}

// fnIPv6RangeList answers ipv6_range_list: data.range, one entry per range.
func fnIPv6RangeList(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	names := make([]string, 0, len(c.n.st.IPv6Ranges))
	for name := range c.n.st.IPv6Ranges {
		names = append(names, name)
	}
	sort.Strings(names)
	out := []map[string]any{}
	for _, name := range names {
		r := c.n.st.IPv6Ranges[name]
		first, last, _ := r.bounds()
		users := append([]string{}, r.Users...)
		out = append(out, map[string]any{
			"name": r.Name, "CIDR": r.CIDR, "enabled": b2i(r.Enabled), "first": expanded(first), "last": expanded(last),
			"mostrecent": r.MostRecent, "note": r.Note, "owner": "root", "range_users": users, "reclaimed": []string{},
		})
	}
	return map[string]any{"range": out}, nil
}

// fnIPv6Enable answers ipv6_enable_account (reference "Add IPv6 address range to
// accounts", 11.138.0.6): range and user (a comma-separated list) required; each
// account gets the range's next address; the accounts that could not are counted in
// fail_cnt and named in failures, the call itself succeeding. An account whose mail
// is on a child is refused (linked nodes guide: "IPv6 cannot be enabled for accounts
// distributed to a mail node").
func fnIPv6Enable(c *call) (any, error) {
	name, err := c.required("range")
	if err != nil {
		return nil, err
	}
	users, err := c.required("user")
	if err != nil {
		return nil, err
	}
	var data map[string]any
	err = c.lock(func(st *nodeState) (bool, error) {
		r := st.IPv6Ranges[name]
		if r == nil {
			return false, die("The IPv6 range “%s” does not exist.", name)
		}
		failures := map[string]string{}
		assigned := map[string]string{}
		changed := false
		for _, u := range strings.Split(users, ",") {
			u = strings.TrimSpace(u)
			if u == "" {
				continue
			}
			a := st.Accounts[u]
			switch {
			case a == nil:
				failures[u] = "The “" + u + "” account does not exist."
				continue
			case a.MailNode != "" || a.ParentHost != "":
				failures[u] = "IPv6 cannot be enabled for the “" + u + "” account because its mail is on a child node."
				continue
			case len(a.IPv6) > 0:
				assigned[u] = a.IPv6[0]
				continue
			case !r.Enabled:
				failures[u] = "The IPv6 range “" + name + "” is reserved."
				continue
			}
			addr, ok := r.next()
			if !ok {
				failures[u] = "The IPv6 range “" + name + "” has no free address."
				continue
			}
			r.MostRecent = expanded(addr)
			r.Users = append(r.Users, u)
			a.IPv6 = []string{expanded(addr)}
			assigned[u] = expanded(addr)
			changed = true
		}
		data = map[string]any{"fail_cnt": len(failures), "failures": failures, "ipv6": assigned}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

package sandbox

import (
	"testing"
)

// ipv6_enable_account takes each account's address from the named range, in order;
// an account with mail on a child, an unknown account and a used-up range are named
// in failures; an unknown range fails the call.
func TestIPv6Enable(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "carol", "domain", "carol.example")
	s.must("web1", "createacct", "username", "frank", "domain", "frank.example")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example", "mail_node_alias", "mail1")
	s.waitIdle()
	if err := s.AddIPv6Range("web1", "block", "2001:db8:100:6::/127"); err != nil {
		t.Fatal(err)
	}
	s.refused("The IPv6 range “nope” does not exist.", "web1", "ipv6_enable_account", "range", "nope", "user", "carol")
	var d struct {
		FailCnt  int               `json:"fail_cnt"`
		Failures map[string]string `json:"failures"`
		IPv6     map[string]string `json:"ipv6"`
	}
	s.must("web1", "ipv6_enable_account", "range", "block", "user", "carol,alice,ghost").decode(t, &d)
	if d.FailCnt != 2 || d.Failures["alice"] == "" || d.Failures["ghost"] == "" || d.IPv6["carol"] != "2001:0db8:0100:0006:0000:0000:0000:0000" {
		t.Fatalf("first enable: %+v", d)
	}
	d.Failures, d.IPv6 = nil, nil
	s.must("web1", "ipv6_enable_account", "range", "block", "user", "frank").decode(t, &d)
	if d.FailCnt != 0 || d.IPv6["frank"] != "2001:0db8:0100:0006:0000:0000:0000:0001" {
		t.Fatalf("second enable: %+v", d)
	}
	// A /127 holds two addresses: the range is used up.
	s.must("web1", "ipv6_disable_account", "user", "carol")
	d.Failures, d.IPv6 = nil, nil
	s.must("web1", "ipv6_enable_account", "range", "block", "user", "carol").decode(t, &d)
	if d.FailCnt != 1 {
		t.Fatalf("enable from a used-up range: %+v", d)
	}
	var l struct {
		Acct []struct {
			User string   `json:"user"`
			IPv6 []string `json:"ipv6"`
		} `json:"acct"`
	}
	s.must("web1", "listaccts", "searchtype", "user", "search", "frank", "searchmethod", "exact").decode(t, &l)
	if len(l.Acct) != 1 || len(l.Acct[0].IPv6) != 1 {
		t.Fatalf("listaccts of frank: %+v", l)
	}
}

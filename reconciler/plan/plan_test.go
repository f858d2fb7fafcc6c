package plan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-dev/tether/schema"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in   string
		want Address
		err  bool
	}{
		{in: "node.mail1", want: Address{Kind: KindNode, Name: "mail1"}},
		{in: "account.alice", want: Address{Kind: KindAccount, Name: "alice"}},
		{in: "reseller.bob", want: Address{Kind: KindReseller, Name: "bob"}},
		{in: "dns.web1.cluster", want: Address{Kind: KindCluster, Cluster: "web1", Name: "web1"}},
		{in: "dns.web1.member.ns1", want: Address{Kind: KindMember, Cluster: "web1", Name: "ns1"}},
		{in: "dns.web1.member.ns.1", want: Address{Kind: KindMember, Cluster: "web1", Name: "ns.1"}},
		{in: "dns.web1", err: true},
		{in: "dns..cluster", err: true},
		{in: "zone.example", err: true},
		{in: "account", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		got, err := ParseAddress(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseAddress(%q): error %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if err == nil {
			if got != tt.want {
				t.Errorf("ParseAddress(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.String() != tt.in {
				t.Errorf("ParseAddress(%q).String() = %q", tt.in, got.String())
			}
		}
	}
}

// TestChangeJSONRoundTrip: a saved plan reads back with typed values for every kind
// of address, and untyped nils where there is no value.
func TestChangeJSONRoundTrip(t *testing.T) {
	n := 5
	changes := []*Change{
		{Address: "node.mail1", Action: Link, After: &schema.Node{Role: "child", Parent: "web1", Credentials: &schema.Credentials{User: "root", TokenEnv: "T"}}},
		{Address: "account.alice", Action: Update, Before: &schema.Account{Parent: "web1", Plan: "a"}, After: &schema.Account{Parent: "web1", Plan: "b", Mail: &schema.MailPlacement{Node: "mail1"}}, Fields: []string{"plan"}},
		{Address: "reseller.bob", Action: Create, After: &schema.Reseller{Account: schema.Account{Parent: "web1", Domain: "b.example"}, ACLs: []string{"list-accts"}, Limits: &schema.ResellerLimits{Accounts: &n}}},
		{Address: "dns.web1.cluster", Action: Update, Before: &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{N: 10}}, After: &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{Never: true}}},
		{Address: "dns.web1.member.bind1", Action: Delete, Before: &schema.Member{Backend: "rfc2136", Role: "sync", TSIG: &schema.TSIG{Name: "k"}, Zones: &schema.MemberZones{OutOfStep: []string{"a.example"}}}},
	}
	for _, c := range changes {
		c.ID = ChangeID(c.Address, c.Action)
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Change
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", c.ID, err)
		}
		if !reflect.DeepEqual(&back, c) {
			t.Errorf("%s read back as %+v, want %+v", c.ID, back, *c)
		}
		if c.Before == nil && back.Before != nil {
			t.Errorf("%s: nil Before read back as %T", c.ID, back.Before)
		}
	}
}

func TestChangeJSONRefusesUnknown(t *testing.T) {
	for _, in := range []string{
		`{"id":"x","address":"account.a","action":"explode"}`,
		`{"id":"x","address":"zone.a","action":"create","after":{}}`,
		`{"id":"x","address":"account.a","action":"create","after":{"parent":7}}`,
		`{"id":"x","address":"dns.web1.cluster","action":"update","after":{"failureThreshold":"soon"}}`,
	} {
		var c Change
		err := json.Unmarshal([]byte(in), &c)
		if err == nil {
			t.Errorf("%s: want an error", in)
		} else if !strings.Contains(err.Error(), "x") {
			t.Errorf("%s: error %q does not name the change", in, err)
		}
	}
}

func TestSummarize(t *testing.T) {
	var cs []*Change
	for _, a := range []Action{Create, Link, Update, Distribute, Dedistribute, Enable, Disable, Resync, Delete, Unlink} {
		cs = append(cs, &Change{Action: a, Flags: Flags{Destructive: a == Delete || a == Unlink || a == Disable}})
	}
	got := Summarize(cs, 4)
	want := Summary{Create: 2, Change: 6, Remove: 2, Risky: 3, Unmanaged: 4}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
}

package sandbox

import (
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/dnszone"
)

// A full replication leaves a member's zone alone when the member still holds what
// was pushed (no copy, no new snapshot for its flush to rewrite), and overwrites or
// restores one changed or removed on the member since, as every round did before.
func TestFullReplicationSkipsZonesTheMemberHolds(t *testing.T) {
	s := startTest(t, "")
	page := s.cgi("web1", "/cgi/activate_remote_nameservers.cgi", "module", "cPanel", "cluster_user", "root", "host", "ns1.example.net",
		"user", "root", "pass", s.eps.Nodes["ns1"].Token, "dnsrole", "sync", "recurse", "on")
	if !strings.Contains(page.Raw, `class="okmsg"`) {
		t.Fatalf("activate: %s", page.Raw)
	}
	if p := s.cgi("web1", "/cgi/adjustclusterdns.cgi", "clusterdns", "1"); !strings.Contains(p.Raw, "okmsg") {
		t.Fatalf("enable clustering: %s", p.Raw)
	}
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example")
	s.must("web1", "createacct", "username", "bob", "domain", "bob.example")
	web1, ns1 := s.nodeByName("web1"), s.nodeByName("ns1")
	replicate := func() {
		t.Helper()
		if err := s.ReplicateDNS(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	same := func(origin string) {
		t.Helper()
		if got, want := ns1.dns.store.Get(origin), web1.dns.store.Get(origin); !got.Equal(want) || got.Text() != want.Text() {
			t.Fatalf("ns1 holds %s as\n%s\nweb1 as\n%s", origin, got.Text(), want.Text())
		}
	}

	replicate()
	held := ns1.dns.store.Get("alice.example")
	replicate()
	if ns1.dns.store.Get("alice.example") != held {
		t.Error("a round replaced a zone the member already held as pushed")
	}
	same("alice.example")
	// After a restart nothing is remembered: zones the member holds record for
	// record are kept all the same.
	ns1.dns.recvMu.Lock()
	clear(ns1.dns.received)
	ns1.dns.recvMu.Unlock()
	replicate()
	if ns1.dns.store.Get("alice.example") != held {
		t.Error("the first round after a restart replaced a zone the member held, record for record")
	}

	tests := []struct {
		name   string
		change func()
	}{
		{"changed on the member", func() {
			err := ns1.dns.store.Update("alice.example", func(z *dnszone.Zone) error {
				rr, err := dns.NewRR("extra.alice.example. 300 IN TXT \"member's own\"")
				if err != nil {
					return err
				}
				z.Records = append(z.Records, rr)
				z.SetSerial(z.Serial + 1)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"changed on the member, same serial", func() {
			if err := ns1.dns.store.Update("alice.example", func(z *dnszone.Zone) error {
				z.Records = z.Records[:len(z.Records)-1]
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed on the member", func() { ns1.dns.store.Remove("bob.example") }},
		{"changed on the member, forgotten", func() {
			if err := ns1.dns.store.Update("bob.example", func(z *dnszone.Zone) error {
				z.Records[len(z.Records)-1].Header().Ttl++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			ns1.dns.recvMu.Lock()
			clear(ns1.dns.received)
			ns1.dns.recvMu.Unlock()
		}},
		{"changed on the master", func() {
			if err := web1.dns.store.Update("bob.example", func(z *dnszone.Zone) error {
				z.SetSerial(z.Serial + 1)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change()
			replicate()
			same("alice.example")
			same("bob.example")
		})
	}

	// An offline member fails the round's pushes, held zones or not.
	_ = s.SetFaults("ns1", Faults{Offline: true})
	replicate()
	if m := web1.dns.cluster.Snapshot().Members["192.0.2.53"]; m == nil || m.Failures == 0 {
		t.Errorf("a round to an offline member counted no failure: %+v", m)
	}
}

// sameRR agrees with reflect.DeepEqual: every field counts, the case of a name in
// rdata and the form of an address included.
func TestSameRR(t *testing.T) {
	rr := func(s string) dns.RR {
		t.Helper()
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a4 := rr("a.example. 300 IN A 192.0.2.1")
	a16 := rr("a.example. 300 IN A 192.0.2.1")
	a4.(*dns.A).A = a4.(*dns.A).A.To4()
	a16.(*dns.A).A = a16.(*dns.A).A.To16()
	tests := []struct {
		a, b dns.RR
		want bool
	}{
		{rr("a.example. 300 IN A 192.0.2.1"), rr("a.example. 300 IN A 192.0.2.1"), true},
		{rr("a.example. 300 IN A 192.0.2.1"), rr("a.example. 301 IN A 192.0.2.1"), false},
		{rr("a.example. 300 IN A 192.0.2.1"), rr("a.example. 300 IN A 192.0.2.2"), false},
		{a4, a16, false},
		{rr("a.example. 300 IN AAAA 2001:db8::1"), rr("a.example. 300 IN AAAA 2001:db8::1"), true},
		{rr("a.example. 300 IN AAAA 2001:db8::1"), rr("a.example. 300 IN AAAA 2001:db8::2"), false},
		{rr("www.a.example. 300 IN CNAME a.example."), rr("www.a.example. 300 IN CNAME A.example."), false},
		{rr("a.example. 300 IN NS ns1.example."), rr("a.example. 300 IN NS ns1.example."), true},
		{rr("a.example. 300 IN MX 0 a.example."), rr("a.example. 300 IN MX 10 a.example."), false},
		{rr("a.example. 300 IN SOA ns1.example. root.a.example. 1 3600 1800 1209600 86400"),
			rr("a.example. 300 IN SOA ns1.example. root.a.example. 2 3600 1800 1209600 86400"), false},
		{rr(`a.example. 300 IN TXT "v=spf1 +a" "x"`), rr(`a.example. 300 IN TXT "v=spf1 +a" "x"`), true},
		{rr(`a.example. 300 IN TXT "v=spf1 +a" "x"`), rr(`a.example. 300 IN TXT "v=spf1 +a"`), false},
		{rr("a.example. 300 IN A 192.0.2.1"), rr("a.example. 300 IN AAAA ::1"), false},
		{rr("_sip._tcp.a.example. 300 IN SRV 0 5 5060 a.example."), rr("_sip._tcp.a.example. 300 IN SRV 0 5 5060 a.example."), true},
		{rr("_sip._tcp.a.example. 300 IN SRV 0 5 5060 a.example."), rr("_sip._tcp.a.example. 300 IN SRV 0 5 5061 a.example."), false},
	}
	for _, tt := range tests {
		if got := sameRR(tt.a, tt.b); got != tt.want || got != reflect.DeepEqual(tt.a, tt.b) {
			t.Errorf("sameRR(%v, %v) = %t, want %t (reflect.DeepEqual %t)", tt.a, tt.b, got, tt.want, reflect.DeepEqual(tt.a, tt.b))
		}
	}
}

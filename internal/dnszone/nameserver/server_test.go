package nameserver

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/dnszone"
)

const (
	keyName   = "tether."
	keySecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==" // test-only
	otherKey  = "intruder."
)

var day = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// testZone is an account zone with a few extras that exercise the query paths.
func testZone(t testing.TB) *dnszone.Zone {
	t.Helper()
	z := dnszone.NewAccountZoneAt("alice.example", "192.0.2.10", []string{"ns1.alice.example", "ns2.web1.example"}, day)
	extra := []string{
		"ns1.alice.example. 14400 IN A 192.0.2.53",
		"a.b.deep.alice.example. 300 IN A 192.0.2.99",
		"sub.alice.example. 86400 IN NS ns.sub.alice.example.",
		"ns.sub.alice.example. 86400 IN A 192.0.2.77",
		"*.wild.alice.example. 300 IN TXT \"wildcard\"",
		"chain.alice.example. 300 IN CNAME www.alice.example.",
		"out.alice.example. 300 IN CNAME elsewhere.example.",
	}
	for _, s := range extra {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		z.Records = append(z.Records, rr)
	}
	return z
}

func startServer(t testing.TB, keys map[string]string, zones ...*dnszone.Zone) (*Server, *MemStore) {
	t.Helper()
	st := NewMemStore(zones...)
	s, err := Start("127.0.0.1:0", st, keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, st
}

func exchange(t testing.TB, net, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: net, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s exchange %s: %v", net, m.Question[0].String(), err)
	}
	return r
}

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	return out
}

func TestQuery(t *testing.T) {
	s, _ := startServer(t, nil, testZone(t))
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		rcode     int
		aa        bool
		answer    []string
		nsTypes   []uint16 // types in authority, in order
		extraHave string   // a record that must be in additional
	}{
		{name: "apex A", qname: "alice.example.", qtype: dns.TypeA, aa: true,
			answer:  []string{"alice.example. 14400 IN A 192.0.2.10"},
			nsTypes: []uint16{dns.TypeNS, dns.TypeNS}, extraHave: "ns1.alice.example. 14400 IN A 192.0.2.53"},
		{name: "case-insensitive name", qname: "MAIL.Alice.Example.", qtype: dns.TypeA, aa: true,
			answer: []string{"mail.alice.example. 14400 IN A 192.0.2.10"}, nsTypes: []uint16{dns.TypeNS, dns.TypeNS}},
		{name: "www CNAME chased", qname: "www.alice.example.", qtype: dns.TypeA, aa: true,
			answer:  []string{"www.alice.example. 14400 IN CNAME alice.example.", "alice.example. 14400 IN A 192.0.2.10"},
			nsTypes: []uint16{dns.TypeNS, dns.TypeNS}},
		{name: "CNAME chain of two", qname: "chain.alice.example.", qtype: dns.TypeA, aa: true,
			answer:  []string{"chain.alice.example. 300 IN CNAME www.alice.example.", "www.alice.example. 14400 IN CNAME alice.example.", "alice.example. 14400 IN A 192.0.2.10"},
			nsTypes: []uint16{dns.TypeNS, dns.TypeNS}},
		{name: "CNAME out of zone stops", qname: "out.alice.example.", qtype: dns.TypeA, aa: true,
			answer: []string{"out.alice.example. 300 IN CNAME elsewhere.example."}},
		{name: "CNAME asked for itself", qname: "www.alice.example.", qtype: dns.TypeCNAME, aa: true,
			answer: []string{"www.alice.example. 14400 IN CNAME alice.example."}, nsTypes: []uint16{dns.TypeNS, dns.TypeNS}},
		{name: "MX with glue", qname: "alice.example.", qtype: dns.TypeMX, aa: true,
			answer: []string{"alice.example. 14400 IN MX 0 mail.alice.example."}, nsTypes: []uint16{dns.TypeNS, dns.TypeNS},
			extraHave: "mail.alice.example. 14400 IN A 192.0.2.10"},
		{name: "NS at apex, no NS repeated in authority", qname: "alice.example.", qtype: dns.TypeNS, aa: true,
			answer: []string{"alice.example. 86400 IN NS ns1.alice.example.", "alice.example. 86400 IN NS ns2.web1.example."}},
		{name: "NODATA", qname: "mail.alice.example.", qtype: dns.TypeAAAA, aa: true, nsTypes: []uint16{dns.TypeSOA}},
		{name: "NXDOMAIN", qname: "nope.alice.example.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, nsTypes: []uint16{dns.TypeSOA}},
		{name: "empty non-terminal is NODATA", qname: "deep.alice.example.", qtype: dns.TypeA, aa: true, nsTypes: []uint16{dns.TypeSOA}},
		{name: "wildcard", qname: "x.wild.alice.example.", qtype: dns.TypeTXT, aa: true,
			answer: []string{"x.wild.alice.example. 300 IN TXT \"wildcard\""}, nsTypes: []uint16{dns.TypeNS, dns.TypeNS}},
		{name: "referral below a cut", qname: "www.sub.alice.example.", qtype: dns.TypeA, aa: false,
			nsTypes: []uint16{dns.TypeNS}, extraHave: "ns.sub.alice.example. 86400 IN A 192.0.2.77"},
		{name: "zone not held", qname: "bob.example.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
	}
	for _, tc := range tests {
		for _, netw := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+netw, func(t *testing.T) {
				m := new(dns.Msg)
				m.SetQuestion(tc.qname, tc.qtype)
				r := exchange(t, netw, s.Addr(), m)
				if r.Rcode != tc.rcode {
					t.Fatalf("rcode = %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
				}
				if r.Authoritative != tc.aa {
					t.Errorf("AA = %t, want %t", r.Authoritative, tc.aa)
				}
				if got := rrStrings(r.Answer); strings.Join(got, "\n") != strings.Join(tc.answer, "\n") {
					t.Errorf("answer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.answer, "\n"))
				}
				var nsTypes []uint16
				for _, rr := range r.Ns {
					nsTypes = append(nsTypes, rr.Header().Rrtype)
				}
				if len(nsTypes) != len(tc.nsTypes) {
					t.Errorf("authority %v, want types %v", rrStrings(r.Ns), tc.nsTypes)
				} else {
					for i := range nsTypes {
						if nsTypes[i] != tc.nsTypes[i] {
							t.Errorf("authority %v, want types %v", rrStrings(r.Ns), tc.nsTypes)
						}
					}
				}
				if len(tc.nsTypes) == 1 && tc.nsTypes[0] == dns.TypeSOA && r.Ns[0].Header().Ttl != 86400 {
					t.Errorf("negative SOA TTL = %d, want min(TTL, MINIMUM) = 86400", r.Ns[0].Header().Ttl)
				}
				if tc.extraHave != "" && !strings.Contains(strings.Join(rrStrings(r.Extra), "\n"), tc.extraHave) {
					t.Errorf("additional %v lacks %q", rrStrings(r.Extra), tc.extraHave)
				}
			})
		}
	}
}

func TestQueryTruncatesOverUDP(t *testing.T) {
	z := testZone(t)
	for i := 0; i < 60; i++ {
		rr, _ := dns.NewRR("big.alice.example. 300 IN TXT \"" + strings.Repeat("x", 50) + string(rune('a'+i%26)) + "\"")
		rr.(*dns.TXT).Txt[0] += strings.Repeat("y", i)
		z.Records = append(z.Records, rr)
	}
	s, _ := startServer(t, nil, z)
	m := new(dns.Msg)
	m.SetQuestion("big.alice.example.", dns.TypeTXT)
	r := exchange(t, "udp", s.Addr(), m)
	if !r.Truncated {
		t.Fatalf("a %d-record answer over UDP without EDNS0 is not truncated", len(r.Answer))
	}
	r = exchange(t, "tcp", s.Addr(), m)
	if r.Truncated || len(r.Answer) != 60 {
		t.Fatalf("over TCP: truncated=%t, %d answers, want all 60", r.Truncated, len(r.Answer))
	}
}

func axfr(t testing.TB, addr, zone string, key string, secret map[string]string) ([]dns.RR, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetAxfr(zone)
	tr := &dns.Transfer{TsigSecret: secret}
	if key != "" {
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
	}
	ch, err := tr.In(m, addr)
	if err != nil {
		return nil, err
	}
	var out []dns.RR
	for env := range ch {
		if env.Error != nil {
			return out, env.Error
		}
		out = append(out, env.RR...)
	}
	return out, nil
}

func TestAXFR(t *testing.T) {
	z := testZone(t)
	s, _ := startServer(t, nil, z)
	rrs, err := axfr(t, s.Addr(), "alice.example.", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rrs) != len(z.Records)+1 {
		t.Fatalf("AXFR gave %d records, want %d (zone + closing SOA)", len(rrs), len(z.Records)+1)
	}
	if rrs[0].Header().Rrtype != dns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("AXFR must start and end with the SOA: first %v, last %v", rrs[0], rrs[len(rrs)-1])
	}
	got := &dnszone.Zone{Origin: "alice.example.", Records: rrs[:len(rrs)-1]}
	if err := got.Normalize(); err != nil {
		t.Fatal(err)
	}
	if !got.Equal(z) {
		t.Fatalf("AXFR content differs from the zone:\n%s\nwant\n%s", got.Text(), z.Text())
	}

	t.Run("over UDP is refused", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetAxfr("alice.example.")
		if r := exchange(t, "udp", s.Addr(), m); r.Rcode != dns.RcodeRefused {
			t.Fatalf("rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("IXFR over UDP gives the SOA", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetIxfr("alice.example.", 1, "ns1.alice.example.", "hostmaster.alice.example.")
		r := exchange(t, "udp", s.Addr(), m)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != z.Serial {
			t.Fatalf("IXFR/UDP answer %v rcode %s", r.Answer, dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("zone not held", func(t *testing.T) {
		_, err := axfr(t, s.Addr(), "bob.example.", "", nil)
		if err == nil || !strings.Contains(err.Error(), "NOTAUTH") && !strings.Contains(err.Error(), "9") {
			t.Fatalf("AXFR of a zone not held: err %v, want NOTAUTH", err)
		}
	})
	t.Run("not the apex", func(t *testing.T) {
		if _, err := axfr(t, s.Addr(), "www.alice.example.", "", nil); err == nil {
			t.Fatal("AXFR of a name inside the zone succeeded")
		}
	})
}

func TestAXFRWithKeys(t *testing.T) {
	z := testZone(t)
	s, _ := startServer(t, map[string]string{keyName: keySecret}, z)
	if _, err := axfr(t, s.Addr(), "alice.example.", "", nil); err == nil {
		t.Fatal("unsigned AXFR succeeded on a server with keys")
	}
	rrs, err := axfr(t, s.Addr(), "alice.example.", keyName, map[string]string{keyName: keySecret})
	if err != nil {
		t.Fatalf("signed AXFR: %v", err)
	}
	if len(rrs) != len(z.Records)+1 {
		t.Fatalf("signed AXFR gave %d records, want %d", len(rrs), len(z.Records)+1)
	}
	wrong := base64Secret("not the secret")
	if _, err := axfr(t, s.Addr(), "alice.example.", keyName, map[string]string{keyName: wrong}); err == nil {
		t.Fatal("AXFR signed with a wrong secret succeeded")
	}
}

func TestStartRejectsBadSecretWithoutPrintingIt(t *testing.T) {
	_, err := Start("127.0.0.1:0", NewMemStore(), map[string]string{"k.": "%%%not-base64-TOPSECRET"})
	if err == nil {
		t.Fatal("a secret that is not base64 was accepted")
	}
	if strings.Contains(err.Error(), "TOPSECRET") {
		t.Fatalf("error prints the secret: %v", err)
	}
}

func TestStartOnTakenPortFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Start(l.Addr().String(), NewMemStore(), nil); err == nil {
		t.Fatal("Start on a port in use succeeded")
	}
}

func TestCloseStopsServing(t *testing.T) {
	s, _ := startServer(t, nil, testZone(t))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c := &dns.Client{Net: "tcp", Timeout: 300 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("alice.example.", dns.TypeA)
	if _, _, err := c.Exchange(m, s.Addr()); err == nil {
		t.Fatal("server still answers after Close")
	}
}

func TestNotImplementedOpcode(t *testing.T) {
	s, _ := startServer(t, nil, testZone(t))
	m := new(dns.Msg)
	m.SetQuestion("alice.example.", dns.TypeSOA)
	m.Opcode = dns.OpcodeStatus
	r := exchange(t, "udp", s.Addr(), m)
	if r.Rcode != dns.RcodeNotImplemented {
		t.Fatalf("rcode %s, want NOTIMP", dns.RcodeToString[r.Rcode])
	}
}

package nameserver

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/dnszone"
)

func base64Secret(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// sendUpdate sends m over TCP, signed with key/secret when key is set, and returns the
// reply and the client's TSIG verdict on it.
func sendUpdate(t testing.TB, addr string, m *dns.Msg, key, secret string) (*dns.Msg, error) {
	t.Helper()
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	if key != "" {
		c.TsigSecret = map[string]string{key: secret}
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
	}
	r, _, err := c.Exchange(m, addr)
	if r == nil {
		t.Fatalf("update: no reply: %v", err)
	}
	return r, err
}

func records(z *dnszone.Zone, name string, t uint16) []string {
	var out []string
	for _, rr := range z.Records {
		if rr.Header().Name == name && rr.Header().Rrtype == t {
			out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
		}
	}
	return out
}

func TestUpdate(t *testing.T) {
	const zone = "alice.example."
	tests := []struct {
		name  string
		build func(m *dns.Msg)
		rcode int
		check func(t *testing.T, before, after *dnszone.Zone)
	}{
		{
			name: "add an A record",
			build: func(m *dns.Msg) {
				m.Insert([]dns.RR{mustRR(t, "new.alice.example. 300 IN A 192.0.2.1")})
			},
			check: func(t *testing.T, before, after *dnszone.Zone) {
				if got := records(after, "new.alice.example.", dns.TypeA); len(got) != 1 {
					t.Errorf("new A: %v", got)
				}
				if after.Serial <= before.Serial {
					t.Errorf("serial %d not bumped from %d", after.Serial, before.Serial)
				}
			},
		},
		{
			name: "move mail to the child: replace RRset",
			build: func(m *dns.Msg) {
				m.RemoveRRset([]dns.RR{mustRR(t, "mail.alice.example. 0 IN A 0.0.0.0")})
				m.Insert([]dns.RR{mustRR(t, "mail.alice.example. 14400 IN A 198.51.100.7")})
			},
			check: func(t *testing.T, _, after *dnszone.Zone) {
				got := records(after, "mail.alice.example.", dns.TypeA)
				if len(got) != 1 || !strings.HasSuffix(got[0], "198.51.100.7") {
					t.Errorf("mail A: %v", got)
				}
			},
		},
		{
			name: "delete one RR",
			build: func(m *dns.Msg) {
				m.Remove([]dns.RR{mustRR(t, "alice.example. 14400 IN MX 0 mail.alice.example.")})
			},
			check: func(t *testing.T, _, after *dnszone.Zone) {
				if got := records(after, zone, dns.TypeMX); len(got) != 0 {
					t.Errorf("MX still there: %v", got)
				}
			},
		},
		{
			name:  "delete a name",
			build: func(m *dns.Msg) { m.RemoveName([]dns.RR{mustRR(t, "webmail.alice.example. 0 IN A 0.0.0.0")}) },
			check: func(t *testing.T, _, after *dnszone.Zone) {
				for _, rr := range after.Records {
					if rr.Header().Name == "webmail.alice.example." {
						t.Errorf("webmail still there: %v", rr)
					}
				}
			},
		},
		{
			name:  "delete the apex name keeps SOA and NS",
			build: func(m *dns.Msg) { m.RemoveName([]dns.RR{mustRR(t, "alice.example. 0 IN A 0.0.0.0")}) },
			check: func(t *testing.T, _, after *dnszone.Zone) {
				if len(records(after, zone, dns.TypeNS)) != 2 || after.SOA() == nil {
					t.Errorf("apex SOA/NS lost:\n%s", after.Text())
				}
				if len(records(after, zone, dns.TypeA)) != 0 {
					t.Errorf("apex A survived a name delete")
				}
			},
		},
		{
			name:  "the last NS is never deleted",
			build: func(m *dns.Msg) { m.RemoveRRset([]dns.RR{mustRR(t, "alice.example. 0 IN NS x.")}) },
			check: func(t *testing.T, _, after *dnszone.Zone) {
				if len(records(after, zone, dns.TypeNS)) != 2 {
					t.Errorf("apex NS RRset deleted")
				}
			},
		},
		{
			name: "adding a duplicate changes nothing, not even the serial",
			build: func(m *dns.Msg) {
				m.Insert([]dns.RR{mustRR(t, "mail.alice.example. 14400 IN A 192.0.2.10")})
			},
			check: func(t *testing.T, before, after *dnszone.Zone) {
				if !after.Equal(before) {
					t.Errorf("zone changed:\n%s", after.Text())
				}
			},
		},
		{
			name:  "a CNAME beside other data is ignored",
			build: func(m *dns.Msg) { m.Insert([]dns.RR{mustRR(t, "mail.alice.example. 300 IN CNAME alice.example.")}) },
			check: func(t *testing.T, before, after *dnszone.Zone) {
				if !after.Equal(before) {
					t.Errorf("zone changed")
				}
			},
		},
		{
			name: "a newer SOA replaces the SOA and sets the serial",
			build: func(m *dns.Msg) {
				m.Insert([]dns.RR{mustRR(t, "alice.example. 86400 IN SOA ns1.alice.example. hostmaster.alice.example. 2099010100 3600 1800 1209600 300")})
			},
			check: func(t *testing.T, _, after *dnszone.Zone) {
				if after.Serial != 2099010100 || after.SOA().Minttl != 300 {
					t.Errorf("serial %d minttl %d", after.Serial, after.SOA().Minttl)
				}
			},
		},
		{
			name: "prerequisite: name in use holds",
			build: func(m *dns.Msg) {
				m.NameUsed([]dns.RR{mustRR(t, "www.alice.example. 0 IN A 0.0.0.0")})
				m.Insert([]dns.RR{mustRR(t, "p.alice.example. 300 IN A 192.0.2.2")})
			},
			check: func(t *testing.T, _, after *dnszone.Zone) {
				if len(records(after, "p.alice.example.", dns.TypeA)) != 1 {
					t.Errorf("update after a true prerequisite not applied")
				}
			},
		},
		{
			name: "prerequisite: name in use fails with NXDOMAIN",
			build: func(m *dns.Msg) {
				m.NameUsed([]dns.RR{mustRR(t, "ghost.alice.example. 0 IN A 0.0.0.0")})
				m.Insert([]dns.RR{mustRR(t, "p.alice.example. 300 IN A 192.0.2.2")})
			},
			rcode: dns.RcodeNameError,
		},
		{
			name:  "prerequisite: name not in use fails with YXDOMAIN",
			build: func(m *dns.Msg) { m.NameNotUsed([]dns.RR{mustRR(t, "www.alice.example. 0 IN A 0.0.0.0")}) },
			rcode: dns.RcodeYXDomain,
		},
		{
			name:  "prerequisite: RRset exists fails with NXRRSET",
			build: func(m *dns.Msg) { m.RRsetUsed([]dns.RR{mustRR(t, "www.alice.example. 0 IN AAAA ::")}) },
			rcode: dns.RcodeNXRrset,
		},
		{
			name:  "prerequisite: RRset does not exist fails with YXRRSET",
			build: func(m *dns.Msg) { m.RRsetNotUsed([]dns.RR{mustRR(t, "www.alice.example. 0 IN CNAME x.")}) },
			rcode: dns.RcodeYXRrset,
		},
		{
			name: "prerequisite: RRset with value holds",
			build: func(m *dns.Msg) {
				m.Used([]dns.RR{mustRR(t, "mail.alice.example. 0 IN A 192.0.2.10")})
				m.Insert([]dns.RR{mustRR(t, "q.alice.example. 300 IN A 192.0.2.3")})
			},
			check: func(t *testing.T, _, after *dnszone.Zone) {
				if len(records(after, "q.alice.example.", dns.TypeA)) != 1 {
					t.Errorf("not applied")
				}
			},
		},
		{
			name: "prerequisite: RRset with another value fails and nothing changes",
			build: func(m *dns.Msg) {
				m.Used([]dns.RR{mustRR(t, "mail.alice.example. 0 IN A 192.0.2.11")})
				m.Insert([]dns.RR{mustRR(t, "q.alice.example. 300 IN A 192.0.2.3")})
			},
			rcode: dns.RcodeNXRrset,
		},
		{
			name:  "record outside the zone is NOTZONE",
			build: func(m *dns.Msg) { m.Insert([]dns.RR{mustRR(t, "www.bob.example. 300 IN A 192.0.2.1")}) },
			rcode: dns.RcodeNotZone,
		},
		{
			name:  "prerequisite outside the zone is NOTZONE",
			build: func(m *dns.Msg) { m.NameUsed([]dns.RR{mustRR(t, "bob.example. 0 IN A 0.0.0.0")}) },
			rcode: dns.RcodeNotZone,
		},
		{
			name: "a bad record later in the update changes nothing",
			build: func(m *dns.Msg) {
				m.Insert([]dns.RR{mustRR(t, "r.alice.example. 300 IN A 192.0.2.4")})
				m.Insert([]dns.RR{mustRR(t, "r.other.example. 300 IN A 192.0.2.4")})
			},
			rcode: dns.RcodeNotZone,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, st := startServer(t, map[string]string{keyName: keySecret}, testZone(t))
			before := st.Get(zone)
			m := new(dns.Msg)
			m.SetUpdate(zone)
			tc.build(m)
			r, err := sendUpdate(t, s.Addr(), m, keyName, keySecret)
			if err != nil {
				t.Fatalf("reply did not verify: %v", err)
			}
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if r.IsTsig() == nil {
				t.Error("reply to a signed update is not signed")
			}
			after := st.Get(zone)
			if tc.rcode != dns.RcodeSuccess {
				if !after.Equal(before) {
					t.Fatalf("a refused update changed the zone:\n%s", after.Text())
				}
				return
			}
			tc.check(t, before, after)
		})
	}
}

func TestUpdateAuth(t *testing.T) {
	const zone = "alice.example."
	add := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetUpdate(zone)
		m.Insert([]dns.RR{mustRR(t, "new.alice.example. 300 IN A 192.0.2.1")})
		return m
	}
	tests := []struct {
		name      string
		keys      map[string]string
		key       string
		secret    string
		rcode     int
		tsigError uint16
		applied   bool
	}{
		{name: "no keys: unsigned update accepted", applied: true},
		{name: "no keys: signed update is BADKEY", key: keyName, secret: keySecret, rcode: dns.RcodeNotAuth, tsigError: dns.RcodeBadKey},
		{name: "keys: unsigned update refused", keys: map[string]string{keyName: keySecret}, rcode: dns.RcodeRefused},
		{name: "keys: signed update accepted", keys: map[string]string{keyName: keySecret}, key: keyName, secret: keySecret, applied: true},
		{name: "keys: wrong secret is BADSIG", keys: map[string]string{keyName: keySecret}, key: keyName, secret: base64Secret("wrong"),
			rcode: dns.RcodeNotAuth, tsigError: dns.RcodeBadSig},
		{name: "keys: unknown key is BADKEY", keys: map[string]string{keyName: keySecret}, key: otherKey, secret: keySecret,
			rcode: dns.RcodeNotAuth, tsigError: dns.RcodeBadKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, st := startServer(t, tc.keys, testZone(t))
			r, _ := sendUpdate(t, s.Addr(), add(), tc.key, tc.secret)
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if tc.tsigError != 0 {
				ts := r.IsTsig()
				if ts == nil || ts.Error != tc.tsigError {
					t.Fatalf("TSIG in reply %v, want error %s", ts, dns.RcodeToString[int(tc.tsigError)])
				}
				if ts.MAC != "" {
					t.Errorf("a %s reply carries a MAC", dns.RcodeToString[int(tc.tsigError)])
				}
			}
			applied := len(records(st.Get(zone), "new.alice.example.", dns.TypeA)) == 1
			if applied != tc.applied {
				t.Fatalf("applied = %t, want %t", applied, tc.applied)
			}
		})
	}
}

func TestUpdateZoneNotHeld(t *testing.T) {
	s, _ := startServer(t, map[string]string{keyName: keySecret}, testZone(t))
	for _, zone := range []string{"bob.example.", "www.alice.example."} {
		m := new(dns.Msg)
		m.SetUpdate(zone)
		m.Insert([]dns.RR{mustRR(t, "x."+zone+" 300 IN A 192.0.2.1")})
		// miekg/dns's client reports any NOTAUTH reply as a TSIG failure; the rcode is
		// what counts here.
		r, _ := sendUpdate(t, s.Addr(), m, keyName, keySecret)
		if r.Rcode != dns.RcodeNotAuth {
			t.Errorf("update of %s: rcode %s, want NOTAUTH", zone, dns.RcodeToString[r.Rcode])
		}
	}
}

func TestUpdateThenQueryAndAXFR(t *testing.T) {
	s, _ := startServer(t, map[string]string{keyName: keySecret}, testZone(t))
	m := new(dns.Msg)
	m.SetUpdate("alice.example.")
	m.RemoveRRset([]dns.RR{mustRR(t, "mail.alice.example. 0 IN A 0.0.0.0")})
	m.Insert([]dns.RR{mustRR(t, "mail.alice.example. 14400 IN A 198.51.100.7")})
	if r, err := sendUpdate(t, s.Addr(), m, keyName, keySecret); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("update: %v %v", r, err)
	}
	q := new(dns.Msg)
	q.SetQuestion("mail.alice.example.", dns.TypeA)
	r := exchange(t, "udp", s.Addr(), q)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "198.51.100.7" {
		t.Fatalf("query after update: %v", r.Answer)
	}
	rrs, err := axfr(t, s.Addr(), "alice.example.", keyName, map[string]string{keyName: keySecret})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rr := range rrs {
		if a, ok := rr.(*dns.A); ok && a.Hdr.Name == "mail.alice.example." {
			found = a.A.String() == "198.51.100.7"
		}
	}
	if !found {
		t.Fatal("AXFR after update lacks the new mail address")
	}
}

func TestConcurrentUpdatesAndQueries(t *testing.T) {
	s, st := startServer(t, nil, testZone(t))
	var wg sync.WaitGroup
	const n = 20
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			m := new(dns.Msg)
			m.SetUpdate("alice.example.")
			rr := mustRR(t, "c.alice.example. 300 IN TXT \"x\"")
			rr.(*dns.TXT).Txt = []string{strings.Repeat("x", i+1)}
			m.Insert([]dns.RR{rr})
			c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
			if r, _, err := c.Exchange(m, s.Addr()); err != nil || r.Rcode != dns.RcodeSuccess {
				t.Errorf("update %d: %v %v", i, r, err)
			}
		}(i)
		go func() {
			defer wg.Done()
			m := new(dns.Msg)
			m.SetQuestion("alice.example.", dns.TypeSOA)
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			if _, _, err := c.Exchange(m, s.Addr()); err != nil {
				t.Errorf("query: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := len(records(st.Get("alice.example."), "c.alice.example.", dns.TypeTXT)); got != n {
		t.Fatalf("%d TXT records after %d concurrent updates, want all", got, n)
	}
}

func TestSignedMultiMessageAXFR(t *testing.T) {
	z := bigZone(t, 2000) // several messages, each signed (later ones timers-only)
	s, _ := startServer(t, map[string]string{keyName: keySecret}, z)
	rrs, err := axfr(t, s.Addr(), "big.example.", keyName, map[string]string{keyName: keySecret})
	if err != nil {
		t.Fatal(err)
	}
	if len(rrs) != len(z.Records)+1 {
		t.Fatalf("%d records, want %d", len(rrs), len(z.Records)+1)
	}
}

func TestSignedQueryAndBadTime(t *testing.T) {
	s, _ := startServer(t, map[string]string{keyName: keySecret}, testZone(t))
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, TsigSecret: map[string]string{keyName: keySecret}}
	m := new(dns.Msg)
	m.SetQuestion("alice.example.", dns.TypeA)
	m.SetTsig(keyName, dns.HmacSHA256, 300, time.Now().Unix())
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil || r.Rcode != dns.RcodeSuccess || r.IsTsig() == nil {
		t.Fatalf("signed query: %v %v", r, err)
	}

	m = new(dns.Msg)
	m.SetUpdate("alice.example.")
	m.Insert([]dns.RR{mustRR(t, "late.alice.example. 300 IN A 192.0.2.1")})
	m.SetTsig(keyName, dns.HmacSHA256, 300, time.Now().Add(-time.Hour).Unix())
	r, _, _ = c.Exchange(m, s.Addr())
	if r == nil || r.Rcode != dns.RcodeNotAuth || r.IsTsig() == nil || r.IsTsig().Error != dns.RcodeBadTime {
		t.Fatalf("update signed an hour ago: %v", r)
	}
}

func TestUpdateRRsetTTL(t *testing.T) {
	s, st := startServer(t, nil, testZone(t))
	m := new(dns.Msg)
	m.SetUpdate("alice.example.")
	m.Insert([]dns.RR{mustRR(t, "mail.alice.example. 60 IN A 192.0.2.11")})
	if r, _ := sendUpdate(t, s.Addr(), m, "", ""); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("rcode %s", dns.RcodeToString[r.Rcode])
	}
	got := records(st.Get("alice.example."), "mail.alice.example.", dns.TypeA)
	if len(got) != 2 || !strings.Contains(got[0], " 60 ") || !strings.Contains(got[1], " 60 ") {
		t.Fatalf("mail A RRset %v: one TTL for the set, the new one", got)
	}
}

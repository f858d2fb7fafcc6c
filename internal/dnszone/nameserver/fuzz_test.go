package nameserver

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Whatever an UPDATE carries, applying it never panics and leaves a zone that still
// normalises (one SOA at the apex, every record inside the zone).
func FuzzApplyUpdate(f *testing.F) {
	seed := func(build func(m *dns.Msg)) {
		m := new(dns.Msg)
		m.SetUpdate("alice.example.")
		build(m)
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(func(m *dns.Msg) { m.Insert([]dns.RR{mustRR(f, "x.alice.example. 300 IN A 192.0.2.1")}) })
	seed(func(m *dns.Msg) { m.RemoveName([]dns.RR{mustRR(f, "alice.example. 0 IN A 0.0.0.0")}) })
	seed(func(m *dns.Msg) {
		m.Used([]dns.RR{mustRR(f, "mail.alice.example. 0 IN A 192.0.2.10")})
		m.Insert([]dns.RR{mustRR(f, "alice.example. 300 IN SOA a. b. 4000000000 1 1 1 1")})
		m.Remove([]dns.RR{mustRR(f, "alice.example. 300 IN NS ns1.alice.example.")})
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return
		}
		z := testZone(t)
		if err := applyUpdate(z, m.Answer, m.Ns, time.Now()); err != nil {
			return
		}
		if err := z.Normalize(); err != nil {
			t.Fatalf("update left a broken zone: %v", err)
		}
	})
}

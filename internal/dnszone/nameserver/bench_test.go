package nameserver

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/dnszone"
)

// bigZone is an account zone grown to n records with A records h0…hN.
func bigZone(tb testing.TB, n int) *dnszone.Zone {
	tb.Helper()
	z := dnszone.NewAccountZoneAt("big.example", "192.0.2.10", []string{"ns1.big.example", "ns2.big.example"}, day)
	for i := len(z.Records); i < n; i++ {
		z.Records = append(z.Records, &dns.A{
			Hdr: dns.RR_Header{Name: fmt.Sprintf("h%d.big.example.", i), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
			A:   net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).To4(),
		})
	}
	return z
}

// BenchmarkQueryUDP measures queries answered per second over UDP from a 10,000-record
// zone, one client conn, sequential (the figure is latency-bound on loopback).
func BenchmarkQueryUDP(b *testing.B) {
	s, _ := startServer(b, nil, bigZone(b, 10000))
	co, err := dns.Dial("udp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer co.Close()
	m := new(dns.Msg)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		m.SetQuestion(fmt.Sprintf("h%d.big.example.", 100+i%9000), dns.TypeA)
		if err := co.WriteMsg(m); err != nil {
			b.Fatal(err)
		}
		r, err := co.ReadMsg()
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			b.Fatalf("query %d: %v %v", i, r, err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "queries/s")
}

// BenchmarkQueryUDPParallel is the same with parallel clients, closer to a resolver
// farm hitting the sandbox.
func BenchmarkQueryUDPParallel(b *testing.B) {
	s, _ := startServer(b, nil, bigZone(b, 10000))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		co, err := dns.Dial("udp", s.Addr())
		if err != nil {
			b.Error(err)
			return
		}
		defer co.Close()
		m := new(dns.Msg)
		i := 0
		for pb.Next() {
			i++
			m.SetQuestion(fmt.Sprintf("h%d.big.example.", 100+i%9000), dns.TypeA)
			if err := co.WriteMsg(m); err != nil {
				b.Error(err)
				return
			}
			if _, err := co.ReadMsg(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "queries/s")
}

// BenchmarkAXFR10k measures one whole transfer of a 10,000-record zone over TCP.
func BenchmarkAXFR10k(b *testing.B) {
	z := bigZone(b, 10000)
	s, _ := startServer(b, nil, z)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rrs, err := axfr(b, s.Addr(), "big.example.", "", nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(rrs) != len(z.Records)+1 {
			b.Fatalf("got %d records", len(rrs))
		}
	}
}

// BenchmarkUpdate10k measures one signed UPDATE (replace mail.'s A) against a
// 10,000-record zone, including the copy-on-write of the zone.
func BenchmarkUpdate10k(b *testing.B) {
	s, _ := startServer(b, map[string]string{keyName: keySecret}, bigZone(b, 10000))
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{keyName: keySecret}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := new(dns.Msg)
		m.SetUpdate("big.example.")
		m.RemoveRRset([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "mail.big.example.", Rrtype: dns.TypeA, Class: dns.ClassINET}}})
		m.Insert([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "mail.big.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
			A: net.IPv4(198, 51, 100, byte(i)).To4()}})
		m.SetTsig(keyName, dns.HmacSHA256, 300, time.Now().Unix())
		r, _, err := c.Exchange(m, s.Addr())
		if err != nil || r.Rcode != dns.RcodeSuccess {
			b.Fatalf("update: %v %v", r, err)
		}
	}
}

package dnszone

import (
	"fmt"
	"net"
	"testing"

	"github.com/miekg/dns"
)

func bigZone(n int) *Zone {
	z := NewAccountZoneAt("big.example", "192.0.2.10", []string{"ns1.big.example"}, day)
	for i := len(z.Records); i < n; i++ {
		z.Records = append(z.Records, &dns.A{
			Hdr: dns.RR_Header{Name: fmt.Sprintf("h%d.big.example.", i), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
			A:   net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).To4(),
		})
	}
	return z
}

// BenchmarkText10k is the cost of persisting a 10,000-record zone.
func BenchmarkText10k(b *testing.B) {
	z := bigZone(10000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = z.Text()
	}
}

// BenchmarkParse10k is the cost of loading it back (each record is also checked to
// read back as itself).
func BenchmarkParse10k(b *testing.B) {
	text := bigZone(10000).Text()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Parse("big.example", text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMassEdit10k is one mass_edit_dns_zone (an edit, a removal, an addition)
// on a 10,000-record zone.
func BenchmarkMassEdit10k(b *testing.B) {
	base := bigZone(10000)
	add := []string{`{"dname":"new","ttl":300,"record_type":"A","data":["192.0.2.1"]}`}
	edit := []string{`{"line_index":10,"dname":"mail","ttl":300,"record_type":"A","data":["198.51.100.7"]}`}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		z := base.Clone()
		b.StartTimer()
		if _, err := MassEditAt(z, z.Serial, add, edit, []int{500}, day); err != nil {
			b.Fatal(err)
		}
	}
}

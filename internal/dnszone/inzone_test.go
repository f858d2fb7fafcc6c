package dnszone

import (
	"testing"

	"github.com/miekg/dns"
)

// TestInZone: inZone answers as dns.IsSubDomain does, for the names a zone holds
// and for the odd ones (escapes, empty labels, the root, a suffix that is not a
// label boundary, case), whichever path it takes.
func TestInZone(t *testing.T) {
	for _, tc := range []struct{ origin, name string }{
		{"a.example.", "a.example."},
		{"a.example.", "www.a.example."},
		{"a.example.", "x.y.a.example."},
		{"a.example.", "ba.example."},
		{"a.example.", "example."},
		{"a.example.", "b.example."},
		{"a.example.", ".a.example."},
		{"a.example.", "x..a.example."},
		{"a.example.", "x\\.a.example."},
		{"a\\.b.example.", "x.a\\.b.example."},
		{"a.example.", "WWW.A.EXAMPLE."},
		{"A.example.", "www.a.example."},
		{".", "a.example."},
		{".", "."},
		{"a.example.", "."},
		{"a.example.", ""},
		{"", "a.example."},
		{"example.", "a.example."},
		{"_dmarc.a.example.", "a.example."},
		{"a.example.", "_dmarc.a.example."},
		{"a.example.", "*.a.example."},
		{"xn--bcher-kva.example.", "www.xn--bcher-kva.example."},
	} {
		if got, want := inZone(tc.origin, tc.name), dns.IsSubDomain(tc.origin, tc.name); got != want {
			t.Errorf("inZone(%q, %q) = %t, dns.IsSubDomain says %t", tc.origin, tc.name, got, want)
		}
	}
}

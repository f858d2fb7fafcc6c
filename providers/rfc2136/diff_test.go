package rfc2136

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func opStrings(ops []Op) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		h := op.RR.Header()
		switch op.Kind {
		case OpDelRRset:
			out[i] = fmt.Sprintf("delete-rrset %s %s", h.Name, dns.TypeToString[h.Rrtype])
		default:
			s := strings.Join(strings.Fields(op.RR.String()), " ")
			out[i] = op.Kind.String() + " " + s
		}
	}
	return out
}

func TestDiff(t *testing.T) {
	const z = "alice.example"
	base := []string{
		"alice.example. 300 IN SOA ns1.example.net. h.alice.example. 7 3600 600 86400 300",
		"alice.example. 86400 IN NS ns1.example.net.",
		"alice.example. 86400 IN NS ns2.example.net.",
		"alice.example. 300 IN A 192.0.2.10",
		"mail.alice.example. 300 IN A 192.0.2.10",
	}
	tests := []struct {
		name string
		have []string
		want []string
		ops  []string
	}{
		{name: "equal", have: base, want: base},
		{name: "SOA differences are the server's",
			have: base,
			want: append([]string{"alice.example. 86400 IN SOA other.example. x.alice.example. 99 1 1 1 1"}, base[1:]...)},
		{name: "names compare without case",
			have: base,
			want: append(base[:4:4], "MAIL.Alice.Example. 300 IN A 192.0.2.10")},
		{name: "one record changes",
			have: base,
			want: append(base[:4:4], "mail.alice.example. 300 IN A 192.0.2.20"),
			// The new address goes in before the old one leaves: an MX pointing at the
			// name never finds it without an address, even across messages.
			ops: []string{"add mail.alice.example. 300 IN A 192.0.2.20", "delete mail.alice.example. 300 IN A 192.0.2.10"}},
		{name: "a record is added to an RRset",
			have: base,
			want: append(base[:5:5], "mail.alice.example. 300 IN A 192.0.2.21"),
			ops:  []string{"add mail.alice.example. 300 IN A 192.0.2.21"}},
		{name: "a gone RRset is deleted whole",
			have: append(base[:5:5], "old.alice.example. 300 IN TXT \"x\"", "old.alice.example. 300 IN TXT \"y\""),
			want: base,
			ops:  []string{"delete-rrset old.alice.example. TXT"}},
		{name: "TTL change replaces the RRset",
			have: base,
			want: append(base[:4:4], "mail.alice.example. 600 IN A 192.0.2.10"),
			ops:  []string{"delete-rrset mail.alice.example. A", "add mail.alice.example. 600 IN A 192.0.2.10"}},
		{name: "A to CNAME: removal first",
			have: append(base[:5:5], "www.alice.example. 300 IN A 192.0.2.10"),
			want: append(base[:5:5], "www.alice.example. 300 IN CNAME alice.example."),
			ops:  []string{"delete-rrset www.alice.example. A", "add www.alice.example. 300 IN CNAME alice.example."}},
		{name: "CNAME to A: removal first",
			have: append(base[:5:5], "www.alice.example. 300 IN CNAME alice.example."),
			want: append(base[:5:5], "www.alice.example. 300 IN A 192.0.2.10"),
			ops:  []string{"delete-rrset www.alice.example. CNAME", "add www.alice.example. 300 IN A 192.0.2.10"}},
		{name: "apex NS: new one added before the old one goes",
			have: base,
			want: []string{base[0], base[1], "alice.example. 86400 IN NS ns3.example.net.", base[3], base[4]},
			ops:  []string{"add alice.example. 86400 IN NS ns3.example.net.", "delete alice.example. 86400 IN NS ns2.example.net."}},
		{name: "apex NS TTL: re-added with the new TTL, never deleted",
			have: base,
			want: []string{base[0], "alice.example. 3600 IN NS ns1.example.net.", "alice.example. 3600 IN NS ns2.example.net.", base[3], base[4]},
			ops:  []string{"add alice.example. 3600 IN NS ns1.example.net.", "add alice.example. 3600 IN NS ns2.example.net."}},
		{name: "apex NS never deleted whole",
			have: base,
			want: []string{base[0], base[3], base[4]}},
		{name: "records outside the zone and DNSSEC records are ignored",
			have: base,
			want: append(base[:5:5], "www.bob.example. 300 IN A 192.0.2.1", "alice.example. 300 IN NSEC a.alice.example. A")},
		{name: "duplicates in the parent's zone count once",
			have: base,
			want: append(base[:5:5], "mail.alice.example. 300 IN A 192.0.2.10")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := opStrings(Diff(z, mustRRs(t, tc.have...), mustRRs(t, tc.want...)))
			if strings.Join(got, "\n") != strings.Join(tc.ops, "\n") {
				t.Fatalf("ops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.ops, "\n"))
			}
			// Digests agree exactly when there is nothing to do.
			same := ZoneDigest(z, mustRRs(t, tc.have...)) == ZoneDigest(z, mustRRs(t, tc.want...))
			if same != (len(tc.ops) == 0) && !strings.HasPrefix(tc.name, "apex NS never") {
				t.Fatalf("digest equal = %v with %d ops", same, len(tc.ops))
			}
		})
	}
}

func TestWriteOnlyOps(t *testing.T) {
	const z = "alice.example"
	v1 := mustRRs(t,
		"alice.example. 86400 IN NS ns1.example.net.",
		"alice.example. 300 IN A 192.0.2.10",
		"mail.alice.example. 300 IN A 192.0.2.10",
		"old.alice.example. 300 IN A 192.0.2.10")
	v2 := mustRRs(t,
		"alice.example. 86400 IN NS ns1.example.net.",
		"alice.example. 300 IN A 192.0.2.10",
		"mail.alice.example. 300 IN A 192.0.2.20")
	first := opStrings(writeOnlyOps(z, nil, v1))
	wantFirst := []string{
		"delete-rrset alice.example. A", "add alice.example. 300 IN A 192.0.2.10",
		"delete-rrset mail.alice.example. A", "add mail.alice.example. 300 IN A 192.0.2.10",
		"delete-rrset old.alice.example. A", "add old.alice.example. 300 IN A 192.0.2.10",
		"add alice.example. 86400 IN NS ns1.example.net.",
	}
	if strings.Join(first, "\n") != strings.Join(wantFirst, "\n") {
		t.Fatalf("first push:\n%s", strings.Join(first, "\n"))
	}
	prev := pushed{Digest: ZoneDigest(z, v1), Sets: setDigests(z, v1)}
	back, ok := decodePushed(prev.encode())
	if !ok || back.Digest != prev.Digest || len(back.Sets) != 4 {
		t.Fatalf("memory round trip: %+v %v", back, ok)
	}
	next := opStrings(writeOnlyOps(z, &back, v2))
	wantNext := []string{
		"delete-rrset mail.alice.example. A", "add mail.alice.example. 300 IN A 192.0.2.20",
		"delete-rrset old.alice.example. A",
	}
	if strings.Join(next, "\n") != strings.Join(wantNext, "\n") {
		t.Fatalf("second push:\n%s", strings.Join(next, "\n"))
	}
	if _, ok := decodePushed("garbage"); ok {
		t.Fatal("garbage decoded")
	}
}

func TestBatchesKeepRRsetsTogether(t *testing.T) {
	ops := writeOnlyOps("alice.example", nil, mustRRs(t,
		"alice.example. 300 IN A 192.0.2.10",
		"alice.example. 300 IN A 192.0.2.11",
		"mail.alice.example. 300 IN A 192.0.2.10",
		"alice.example. 300 IN MX 0 mail.alice.example."))
	// Units: apex A (3 ops), mail A (2), MX (2). With 4 per message no unit is cut.
	msgs, groups := (&Engine{MaxOps: 4}).batches("alice.example", ops)
	var sizes []int
	for i, g := range groups {
		sizes = append(sizes, len(g))
		if len(msgs[i].Ns) != len(g) {
			t.Fatalf("message %d holds %d operations, group %d", i, len(msgs[i].Ns), len(g))
		}
	}
	if fmt.Sprint(sizes) != "[3 4]" {
		t.Fatalf("message sizes %v, want [3 4]", sizes)
	}
	// An RRset larger than a message is cut, as it must be.
	var big []string
	for i := 0; i < 10; i++ {
		big = append(big, fmt.Sprintf("t.alice.example. 300 IN TXT \"%d\"", i))
	}
	msgs, _ = (&Engine{MaxOps: 4}).batches("alice.example", writeOnlyOps("alice.example", nil, mustRRs(t, big...)))
	if len(msgs) != 3 {
		t.Fatalf("11 operations in %d messages, want 3", len(msgs))
	}
}

func FuzzDiffNeverPanics(f *testing.F) {
	f.Add("a.example. 300 IN A 192.0.2.1", "a.example. 60 IN CNAME b.example.")
	f.Fuzz(func(t *testing.T, a, b string) {
		ra, errA := dns.NewRR(a)
		rb, errB := dns.NewRR(b)
		if errA != nil || errB != nil || ra == nil || rb == nil {
			return
		}
		_ = Diff("example", []dns.RR{ra}, []dns.RR{rb})
		_ = writeOnlyOps("example", nil, []dns.RR{ra, rb})
	})
}

// TestDigestZoneAgrees checks that the digests a push computes in one pass are the
// ones ZoneDigest and setDigests give (what earlier versions remembered), and that
// the owner's case or a missing final dot does not change them.
func TestDigestZoneAgrees(t *testing.T) {
	const z = "alice.example"
	tests := []struct {
		name     string
		rrs, alt []string // alt: the same data written otherwise (nil: none)
	}{
		{name: "lowercase", rrs: []string{
			"alice.example. 86400 IN NS ns1.example.net.",
			"alice.example. 300 IN A 192.0.2.10",
			"alice.example. 300 IN A 192.0.2.11",
			"www.alice.example. 300 IN CNAME alice.example.",
			"alice.example. 300 IN TXT \"v=spf1 -all\"",
		}},
		{name: "mixed-case owners and targets", rrs: []string{
			"Alice.Example. 86400 IN NS NS1.example.net.",
			"MAIL.alice.example. 300 IN A 192.0.2.10",
			"alice.example. 300 IN MX 10 Mail.Alice.Example.",
		}, alt: []string{
			"alice.example. 86400 IN NS ns1.example.net.",
			"mail.alice.example. 300 IN A 192.0.2.10",
			"alice.example. 300 IN MX 10 mail.alice.example.",
		}},
		{name: "TXT keeps its case", rrs: []string{
			"alice.example. 86400 IN NS ns1.example.net.",
			"Alice.example. 300 IN TXT \"Hello\"",
		}},
		{name: "empty", rrs: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rrs := mustRRs(t, tc.rrs...)
			d := digestZone(z, rrs)
			if want := ZoneDigest(z, rrs); d.digest != want {
				t.Fatalf("digest %s, ZoneDigest %s", d.digest, want)
			}
			if want := setDigests(z, rrs); !maps.Equal(d.setDig, want) {
				t.Fatalf("set digests %v, setDigests %v", d.setDig, want)
			}
			if len(d.sets) != len(d.setDig) {
				t.Fatalf("%d RRsets, %d set digests", len(d.sets), len(d.setDig))
			}
			if tc.alt != nil {
				if a := digestZone(z, mustRRs(t, tc.alt...)); a.digest != d.digest {
					t.Fatalf("the same data written otherwise: digest %s, want %s", a.digest, d.digest)
				}
			}
		})
	}
	// A name read without its final dot (as a parser may leave it) is still the
	// absolute name in the canonical form, with or without the copy.
	rr := mustRRs(t, "www.alice.example. 300 IN A 192.0.2.1")[0]
	rel := dns.Copy(rr)
	rel.Header().Name = "WWW.alice.example"
	if canonical(rel) != canonical(rr) || rel.Header().Name != "WWW.alice.example" {
		t.Fatalf("canonical %q vs %q (and the record must be left unchanged: %q)", canonical(rel), canonical(rr), rel.Header().Name)
	}
}

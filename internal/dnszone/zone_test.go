package dnszone

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

var day = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func aliceZone() *Zone {
	return NewAccountZoneAt("Alice.Example", "192.0.2.10", []string{"ns1.web1.example", "NS2.web1.example."}, day)
}

func TestNewAccountZoneGolden(t *testing.T) {
	golden(t, "alice.example.db", []byte(aliceZone().Text()))
}

func TestNewAccountZone(t *testing.T) {
	z := aliceZone()
	if z.Origin != "alice.example." {
		t.Errorf("origin %q", z.Origin)
	}
	if z.Serial != 2026112300 || z.SOA().Serial != z.Serial {
		t.Errorf("serial %d, SOA serial %d, want 2026112300 in both", z.Serial, z.SOA().Serial)
	}
	want := map[string]bool{ // name/type the account zone must have
		"alice.example./SOA": true, "alice.example./NS": true, "alice.example./A": true,
		"alice.example./MX": true, "alice.example./TXT": true, "www.alice.example./CNAME": true,
		"ftp.alice.example./CNAME": true, "mail.alice.example./A": true, "webmail.alice.example./A": true,
	}
	for _, rr := range z.Records {
		delete(want, rr.Header().Name+"/"+dns.TypeToString[rr.Header().Rrtype])
	}
	if len(want) > 0 {
		t.Errorf("missing %v in\n%s", want, z.Text())
	}
	t.Run("no nameservers falls back to ns1/ns2 of the domain", func(t *testing.T) {
		z := NewAccountZoneAt("bob.example", "192.0.2.20", nil, day)
		if z.SOA().Ns != "ns1.bob.example." {
			t.Errorf("MNAME %s", z.SOA().Ns)
		}
	})
	t.Run("bad address never panics", func(t *testing.T) {
		z := NewAccountZoneAt("bob.example", "not-an-ip", nil, day)
		if z.Records[3].(*dns.A).A.String() != "0.0.0.0" {
			t.Errorf("apex A %v", z.Records[3])
		}
	})
}

func TestNextSerial(t *testing.T) {
	tests := []struct {
		old, want uint32
	}{
		{2026112200, 2026112300}, // an older day jumps to today's 00
		{2026112300, 2026112301},
		{2026112399, 2026112400}, // past nn=99 the serial just counts on
		{2030010100, 2030010101}, // a serial from the future only increments
		{1, 2026112300},
	}
	for _, tc := range tests {
		if got := NextSerial(tc.old, day); got != tc.want {
			t.Errorf("NextSerial(%d) = %d, want %d", tc.old, got, tc.want)
		}
	}
}

func TestSetMailTarget(t *testing.T) {
	z := aliceZone()
	before := z.Clone()
	lines := func(z *Zone) map[string]int { // record text (sans serial) → line index
		out := map[string]int{}
		for i, rr := range z.Records {
			if rr.Header().Rrtype != dns.TypeSOA {
				out[recordLine(rr)] = HeaderLines + i
			}
		}
		return out
	}
	z.SetMailTargetAt("198.51.100.7", day.Add(24*time.Hour))
	golden(t, "alice.example.distributed.db", []byte(z.Text()))
	if z.Serial != 2026112400 {
		t.Errorf("serial %d, want 2026112400", z.Serial)
	}
	if before.Serial != 2026112300 {
		t.Errorf("SetMailTarget changed the clone it was copied from")
	}
	// Unchanged records keep their line index, so line indices a client read before
	// stay valid.
	after := lines(z)
	for text, li := range lines(before) {
		if strings.HasPrefix(text, "mail.") || strings.HasPrefix(text, "webmail.") || strings.Contains(text, " TXT ") {
			continue
		}
		if after[text] != li {
			t.Errorf("%q moved from line %d to %d", text, li, after[text])
		}
	}
	// And back to the parent: the zone answers as it did at creation.
	z.SetMailTargetAt("192.0.2.10", day.Add(48*time.Hour))
	if !z.EqualData(before) {
		t.Errorf("after moving mail back the zone differs from the original:\n%s\nwant\n%s", z.Text(), before.Text())
	}
	t.Run("a CNAME mail. becomes an A", func(t *testing.T) {
		z := aliceZone()
		for i, rr := range z.Records {
			if rr.Header().Name == "mail.alice.example." {
				z.Records[i] = &dns.CNAME{Hdr: dns.RR_Header{Name: "mail.alice.example.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 14400}, Target: "alice.example."}
			}
		}
		z.SetMailTargetAt("198.51.100.7", day)
		var got []string
		for _, rr := range z.Records {
			if rr.Header().Name == "mail.alice.example." {
				got = append(got, recordLine(rr))
			}
		}
		if len(got) != 1 || got[0] != "mail.alice.example. 14400 IN A 198.51.100.7" {
			t.Errorf("mail. = %v", got)
		}
	})
}

func TestTextParseRoundTrip(t *testing.T) {
	z := aliceZone()
	z.SetMailTargetAt("198.51.100.7", day)
	z.Records = append(z.Records,
		mustRR(t, `txt.alice.example. 300 IN TXT "semi;colon" "quote\"d" "back\\slash"`),
		mustRR(t, `alice.example. 300 IN CAA 0 issue "letsencrypt.org"`),
		mustRR(t, `_sip._tcp.alice.example. 300 IN SRV 10 60 5060 sip.alice.example.`),
		mustRR(t, `alice.example. 300 IN AAAA 2001:db8::1`),
	)
	got, err := Parse("alice.example", z.Text())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(z) {
		t.Fatalf("round trip differs:\n%s\nwant\n%s", got.Text(), z.Text())
	}
	if got.Text() != z.Text() {
		t.Fatalf("text of the parsed zone differs")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, text, err string
		records         int
		serial          uint32
	}{
		{name: "relative names, $TTL, parentheses, comments", records: 3, serial: 7, text: `
$TTL 300
@ IN SOA ns1 hostmaster (
	7 ; serial
	3600 1800 1209600 86400 )
@ IN NS ns1
ns1 IN A 192.0.2.1 ; comment
`},
		{name: "SOA moved to the front", records: 2, serial: 9, text: "ns1.a.example. 300 IN A 192.0.2.1\na.example. 300 IN SOA ns1.a.example. h.a.example. 9 1 1 1 1\n"},
		{name: "no SOA", err: "no SOA", text: "a.example. 300 IN A 192.0.2.1\n"},
		{name: "two SOAs", err: "2 SOA", text: "a.example. 300 IN SOA ns1.a.example. h.a.example. 9 1 1 1 1\na.example. 300 IN SOA ns1.a.example. h.a.example. 10 1 1 1 1\n"},
		{name: "out of zone", err: "outside the zone", text: "a.example. 300 IN SOA ns1.a.example. h.a.example. 9 1 1 1 1\nb.example. 300 IN A 192.0.2.1\n"},
		{name: "syntax error", err: "parse zone a.example.", text: "a.example. 300 IN A 999.0.0.1\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			z, err := Parse("a.example", tc.text)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(z.Records) != tc.records || z.Serial != tc.serial || z.Records[0].Header().Rrtype != dns.TypeSOA {
				t.Fatalf("got %d records, serial %d:\n%s", len(z.Records), z.Serial, z.Text())
			}
		})
	}
	if _, err := Parse("bad..name", "x"); err == nil {
		t.Error("a bad origin was accepted")
	}
}

func TestCloneAndEqual(t *testing.T) {
	a := aliceZone()
	b := a.Clone()
	if !a.Equal(b) {
		t.Fatal("a clone is not equal")
	}
	b.Records[3].(*dns.A).A[3] = 99
	if a.Records[3].(*dns.A).A[3] == 99 {
		t.Fatal("clone shares records")
	}
	if a.Equal(b) {
		t.Fatal("different rdata compares equal")
	}
	c := a.Clone()
	c.Records[1], c.Records[2] = c.Records[2], c.Records[1]
	if !a.Equal(c) {
		t.Error("order should not matter to Equal")
	}
	d := a.Clone()
	d.Records[1].(*dns.NS).Ns = "NS1.WEB1.EXAMPLE."
	if !a.Equal(d) {
		t.Error("case of names in rdata should not matter")
	}
	e := a.Clone()
	e.SetSerial(a.Serial + 1)
	if a.Equal(e) || !a.EqualData(e) {
		t.Error("Equal must see the serial, EqualData must not")
	}
	f := a.Clone()
	f.Records[3].Header().Ttl = 1
	if a.Equal(f) {
		t.Error("TTL difference not seen")
	}
	var nilZone *Zone
	if !nilZone.Equal(nil) || a.Equal(nil) || nilZone.Clone() != nil {
		t.Error("nil handling")
	}
}

func TestListZonesData(t *testing.T) {
	if got := ListZonesData(nil); got != nil {
		t.Errorf("no zones: %v, want nil (no data key)", got)
	}
	zs := []*Zone{NewAccountZoneAt("zed.example", "192.0.2.1", nil, day), aliceZone()}
	b, _ := json.Marshal(map[string]any{"zone": ListZonesData(zs)})
	want := `{"zone":[{"domain":"alice.example","zonefile":"alice.example.db"},{"domain":"zed.example","zonefile":"zed.example.db"}]}`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
}

func TestDumpZoneGolden(t *testing.T) {
	b, err := json.MarshalIndent(map[string]any{"zone": []any{map[string]any{"record": DumpZone(aliceZone())}}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "dumpzone.json", append(b, '\n'))
}

func TestParseDNSZoneGolden(t *testing.T) {
	z := aliceZone()
	z.Records = append(z.Records, mustRR(t, `txt.alice.example. 300 IN TXT "a \"quoted\" word" "\255 octet"`))
	items := ParseDNSZone(z)
	b, err := json.MarshalIndent(map[string]any{"payload": items}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "parse_dns_zone.json", append(b, '\n'))

	// Decoded, the payload says what the zone says, line for line.
	var back struct{ Payload []ParsedItem }
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	textLines := strings.Split(z.Text(), "\n")
	for _, it := range back.Payload {
		if it.Type != "record" {
			if textLines[it.LineIndex] != it.Text {
				t.Errorf("line %d: %q, text has %q", it.LineIndex, it.Text, textLines[it.LineIndex])
			}
			continue
		}
		i, err := z.RecordAt(it.LineIndex)
		if err != nil {
			t.Fatal(err)
		}
		if dns.TypeToString[z.Records[i].Header().Rrtype] != it.RecordType {
			t.Errorf("line %d: type %s", it.LineIndex, it.RecordType)
		}
	}
	last := back.Payload[len(back.Payload)-1]
	if last.Dname != "txt" || len(last.Data) != 2 || last.Data[0] != `a "quoted" word` || last.Data[1] != "\xff octet" {
		t.Errorf("TXT item decoded as %+v", last)
	}
	if apex := back.Payload[HeaderLines]; apex.Dname != "alice.example." {
		t.Errorf("apex dname %q, want the fully qualified origin", apex.Dname)
	}
}

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

func TestSetMailTargetWithoutApexA(t *testing.T) {
	z := aliceZone()
	var kept []dns.RR
	for _, rr := range z.Records {
		if !(rr.Header().Name == z.Origin && rr.Header().Rrtype == dns.TypeA) {
			kept = append(kept, rr)
		}
	}
	z.Records = kept
	z.SetMailTargetAt("198.51.100.7", day)
	for _, rr := range z.Records {
		if txt, ok := rr.(*dns.TXT); ok && txt.Txt[0] != "v=spf1 +a +mx +ip4:198.51.100.7 ~all" {
			t.Errorf("SPF %q", txt.Txt[0])
		}
	}
}

func TestRenamed(t *testing.T) {
	z := aliceZone()
	z.Records = append(z.Records, mustRR(t, "ext.alice.example. 300 IN CNAME elsewhere.example."))
	r, err := z.Renamed("Carol.Example", day)
	if err != nil {
		t.Fatal(err)
	}
	text := r.Text()
	if strings.Contains(text, "alice.example") {
		t.Errorf("old name left:\n%s", text)
	}
	for _, want := range []string{
		"carol.example. 86400 IN SOA ns1.web1.example. hostmaster.carol.example. 2026112301",
		"www.carol.example. 14400 IN CNAME carol.example.",
		"carol.example. 14400 IN MX 0 mail.carol.example.",
		"ext.carol.example. 300 IN CNAME elsewhere.example.",
		"ns1.web1.example.", // nameservers elsewhere stay
	} {
		if !strings.Contains(text, want) {
			t.Errorf("renamed zone lacks %q:\n%s", want, text)
		}
	}
	if z.Origin != "alice.example." || z.Serial != 2026112300 {
		t.Error("Renamed changed the original")
	}
	if _, err := z.Renamed("bad name!", day); err == nil {
		t.Error("a bad new name was accepted")
	}
}

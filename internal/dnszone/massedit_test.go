package dnszone

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// Line indices of aliceZone (see testdata/alice.example.db).
const (
	lineSOA     = 3
	lineNS1     = 4
	lineNS2     = 5
	lineApexA   = 6
	lineMX      = 7
	lineWWW     = 8
	lineMail    = 10
	lineWebmail = 11
	lineSPF     = 12
)

func TestMassEdit(t *testing.T) {
	const serial = 2026112300
	soaEdit := func(serial string, minimum string) string {
		return `{"line_index":3,"dname":"alice.example.","ttl":86400,"record_type":"SOA","data":["ns1.web1.example.","hostmaster.alice.example.","` + serial + `","3600","1800","1209600","` + minimum + `"]}`
	}
	tests := []struct {
		name    string
		serial  uint32
		add     []string
		edit    []string
		remove  []int
		wantErr string // substring of the error; "" = success
		errType string // "Stale", "InvalidZoneFile" or "" for a plain failure
		byLine  []LineError
		check   func(t *testing.T, z *Zone)
	}{
		{
			name: "add a TXT record at the end, relative name, number as string",
			add:  []string{`{"dname":"_dmarc","ttl":"300","record_type":"TXT","data":["v=DMARC1; p=none","with \"quotes\""]}`},
			check: func(t *testing.T, z *Zone) {
				last := z.Records[len(z.Records)-1]
				if last.Header().Name != "_dmarc.alice.example." || RData(last)[1] != `with "quotes"` {
					t.Errorf("last record %v", last)
				}
			},
		},
		{
			name: "edit mail. in place",
			edit: []string{`{"line_index":10,"dname":"mail","ttl":14400,"record_type":"A","data":["198.51.100.7"]}`},
			check: func(t *testing.T, z *Zone) {
				i, _ := z.RecordAt(lineMail)
				if a, ok := z.Records[i].(*dns.A); !ok || a.A.String() != "198.51.100.7" {
					t.Errorf("line %d is %v", lineMail, z.Records[i])
				}
			},
		},
		{
			name:   "remove two records, later lines shift up",
			remove: []int{lineMail, lineWebmail},
			check: func(t *testing.T, z *Zone) {
				i, _ := z.RecordAt(lineMail)
				if z.Records[i].Header().Rrtype != dns.TypeTXT {
					t.Errorf("line %d is %v, want the SPF record", lineMail, z.Records[i])
				}
			},
		},
		{
			name:   "edit and remove address the zone as it was",
			edit:   []string{`{"line_index":11,"dname":"webmail","ttl":60,"record_type":"A","data":["198.51.100.8"]}`},
			remove: []int{lineMail},
			add:    []string{`{"dname":"new","ttl":60,"record_type":"A","data":["192.0.2.5"]}`},
			check: func(t *testing.T, z *Zone) {
				i, _ := z.RecordAt(lineMail) // webmail moved up into mail's line
				if z.Records[i].Header().Name != "webmail.alice.example." || z.Records[i].Header().Ttl != 60 {
					t.Errorf("line %d is %v", lineMail, z.Records[i])
				}
			},
		},
		{
			name: "edit the SOA with the old serial: other fields change, serial bumps",
			edit: []string{soaEdit("2026112300", "300")},
			check: func(t *testing.T, z *Zone) {
				if z.SOA().Minttl != 300 || z.SOA().Serial != 2026112301 {
					t.Errorf("SOA %v", z.SOA())
				}
			},
		},
		{
			name: "every record type mass_edit allows can be added",
			add: []string{
				`{"dname":"v6","ttl":300,"record_type":"AAAA","data":["2001:db8::1"]}`,
				`{"dname":"alice.example.","ttl":300,"record_type":"CAA","data":["0","issue","letsencrypt.org"]}`,
				`{"dname":"_sip._tcp","ttl":300,"record_type":"SRV","data":["10","60","5060","sip.alice.example."]}`,
				`{"dname":"alias","ttl":300,"record_type":"CNAME","data":["alice.example."]}`,
				`{"dname":"sub","ttl":300,"record_type":"NS","data":["ns.elsewhere.example."]}`,
				`{"dname":"host","ttl":300,"record_type":"HINFO","data":["PC","Linux"]}`,
			},
			check: func(t *testing.T, z *Zone) {
				if len(z.Records) != 10+6 {
					t.Errorf("%d records", len(z.Records))
				}
			},
		},
		{name: "stale serial", serial: serial - 1, remove: []int{lineMail}, wantErr: "does not match", errType: "Stale"},
		{name: "no change at all", wantErr: "at least one change"},
		{name: "add with a type mass_edit cannot create", add: []string{`{"dname":"x","ttl":300,"record_type":"SOA","data":[]}`}, wantErr: "cannot create “SOA”"},
		{name: "add missing a piece", add: []string{`{"dname":"x","record_type":"A","data":["192.0.2.1"]}`}, wantErr: "requires “dname”, “ttl”, “record_type”, and “data”"},
		{name: "add that is not an object", add: []string{`["x"]`}, wantErr: "must be an object"},
		{name: "add that is not JSON", add: []string{`{"dname":`}, wantErr: "valid JSON"},
		{name: "data not an array", add: []string{`{"dname":"x","ttl":300,"record_type":"A","data":"192.0.2.1"}`}, wantErr: "“data” must be an array"},
		{name: "negative ttl", add: []string{`{"dname":"x","ttl":-1,"record_type":"A","data":["192.0.2.1"]}`}, wantErr: "“ttl”"},
		{name: "edit of a line with no record", edit: []string{`{"line_index":1,"dname":"x","ttl":1,"record_type":"A","data":["192.0.2.1"]}`}, wantErr: "No record exists at line 1"},
		{name: "remove past the end", remove: []int{99}, wantErr: "No record exists at line 99"},
		{name: "negative remove", remove: []int{-1}, wantErr: "nonnegative"},
		{name: "two edits of one line", edit: []string{`{"line_index":10,"dname":"mail","ttl":1,"record_type":"A","data":["192.0.2.1"]}`}, remove: []int{lineMail}, wantErr: "multiple edits for line index 10"},
		{name: "remove the SOA", remove: []int{lineSOA}, wantErr: "must contain an SOA"},
		{name: "remove every NS", remove: []int{lineNS1, lineNS2}, add: []string{`{"dname":"alice.example.","ttl":300,"record_type":"NS","data":["ns9.example."]}`}, wantErr: "at least one “NS”"},
		{name: "edit the SOA's serial", edit: []string{soaEdit("2030010100", "86400")}, wantErr: "forbids direct updates to the SOA record’s serial"},
		{name: "edit a record into an SOA", edit: []string{`{"line_index":6,"dname":"alice.example.","ttl":1,"record_type":"SOA","data":["a.","b.","1","1","1","1","1"]}`}, wantErr: "Only one SOA"},
		{name: "edit the SOA into another type", edit: []string{`{"line_index":3,"dname":"alice.example.","ttl":1,"record_type":"A","data":["192.0.2.1"]}`}, wantErr: "type cannot change"},
		{
			name:    "bad rdata is InvalidZoneFile by line",
			add:     []string{`{"dname":"ok","ttl":300,"record_type":"A","data":["192.0.2.1"]}`, `{"dname":"bad","ttl":300,"record_type":"A","data":["192.0.2"]}`},
			edit:    []string{`{"line_index":8,"dname":"www","ttl":300,"record_type":"MX","data":["x"]}`},
			wantErr: "The DNS zone file is invalid. (Line 9: ", errType: "InvalidZoneFile",
			byLine: []LineError{{Line: 8}, {Line: 14}},
		},
		{
			name:    "missing rdata is InvalidZoneFile",
			add:     []string{`{"dname":"x","ttl":300,"record_type":"A","data":[]}`},
			wantErr: "The DNS zone file is invalid. (Line 14: ", errType: "InvalidZoneFile",
			byLine: []LineError{{Line: 13}},
		},
		{
			name:    "a CNAME beside other data is InvalidZoneFile",
			add:     []string{`{"dname":"mail","ttl":300,"record_type":"CNAME","data":["alice.example."]}`},
			wantErr: "CNAME and other data", errType: "InvalidZoneFile",
			byLine: []LineError{{Line: 13}},
		},
		{
			name:    "a name outside the zone is InvalidZoneFile",
			add:     []string{`{"dname":"bob.example.","ttl":300,"record_type":"A","data":["192.0.2.1"]}`},
			wantErr: "out of zone", errType: "InvalidZoneFile",
			byLine: []LineError{{Line: 13}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			z := aliceZone()
			before := z.Clone()
			s := tc.serial
			if s == 0 {
				s = serial
			}
			got, err := MassEditAt(z, s, tc.add, tc.edit, tc.remove, day)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want it to contain %q", err, tc.wantErr)
				}
				if !z.Equal(before) {
					t.Fatalf("a failed edit changed the zone:\n%s", z.Text())
				}
				typed, ok := TypedErrorData(err)
				if typed.Type != tc.errType || ok != (tc.errType != "") {
					t.Fatalf("typed error %q (%t), want %q", typed.Type, ok, tc.errType)
				}
				if tc.byLine != nil {
					var ize *InvalidZoneFileError
					if !errors.As(err, &ize) || len(ize.ByLine) != len(tc.byLine) {
						t.Fatalf("by_line %+v, want lines %+v", ize, tc.byLine)
					}
					for i := range tc.byLine {
						if ize.ByLine[i].Line != tc.byLine[i].Line || ize.ByLine[i].Message == "" {
							t.Errorf("by_line[%d] = %+v, want line %d with a message", i, ize.ByLine[i], tc.byLine[i].Line)
						}
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != z.Serial || z.SOA().Serial != got || got <= serial {
				t.Fatalf("new serial %d, zone serial %d, SOA %d", got, z.Serial, z.SOA().Serial)
			}
			if _, err := Parse(z.Origin, z.Text()); err != nil {
				t.Fatalf("the edited zone does not parse: %v", err)
			}
			tc.check(t, z)
		})
	}
}

func TestTypedErrorJSON(t *testing.T) {
	stale, _ := TypedErrorData(&StaleError{Given: 1, Current: 2})
	b, _ := json.Marshal(stale)
	if string(b) != `{"type":"Stale","detail":null}` {
		t.Errorf("Stale data %s", b)
	}
	inv, _ := TypedErrorData(&InvalidZoneFileError{ByLine: []LineError{{Line: 14, Message: "bad A"}}})
	b, _ = json.Marshal(inv)
	if string(b) != `{"type":"InvalidZoneFile","detail":{"by_line":[[14,"bad A"]]}}` {
		t.Errorf("InvalidZoneFile data %s", b)
	}
	var back LineError
	if err := json.Unmarshal([]byte(`[14,"bad A"]`), &back); err != nil || back.Line != 14 || back.Message != "bad A" {
		t.Errorf("decode by_line entry: %+v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"line":1}`), &back); err == nil {
		t.Error("an object decoded as a by_line entry")
	}
	if _, ok := TypedErrorData(&InputError{"x"}); ok {
		t.Error("a plain failure has a type")
	}
}

// Edits read back through parse_dns_zone are what was written: the provider's
// round trip (read payload, send line_index edits) works.
func TestMassEditParseRoundTrip(t *testing.T) {
	z := aliceZone()
	add := `{"dname":"bin","ttl":300,"record_type":"TXT","data":["semi;colon \\ back\u00ffslash"]}`
	if _, err := MassEditAt(z, z.Serial, []string{add}, nil, nil, day); err != nil {
		t.Fatal(err)
	}
	items := ParseDNSZone(z)
	last := items[len(items)-1]
	if last.Dname != "bin" || len(last.Data) != 1 || last.Data[0] != "semi;colon \\ back\u00ffslash" {
		t.Fatalf("read back %+v", last)
	}
	edit := `{"line_index":` + itoa(last.LineIndex) + `,"dname":"bin","ttl":600,"record_type":"TXT","data":["v2"]}`
	if _, err := MassEditAt(z, z.Serial, nil, []string{edit}, nil, day); err != nil {
		t.Fatal(err)
	}
	if got := RData(z.Records[len(z.Records)-1]); got[0] != "v2" {
		t.Fatalf("after edit %v", got)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

package dnszone

import (
	"testing"
)

// Bad input never panics and a failed edit never changes the zone.
func FuzzMassEdit(f *testing.F) {
	f.Add(`{"dname":"x","ttl":300,"record_type":"A","data":["192.0.2.1"]}`, `{"line_index":10,"dname":"mail","ttl":1,"record_type":"A","data":["192.0.2.1"]}`, 11)
	f.Add(`{"dname":"x","ttl":"3e5","record_type":"TXT","data":[1,"\u0000"]}`, `{"line_index":3,"dname":"@","ttl":1,"record_type":"SOA","data":[]}`, 3)
	f.Add(`[]`, `null`, -1)
	f.Add(`{"dname":"a..b","ttl":1,"record_type":"CAA","data":["0","issue","\"x"]}`, `{}`, 99)
	f.Fuzz(func(t *testing.T, add, edit string, remove int) {
		z := aliceZone()
		before := z.Clone()
		_, err := MassEditAt(z, z.Serial, []string{add}, []string{edit}, []int{remove}, day)
		if err != nil && !z.Equal(before) {
			t.Fatalf("failed edit changed the zone: %v", err)
		}
		if err == nil {
			if _, perr := Parse(z.Origin, z.Text()); perr != nil {
				t.Fatalf("edit produced a zone that does not parse: %v\n%s", perr, z.Text())
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add("alice.example", aliceZone().Text())
	f.Add("a.example", "$ORIGIN b.example.\n@ IN SOA a b 1 2 3 4 5\n")
	f.Add("a.example", "$INCLUDE /etc/passwd\n")
	f.Fuzz(func(t *testing.T, origin, text string) {
		z, err := Parse(origin, text)
		if err != nil {
			return
		}
		back, err := Parse(z.Origin, z.Text())
		if err != nil {
			t.Fatalf("text of a parsed zone does not parse: %v\n%s", err, z.Text())
		}
		if !back.Equal(z) {
			t.Fatalf("round trip differs")
		}
		_ = DumpZone(z)
		_ = ParseDNSZone(z)
	})
}

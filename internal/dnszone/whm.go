package dnszone

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// This file renders zones in the shapes of WHM API 1's zone functions (whm-api.md
// section 5). The sandbox wraps them in the envelope; the choices made where the
// documents are silent are listed in UNCONFIRMED.md.

// ZoneEntry is one element of listzones' data.zone.
type ZoneEntry struct {
	Domain   string `json:"domain"`
	Zonefile string `json:"zonefile"`
}

// ListZonesData is listzones' data.zone: one entry per zone, sorted by domain. It is
// nil when there are no zones, and then the real function returns no data key at all.
func ListZonesData(zones []*Zone) []ZoneEntry {
	if len(zones) == 0 {
		return nil
	}
	out := make([]ZoneEntry, 0, len(zones))
	for _, z := range zones {
		d := strings.TrimSuffix(z.Origin, ".")
		out = append(out, ZoneEntry{Domain: d, Zonefile: d + ".db"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Domain < out[j].Domain })
	return out
}

// DumpZone is dumpzone's data.zone[0].record: every line of Text as an object. Line
// is 1-based; header comments are type ":RAW" with "raw", the $TTL control is type
// "$TTL" with "ttl"; records carry name (fully qualified), ttl, class and type plus
// their type's fields. Host names in rdata lose their final dot, as cPanel writes them.
func DumpZone(z *Zone) []map[string]any {
	out := make([]map[string]any, 0, len(z.Records)+HeaderLines)
	h := z.headerLines()
	out = append(out,
		map[string]any{"Line": 1, "type": ":RAW", "raw": h[0]},
		map[string]any{"Line": 2, "type": ":RAW", "raw": h[1]},
		map[string]any{"Line": 3, "type": "$TTL", "ttl": DefaultTTL},
	)
	for i, rr := range z.Records {
		out = append(out, dumpRecord(HeaderLines+i+1, rr))
	}
	return out
}

func dumpRecord(line int, rr dns.RR) map[string]any {
	hdr := rr.Header()
	m := map[string]any{
		"Line":  line,
		"name":  hdr.Name,
		"ttl":   hdr.Ttl,
		"class": dns.ClassToString[hdr.Class],
		"type":  dns.TypeToString[hdr.Rrtype],
	}
	host := func(s string) string { return strings.TrimSuffix(s, ".") }
	switch r := rr.(type) {
	case *dns.SOA:
		m["mname"], m["rname"] = r.Ns, r.Mbox
		m["serial"] = strconv.FormatUint(uint64(r.Serial), 10)
		m["refresh"], m["retry"], m["expire"], m["minimum"] = r.Refresh, r.Retry, r.Expire, r.Minttl
	case *dns.A:
		m["address"] = r.A.String()
	case *dns.AAAA:
		m["address"] = r.AAAA.String()
	case *dns.CNAME:
		m["cname"] = host(r.Target)
	case *dns.NS:
		m["nsdname"] = host(r.Ns)
	case *dns.MX:
		m["exchange"], m["preference"] = host(r.Mx), r.Preference
	case *dns.TXT:
		m["txtdata"] = strings.Join(unescapeAll(r.Txt), "")
		m["unencoded"] = 1
	case *dns.PTR:
		m["ptrdname"] = host(r.Ptr)
	case *dns.SRV:
		m["priority"], m["weight"], m["port"], m["target"] = r.Priority, r.Weight, r.Port, host(r.Target)
	case *dns.CAA:
		m["flag"], m["tag"], m["value"] = r.Flag, r.Tag, r.Value
	default:
		m["raw"] = strings.TrimPrefix(rr.String(), hdr.String())
	}
	return m
}

// ParsedItem is one element of parse_dns_zone's data.payload: a record, a comment or
// a control statement. Its JSON has exactly the keys the real function returns for
// that kind of item.
type ParsedItem struct {
	Type       string // "record", "comment" or "control"
	LineIndex  int
	Dname      string // records: relative to the origin; the apex stays fully qualified
	TTL        uint32
	RecordType string
	Data       []string // records: presentation form of each rdata field; character strings literal
	Text       string   // comments and controls: the whole line
}

// MarshalJSON writes the base64 fields parse_dns_zone uses (dname_b64, data_b64,
// text_b64), so arbitrary octets survive JSON.
func (p ParsedItem) MarshalJSON() ([]byte, error) {
	enc := base64.StdEncoding.EncodeToString
	if p.Type != "record" {
		return json.Marshal(struct {
			Type      string `json:"type"`
			LineIndex int    `json:"line_index"`
			TextB64   string `json:"text_b64"`
		}{p.Type, p.LineIndex, enc([]byte(p.Text))})
	}
	data := make([]string, len(p.Data))
	for i, d := range p.Data {
		data[i] = enc([]byte(d))
	}
	return json.Marshal(struct {
		Type       string   `json:"type"`
		LineIndex  int      `json:"line_index"`
		DnameB64   string   `json:"dname_b64"`
		TTL        uint32   `json:"ttl"`
		RecordType string   `json:"record_type"`
		DataB64    []string `json:"data_b64"`
	}{p.Type, p.LineIndex, enc([]byte(p.Dname)), p.TTL, p.RecordType, data})
}

// UnmarshalJSON reads what MarshalJSON writes, so clients and tests can decode a
// payload into the same type.
func (p *ParsedItem) UnmarshalJSON(b []byte) error {
	var raw struct {
		Type       string   `json:"type"`
		LineIndex  int      `json:"line_index"`
		DnameB64   string   `json:"dname_b64"`
		TTL        uint32   `json:"ttl"`
		RecordType string   `json:"record_type"`
		DataB64    []string `json:"data_b64"`
		TextB64    string   `json:"text_b64"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	dec := func(s string) (string, error) {
		v, err := base64.StdEncoding.DecodeString(s)
		return string(v), err
	}
	*p = ParsedItem{Type: raw.Type, LineIndex: raw.LineIndex, TTL: raw.TTL, RecordType: raw.RecordType}
	var err error
	if p.Dname, err = dec(raw.DnameB64); err != nil {
		return err
	}
	if p.Text, err = dec(raw.TextB64); err != nil {
		return err
	}
	for _, d := range raw.DataB64 {
		v, err := dec(d)
		if err != nil {
			return err
		}
		p.Data = append(p.Data, v)
	}
	return nil
}

// ParseDNSZone is parse_dns_zone's data.payload for z.
func ParseDNSZone(z *Zone) []ParsedItem {
	h := z.headerLines()
	out := make([]ParsedItem, 0, len(z.Records)+HeaderLines)
	out = append(out,
		ParsedItem{Type: "comment", LineIndex: 0, Text: h[0]},
		ParsedItem{Type: "comment", LineIndex: 1, Text: h[1]},
		ParsedItem{Type: "control", LineIndex: 2, Text: h[2]},
	)
	for i, rr := range z.Records {
		hdr := rr.Header()
		out = append(out, ParsedItem{
			Type:       "record",
			LineIndex:  HeaderLines + i,
			Dname:      relativeDname(hdr.Name, z.Origin),
			TTL:        hdr.Ttl,
			RecordType: dns.TypeToString[hdr.Rrtype],
			Data:       RData(rr),
		})
	}
	return out
}

// relativeDname strips ".origin." from name. The apex keeps its fully qualified
// form, because cPanel strips the origin with its leading dot.
func relativeDname(name, origin string) string {
	if strings.HasSuffix(strings.ToLower(name), "."+origin) {
		return name[:len(name)-len(origin)-1]
	}
	return name
}

// RData is the presentation form of each rdata field of rr, as parse_dns_zone lists
// them: names fully qualified, character strings without quotes or escapes.
func RData(rr dns.RR) []string {
	u := Unescape
	switch r := rr.(type) {
	case *dns.TXT:
		return unescapeAll(r.Txt)
	case *dns.SPF:
		return unescapeAll(r.Txt)
	case *dns.HINFO:
		return []string{u(r.Cpu), u(r.Os)}
	case *dns.CAA:
		return []string{strconv.Itoa(int(r.Flag)), r.Tag, u(r.Value)}
	case *dns.NAPTR:
		return []string{strconv.Itoa(int(r.Order)), strconv.Itoa(int(r.Preference)), u(r.Flags), u(r.Service), u(r.Regexp), r.Replacement}
	}
	n := dns.NumField(rr)
	out := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, dns.Field(rr, i))
	}
	return out
}

func unescapeAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Unescape(s)
	}
	return out
}

// Unescape turns a character string as miekg/dns keeps it (presentation escapes:
// \", \\, \DDD) into its literal octets, which is what parse_dns_zone reports.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if n <= 255 {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

package dnszone

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// HeaderLines is how many lines Text writes before the first record: the cPanel
// version comment, the "Zone file for" comment and the $TTL control. Record i of
// Records is therefore on line index HeaderLines+i (0-based), which is the
// line_index parse_dns_zone reports and mass_edit_dns_zone takes.
const HeaderLines = 3

// versionComment stands where cPanel writes "; cPanel first:VERSION (update_time):…
// Cpanel::ZoneFile::VERSION:1.3 hostname:… latest:…". It carries no time, so equal
// zones render to equal text.
const versionComment = "; cPanel first:sandbox (update_time):0 Cpanel::ZoneFile::VERSION:1.3 hostname:sandbox latest:sandbox"

// Text renders the zone as a zone file: the header, then one record per line in
// Records order with fully qualified names. Parse reads it back.
func (z *Zone) Text() string {
	var b strings.Builder
	b.Grow(64 * (len(z.Records) + HeaderLines))
	for _, l := range z.headerLines() {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	for _, rr := range z.Records {
		b.WriteString(recordLine(rr))
		b.WriteByte('\n')
	}
	return b.String()
}

func (z *Zone) headerLines() [HeaderLines]string {
	return [HeaderLines]string{
		versionComment,
		"; Zone file for " + strings.TrimSuffix(z.Origin, "."),
		"$TTL " + strconv.Itoa(DefaultTTL),
	}
}

// recordLine is rr on one line, fields separated by single spaces.
func recordLine(rr dns.RR) string {
	return strings.ReplaceAll(rr.String(), "\t", " ")
}

// Parse reads a zone file for origin (any RFC 1035 master file: $ORIGIN, $TTL,
// relative names, parentheses and comments are understood). Comments and controls
// are not kept: Text writes its own header. The zone must have exactly one SOA, at
// the origin; its serial becomes Serial.
func Parse(origin, text string) (*Zone, error) {
	origin = Fqdn(origin)
	if !validZoneName(origin) {
		return nil, fmt.Errorf("parse zone: %q is not a zone name", origin)
	}
	zp := dns.NewZoneParser(strings.NewReader(text), origin, "")
	zp.SetDefaultTTL(DefaultTTL)
	z := &Zone{Origin: origin}
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		// miekg/dns accepts records with missing rdata ("@ SOA", "x A"), which are
		// meant for UPDATE; in a zone they would not read back as themselves.
		back, err := dns.NewRR(rr.String())
		if err != nil || back == nil || !dns.IsDuplicate(back, rr) {
			return nil, fmt.Errorf("parse zone %s: record %q is incomplete", origin, recordLine(rr))
		}
		z.Records = append(z.Records, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("parse zone %s: %w", origin, err)
	}
	if err := z.Normalize(); err != nil {
		return nil, fmt.Errorf("parse zone: %w", err)
	}
	if soa := z.SOA(); soa != nil {
		z.Serial = soa.Serial
	}
	return z, nil
}

// ErrNoRecordAtLine is wrapped by RecordAt when a line index names no record.
var ErrNoRecordAtLine = errors.New("no record at line")

// RecordAt returns the index in Records of the record on line index li of Text.
func (z *Zone) RecordAt(li int) (int, error) {
	i := li - HeaderLines
	if li < 0 || i < 0 || i >= len(z.Records) {
		return 0, fmt.Errorf("zone %s: %w %d", z.Origin, ErrNoRecordAtLine, li)
	}
	return i, nil
}

// validZoneName accepts host-name-like zone names (letters, digits, hyphen,
// underscore), the only kind cPanel creates. Anything that would need escaping in a
// zone file is refused, so an origin reads back as itself.
func validZoneName(name string) bool {
	if _, ok := dns.IsDomainName(name); !ok || name == "." || strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

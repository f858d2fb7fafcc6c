// Package dnszone models one DNS zone the way a cPanel server holds it: an origin, a SOA
// serial and an ordered list of records. The order matters: WHM addresses records by
// their line in the zone file (parse_dns_zone's line_index, mass_edit_dns_zone's edit
// and remove), so Text renders one record per line in slice order and a record's line
// index is a function of its position.
package dnszone

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// TTLs of cPanel's default zone template (ttl and nsttl in the template variables).
const (
	DefaultTTL   = 14400
	DefaultNSTTL = 86400
)

// SOA timers of cPanel's default zone template.
const (
	soaRefresh = 3600
	soaRetry   = 1800
	soaExpire  = 1209600
	soaMinimum = 86400
)

// Zone is one zone. Serial mirrors the SOA record's serial; every method that changes
// one changes the other, and Normalize repairs a zone whose fields were set by hand.
// A Zone is not safe for concurrent mutation; stores hand out snapshots instead.
type Zone struct {
	Origin  string // fully qualified, lower case, e.g. "alice.example."
	Serial  uint32
	Records []dns.RR
}

// Fqdn returns name as a lower-case fully qualified domain name.
func Fqdn(name string) string {
	return dns.CanonicalName(strings.TrimSpace(name))
}

// DateSerial returns the cPanel-style serial (YYYYMMDDnn) for day t with revision nn.
func DateSerial(t time.Time, nn int) uint32 {
	t = t.UTC()
	return uint32(t.Year()*1000000+int(t.Month())*10000+t.Day()*100) + uint32(nn%100)
}

// NextSerial returns the serial after old, the way cPanel bumps a zone's serial on
// every save: today's YYYYMMDD00 when that is larger, otherwise old+1.
func NextSerial(old uint32, now time.Time) uint32 {
	today := DateSerial(now, 0)
	if today > old {
		return today
	}
	return old + 1
}

// NewAccountZone builds the zone cPanel writes when it creates an account for domain
// on a server whose shared IPv4 address is ipv4, with the given nameservers (the
// first one goes into the SOA's MNAME).
func NewAccountZone(domain, ipv4 string, nameservers []string) *Zone {
	return NewAccountZoneAt(domain, ipv4, nameservers, time.Now())
}

// NewAccountZoneAt is NewAccountZone with the clock given, so tests and golden files
// are deterministic.
func NewAccountZoneAt(domain, ipv4 string, nameservers []string, now time.Time) *Zone {
	origin := Fqdn(domain)
	ip := parseIPv4(ipv4)
	serial := DateSerial(now, 0)
	var ns []string
	for _, n := range nameservers {
		if n = strings.TrimSpace(n); n != "" {
			ns = append(ns, Fqdn(n))
		}
	}
	if len(ns) == 0 {
		// cPanel falls back to ns1/ns2 of the server's own domain; without one known
		// here the account's own domain is the least surprising stand-in.
		ns = []string{"ns1." + origin, "ns2." + origin}
	}
	hdr := func(name string, t uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	z := &Zone{Origin: origin, Serial: serial}
	z.Records = append(z.Records, &dns.SOA{
		Hdr:     hdr(origin, dns.TypeSOA, DefaultNSTTL),
		Ns:      ns[0],
		Mbox:    "hostmaster." + origin,
		Serial:  serial,
		Refresh: soaRefresh, Retry: soaRetry, Expire: soaExpire, Minttl: soaMinimum,
	})
	for _, n := range ns {
		z.Records = append(z.Records, &dns.NS{Hdr: hdr(origin, dns.TypeNS, DefaultNSTTL), Ns: n})
	}
	z.Records = append(z.Records,
		&dns.A{Hdr: hdr(origin, dns.TypeA, DefaultTTL), A: ip},
		&dns.MX{Hdr: hdr(origin, dns.TypeMX, DefaultTTL), Preference: 0, Mx: "mail." + origin},
		&dns.CNAME{Hdr: hdr("www."+origin, dns.TypeCNAME, DefaultTTL), Target: origin},
		&dns.CNAME{Hdr: hdr("ftp."+origin, dns.TypeCNAME, DefaultTTL), Target: origin},
		&dns.A{Hdr: hdr("mail."+origin, dns.TypeA, DefaultTTL), A: ip},
		&dns.A{Hdr: hdr("webmail."+origin, dns.TypeA, DefaultTTL), A: ip},
		&dns.TXT{Hdr: hdr(origin, dns.TypeTXT, DefaultTTL), Txt: []string{spf(ip.String(), "")}},
	)
	return z
}

// spf is the SPF policy cPanel writes: the account's own address, plus the mail
// child's when mail is distributed.
func spf(parentIP, childIP string) string {
	s := "v=spf1 +a +mx"
	if parentIP != "" {
		s += " +ip4:" + parentIP
	}
	if childIP != "" && childIP != parentIP {
		s += " +ip4:" + childIP
	}
	return s + " ~all"
}

func parseIPv4(s string) net.IP {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is4() {
		return net.IPv4zero.To4()
	}
	b := a.As4()
	return net.IP(b[:])
}

// SOA returns the zone's SOA record, or nil when it has none.
func (z *Zone) SOA() *dns.SOA {
	for _, rr := range z.Records {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa
		}
	}
	return nil
}

// Normalize makes Serial and the SOA record agree (the SOA record wins when they
// differ and Serial is zero; otherwise Serial wins), canonicalises the origin and
// owner names, and moves the SOA to the front. It reports an error when the zone has
// no SOA, more than one, or a record outside the zone.
func (z *Zone) Normalize() error {
	z.Origin = Fqdn(z.Origin)
	var soas int
	for i, rr := range z.Records {
		h := rr.Header()
		h.Name = Fqdn(h.Name)
		if !inZone(z.Origin, h.Name) {
			return fmt.Errorf("zone %s: record %q is outside the zone", z.Origin, h.Name)
		}
		if soa, ok := rr.(*dns.SOA); ok {
			soas++
			if h.Name != z.Origin {
				return fmt.Errorf("zone %s: SOA owner %s is not the origin", z.Origin, h.Name)
			}
			if i != 0 {
				copy(z.Records[1:i+1], z.Records[0:i])
				z.Records[0] = soa
			}
		}
	}
	switch {
	case soas == 0:
		return fmt.Errorf("zone %s: no SOA record", z.Origin)
	case soas > 1:
		return fmt.Errorf("zone %s: %d SOA records", z.Origin, soas)
	}
	soa := z.Records[0].(*dns.SOA)
	if z.Serial == 0 {
		z.Serial = soa.Serial
	}
	soa.Serial = z.Serial
	return nil
}

// inZone is dns.IsSubDomain(origin, name) for names Fqdn made (lower case, fully
// qualified) without its allocations in the common case: a name that is the origin,
// or ends in a non-empty label, a dot and the origin, with no escape in either, is in
// the zone; anything else is left to dns.IsSubDomain. IsSubDomain splits both names
// into labels for every record, and Normalize runs on every zone a sandbox stores
// (26 allocations for each account created).
func inZone(origin, name string) bool {
	if origin != "" && origin != "." && strings.IndexByte(origin, '\\') < 0 && strings.IndexByte(name, '\\') < 0 {
		if name == origin {
			return true
		}
		if k := len(name) - len(origin) - 1; k > 0 && name[k] == '.' && name[k-1] != '.' && name[k+1:] == origin {
			return true
		}
	}
	return dns.IsSubDomain(origin, name)
}

// SetSerial sets the serial in both places.
func (z *Zone) SetSerial(s uint32) {
	z.Serial = s
	if soa := z.SOA(); soa != nil {
		soa.Serial = s
	}
}

// BumpSerial advances the serial the way cPanel does on a save and returns it.
func (z *Zone) BumpSerial(now time.Time) uint32 {
	z.SetSerial(NextSerial(z.Serial, now))
	return z.Serial
}

// SetMailTarget points mail. and webmail. at ipv4 (a mail child's address when the
// account's mail is distributed, the parent's when it comes back), keeps the MX at
// mail.DOMAIN, lets the SPF policy allow the new address, and bumps the serial.
func (z *Zone) SetMailTarget(ipv4 string) {
	z.SetMailTargetAt(ipv4, time.Now())
}

// SetMailTargetAt is SetMailTarget with the clock given. Records are changed in
// place, so every other record keeps its line index (callers holding line indices
// from parse_dns_zone stay valid apart from the serial).
func (z *Zone) SetMailTargetAt(ipv4 string, now time.Time) {
	ip := parseIPv4(ipv4)
	mail, webmail := "mail."+z.Origin, "webmail."+z.Origin
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: DefaultTTL}
	}
	want := map[string]dns.RR{
		mail:    &dns.A{Hdr: hdr(mail, dns.TypeA), A: ip},
		webmail: &dns.A{Hdr: hdr(webmail, dns.TypeA), A: ip},
	}
	var parentIP string
	placed := map[string]bool{}
	mxPlaced := false
	kept := z.Records[:0:0]
	for _, rr := range z.Records {
		h := rr.Header()
		switch {
		case h.Name == z.Origin && h.Rrtype == dns.TypeA && parentIP == "":
			parentIP = rr.(*dns.A).A.String()
		case want[h.Name] != nil && (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA || h.Rrtype == dns.TypeCNAME):
			// Whatever mail./webmail. were (A, AAAA or a CNAME to the apex), the first
			// becomes the one A record and the rest go.
			if placed[h.Name] {
				continue
			}
			placed[h.Name] = true
			rr = want[h.Name]
		case h.Name == z.Origin && h.Rrtype == dns.TypeMX:
			if mxPlaced {
				continue
			}
			mxPlaced = true
			rr = &dns.MX{Hdr: hdr(z.Origin, dns.TypeMX), Preference: 0, Mx: mail}
		}
		kept = append(kept, rr)
	}
	if !mxPlaced {
		kept = append(kept, &dns.MX{Hdr: hdr(z.Origin, dns.TypeMX), Preference: 0, Mx: mail})
	}
	for _, n := range []string{mail, webmail} {
		if !placed[n] {
			kept = append(kept, want[n])
		}
	}
	child := ip.String()
	if child == parentIP {
		child = ""
	}
	for i, rr := range kept {
		if t, ok := rr.(*dns.TXT); ok && t.Hdr.Name == z.Origin && len(t.Txt) > 0 && strings.HasPrefix(t.Txt[0], "v=spf1 ") {
			c := *t
			c.Txt = []string{spf(parentIP, child)}
			kept[i] = &c
		}
	}
	z.Records = kept
	z.BumpSerial(now)
}

// Clone returns a deep copy: no record is shared with z.
func (z *Zone) Clone() *Zone {
	if z == nil {
		return nil
	}
	c := &Zone{Origin: z.Origin, Serial: z.Serial, Records: make([]dns.RR, len(z.Records))}
	for i, rr := range z.Records {
		c.Records[i] = dns.Copy(rr)
	}
	return c
}

// Equal reports whether two zones hold the same origin, serial and records, in any
// order (TTL and rdata compared; owner names case-insensitively).
func (z *Zone) Equal(o *Zone) bool {
	if z == nil || o == nil {
		return z == o
	}
	if Fqdn(z.Origin) != Fqdn(o.Origin) || z.Serial != o.Serial || len(z.Records) != len(o.Records) {
		return false
	}
	return sameRecords(z.Records, o.Records, true)
}

// EqualData is Equal without the serial: true when two zones would answer the same
// questions the same way.
func (z *Zone) EqualData(o *Zone) bool {
	if z == nil || o == nil {
		return z == o
	}
	if Fqdn(z.Origin) != Fqdn(o.Origin) || len(z.Records) != len(o.Records) {
		return false
	}
	return sameRecords(z.Records, o.Records, false)
}

func sameRecords(a, b []dns.RR, withSerial bool) bool {
	count := make(map[string]int, len(a))
	for _, rr := range a {
		count[recordKey(rr, withSerial)]++
	}
	for _, rr := range b {
		k := recordKey(rr, withSerial)
		if count[k] == 0 {
			return false
		}
		count[k]--
	}
	return true
}

// recordKey is a canonical text form of rr, used to compare records: owner and the
// domain names in rdata lower-cased, the TTL kept in front.
func recordKey(rr dns.RR, withSerial bool) string {
	c := dns.Copy(rr)
	h := c.Header()
	ttl := h.Ttl
	h.Ttl = 0
	h.Name = Fqdn(h.Name)
	switch r := c.(type) {
	case *dns.NS:
		r.Ns = Fqdn(r.Ns)
	case *dns.CNAME:
		r.Target = Fqdn(r.Target)
	case *dns.MX:
		r.Mx = Fqdn(r.Mx)
	case *dns.PTR:
		r.Ptr = Fqdn(r.Ptr)
	case *dns.SRV:
		r.Target = Fqdn(r.Target)
	case *dns.SOA:
		r.Ns, r.Mbox = Fqdn(r.Ns), Fqdn(r.Mbox)
		if !withSerial {
			r.Serial = 0
		}
	}
	return strconv.FormatUint(uint64(ttl), 10) + " " + c.String()
}

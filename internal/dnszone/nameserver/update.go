package nameserver

import (
	"errors"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/dnszone"
)

// rcodeError aborts an UPDATE with an rcode; the zone is left as it was.
type rcodeError int

func (e rcodeError) Error() string { return dns.RcodeToString[int(e)] }

// update processes an RFC 2136 UPDATE: zone section, prerequisites, then the update
// section, all or nothing, inside one Store.Update so concurrent updates serialise.
func (s *Server) update(w dns.ResponseWriter, req *dns.Msg) {
	if !s.authorised(req) {
		s.reply(w, req, dns.RcodeRefused)
		return
	}
	zq := req.Question[0] // the zone section
	if zq.Qtype != dns.TypeSOA || zq.Qclass != dns.ClassINET {
		s.reply(w, req, dns.RcodeFormatError)
		return
	}
	origin := dnszone.Fqdn(zq.Name)
	if z := s.store.Lookup(origin); z == nil || z.Origin != origin {
		s.reply(w, req, dns.RcodeNotAuth)
		return
	}
	err := s.store.Update(origin, func(z *dnszone.Zone) error {
		return applyUpdate(z, req.Answer, req.Ns, time.Now())
	})
	var rc rcodeError
	switch {
	case err == nil:
		s.reply(w, req, dns.RcodeSuccess)
	case errors.As(err, &rc):
		s.reply(w, req, int(rc))
	case errors.Is(err, ErrNoZone):
		s.reply(w, req, dns.RcodeNotAuth)
	default:
		s.reply(w, req, dns.RcodeServerFailure)
	}
}

// empty reports whether rr came with no rdata (RDLENGTH 0), which RFC 2136 uses for
// "any value".
func empty(rr dns.RR) bool {
	if _, ok := rr.(*dns.RR_Header); ok {
		return true
	}
	return rr.Header().Rdlength == 0
}

func isMeta(t uint16) bool {
	switch t {
	case dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR, dns.TypeMAILA, dns.TypeMAILB, dns.TypeOPT, dns.TypeTSIG:
		return true
	}
	return false
}

// applyUpdate checks the prerequisites (RFC 2136 section 3.2) and applies the
// update section (3.4) to z, bumping the serial when anything changed (3.6).
func applyUpdate(z *dnszone.Zone, prereqs, updates []dns.RR, now time.Time) error {
	if err := checkPrereqs(z, prereqs); err != nil {
		return err
	}
	// Prescan (3.4.1) before changing anything, so a bad update changes nothing.
	for _, rr := range updates {
		h := rr.Header()
		if !dns.IsSubDomain(z.Origin, dnszone.Fqdn(h.Name)) {
			return rcodeError(dns.RcodeNotZone)
		}
		switch h.Class {
		case dns.ClassINET:
			if isMeta(h.Rrtype) || empty(rr) {
				return rcodeError(dns.RcodeFormatError)
			}
		case dns.ClassANY:
			if h.Ttl != 0 || !empty(rr) || (isMeta(h.Rrtype) && h.Rrtype != dns.TypeANY) {
				return rcodeError(dns.RcodeFormatError)
			}
		case dns.ClassNONE:
			if h.Ttl != 0 || isMeta(h.Rrtype) || empty(rr) {
				return rcodeError(dns.RcodeFormatError)
			}
		default:
			return rcodeError(dns.RcodeFormatError)
		}
	}
	oldSerial := z.Serial
	soaSet := false
	changed := false
	for _, rr := range updates {
		h := rr.Header()
		name := dnszone.Fqdn(h.Name)
		apex := name == z.Origin
		switch h.Class {
		case dns.ClassINET:
			c := dns.Copy(rr)
			c.Header().Name = name
			if soa, ok := c.(*dns.SOA); ok {
				// Replace the SOA only with a newer serial (RFC 1982 arithmetic).
				if !apex || !serialNewer(soa.Serial, z.Serial) {
					continue
				}
				z.Records[0] = soa
				z.Serial = soa.Serial
				soaSet, changed = true, true
				continue
			}
			if addRR(z, c) {
				changed = true
			}
		case dns.ClassANY:
			if deleteWhere(z, func(r dns.RR) bool {
				t := r.Header().Rrtype
				if r.Header().Name != name || t == dns.TypeSOA || (apex && t == dns.TypeNS) {
					return false
				}
				return h.Rrtype == dns.TypeANY || t == h.Rrtype
			}) {
				changed = true
			}
		case dns.ClassNONE:
			if h.Rrtype == dns.TypeSOA {
				continue
			}
			target := dns.Copy(rr)
			target.Header().Class = dns.ClassINET
			target.Header().Name = name
			if apex && h.Rrtype == dns.TypeNS && countType(z, name, dns.TypeNS) <= 1 {
				continue // the last NS of the zone is never deleted
			}
			if deleteWhere(z, func(r dns.RR) bool { return r.Header().Name == name && dns.IsDuplicate(r, target) }) {
				changed = true
			}
		}
	}
	if changed && !soaSet {
		z.SetSerial(dnszone.NextSerial(oldSerial, now))
	}
	return nil
}

// serialNewer compares serials in RFC 1982 sequence space.
func serialNewer(a, b uint32) bool {
	return a != b && int32(a-b) > 0
}

// addRR adds rr unless the zone holds it already, keeping the rules of RFC 2136
// section 3.4.2.2: a CNAME replaces a CNAME and is ignored beside other data; other
// data is ignored beside a CNAME; a duplicate only refreshes the TTL. An RRset keeps
// one TTL (RFC 2181 section 5.2), the new one. It reports whether the zone changed.
func addRR(z *dnszone.Zone, rr dns.RR) bool {
	h := rr.Header()
	hasCNAME, hasOther := false, false
	for _, r := range z.Records {
		rh := r.Header()
		if rh.Name != h.Name {
			continue
		}
		if rh.Rrtype == dns.TypeCNAME {
			hasCNAME = true
		} else if rh.Rrtype != dns.TypeRRSIG && rh.Rrtype != dns.TypeNSEC {
			hasOther = true
		}
	}
	if h.Rrtype == dns.TypeCNAME {
		if hasOther {
			return false
		}
		if hasCNAME {
			for i, r := range z.Records {
				if r.Header().Name == h.Name && r.Header().Rrtype == dns.TypeCNAME {
					if dns.IsDuplicate(r, rr) && r.Header().Ttl == h.Ttl {
						return false
					}
					z.Records[i] = rr
					return true
				}
			}
		}
	} else if hasCNAME {
		return false
	}
	changed, dup := false, false
	for i, r := range z.Records {
		rh := r.Header()
		if rh.Name != h.Name || rh.Rrtype != h.Rrtype {
			continue
		}
		if dns.IsDuplicate(r, rr) {
			dup = true
		}
		if rh.Ttl != h.Ttl {
			c := dns.Copy(r)
			c.Header().Ttl = h.Ttl
			z.Records[i] = c
			changed = true
		}
	}
	if !dup {
		z.Records = append(z.Records, rr)
		changed = true
	}
	return changed
}

func deleteWhere(z *dnszone.Zone, match func(dns.RR) bool) bool {
	kept := z.Records[:0]
	for _, r := range z.Records {
		if !match(r) {
			kept = append(kept, r)
		}
	}
	changed := len(kept) != len(z.Records)
	for i := len(kept); i < len(z.Records); i++ {
		z.Records[i] = nil
	}
	z.Records = kept
	return changed
}

func countType(z *dnszone.Zone, name string, t uint16) int {
	n := 0
	for _, r := range z.Records {
		if r.Header().Name == name && r.Header().Rrtype == t {
			n++
		}
	}
	return n
}

// checkPrereqs evaluates the prerequisite section (RFC 2136 section 3.2).
func checkPrereqs(z *dnszone.Zone, prereqs []dns.RR) error {
	// Value-dependent prerequisites are compared as whole RRsets (3.2.3), so gather
	// them first.
	type key struct {
		name string
		t    uint16
	}
	want := map[key][]dns.RR{}
	var order []key
	for _, rr := range prereqs {
		h := rr.Header()
		name := dnszone.Fqdn(h.Name)
		if h.Ttl != 0 {
			return rcodeError(dns.RcodeFormatError)
		}
		if !dns.IsSubDomain(z.Origin, name) {
			return rcodeError(dns.RcodeNotZone)
		}
		switch h.Class {
		case dns.ClassANY:
			if !empty(rr) {
				return rcodeError(dns.RcodeFormatError)
			}
			if h.Rrtype == dns.TypeANY {
				if !nameInUse(z, name) {
					return rcodeError(dns.RcodeNameError)
				}
			} else if countType(z, name, h.Rrtype) == 0 {
				return rcodeError(dns.RcodeNXRrset)
			}
		case dns.ClassNONE:
			if !empty(rr) {
				return rcodeError(dns.RcodeFormatError)
			}
			if h.Rrtype == dns.TypeANY {
				if nameInUse(z, name) {
					return rcodeError(dns.RcodeYXDomain)
				}
			} else if countType(z, name, h.Rrtype) > 0 {
				return rcodeError(dns.RcodeYXRrset)
			}
		case dns.ClassINET:
			if empty(rr) {
				return rcodeError(dns.RcodeFormatError)
			}
			k := key{name, h.Rrtype}
			if _, seen := want[k]; !seen {
				order = append(order, k)
			}
			want[k] = append(want[k], rr)
		default:
			return rcodeError(dns.RcodeFormatError)
		}
	}
	for _, k := range order {
		var have []dns.RR
		for _, r := range z.Records {
			if r.Header().Name == k.name && r.Header().Rrtype == k.t {
				have = append(have, r)
			}
		}
		if !sameSet(have, want[k]) {
			return rcodeError(dns.RcodeNXRrset)
		}
	}
	return nil
}

func nameInUse(z *dnszone.Zone, name string) bool {
	for _, r := range z.Records {
		if r.Header().Name == name {
			return true
		}
	}
	return false
}

// sameSet compares two RRsets by rdata, ignoring TTL and order and duplicates.
func sameSet(a, b []dns.RR) bool {
	in := func(rr dns.RR, set []dns.RR) bool {
		for _, r := range set {
			if dns.IsDuplicate(r, rr) {
				return true
			}
		}
		return false
	}
	for _, r := range a {
		if !in(r, b) {
			return false
		}
	}
	for _, r := range b {
		if !in(r, a) {
			return false
		}
	}
	return true
}

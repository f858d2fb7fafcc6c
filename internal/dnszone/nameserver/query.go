package nameserver

import (
	"net"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/dnszone"
)

// index makes answering a query a few map look-ups instead of a scan of the zone.
type index struct {
	zone  *dnszone.Zone
	soa   *dns.SOA
	names map[string][]dns.RR // owner name → its records, in zone order
	ents  map[string]bool     // empty non-terminals: names with no records but descendants
	cuts  map[string]bool     // delegation points: names below the apex that have NS
}

func buildIndex(z *dnszone.Zone) *index {
	ix := &index{
		zone:  z,
		soa:   z.SOA(),
		names: make(map[string][]dns.RR, len(z.Records)),
		ents:  map[string]bool{},
		cuts:  map[string]bool{},
	}
	for _, rr := range z.Records {
		h := rr.Header()
		ix.names[h.Name] = append(ix.names[h.Name], rr)
		if h.Rrtype == dns.TypeNS && h.Name != z.Origin {
			ix.cuts[h.Name] = true
		}
	}
	for name := range ix.names {
		for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
			parent := name[off:]
			if !dns.IsSubDomain(z.Origin, parent) || parent == z.Origin {
				break
			}
			if _, ok := ix.names[parent]; !ok {
				ix.ents[parent] = true
			}
		}
	}
	return ix
}

// exists reports whether name is in the zone's tree (with records or as an empty
// non-terminal).
func (ix *index) exists(name string) bool {
	_, ok := ix.names[name]
	return ok || ix.ents[name]
}

// negativeSOA is the SOA for the authority section of a negative answer: its TTL is
// the smaller of the SOA's TTL and its MINIMUM (RFC 2308 section 3).
func (ix *index) negativeSOA() dns.RR {
	c := *ix.soa
	if c.Minttl < c.Hdr.Ttl {
		c.Hdr.Ttl = c.Minttl
	}
	return &c
}

// cutAbove returns the delegation point at or above name (below the apex), or "".
func (ix *index) cutAbove(name string) string {
	if len(ix.cuts) == 0 {
		return ""
	}
	cut := ""
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		n := name[off:]
		if n == ix.zone.Origin {
			break
		}
		if ix.cuts[n] {
			cut = n // keep walking up: the highest cut wins
		}
	}
	return cut
}

// maxChase bounds CNAME chains followed inside the zone.
const maxChase = 8

func (s *Server) query(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		s.reply(w, req, dns.RcodeRefused)
		return
	}
	qname := dnszone.Fqdn(q.Name)
	_, ix := s.snapshot(qname)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Compress = true
	if ix == nil || ix.soa == nil {
		m.Rcode = dns.RcodeRefused
		s.writeAnswer(w, req, m)
		return
	}
	m.Authoritative = true
	ix.answer(m, qname, q.Qtype)
	s.writeAnswer(w, req, m)
}

// answer fills m for qname/qtype from the zone.
func (ix *index) answer(m *dns.Msg, qname string, qtype uint16) {
	name := qname
	for chase := 0; ; chase++ {
		if cut := ix.cutAbove(name); cut != "" && !(cut == name && qtype == dns.TypeDS) {
			ix.referral(m, cut, chase == 0)
			return
		}
		rrs, ok := ix.names[name]
		if !ok {
			if ix.ents[name] {
				m.Ns = append(m.Ns, ix.negativeSOA())
				return
			}
			if rrs = ix.wildcard(name); rrs == nil {
				m.Rcode = dns.RcodeNameError
				m.Ns = append(m.Ns, ix.negativeSOA())
				return
			}
		}
		if qtype != dns.TypeCNAME && qtype != dns.TypeANY {
			if cn := firstOfType(rrs, dns.TypeCNAME); cn != nil {
				m.Answer = append(m.Answer, cn)
				target := dnszone.Fqdn(cn.(*dns.CNAME).Target)
				if !dns.IsSubDomain(ix.zone.Origin, target) || chase >= maxChase {
					return
				}
				name = target
				continue
			}
		}
		found := false
		for _, rr := range rrs {
			if qtype == dns.TypeANY || rr.Header().Rrtype == qtype {
				m.Answer = append(m.Answer, rr)
				found = true
			}
		}
		if !found {
			m.Ns = append(m.Ns, ix.negativeSOA())
			return
		}
		ix.decorate(m, name, qtype)
		return
	}
}

// wildcard returns the records of the wildcard that covers name, renamed to name,
// or nil (RFC 4592: the closest encloser's "*" child).
func (ix *index) wildcard(name string) []dns.RR {
	for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
		ce := name[off:]
		if !dns.IsSubDomain(ix.zone.Origin, ce) {
			return nil
		}
		if !ix.exists(ce) && ce != ix.zone.Origin {
			continue
		}
		src := ix.names["*."+ce]
		if src == nil {
			return nil
		}
		out := make([]dns.RR, len(src))
		for i, rr := range src {
			c := dns.Copy(rr)
			c.Header().Name = name
			out[i] = c
		}
		return out
	}
	return nil
}

// referral answers for a name below a delegation: not authoritative, the cut's NS in
// authority, glue for in-zone nameservers in additional.
func (ix *index) referral(m *dns.Msg, cut string, first bool) {
	if first {
		m.Authoritative = false
	}
	for _, rr := range ix.names[cut] {
		if rr.Header().Rrtype != dns.TypeNS {
			continue
		}
		m.Ns = append(m.Ns, rr)
		ix.addGlue(m, rr.(*dns.NS).Ns)
	}
}

// decorate adds the apex NS set to authority (unless it is the answer) and addresses
// of in-zone hosts the answer names (MX, NS, SRV targets) to additional.
func (ix *index) decorate(m *dns.Msg, name string, qtype uint16) {
	if !(name == ix.zone.Origin && (qtype == dns.TypeNS || qtype == dns.TypeANY)) {
		for _, rr := range ix.names[ix.zone.Origin] {
			if rr.Header().Rrtype == dns.TypeNS {
				m.Ns = append(m.Ns, rr)
			}
		}
	}
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *dns.MX:
			ix.addGlue(m, r.Mx)
		case *dns.NS:
			ix.addGlue(m, r.Ns)
		case *dns.SRV:
			ix.addGlue(m, r.Target)
		}
	}
	for _, rr := range m.Ns {
		if ns, ok := rr.(*dns.NS); ok {
			ix.addGlue(m, ns.Ns)
		}
	}
}

func (ix *index) addGlue(m *dns.Msg, host string) {
	host = dnszone.Fqdn(host)
	for _, rr := range ix.names[host] {
		if t := rr.Header().Rrtype; t != dns.TypeA && t != dns.TypeAAAA {
			continue
		}
		dup := false
		for _, e := range m.Extra {
			if e == rr {
				dup = true
				break
			}
		}
		if !dup {
			m.Extra = append(m.Extra, rr)
		}
	}
}

func firstOfType(rrs []dns.RR, t uint16) dns.RR {
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			return rr
		}
	}
	return nil
}

// writeAnswer sends an answer, cut to the client's UDP size with TC set when it does
// not fit, and echoing EDNS0 when the client used it.
func (s *Server) writeAnswer(w dns.ResponseWriter, req, m *dns.Msg) {
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = int(opt.UDPSize())
		if size < dns.MinMsgSize {
			size = dns.MinMsgSize
		}
		m.SetEdns0(uint16(size), false)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(size)
	}
	s.write(w, req, m)
}

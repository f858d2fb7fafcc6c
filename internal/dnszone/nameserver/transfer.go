package nameserver

import (
	"net"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/dnszone"
)

// axfrChunk is how many records go into one AXFR message; 64 KiB holds a few hundred
// typical records, and bigger messages are split further when they do not fit.
const axfrChunk = 200

// transfer answers AXFR (and IXFR, with a full transfer, which RFC 1995 allows) over
// TCP: the SOA first, every other record, the SOA again last. Over UDP an AXFR is
// refused and an IXFR gets the SOA alone, which tells the client to use TCP.
func (s *Server) transfer(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	if !s.authorised(req) {
		s.reply(w, req, dns.RcodeRefused)
		return
	}
	z, ix := s.snapshot(q.Name)
	if z == nil || z.Origin != dnszone.Fqdn(q.Name) || ix.soa == nil {
		s.reply(w, req, dns.RcodeNotAuth)
		return
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		if q.Qtype == dns.TypeAXFR {
			s.reply(w, req, dns.RcodeRefused)
			return
		}
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		m.Answer = []dns.RR{ix.soa}
		s.write(w, req, m)
		return
	}
	rrs := make([]dns.RR, 0, len(z.Records)+1)
	rrs = append(rrs, ix.soa)
	for _, rr := range z.Records {
		if rr != dns.RR(ix.soa) {
			rrs = append(rrs, rr)
		}
	}
	rrs = append(rrs, ix.soa)
	first := true
	for len(rrs) > 0 {
		n := min(axfrChunk, len(rrs))
		for {
			m := s.xfrMsg(req, rrs[:n])
			if m.Len() <= dns.MaxMsgSize-512 || n == 1 {
				break
			}
			n /= 2
		}
		m := s.xfrMsg(req, rrs[:n])
		if err := s.writeXfr(w, req, m, first); err != nil {
			return // the client went away; nothing to tell it
		}
		first = false
		rrs = rrs[n:]
	}
}

func (s *Server) xfrMsg(req *dns.Msg, rrs []dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.Compress = true
	m.Answer = rrs
	return m
}

// writeXfr signs every message of a signed transfer; after the first, with the
// timers only, as RFC 8945 section 5.3.1 allows and miekg/dns's client expects.
func (s *Server) writeXfr(w dns.ResponseWriter, req, m *dns.Msg, first bool) error {
	if t := req.IsTsig(); t != nil && len(s.keys) > 0 {
		if !first {
			w.TsigTimersOnly(true)
		}
		m.SetTsig(t.Hdr.Name, t.Algorithm, 300, nowUnix())
	}
	return w.WriteMsg(m)
}

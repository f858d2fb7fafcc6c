package rfc2136

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// OpKind is one kind of RFC 2136 update operation.
type OpKind int

const (
	// OpAdd adds one RR (class IN in the update section).
	OpAdd OpKind = iota
	// OpDel deletes one RR (class NONE).
	OpDel
	// OpDelRRset deletes a whole RRset (class ANY, type given).
	OpDelRRset
)

func (k OpKind) String() string {
	switch k {
	case OpAdd:
		return "add"
	case OpDel:
		return "delete"
	default:
		return "delete-rrset"
	}
}

// Op is one update operation on one RRset.
type Op struct {
	Kind OpKind
	RR   dns.RR
	// Set names the RRset ("www.alice.example. A"); operations of one RRset are never
	// split between two UPDATE messages.
	Set string
}

// managed reports whether Tether keeps a record type in step. SOA belongs to each
// server (it bumps the serial itself); DNSSEC records are never replicated (cPanel
// does not support DNSSEC in clusters) and BIND's private signing records are its own.
func managed(rr dns.RR) bool {
	h := rr.Header()
	if h.Class != dns.ClassINET {
		return false
	}
	switch h.Rrtype {
	case dns.TypeSOA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeNSEC3PARAM,
		dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY, dns.TypeTSIG, dns.TypeOPT, 65534:
		return false
	}
	return true
}

type rrset struct {
	key  string
	name string
	typ  uint16
	rrs  []dns.RR
}

// group sorts a zone's managed records into RRsets, keyed "name TYPE" with the owner
// lowercased. Records outside the zone are dropped: they cannot be written to it.
func group(zone string, rrs []dns.RR) map[string]*rrset {
	zone = strings.ToLower(dns.Fqdn(zone))
	out := map[string]*rrset{}
	for _, rr := range rrs {
		if rr == nil || !managed(rr) {
			continue
		}
		name := strings.ToLower(dns.Fqdn(rr.Header().Name))
		if !dns.IsSubDomain(zone, name) {
			continue
		}
		key := name + " " + dns.TypeToString[rr.Header().Rrtype]
		s := out[key]
		if s == nil {
			s = &rrset{key: key, name: name, typ: rr.Header().Rrtype}
			out[key] = s
		}
		dup := false
		for _, have := range s.rrs {
			if dns.IsDuplicate(have, rr) {
				dup = true
				break
			}
		}
		if !dup {
			s.rrs = append(s.rrs, rr)
		}
	}
	return out
}

func sortedKeys(m map[string]*rrset) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(rrs []dns.RR, rr dns.RR) bool {
	for _, x := range rrs {
		if dns.IsDuplicate(x, rr) {
			return true
		}
	}
	return false
}

func ttlOf(s *rrset) uint32 {
	if s == nil || len(s.rrs) == 0 {
		return 0
	}
	return s.rrs[0].Header().Ttl
}

func isApexNS(zone string, s *rrset) bool {
	return s.typ == dns.TypeNS && s.name == strings.ToLower(dns.Fqdn(zone))
}

// Diff computes the minimal update that turns have (a member's zone, as read by AXFR)
// into want (the parent's zone): only RRsets that differ are touched; within an RRset
// single records are added and removed, and a whole RRset is replaced only when its
// TTL changes (a TTL belongs to the RRset). SOA is left to the server.
//
// Order matters to RFC 2136 servers, which apply the operations in sequence:
// removals come first (a CNAME can only be added once the name's other data is gone,
// and the other way round), then additions, and the apex NS removals last, because a
// server ignores a change that would leave the apex without NS.
func Diff(zone string, have, want []dns.RR) []Op {
	hs, ws := group(zone, have), group(zone, want)
	var removals, additions, apexNS []Op
	for _, k := range sortedKeys(hs) {
		if _, ok := ws[k]; ok {
			continue
		}
		h := hs[k]
		if isApexNS(zone, h) {
			// Never leave a zone without NS; the parent always has some.
			continue
		}
		removals = append(removals, Op{Kind: OpDelRRset, RR: rrsetHeader(h), Set: k})
	}
	for _, k := range sortedKeys(ws) {
		w, h := ws[k], hs[k]
		if h == nil {
			for _, rr := range w.rrs {
				additions = append(additions, Op{Kind: OpAdd, RR: rr, Set: k})
			}
			continue
		}
		apex := isApexNS(zone, w)
		retime := apex && ttlOf(w) != ttlOf(h)
		if !apex && ttlOf(w) != ttlOf(h) {
			removals = append(removals, Op{Kind: OpDelRRset, RR: rrsetHeader(h), Set: k})
			for _, rr := range w.rrs {
				additions = append(additions, Op{Kind: OpAdd, RR: rr, Set: k})
			}
			continue
		}
		for _, rr := range h.rrs {
			if !contains(w.rrs, rr) {
				op := Op{Kind: OpDel, RR: rr, Set: k}
				if apex {
					apexNS = append(apexNS, op)
				} else {
					removals = append(removals, op)
				}
			}
		}
		for _, rr := range w.rrs {
			// The apex NS cannot be deleted and re-added; adding a record with a new TTL
			// sets the TTL of the whole RRset (RFC 2136 3.4.2.2, as BIND does).
			if retime || !contains(h.rrs, rr) {
				additions = append(additions, Op{Kind: OpAdd, RR: rr, Set: k})
			}
		}
	}
	ops := append(removals, additions...)
	return append(ops, apexNS...)
}

func rrsetHeader(s *rrset) dns.RR {
	return &dns.ANY{Hdr: dns.RR_Header{Name: s.name, Rrtype: s.typ, Class: dns.ClassINET}}
}

// canonical writes a record in a form that compares equal whatever the case of its
// names: owner always lowercased, and the whole text for types whose data holds only
// names, numbers and addresses (TXT and the like keep their case: it is data).
func canonical(rr dns.RR) string {
	c := dns.Copy(rr)
	c.Header().Name = strings.ToLower(dns.Fqdn(c.Header().Name))
	s := c.String()
	switch c.Header().Rrtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeNS, dns.TypeCNAME, dns.TypeDNAME, dns.TypeMX,
		dns.TypePTR, dns.TypeSRV:
		s = strings.ToLower(s)
	}
	return s
}

func digestLines(lines []string) string {
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ZoneDigest is a digest of a zone's managed records (SOA excluded, TTLs included),
// independent of record order and of name case: two servers holding the same data
// have the same digest.
func ZoneDigest(zone string, rrs []dns.RR) string {
	sets := group(zone, rrs)
	var lines []string
	for _, s := range sets {
		for _, rr := range s.rrs {
			lines = append(lines, canonical(rr))
		}
	}
	return "sha256:" + digestLines(lines)
}

// setDigests gives each RRset a short digest; write-only members remember them to
// send only the RRsets that changed since the last push.
func setDigests(zone string, rrs []dns.RR) map[string]string {
	out := map[string]string{}
	for k, s := range group(zone, rrs) {
		lines := make([]string, 0, len(s.rrs))
		for _, rr := range s.rrs {
			lines = append(lines, canonical(rr))
		}
		out[k] = digestLines(lines)[:16]
	}
	return out
}

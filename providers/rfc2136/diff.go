package rfc2136

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
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

// Phases order the operations of an update. RFC 2136 servers apply operations in
// sequence, and BIND checks each message's result (a name with a CNAME holds nothing
// else; an in-zone MX, SRV or NS target has an address; the apex keeps its NS), so:
//  1. removals of non-address data (a CNAME goes before the A that replaces it);
//  2. address additions, and address RRsets replaced whole (an MX target never lacks
//     an address, even when a big update spans several messages);
//  3. address removals (after the new addresses are in);
//  4. other additions and replacements (a CNAME comes after the A it replaces);
//  5. apex NS removals, once the new NS are in.
const (
	phaseRemoveData = iota + 1
	phaseAddAddress
	phaseRemoveAddress
	phaseAddData
	phaseRemoveApexNS
)

func isAddress(t uint16) bool { return t == dns.TypeA || t == dns.TypeAAAA }

// unit is operations on one RRset that belong together in one message.
type unit struct {
	phase int
	ops   []Op
}

func removalPhase(t uint16) int {
	if isAddress(t) {
		return phaseRemoveAddress
	}
	return phaseRemoveData
}

func additionPhase(t uint16) int {
	if isAddress(t) {
		return phaseAddAddress
	}
	return phaseAddData
}

// flatten orders units by phase, keeping each phase in RRset order.
func flatten(units []unit) []Op {
	sort.SliceStable(units, func(i, j int) bool { return units[i].phase < units[j].phase })
	var ops []Op
	for _, u := range units {
		ops = append(ops, u.ops...)
	}
	return ops
}

// Diff computes the minimal update that turns have (a member's zone, as read by AXFR)
// into want (the parent's zone): only RRsets that differ are touched; within an RRset
// single records are added and removed, and a whole RRset is replaced only when its
// TTL changes (a TTL belongs to the RRset). SOA is left to the server; the apex NS is
// never emptied. Operations come in the phases above.
func Diff(zone string, have, want []dns.RR) []Op {
	hs, ws := group(zone, have), group(zone, want)
	var units []unit
	for _, k := range slices.Sorted(maps.Keys(hs)) {
		if _, ok := ws[k]; ok {
			continue
		}
		h := hs[k]
		if isApexNS(zone, h) {
			// Never leave a zone without NS; the parent always has some.
			continue
		}
		units = append(units, unit{removalPhase(h.typ), []Op{{Kind: OpDelRRset, RR: rrsetHeader(h), Set: k}}})
	}
	for _, k := range slices.Sorted(maps.Keys(ws)) {
		w, h := ws[k], hs[k]
		if h == nil {
			units = append(units, unit{additionPhase(w.typ), adds(w, k)})
			continue
		}
		apex := isApexNS(zone, w)
		if !apex && ttlOf(w) != ttlOf(h) {
			ops := append([]Op{{Kind: OpDelRRset, RR: rrsetHeader(h), Set: k}}, adds(w, k)...)
			units = append(units, unit{additionPhase(w.typ), ops})
			continue
		}
		var dels, add []Op
		for _, rr := range h.rrs {
			if !contains(w.rrs, rr) {
				dels = append(dels, Op{Kind: OpDel, RR: rr, Set: k})
			}
		}
		// The apex NS cannot be deleted and re-added; adding a record with a new TTL
		// sets the TTL of the whole RRset (RFC 2136 3.4.2.2, as BIND does).
		retime := apex && ttlOf(w) != ttlOf(h)
		for _, rr := range w.rrs {
			if retime || !contains(h.rrs, rr) {
				add = append(add, Op{Kind: OpAdd, RR: rr, Set: k})
			}
		}
		delPhase := removalPhase(w.typ)
		if apex {
			delPhase = phaseRemoveApexNS
		}
		if len(dels) > 0 {
			units = append(units, unit{delPhase, dels})
		}
		if len(add) > 0 {
			units = append(units, unit{additionPhase(w.typ), add})
		}
	}
	return flatten(units)
}

func adds(s *rrset, key string) []Op {
	ops := make([]Op, 0, len(s.rrs))
	for _, rr := range s.rrs {
		ops = append(ops, Op{Kind: OpAdd, RR: rr, Set: key})
	}
	return ops
}

func rrsetHeader(s *rrset) dns.RR {
	return &dns.ANY{Hdr: dns.RR_Header{Name: s.name, Rrtype: s.typ, Class: dns.ClassINET}}
}

// canonical writes a record in a form that compares equal whatever the case of its
// names: owner always lowercased, and the whole text for types whose data holds only
// names, numbers and addresses (TXT and the like keep their case: it is data).
func canonical(rr dns.RR) string {
	h := rr.Header()
	owner := strings.ToLower(dns.Fqdn(h.Name))
	var s string
	if owner == h.Name {
		// The usual case (the parent's names are lowercase and absolute): the record
		// prints as it is, without the copy that rewriting its owner needs.
		s = rr.String()
	} else {
		c := dns.Copy(rr)
		c.Header().Name = owner
		s = c.String()
	}
	switch h.Rrtype {
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

// zoneDigests is what a push needs to know of a desired zone: its RRsets, its
// digest and each RRset's digest. They are computed together, from one grouping and
// one canonical form per record, because printing records is most of the CPU a
// write-only push spends on its side (BenchmarkDNSPushVsNsupdate's profile).
type zoneDigests struct {
	sets   map[string]*rrset
	digest string            // ZoneDigest
	setDig map[string]string // setDigests
}

func digestZone(zone string, rrs []dns.RR) *zoneDigests {
	sets := group(zone, rrs)
	d := &zoneDigests{sets: sets, setDig: make(map[string]string, len(sets))}
	n := 0
	for _, s := range sets {
		n += len(s.rrs)
	}
	all := make([]string, 0, n)
	for k, s := range sets {
		lines := make([]string, 0, len(s.rrs))
		for _, rr := range s.rrs {
			lines = append(lines, canonical(rr))
		}
		d.setDig[k] = digestLines(lines)[:16]
		all = append(all, lines...)
	}
	d.digest = "sha256:" + digestLines(all)
	return d
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

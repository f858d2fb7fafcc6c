// Package nameserver is an authoritative DNS server over UDP and TCP for the zones of
// a Store: queries, AXFR, and RFC 2136 UPDATE with TSIG. The sandbox runs one per
// DNS-only node so providers and `tether dns verify` talk real DNS to it.
package nameserver

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/dnszone"
)

// Store holds zones. Implementations must be safe for concurrent use.
type Store interface {
	// Lookup returns the zone closest enclosing qname, or nil. The zone is a
	// snapshot: the caller must not change it, and later updates do not change it.
	Lookup(qname string) *dnszone.Zone
	// Update runs fn on a private copy of the zone named origin and, if fn returns
	// nil, makes the copy current in one step. It returns an error wrapping
	// ErrNoZone when the store does not hold origin.
	Update(origin string, fn func(*dnszone.Zone) error) error
}

// ErrNoZone means the store holds no zone of that name.
var ErrNoZone = errors.New("zone not held")

// MemStore is a Store in memory. Zones are replaced, never changed, so a snapshot
// handed out by Lookup stays valid for as long as its holder keeps it.
type MemStore struct {
	mu    sync.RWMutex
	zones map[string]*dnszone.Zone
	gen   uint64 // changes made so far (Generation)
}

// NewMemStore returns a store holding copies of zones.
func NewMemStore(zones ...*dnszone.Zone) *MemStore {
	s := &MemStore{zones: make(map[string]*dnszone.Zone, len(zones))}
	for _, z := range zones {
		_ = s.Put(z)
	}
	return s
}

// Put stores a copy of z, replacing any zone of the same origin.
func (s *MemStore) Put(z *dnszone.Zone) error {
	return s.PutOwned(z.Clone())
}

// PutOwned is Put of a zone the caller made and hands over: z itself is normalized
// and stored, not a copy, so the caller must neither change it nor hand it to
// anything that does afterwards (the store gives it out as a snapshot). A sandbox
// creating an account's zone spent a quarter of that zone's cost on the copy.
func (s *MemStore) PutOwned(c *dnszone.Zone) error {
	if err := c.Normalize(); err != nil {
		return fmt.Errorf("store zone: %w", err)
	}
	s.mu.Lock()
	s.zones[c.Origin] = c
	s.gen++
	s.mu.Unlock()
	return nil
}

// Remove drops the zone named origin and reports whether it was held.
func (s *MemStore) Remove(origin string) bool {
	origin = dnszone.Fqdn(origin)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.zones[origin]
	if ok {
		delete(s.zones, origin)
		s.gen++
	}
	return ok
}

// Generation counts the changes made to the store (zones put, removed or
// updated): a holder that saw the same generation before has seen every zone as
// it is. A sandbox node compares it before writing its zones out, every few
// seconds, instead of listing and comparing each of its thousands of zones.
func (s *MemStore) Generation() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gen
}

// Get returns the snapshot of the zone named exactly origin, or nil.
func (s *MemStore) Get(origin string) *dnszone.Zone {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.zones[dnszone.Fqdn(origin)]
}

// Origins lists the held zones, sorted.
func (s *MemStore) Origins() []string {
	s.mu.RLock()
	out := make([]string, 0, len(s.zones))
	for o := range s.zones {
		out = append(out, o)
	}
	s.mu.RUnlock()
	sort.Strings(out)
	return out
}

// Zones returns snapshots of every held zone, sorted by origin.
func (s *MemStore) Zones() []*dnszone.Zone {
	s.mu.RLock()
	out := make([]*dnszone.Zone, 0, len(s.zones))
	for _, z := range s.zones {
		out = append(out, z)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Origin < out[j].Origin })
	return out
}

// Lookup implements Store.
func (s *MemStore) Lookup(qname string) *dnszone.Zone {
	name := dnszone.Fqdn(qname)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if z, ok := s.zones[name[off:]]; ok {
			return z
		}
	}
	return nil
}

// Update implements Store. Updates of one store are serialised, so fn sees the
// latest zone and no update is lost.
func (s *MemStore) Update(origin string, fn func(*dnszone.Zone) error) error {
	origin = dnszone.Fqdn(origin)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.zones[origin]
	if !ok {
		return fmt.Errorf("update %s: %w", origin, ErrNoZone)
	}
	c := cur.Clone()
	if err := fn(c); err != nil {
		return err
	}
	if soa := c.SOA(); soa != nil && soa.Serial != cur.Serial && c.Serial == cur.Serial {
		// fn changed the SOA record itself (an UPDATE that replaced the SOA).
		c.Serial = soa.Serial
	}
	if err := c.Normalize(); err != nil {
		return fmt.Errorf("update %s: %w", origin, err)
	}
	if c.Origin != origin {
		return fmt.Errorf("update %s: the zone's origin cannot change (to %s)", origin, c.Origin)
	}
	s.zones[origin] = c
	s.gen++
	return nil
}

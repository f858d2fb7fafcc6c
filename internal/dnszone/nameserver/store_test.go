package nameserver

import (
	"errors"
	"testing"

	"github.com/tether-dev/tether/internal/dnszone"
)

// TestMemStoreGeneration: every change moves the generation on (a put, even of the
// same zone again, a removal, an update), and what changes nothing (removing a zone
// not held, an update that fails or names no zone, reading) leaves it.
func TestMemStoreGeneration(t *testing.T) {
	s := NewMemStore()
	zone := func(domain string) *dnszone.Zone {
		return dnszone.NewAccountZoneAt(domain, "192.0.2.10", []string{"ns1.web1.example", "ns2.web1.example"}, day)
	}
	for _, step := range []struct {
		name    string
		do      func()
		changes bool
	}{
		{"put", func() { _ = s.Put(zone("a.example")) }, true},
		{"put another", func() { _ = s.Put(zone("b.example")) }, true},
		{"put the same again", func() { _ = s.Put(zone("a.example")) }, true},
		{"read", func() { _, _, _ = s.Get("a.example"), s.Origins(), s.Lookup("www.a.example") }, false},
		{"remove one not held", func() { _ = s.Remove("zzz.example") }, false},
		{"update", func() {
			if err := s.Update("a.example", func(z *dnszone.Zone) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"update that fails", func() {
			_ = s.Update("a.example", func(z *dnszone.Zone) error { return errors.New("no") })
		}, false},
		{"update of a zone not held", func() { _ = s.Update("zzz.example", func(*dnszone.Zone) error { return nil }) }, false},
		{"remove", func() { _ = s.Remove("b.example") }, true},
	} {
		before := s.Generation()
		step.do()
		if moved := s.Generation() != before; moved != step.changes {
			t.Errorf("%s: generation %d -> %d, want a change: %t", step.name, before, s.Generation(), step.changes)
		}
	}
}

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

// TestMemStorePutOwned: a zone handed over is stored as Put stores a copy of it
// (the same origin, serial and records once normalized, an error for the same
// zones), and Put still stores a copy its caller may change afterwards.
func TestMemStorePutOwned(t *testing.T) {
	ns := []string{"ns1.web1.example", "ns2.web1.example"}
	for _, tc := range []struct {
		name string
		make func() *dnszone.Zone
	}{
		{"account zone", func() *dnszone.Zone { return dnszone.NewAccountZoneAt("a.example", "192.0.2.10", ns, day) }},
		{"upper-case domain, no dot", func() *dnszone.Zone { return dnszone.NewAccountZoneAt("B.Example", "192.0.2.10", ns, day) }},
		{"mail elsewhere", func() *dnszone.Zone {
			z := dnszone.NewAccountZoneAt("c.example", "192.0.2.10", ns, day)
			z.SetMailTargetAt("192.0.2.20", day)
			return z
		}},
		{"no records", func() *dnszone.Zone { return &dnszone.Zone{Origin: "d.example."} }},
	} {
		copied, owned := NewMemStore(), NewMemStore()
		errCopied, errOwned := copied.Put(tc.make()), owned.PutOwned(tc.make())
		if (errCopied == nil) != (errOwned == nil) {
			t.Errorf("%s: Put's error %v, PutOwned's %v", tc.name, errCopied, errOwned)
			continue
		}
		z := tc.make()
		want, got := copied.Get(z.Origin), owned.Get(z.Origin)
		if !want.Equal(got) || (want != nil && want.Text() != got.Text()) {
			t.Errorf("%s: PutOwned stored\n%v\nPut stored\n%v", tc.name, got.Text(), want.Text())
		}
	}

	s := NewMemStore()
	z := dnszone.NewAccountZoneAt("e.example", "192.0.2.10", ns, day)
	if err := s.Put(z); err != nil {
		t.Fatal(err)
	}
	z.Records = z.Records[:0]
	if got := s.Get("e.example"); got == nil || len(got.Records) == 0 {
		t.Errorf("Put: the caller's change to its zone reached the store: %v", got)
	}
}

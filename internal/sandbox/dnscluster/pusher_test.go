package dnscluster

import (
	"context"
	"errors"
	"testing"

	"github.com/tether-dev/tether/internal/dnszone"
	"github.com/tether-dev/tether/internal/dnszone/nameserver"
)

func TestStorePusher(t *testing.T) {
	stores := map[string]*nameserver.MemStore{
		"ns1.example": nameserver.NewMemStore(),
		"ns2.example": nameserver.NewMemStore(zone("theirs.example")),
	}
	p := StorePusher{Resolve: func(_ context.Context, m Member) (*nameserver.MemStore, error) {
		if m.Token != "good" {
			return nil, errors.New("401 access denied")
		}
		return stores[m.Host], nil
	}}
	g := NewGuarded(withMembers(
		Member{Host: "ns1.example", Role: RoleWriteOnly, Token: "good"},
		Member{Host: "ns2.example", Role: RoleSync, Token: "good"},
		Member{Host: "ns3.example", Role: RoleSync, Token: "bad"},
	))
	local := zone("alice.example")
	local.SetMailTargetAt("198.51.100.7", day)
	res, err := Replicate(context.Background(), g, []*dnszone.Zone{local}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"ns1.example", "ns2.example"} {
		if got := stores[h].Get("alice.example"); got == nil || !got.Equal(local) {
			t.Errorf("%s does not hold the local zone", h)
		}
	}
	if origins(res.Zones) != "alice.example,theirs.example" {
		t.Errorf("local view %s", origins(res.Zones))
	}
	if m := g.Snapshot().Members["ns3.example"]; m.Failures != 2 {
		t.Errorf("ns3 with a refused token: %d failures, want 2 (one push, one read)", m.Failures)
	}
	if !g.Snapshot().HasMember("ns1.example") || g.Snapshot().HasMember("nsX.example") {
		t.Error("HasMember")
	}
}

package workspace

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

// fakeClusters stands in for the whm provider's cluster status read.
type fakeClusters struct {
	providers.Provider
	mu    sync.Mutex
	reads map[string]int
	out   map[string]*schema.DNSCluster
}

func (f *fakeClusters) DNSCluster(_ context.Context, parent string, _ *schema.Fleet) (*schema.DNSCluster, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads[parent]++
	if c, ok := f.out[parent]; ok {
		return c, nil
	}
	return nil, errors.New("HTTP 503")
}

// WHMDisabled reads each parent's status screen at most once, and only for enabled
// clusters with cpanel members; an unreadable screen is a note and its members are
// still asked.
func TestWHMDisabledReadsOncePerParent(t *testing.T) {
	cp := func(node string) *schema.Member { return &schema.Member{Node: node, Role: schema.DNSRoleSync} }
	rf := &schema.Member{Backend: "rfc2136", Address: "127.0.0.1:5300", Role: schema.DNSRoleSync}
	fleet := &schema.Fleet{
		Nodes: map[string]*schema.Node{
			"web1": {Role: schema.RoleParent, IPv4: "192.0.2.10"}, "web2": {Role: schema.RoleParent, IPv4: "192.0.2.11"},
			"web3": {Role: schema.RoleParent, IPv4: "192.0.2.12"}, "web4": {Role: schema.RoleParent, IPv4: "192.0.2.13"},
			"ns1": {Role: schema.RoleDNSOnly, IPv4: "192.0.2.53"}, "ns2": {Role: schema.RoleDNSOnly, IPv4: "192.0.2.54"},
		},
		DNSClusters: map[string]*schema.DNSCluster{
			"web1": {Enabled: true, Members: map[string]*schema.Member{"ns1": cp("ns1"), "ns2": cp("ns2"), "bind1": rf}},
			"web2": {Enabled: true, Members: map[string]*schema.Member{"bind2": rf}},       // no cpanel member: not read
			"web3": {Enabled: false, Members: map[string]*schema.Member{"ns1": cp("ns1")}}, // off: not read
			"web4": {Enabled: true, Members: map[string]*schema.Member{"ns2": cp("ns2")}},  // unreadable
		},
	}
	f := &fakeClusters{reads: map[string]int{}, out: map[string]*schema.DNSCluster{
		"web1": {Members: map[string]*schema.Member{"ns1": {Disabled: false}, "ns2": {Disabled: true}}},
	}}
	off, notes := WHMDisabled(context.Background(), fleet, f)
	if want := map[string]int{"web1": 1, "web4": 1}; fmt.Sprint(f.reads) != fmt.Sprint(want) {
		t.Errorf("status reads %v, want %v", f.reads, want)
	}
	if fmt.Sprint(off) != fmt.Sprint(map[string]bool{"web1/ns2": true}) {
		t.Errorf("disabled %v, want web1/ns2", off)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "web4 could not be read (HTTP 503)") {
		t.Errorf("notes %q", notes)
	}
	targets, skipped := DNSTargets(fleet, nil, map[string]providers.MemberHealth{}, off)
	var asked []string
	for _, tg := range targets {
		asked = append(asked, tg.Member+"@"+tg.Addr)
	}
	if got := strings.Join(asked, " "); !strings.Contains(got, "ns1@192.0.2.53:53") || strings.Count(got, "ns2@") != 1 {
		t.Errorf("asked %s: want ns1 of web1 and ns2 of web4 only", got)
	}
	if len(skipped) != 2 || !strings.Contains(strings.Join(skipped, "\n"), "ns2: disabled by WHM on web1") {
		t.Errorf("skipped %q", skipped)
	}
	// Without a provider that reads the screen, nothing is read and nothing skipped.
	if off, notes := WHMDisabled(context.Background(), fleet, nil); len(off) != 0 || len(notes) != 0 {
		t.Errorf("without whm: %v %v", off, notes)
	}
}

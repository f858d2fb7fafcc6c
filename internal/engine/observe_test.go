package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// observeFake answers Observe from a table of partial fleets and errors, and
// records how many observations ran at once.
type observeFake struct {
	name    string
	scopes  []string
	fleets  map[string]*schema.Fleet
	errs    map[string]error
	panics  map[string]bool
	delay   time.Duration
	running atomic.Int32
	peak    atomic.Int32
	mu      sync.Mutex
	seen    []string
}

func (f *observeFake) Name() string                              { return f.name }
func (f *observeFake) Capabilities() providers.Capabilities      { return nil }
func (f *observeFake) Scopes(*schema.Fleet) []string             { return f.scopes }
func (f *observeFake) Apply(context.Context, *plan.Change) error { return errors.New("read only") }
func (f *observeFake) Observe(ctx context.Context, scope string, _ *schema.Fleet) (*schema.Fleet, error) {
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	f.mu.Lock()
	f.seen = append(f.seen, scope)
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.panics[scope] {
		panic("boom")
	}
	if err := f.errs[scope]; err != nil {
		return nil, err
	}
	return f.fleets[scope], nil
}

func parentFleet(parent string, accounts ...string) *schema.Fleet {
	f := &schema.Fleet{
		Nodes:    map[string]*schema.Node{parent: {Role: schema.RoleParent, Version: 118}},
		Accounts: map[string]*schema.Account{},
	}
	for _, a := range accounts {
		f.Accounts[a] = &schema.Account{Parent: parent, Domain: a + ".example"}
	}
	return f
}

func TestObserveMergesAndNamesFailedScopes(t *testing.T) {
	whm := &observeFake{
		name:   "whm",
		scopes: []string{"web2", "web1", "web3", "web4"},
		fleets: map[string]*schema.Fleet{
			"web1": parentFleet("web1", "alice", "bob"),
			"web2": parentFleet("web2", "carol"),
			"web4": parentFleet("web4", "alice"), // alice again: a conflict
		},
		errs:   map[string]error{"web3": fmt.Errorf("%w: connection refused", providers.ErrTransient)},
		panics: map[string]bool{},
	}
	whm.fleets["web1"].DNSClusters = map[string]*schema.DNSCluster{"web1": {
		Enabled: true,
		Members: map[string]*schema.Member{"bind1": {Backend: "rfc2136", Role: schema.DNSRoleSync}},
	}}
	dns := &observeFake{
		name:   "rfc2136",
		scopes: []string{"web1/bind1"},
		fleets: map[string]*schema.Fleet{"web1/bind1": {DNSClusters: map[string]*schema.DNSCluster{"web1": {
			Members: map[string]*schema.Member{"bind1": {Backend: "rfc2136", Address: "127.0.0.1:5301", Zones: &schema.MemberZones{NeedsResync: true}}},
		}}}},
	}
	// The member's own scope is merged first: the cluster settings must still come
	// from the parent's scope.
	observed, errs := Observe(context.Background(), []providers.Provider{dns, whm}, &schema.Fleet{}, 2)

	if got := len(observed.Accounts); got != 3 {
		t.Errorf("observed %d accounts, want 3 (alice, bob, carol)", got)
	}
	if observed.Accounts["alice"].Parent != "web1" {
		t.Errorf("alice kept from %s, want the first scope in order (web1)", observed.Accounts["alice"].Parent)
	}
	if len(errs) != 2 {
		t.Fatalf("errors %v, want web3's failure and web4's conflict", errs)
	}
	failed := reconciler.FailedScopes(errs)
	if !failed["web3"] || !failed["web4"] || len(failed) != 2 {
		t.Errorf("failed scopes %v, want web3 and web4", failed)
	}
	if !errors.Is(errs[0], providers.ErrTransient) || !strings.Contains(errs[0].Error(), "web3") {
		t.Errorf("error %q: want it to name web3 and keep the transient class", errs[0])
	}
	m := observed.DNSClusters["web1"].Members["bind1"]
	if !observed.DNSClusters["web1"].Enabled || m.Role != schema.DNSRoleSync || m.Address != "127.0.0.1:5301" || m.Zones == nil || !m.Zones.NeedsResync {
		t.Errorf("bind1 merged as %+v: want the parent's role and the member's own zone state", m)
	}
	// Merging copies: the provider's values are not written to.
	if whm.fleets["web1"].DNSClusters["web1"].Members["bind1"].Zones != nil {
		t.Error("merge wrote into a provider's fleet")
	}
}

func TestObserveBoundsParallelism(t *testing.T) {
	p := &observeFake{name: "whm", delay: 20 * time.Millisecond, fleets: map[string]*schema.Fleet{}}
	for i := range 12 {
		s := fmt.Sprintf("web%02d", i)
		p.scopes = append(p.scopes, s)
		p.fleets[s] = parentFleet(s)
	}
	observed, errs := Observe(context.Background(), []providers.Provider{p}, &schema.Fleet{}, 3)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if len(observed.Nodes) != 12 {
		t.Errorf("observed %d nodes, want 12", len(observed.Nodes))
	}
	if peak := p.peak.Load(); peak > 3 || peak < 2 {
		t.Errorf("peak concurrency %d, want at most 3 (and some parallelism)", peak)
	}
}

func TestObserveSurvivesPanicAndCancel(t *testing.T) {
	p := &observeFake{name: "whm", scopes: []string{"web1", "web2"},
		fleets: map[string]*schema.Fleet{"web2": parentFleet("web2", "carol")},
		panics: map[string]bool{"web1": true}}
	observed, errs := Observe(context.Background(), []providers.Provider{p}, &schema.Fleet{}, 0)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "web1") || !strings.Contains(errs[0].Error(), "panicked") {
		t.Errorf("errors %v, want one naming web1's panic", errs)
	}
	if observed.Accounts["carol"] == nil {
		t.Error("web2 not observed after web1 panicked")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, errs = Observe(ctx, []providers.Provider{p}, &schema.Fleet{}, 1)
	if len(errs) != 2 || !errors.Is(errs[0], context.Canceled) {
		t.Errorf("errors %v, want every scope cancelled", errs)
	}
}

func TestLargestFirst(t *testing.T) {
	fleet := &schema.Fleet{
		Nodes: map[string]*schema.Node{
			"a-dns": {Role: schema.RoleDNSOnly}, "big": {Role: schema.RoleParent}, "small": {Role: schema.RoleParent},
			"mid": {Role: schema.RoleParent}, "big-mail": {Role: schema.RoleChild, Parent: "big"}, "gone": nil,
		},
		Accounts: map[string]*schema.Account{
			"u1": {Parent: "big"}, "u2": {Parent: "big"}, "u3": {Parent: "mid"}, "u4": {Parent: "small"}, "u5": nil,
		},
		Resellers: map[string]*schema.Reseller{"r1": {Account: schema.Account{Parent: "mid"}}},
	}
	for _, tc := range []struct {
		name   string
		scopes []string
		fleet  *schema.Fleet
		want   []string
	}{
		{"by what is under each, ties in the order given", []string{"a-dns", "big", "mid", "small", "z-dns"}, fleet, []string{"big", "mid", "small", "a-dns", "z-dns"}},
		{"scopes the fleet does not weigh keep their order", []string{"m2", "m1"}, fleet, []string{"m2", "m1"}},
		{"no fleet", []string{"small", "big"}, nil, []string{"small", "big"}},
		{"one scope", []string{"small"}, fleet, []string{"small"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := largestFirst(tc.scopes, func(s string) string { return s }, tc.fleet)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("largestFirst(%v) = %v, want %v", tc.scopes, got, tc.want)
			}
		})
	}
}

package dnscluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/dnszone"
)

var day = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func zone(domain string) *dnszone.Zone {
	return dnszone.NewAccountZoneAt(domain, "192.0.2.10", []string{"ns1.example", "ns2.example"}, day)
}

func origins(zs []*dnszone.Zone) string {
	var out []string
	for _, z := range zs {
		out = append(out, strings.TrimSuffix(z.Origin, "."))
	}
	return strings.Join(out, ",")
}

func TestPlanReplication(t *testing.T) {
	local := []*dnszone.Zone{zone("b.example"), zone("a.example")}
	members := []Member{
		{Host: "sync.example", Role: RoleSync},
		{Host: "wo.example", Role: RoleWriteOnly},
		{Host: "sa.example", Role: RoleStandalone},
		{Host: "down.example", Role: RoleSync, Disabled: true},
	}
	tests := []struct {
		name    string
		enabled bool
		push    map[string]string
		read    string
	}{
		{name: "clustering on", enabled: true,
			push: map[string]string{"sync.example": "a.example,b.example", "wo.example": "a.example,b.example"},
			read: "sa.example,sync.example"},
		{name: "clustering off moves nothing", enabled: false, push: map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := withMembers(members...)
			cfg.Enabled = tc.enabled
			p := PlanReplication(cfg, local)
			got := map[string]string{}
			for h, zs := range p.Push {
				got[h] = origins(zs)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.push) {
				t.Errorf("push %v, want %v", got, tc.push)
			}
			if strings.Join(p.Read, ",") != tc.read {
				t.Errorf("read %v, want %s", p.Read, tc.read)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	localA := zone("a.example")
	remoteA := zone("a.example")
	remoteA.SetSerial(localA.Serial + 5)
	oldC, newC := zone("c.example"), zone("c.example")
	newC.SetSerial(oldC.Serial + 1)
	got := Merge([]*dnszone.Zone{localA}, map[string][]*dnszone.Zone{
		"ns1": {remoteA, oldC},
		"ns2": {newC, zone("b.example")},
	})
	if origins(got) != "a.example,b.example,c.example" {
		t.Fatalf("merged %s", origins(got))
	}
	if got[0] != localA {
		t.Error("a zone held locally was replaced by a member's copy")
	}
	if got[2] != newC {
		t.Error("between members the higher serial should win")
	}
}

func TestRecordResult(t *testing.T) {
	fail := errors.New("connection refused")
	tests := []struct {
		name         string
		threshold    int
		results      []error
		wantDisabled bool
		wantFailures int
		disabledAt   int // index of the result that disabled the member, -1 for none
	}{
		{name: "threshold 3: the 4th consecutive failure disables", threshold: 3,
			results: []error{fail, fail, fail, fail}, wantDisabled: true, wantFailures: 4, disabledAt: 3},
		{name: "threshold 3: three failures are tolerated", threshold: 3,
			results: []error{fail, fail, fail}, wantFailures: 3, disabledAt: -1},
		{name: "a success resets the count", threshold: 3,
			results: []error{fail, fail, fail, nil, fail, fail, fail}, wantFailures: 3, disabledAt: -1},
		{name: "threshold 0 never disables", threshold: 0,
			results: []error{fail, fail, fail, fail, fail, fail, fail, fail, fail, fail, fail, fail}, wantFailures: 12, disabledAt: -1},
		{name: "default threshold 10: the 11th disables", threshold: DefaultThreshold,
			results: []error{fail, fail, fail, fail, fail, fail, fail, fail, fail, fail, fail}, wantDisabled: true, wantFailures: 11, disabledAt: 10},
		{name: "disabling is reported once", threshold: 1,
			results: []error{fail, fail, fail}, wantDisabled: true, wantFailures: 3, disabledAt: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := withMembers(Member{Host: "ns1.example", Role: RoleSync})
			cfg.Threshold = tc.threshold
			at := -1
			for i, err := range tc.results {
				if cfg.RecordResult("ns1.example", err) {
					if at != -1 {
						t.Fatalf("disabled reported twice (at %d and %d)", at, i)
					}
					at = i
				}
			}
			m := cfg.Members["ns1.example"]
			if m.Disabled != tc.wantDisabled || m.Failures != tc.wantFailures || at != tc.disabledAt {
				t.Fatalf("disabled %t failures %d at %d; want %t %d %d", m.Disabled, m.Failures, at, tc.wantDisabled, tc.wantFailures, tc.disabledAt)
			}
			if tc.wantDisabled {
				if err := cfg.Enable("ns1.example"); err != nil || m.Disabled || m.Failures != 0 {
					t.Fatalf("re-enable: %v, %#v", err, m)
				}
			}
		})
	}
	cfg := withMembers()
	if cfg.RecordResult("ghost", fail) || cfg.Enable("ghost") == nil {
		t.Error("unknown host")
	}
}

// fakeMembers is a Pusher over in-memory member servers, with failures on demand.
type fakeMembers struct {
	mu    sync.Mutex
	held  map[string]map[string]*dnszone.Zone // host → origin → zone
	down  map[string]bool
	calls []string
}

func newFakeMembers() *fakeMembers {
	return &fakeMembers{held: map[string]map[string]*dnszone.Zone{}, down: map[string]bool{}}
}

func (f *fakeMembers) Push(_ context.Context, m Member, z *dnszone.Zone) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "push "+m.Host+" "+z.Origin)
	if f.down[m.Host] {
		return errors.New("connection refused")
	}
	if f.held[m.Host] == nil {
		f.held[m.Host] = map[string]*dnszone.Zone{}
	}
	f.held[m.Host][z.Origin] = z.Clone()
	return nil
}

func (f *fakeMembers) Fetch(_ context.Context, m Member) ([]*dnszone.Zone, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "fetch "+m.Host)
	if f.down[m.Host] {
		return nil, errors.New("connection refused")
	}
	var out []*dnszone.Zone
	for _, z := range f.held[m.Host] {
		out = append(out, z.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Origin < out[j].Origin })
	return out, nil
}

func TestReplicate(t *testing.T) {
	local := []*dnszone.Zone{zone("a.example"), zone("b.example")}
	f := newFakeMembers()
	f.held["sa.example"] = map[string]*dnszone.Zone{"remote.example.": zone("remote.example")}
	g := NewGuarded(withMembers(
		Member{Host: "sync.example", Role: RoleSync, Token: "t1"},
		Member{Host: "wo.example", Role: RoleWriteOnly, Token: "t2"},
		Member{Host: "sa.example", Role: RoleStandalone, Token: "t3"},
	))
	res, err := Replicate(context.Background(), g, local, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"fetch sa.example",
		"push sync.example a.example.", "push sync.example b.example.", "fetch sync.example",
		"push wo.example a.example.", "push wo.example b.example.",
	}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
	if origins(res.Zones) != "a.example,b.example,remote.example" {
		t.Errorf("local view %s: a standalone member's zone must be read back", origins(res.Zones))
	}
	if len(f.held["wo.example"]) != 2 || len(f.held["sa.example"]) != 1 {
		t.Errorf("write-only holds %d zones, standalone %d", len(f.held["wo.example"]), len(f.held["sa.example"]))
	}
	for _, o := range res.Outcomes {
		if len(o.Errors) > 0 || o.Disabled {
			t.Errorf("%s: %+v", o.Host, o)
		}
	}
}

func TestReplicateThresholdAndNotify(t *testing.T) {
	local := []*dnszone.Zone{zone("a.example"), zone("b.example")}
	f := newFakeMembers()
	f.down["ns1.example"] = true
	cfg := withMembers(Member{Host: "ns1.example", Role: RoleWriteOnly, Token: "secret-token"})
	cfg.Threshold = 3
	g := NewGuarded(cfg)
	var notified []string
	notify := func(m Member, err error) { notified = append(notified, m.Host+": "+err.Error()) }

	// Run 1: two failed pushes (2 of 3 tolerated).
	res, _ := Replicate(context.Background(), g, local, f, notify)
	if m := g.Snapshot().Members["ns1.example"]; m.Failures != 2 || m.Disabled {
		t.Fatalf("after run 1: %#v", m)
	}
	if len(res.Outcomes[0].Errors) != 2 || !strings.Contains(res.Outcomes[0].Errors[0].Error(), "dns cluster member ns1.example: push zone a.example.") {
		t.Fatalf("errors %v", res.Outcomes[0].Errors)
	}
	// Run 2: the 4th consecutive failure disables it and stops sending.
	f.calls = nil
	res, _ = Replicate(context.Background(), g, local, f, notify)
	if m := g.Snapshot().Members["ns1.example"]; m.Failures != 4 || !m.Disabled {
		t.Fatalf("after run 2: %#v", m)
	}
	if len(f.calls) != 2 || !res.Outcomes[0].Disabled {
		t.Fatalf("run 2 calls %v, outcome %+v", f.calls, res.Outcomes[0])
	}
	if len(notified) != 1 || strings.Contains(notified[0], "secret-token") {
		t.Fatalf("notifications %v", notified)
	}
	// Run 3: a disabled member gets nothing, even once it is back up.
	f.down["ns1.example"] = false
	f.calls = nil
	if _, err := Replicate(context.Background(), g, local, f, notify); err != nil || len(f.calls) != 0 {
		t.Fatalf("disabled member was contacted: %v %v", f.calls, err)
	}
	// Re-enabled, it is resynchronised with every zone and its count is clean.
	if err := g.Update(func(c *Config) error { return c.Enable("ns1.example") }); err != nil {
		t.Fatal(err)
	}
	if _, err := Replicate(context.Background(), g, local, f, notify); err != nil {
		t.Fatal(err)
	}
	if m := g.Snapshot().Members["ns1.example"]; m.Failures != 0 || m.Disabled || len(f.held["ns1.example"]) != 2 {
		t.Fatalf("after re-enable: %#v, holds %d zones", m, len(f.held["ns1.example"]))
	}
	if len(notified) != 1 {
		t.Fatalf("notified again: %v", notified)
	}
}

func TestReplicateNotifyOff(t *testing.T) {
	f := newFakeMembers()
	f.down["ns1.example"] = true
	cfg := withMembers(Member{Host: "ns1.example", Role: RoleSync})
	cfg.Threshold, cfg.Notify = 1, false
	g := NewGuarded(cfg)
	called := false
	_, _ = Replicate(context.Background(), g, []*dnszone.Zone{zone("a.example"), zone("b.example")}, f, func(Member, error) { called = true })
	if !g.Snapshot().Members["ns1.example"].Disabled || called {
		t.Fatalf("disabled %t, notified %t", g.Snapshot().Members["ns1.example"].Disabled, called)
	}
}

func TestReplicateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g := NewGuarded(withMembers(Member{Host: "ns1.example", Role: RoleSync}))
	f := newFakeMembers()
	if _, err := Replicate(ctx, g, []*dnszone.Zone{zone("a.example")}, f, nil); !errors.Is(err, context.Canceled) || len(f.calls) != 0 {
		t.Fatalf("err %v, calls %v", err, f.calls)
	}
}

func TestConcurrentHandlersAndReplication(t *testing.T) {
	fx := newFixture(t, withMembers(Member{Host: "ns1.example", Role: RoleSync, Module: ModuleCPanel}))
	fm := newFakeMembers()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			fx.post(t, PathChangeClusterDNS, map[string][]string{"server": {"ns1.example"}, "dnsrole": {[]string{RoleSync, RoleWriteOnly}[i%2]}})
			fx.post(t, PathClusterStatus, nil)
		}(i)
		go func() {
			defer wg.Done()
			_, _ = Replicate(context.Background(), fx.g, []*dnszone.Zone{zone("a.example")}, fm, nil)
		}()
	}
	wg.Wait()
}

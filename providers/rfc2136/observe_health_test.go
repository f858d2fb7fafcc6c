package rfc2136

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/schema"
)

// axfrServer answers an AXFR of alice.example with zone while ok is set, and with
// SERVFAIL otherwise; it counts the transfers asked for.
func axfrServer(t *testing.T, zone []dns.RR, ok *atomic.Bool, asked *atomic.Int64) *fakeServer {
	t.Helper()
	return startFake(t, func(w dns.ResponseWriter, r *dns.Msg, _ int64) {
		asked.Add(1)
		if !ok.Load() {
			reply(w, r, dns.RcodeServerFailure)
			return
		}
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(append([]dns.RR{}, zone...), zone[0])
		if r.IsTsig() != nil && w.TsigStatus() == nil {
			m.SetTsig("tether.", dns.HmacSHA256, 300, time.Now().Unix())
		}
		_ = w.WriteMsg(m)
	})
}

// A sync or standalone member whose AXFR fails: Observe returns the failure and
// changes nothing (plan stays read-only, however often it runs); each
// RecordObserved (what apply calls after observing) counts one failed command, a
// successful read resets the count, and past the threshold the member is disabled
// once, with one notification, and no longer contacted. `never` keeps it in.
func TestObserveFailuresCountOnlyWhenRecorded(t *testing.T) {
	tests := []struct {
		name      string
		role      string
		threshold schema.Threshold
		applies   int
		disabled  bool
		badKey    bool // the member refuses Tether's key rather than answering SERVFAIL
	}{
		{"sync, threshold 2, three applies disable", schema.DNSRoleSync, schema.Threshold{N: 2}, 3, true, false},
		{"sync, threshold 2, two applies stay in", schema.DNSRoleSync, schema.Threshold{N: 2}, 2, false, false},
		{"standalone, threshold 1, two applies disable", schema.DNSRoleStandalone, schema.Threshold{N: 1}, 2, true, false},
		{"sync, never, six applies stay in", schema.DNSRoleSync, schema.Threshold{Never: true}, 6, false, false},
		{"sync, key refused, threshold 1, two applies disable", schema.DNSRoleSync, schema.Threshold{N: 1}, 2, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			zone := accountZone(t, "alice.example", parentIP, parentIP)
			var ok atomic.Bool
			var asked atomic.Int64
			f := axfrServer(t, zone, &ok, &asked)
			src := &staticSource{}
			src.set("web1", "alice.example", zone)
			store := NewMemStore()
			var mu sync.Mutex
			var posted []Notification
			secret, kind, text := fakeSecret, ErrServFail, "AXFR: server failure"
			if tc.badKey {
				secret, kind, text = "b3RoZXItc2VjcmV0LW5vdC10aGUtc2VydmVycy0wMTIzNDU2Nzg5YWJjZGVm", ErrTSIGRefused, "AXFR: TSIG key refused"
			}
			p, err := New(providersConfig{Secrets: secretsFrom(map[string]string{"K": secret})}, Options{
				Store: store, Source: src, Transport: DNSTransport{Timeout: 2 * time.Second},
				Post: func(_ context.Context, _ string, n Notification) error {
					mu.Lock()
					defer mu.Unlock()
					posted = append(posted, n)
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			fleet := testFleet(tc.threshold, map[string]*schema.Member{"m1": member(tc.role, f.addr, "K")})
			fleet.Policy.NotifyWebhook = "http://127.0.0.1:1/hook"
			ctx := context.Background()
			// Managed already (an earlier apply joined it), and failing once before.
			if _, err := store.UpdateHealth("web1/m1", func(h *Health) { h.Joined, h.ConsecutiveFailures = time.Now(), 1 }); err != nil {
				t.Fatal(err)
			}
			observe := func() error {
				p.Scopes(fleet)
				_, err := p.Observe(ctx, "web1/m1", fleet)
				return err
			}
			if !tc.badKey {
				// A good read, recorded, resets the earlier failure.
				ok.Store(true)
				if err := observe(); err != nil {
					t.Fatal(err)
				}
				if err := p.RecordObserved(ctx); err != nil {
					t.Fatal(err)
				}
				if h, _ := store.Health("web1/m1"); h.ConsecutiveFailures != 0 {
					t.Fatalf("after a good read: %+v", h)
				}
			} else if _, err := store.UpdateHealth("web1/m1", func(h *Health) { h.ConsecutiveFailures = 0 }); err != nil {
				t.Fatal(err)
			}

			// SERVFAIL; or, with the wrong key, the zone itself, unsigned: refused.
			ok.Store(tc.badKey)
			// Plans: observed, never recorded. Nothing is counted.
			for range 4 {
				if err := observe(); !errors.Is(err, kind) {
					t.Fatalf("observe: %v, want %v", err, kind)
				}
			}
			if h, _ := store.Health("web1/m1"); h.ConsecutiveFailures != 0 || h.Disabled {
				t.Fatalf("plan counted: %+v", h)
			}
			// Applies: observed, then recorded.
			var last error
			for i := range tc.applies {
				if err := observe(); !errors.Is(err, kind) {
					t.Fatalf("apply %d: observe: %v, want %v", i+1, err, kind)
				}
				last = p.RecordObserved(ctx)
				// A second call has nothing left to count.
				if err := p.RecordObserved(ctx); err != nil {
					t.Fatalf("second RecordObserved: %v", err)
				}
			}
			h, _ := store.Health("web1/m1")
			if h.Disabled != tc.disabled || h.ConsecutiveFailures != tc.applies || !strings.Contains(h.LastError, text) || strings.Contains(h.LastError, secret) {
				t.Fatalf("after %d applies: %+v, want disabled=%v", tc.applies, h, tc.disabled)
			}
			if errors.Is(last, ErrDisabled) != tc.disabled {
				t.Fatalf("last RecordObserved = %v, want disabled=%v", last, tc.disabled)
			}
			mu.Lock()
			n := len(posted)
			mu.Unlock()
			if want := map[bool]int{true: 1, false: 0}[tc.disabled]; n != want {
				t.Fatalf("%d notifications, want %d", n, want)
			}
			if !tc.disabled {
				return
			}
			if !strings.Contains(last.Error(), "re-enable with `tether dns enable m1`") {
				t.Errorf("disable message %q does not say how to re-enable", last)
			}
			// Disabled: observed as such, not contacted, nothing more counted, and no
			// second notification.
			before := asked.Load()
			p.Scopes(fleet)
			obs, err := p.Observe(ctx, "web1/m1", fleet)
			if err != nil || !obs.DNSClusters["web1"].Members["m1"].Disabled {
				t.Fatalf("disabled member observed as %+v, %v", obs, err)
			}
			if err := p.RecordObserved(ctx); err != nil {
				t.Fatal(err)
			}
			if asked.Load() != before {
				t.Error("a disabled member was contacted")
			}
			if h2, _ := store.Health("web1/m1"); h2.ConsecutiveFailures != h.ConsecutiveFailures {
				t.Errorf("failures counted while disabled: %d -> %d", h.ConsecutiveFailures, h2.ConsecutiveFailures)
			}
			if tc.badKey {
				return
			}
			// Enabled, and reachable again: read, resynced on the next apply.
			ok.Store(true)
			if err := p.Enable("web1/m1"); err != nil {
				t.Fatal(err)
			}
			if err := observe(); err != nil {
				t.Fatal(err)
			}
			if err := p.RecordObserved(ctx); err != nil {
				t.Fatal(err)
			}
			if h, _ := store.Health("web1/m1"); h.Disabled || h.ConsecutiveFailures != 0 || !h.NeedsResync {
				t.Fatalf("after enable: %+v", h)
			}
		})
	}
}

// What is not the member's failure is never counted against it: the parent's zones
// that cannot be read, a key that cannot be resolved, a write-only member (never
// read), and a read cut short by Tether itself.
func TestObserveFailuresThatAreNotTheMembers(t *testing.T) {
	zone := accountZone(t, "alice.example", parentIP, parentIP)
	var ok atomic.Bool
	var asked atomic.Int64
	f := axfrServer(t, zone, &ok, &asked)
	tests := []struct {
		name   string
		parent string // the source knows only web1
		m      *schema.Member
		ctx    func() context.Context
	}{
		{"parent unreadable", "web2", member(schema.DNSRoleSync, f.addr, "K"), context.Background},
		{"secret unset", "web1", member(schema.DNSRoleSync, f.addr, "UNSET"), context.Background},
		{"write-only", "web1", member(schema.DNSRoleWriteOnly, f.addr, "K"), context.Background},
		{"interrupted", "web1", member(schema.DNSRoleSync, f.addr, "K"), func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := &staticSource{}
			src.set("web1", "alice.example", zone)
			store := NewMemStore()
			p, err := New(providersConfig{Secrets: secretsFrom(map[string]string{"K": fakeSecret})},
				Options{Store: store, Source: src, Transport: DNSTransport{Timeout: 2 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			fleet := &schema.Fleet{Policy: &schema.Policy{}, DNSClusters: map[string]*schema.DNSCluster{
				tc.parent: {Enabled: true, FailureThreshold: schema.Threshold{N: 1}, Members: map[string]*schema.Member{"m1": tc.m}}}}
			scope := tc.parent + "/m1"
			if _, err := store.UpdateHealth(scope, func(h *Health) { h.Joined = time.Now() }); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				p.Scopes(fleet)
				_, _ = p.Observe(tc.ctx(), scope, fleet)
				if err := p.RecordObserved(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if h, _ := store.Health(scope); h.ConsecutiveFailures != 0 || h.Disabled {
				t.Fatalf("counted against the member: %+v", h)
			}
		})
	}
}

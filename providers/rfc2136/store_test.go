package rfc2136

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

func TestStores(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T) Store{
		"memory": func(*testing.T) Store { return NewMemStore() },
		"file":   func(t *testing.T) Store { return fileStore(t, filepath.Join(t.TempDir(), "sub", "state.json")) },
	} {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			if _, ok := s.Get("web1/ns", "a.example"); ok {
				t.Fatal("empty store remembers")
			}
			if err := s.Put("web1/ns", "a.example", "v1 d"); err != nil {
				t.Fatal(err)
			}
			if v, ok := s.Get("web1/ns", "a.example"); !ok || v != "v1 d" {
				t.Fatalf("get = %q %v", v, ok)
			}
			if _, err := s.UpdateHealth("web1/ns", func(h *Health) { h.ConsecutiveFailures = 3 }); err != nil {
				t.Fatal(err)
			}
			if err := Enable(s, "web1/ns"); err != nil {
				t.Fatal(err)
			}
			if h, _ := s.Health("web1/ns"); h.ConsecutiveFailures != 0 || h.NeedsResync {
				t.Fatalf("enable of a member that was not disabled: %+v", h)
			}
			_, _ = s.UpdateHealth("web1/ns", func(h *Health) { *h = Health{ConsecutiveFailures: 11, Disabled: true} })
			_ = Enable(s, "web1/ns")
			if h, _ := s.Health("web1/ns"); h.Disabled || !h.NeedsResync {
				t.Fatalf("enable of a disabled member: %+v", h)
			}
			if err := s.Forget("web1/ns"); err != nil {
				t.Fatal(err)
			}
			if _, ok := s.Get("web1/ns", "a.example"); ok {
				t.Fatal("forgotten member remembered")
			}
			// Concurrent writers lose nothing.
			var wg sync.WaitGroup
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					_ = s.Put("web1/ns", fmt.Sprintf("z%d.example", i), "v1 x")
				}(i)
			}
			wg.Wait()
			for i := 0; i < 20; i++ {
				if _, ok := s.Get("web1/ns", fmt.Sprintf("z%d.example", i)); !ok {
					t.Fatalf("lost write %d", i)
				}
			}
		})
	}
}

func TestStateStoreSurvivesANewProcessAndRejectsGarbage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	_, _ = fileStore(t, dir).UpdateHealth("web1/ns", func(h *Health) { *h = Health{ConsecutiveFailures: 11, Disabled: true} })
	if h, _ := fileStore(t, dir).Health("web1/ns"); !h.Disabled {
		t.Fatal("disabled state lost by a second store on the same folder")
	}
	// The folder keeps the health namespace in kv/ (internal/state).
	p := filepath.Join(dir, "kv", url.PathEscape(healthNS)+".json")
	if err := os.WriteFile(p, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fileStore(t, dir).Health("web1/ns"); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("garbage state: %v", err)
	}
}

func TestKeyNeverPrintsItsSecret(t *testing.T) {
	const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="
	k, err := NewKey("tether", "HMAC-SHA256", secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %q", k, k, k, k, k), fmt.Sprintf("%+v", Target{Key: k}), fmt.Sprintf("%#v", Target{Key: k})} {
		if strings.Contains(s, secret) {
			t.Fatalf("secret printed: %s", s)
		}
	}
	if k.Algorithm != "hmac-sha256." || k.Name != "tether." {
		t.Fatalf("key = %v", k)
	}
	for _, bad := range [][3]string{{"", "", secret}, {"k", "", ""}, {"k", "md5-nope", secret}} {
		if _, err := NewKey(bad[0], bad[1], bad[2]); err == nil || strings.Contains(err.Error(), secret) {
			t.Fatalf("NewKey(%q, %q): %v", bad[0], bad[1], err)
		}
	}
}

func TestAddressesScopesAndMemberIDs(t *testing.T) {
	f := testFleet(schema.Threshold{}, map[string]*schema.Member{
		"bind1": member(schema.DNSRoleSync, "127.0.0.1:1", "X"),
		"ns1":   {Node: "ns1", Role: schema.DNSRoleSync},
	})
	f.DNSClusters["web2"] = &schema.DNSCluster{Members: map[string]*schema.Member{"bind1": member(schema.DNSRoleSync, "127.0.0.1:2", "Y")}}
	if got := strings.Join(Scopes(f), ","); got != "web1/bind1,web2/bind1" {
		t.Fatalf("scopes = %s (cpanel members are not ours)", got)
	}
	if _, err := MemberIDs(f, "bind1"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("ambiguous name: %v", err)
	}
	if ids, err := MemberIDs(f, "web2/bind1"); err != nil || len(ids) != 1 || ids[0] != "web2/bind1" {
		t.Fatal(ids, err)
	}
	if _, err := MemberIDs(f, "nope"); err == nil {
		t.Fatal("unknown member accepted")
	}
}

func TestApplyRefusesBeforeAnyIO(t *testing.T) {
	src := &staticSource{}
	tr := &countingTransport{Transport: DNSTransport{}}
	p, _ := New(provConfig(nil), Options{Store: NewMemStore(), Source: src, Transport: tr})
	noKey := &schema.Member{Backend: Backend, Address: "127.0.0.1:1", Role: schema.DNSRoleSync}
	inline := member(schema.DNSRoleSync, "127.0.0.1:1", "")
	inline.TSIG.Secret = "aW5saW5l"
	for name, c := range map[string]*plan.Change{
		"no key":         change(plan.Update, "bind1", noKey),
		"inline secret":  change(plan.Update, "bind1", inline),
		"unset env":      change(plan.Update, "bind1", member(schema.DNSRoleSync, "127.0.0.1:1", "UNSET_ENV")),
		"wrong action":   change(plan.Link, "bind1", member(schema.DNSRoleSync, "127.0.0.1:1", "X")),
		"no member":      {Address: "dns.web1.member.bind1", Action: plan.Update},
		"not our change": change(plan.Update, "bind1", member(schema.DNSRoleSync, "127.0.0.1:1", "X")),
	} {
		if name == "not our change" {
			c.Address = "account.alice"
		}
		err := p.Apply(t.Context(), c)
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), "aW5saW5l") {
			t.Errorf("%s: inline secret printed", name)
		}
	}
	if tr.updates.Load()+tr.axfrs.Load() != 0 || src.calls != 0 {
		t.Fatal("a refused change did I/O")
	}
}

func provConfig(secrets map[string]string) providersConfig {
	return providersConfig{Secrets: secretsFrom(secrets)}
}

func TestRegistered(t *testing.T) {
	p, err := providers.New(Name, providers.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := providers.Lookup(Name)
	if p.Name() != Name || !s.Capabilities.Can(CanUpdate) || s.Capabilities.Can("dns.create-zone") {
		t.Fatalf("provider %s capabilities %v", p.Name(), s.Capabilities)
	}
}

func TestBatchMemoryWritesOnce(t *testing.T) {
	fs := fileStore(t, filepath.Join(t.TempDir(), "state.json"))
	b := &batchMemory{Memory: fs}
	for i := 0; i < 50; i++ {
		_ = b.Put("web1/ns", fmt.Sprintf("z%d.example", i), "v1 d")
	}
	if _, ok := fs.Get("web1/ns", "z0.example"); ok {
		t.Fatal("written before flush")
	}
	if v, ok := b.Get("web1/ns", "z0.example"); !ok || v != "v1 d" {
		t.Fatal("pending value not visible")
	}
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, ok := fs.Get("web1/ns", fmt.Sprintf("z%d.example", i)); !ok {
			t.Fatalf("zone %d lost", i)
		}
	}
}

func TestFileStoreCountsAreNotLostBetweenStores(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	a, b := fileStore(t, p), fileStore(t, p) // two processes' views of one file
	var wg sync.WaitGroup
	for i := 0; i < 15; i++ {
		for _, s := range []Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.UpdateHealth("web1/ns", func(h *Health) { h.ConsecutiveFailures++ }); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if h, _ := a.Health("web1/ns"); h.ConsecutiveFailures != 30 {
		t.Fatalf("failures = %d, want 30", h.ConsecutiveFailures)
	}
}

// What is remembered per zone reads back as written, with or without the member's
// serial; a value written before serials were kept reads with serial 0 (unknown).
func TestPushedEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want pushed
		ok   bool
	}{
		{"before serials", "v1 sha256:ab\nalice.example. A\t0123", pushed{Digest: "sha256:ab", Sets: map[string]string{"alice.example. A": "0123"}}, true},
		{"with serial", "v1 sha256:ab\nalice.example. A\t0123\n@serial\t2026120301", pushed{Digest: "sha256:ab", Sets: map[string]string{"alice.example. A": "0123"}, Serial: 2026120301}, true},
		{"bad serial", "v1 sha256:ab\n@serial\tx", pushed{}, false},
		{"not v1", "v9 sha256:ab", pushed{}, false},
	} {
		got, ok := decodePushed(tc.in)
		if ok != tc.ok || got.Digest != tc.want.Digest || got.Serial != tc.want.Serial || len(got.Sets) != len(tc.want.Sets) {
			t.Errorf("%s: decode = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
			continue
		}
		if ok && got.encode() != tc.in {
			t.Errorf("%s: encode = %q, want %q", tc.name, got.encode(), tc.in)
		}
	}
}

package dnscluster

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

const testToken = "SECRETTOKEN0123456789"

// tokenShown finds the members' test tokens (tok1, tok2, …) in a page.
var tokenShown = regexp.MustCompile(`tok\d`)

type fixture struct {
	g       *Guarded
	srv     *httptest.Server
	changed []Config
	mu      sync.Mutex
	calls   []string // hook calls, in order
	fail    map[string]error
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{g: NewGuarded(cfg), fail: map[string]error{}}
	hook := func(name string) func(context.Context, Member) error {
		return func(_ context.Context, m Member) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.calls = append(f.calls, name+" "+m.Host)
			return f.fail[name]
		}
	}
	hooks := Hooks{
		Verify:       hook("verify"),
		ReverseTrust: hook("reversetrust"),
		SyncZones:    hook("synczones"),
		Changed: func(c Config) {
			f.mu.Lock()
			f.changed = append(f.changed, c)
			f.mu.Unlock()
		},
	}
	auth := func(r *http.Request) bool { return r.Header.Get("Authorization") == "whm root:"+testToken }
	f.srv = httptest.NewServer(Handler(f.g, auth, hooks))
	t.Cleanup(f.srv.Close)
	return f
}

// post sends a form the way WHM's screens do and returns status and body.
func (f *fixture) post(t *testing.T, path string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "whm root:"+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func okPage(body string) bool    { return strings.Contains(body, `<div class="okmsg"`) }
func errorPage(body string) bool { return strings.Contains(body, `<div class="errormsg"`) }

func withMembers(ms ...Member) Config {
	c := DefaultConfig()
	c.Enabled = true
	for _, m := range ms {
		cp := m
		c.Members[m.Host] = &cp
	}
	return c
}

var ns1 = Member{Host: "ns1.example", User: "root", Token: "tok1", Role: RoleSync, Module: ModuleCPanel}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		name    string
		start   Config
		path    string
		form    url.Values
		ok      bool
		message string // substring of the page
		hooks   []string
		check   func(t *testing.T, c Config)
	}{
		{name: "enable clustering", start: DefaultConfig(), path: PathAdjustClusterDNS, form: url.Values{"clusterdns": {"1"}},
			ok: true, message: "Your changes have been saved.", check: func(t *testing.T, c Config) {
				if !c.Enabled {
					t.Error("not enabled")
				}
			}},
		{name: "disable clustering", start: withMembers(ns1), path: PathAdjustClusterDNS, form: url.Values{"clusterdns": {"0"}},
			ok: true, check: func(t *testing.T, c Config) {
				if c.Enabled || len(c.Members) != 1 {
					t.Errorf("enabled %t, %d members (disabling keeps members)", c.Enabled, len(c.Members))
				}
			}},
		{name: "add a sync member with reverse trust and sync", start: withMembers(), path: PathActivateRemote,
			form: url.Values{"module": {"cPanel"}, "host": {"NS2.example"}, "user": {"root"}, "pass": {"tok2"},
				"dnsrole": {"sync"}, "recurse": {"on"}, "synczones": {"on"}, "debug": {"1"}},
			ok: true, message: "has been established", hooks: []string{"verify ns2.example", "reversetrust ns2.example", "synczones ns2.example"},
			check: func(t *testing.T, c Config) {
				m := c.Members["ns2.example"]
				if m == nil || m.Role != RoleSync || m.Token != "tok2" || m.User != "root" || m.Module != ModuleCPanel || !m.Debug {
					t.Errorf("member %#v", m)
				}
			}},
		{name: "add without a role is standalone", start: withMembers(), path: PathActivateRemote,
			form: url.Values{"module": {"cPanel"}, "host": {"ns3.example"}, "user": {"root"}, "pass": {"tok3"}},
			ok:   true, hooks: []string{"verify ns3.example"},
			check: func(t *testing.T, c Config) {
				if m := c.Members["ns3.example"]; m == nil || m.Role != RoleStandalone {
					t.Errorf("member %#v", m)
				}
			}},
		{name: "re-adding keeps the down state", start: withMembers(Member{Host: "ns1.example", User: "root", Token: "old", Role: RoleSync, Module: ModuleCPanel, Disabled: true, Failures: 11}),
			path: PathActivateRemote, form: url.Values{"module": {"cPanel"}, "host": {"ns1.example"}, "user": {"root"}, "pass": {"new"}, "dnsrole": {"write-only"}},
			ok: true, hooks: []string{"verify ns1.example"},
			check: func(t *testing.T, c Config) {
				m := c.Members["ns1.example"]
				if m.Token != "new" || m.Role != RoleWriteOnly || !m.Disabled || m.Failures != 11 {
					t.Errorf("member %#v", m)
				}
			}},
		{name: "add with a bad role", start: withMembers(), path: PathActivateRemote,
			form:    url.Values{"module": {"cPanel"}, "host": {"ns4.example"}, "user": {"root"}, "pass": {"t"}, "dnsrole": {"Sync"}},
			message: "not a valid DNS role"},
		{name: "add with another module", start: withMembers(), path: PathActivateRemote,
			form: url.Values{"module": {"SoftLayer"}, "host": {"ns4.example"}, "user": {"root"}, "pass": {"t"}}, message: "module"},
		{name: "add without a token", start: withMembers(), path: PathActivateRemote,
			form: url.Values{"module": {"cPanel"}, "host": {"ns4.example"}, "user": {"root"}}, message: "API token"},
		{name: "add without a host", start: withMembers(), path: PathActivateRemote,
			form: url.Values{"module": {"cPanel"}, "user": {"root"}, "pass": {"t"}}, message: "remote host"},
		{name: "change a role", start: withMembers(ns1), path: PathChangeClusterDNS, form: url.Values{"server": {"ns1.example"}, "dnsrole": {"write-only"}},
			ok: true, check: func(t *testing.T, c Config) {
				if c.Members["ns1.example"].Role != RoleWriteOnly {
					t.Error("role not changed")
				}
			}},
		{name: "change the role of an unknown server", start: withMembers(ns1), path: PathChangeClusterDNS,
			form: url.Values{"server": {"nsX.example"}, "dnsrole": {"sync"}}, message: "does not appear to be configured"},
		{name: "change to a bad role", start: withMembers(ns1), path: PathChangeClusterDNS,
			form: url.Values{"server": {"ns1.example"}, "dnsrole": {"master"}}, message: "not a valid DNS role"},
		{name: "remove a member", start: withMembers(ns1), path: PathRemClusterServer, form: url.Values{"server": {"ns1.example"}},
			ok: true, message: "Server removed from cluster.", check: func(t *testing.T, c Config) {
				if len(c.Members) != 0 {
					t.Error("member still there")
				}
			}},
		{name: "remove an unknown server succeeds, as in WHM", start: withMembers(ns1), path: PathRemClusterServer,
			form: url.Values{"server": {"nsX.example"}}, ok: true},
		{name: "remove without a server", start: withMembers(ns1), path: PathRemClusterServer, message: "Server Not Specified"},
		{name: "re-enable a disabled member", start: withMembers(Member{Host: "ns1.example", Role: RoleSync, Module: ModuleCPanel, Disabled: true, Failures: 12}),
			path: PathEnableClusterServer, form: url.Values{"server": {"ns1.example"}}, ok: true, message: "ns1.example is now enabled.",
			check: func(t *testing.T, c Config) {
				if m := c.Members["ns1.example"]; m.Disabled || m.Failures != 0 {
					t.Errorf("member %#v", m)
				}
			}},
		{name: "re-enable an unknown server", start: withMembers(ns1), path: PathEnableClusterServer,
			form: url.Values{"server": {"nsX.example"}}, message: "does not appear to be configured"},
		{name: "threshold: custom", start: withMembers(), path: PathAdjustClusterOptions,
			form: url.Values{"autodisablethreshold": {"3"}, "cluster_failure_notifications": {"1"}}, ok: true,
			check: func(t *testing.T, c Config) {
				if c.Threshold != 3 || !c.Notify {
					t.Errorf("threshold %d notify %t", c.Threshold, c.Notify)
				}
			}},
		{name: "threshold: default control wins over the number", start: withMembers(), path: PathAdjustClusterOptions,
			form: url.Values{"autodisablethreshold_control": {"default"}, "autodisablethreshold": {"3"}}, ok: true,
			check: func(t *testing.T, c Config) {
				if c.Threshold != DefaultThreshold || c.Notify {
					t.Errorf("threshold %d notify %t (notifications off unless posted as 1)", c.Threshold, c.Notify)
				}
			}},
		{name: "threshold: disabled means never", start: withMembers(), path: PathAdjustClusterOptions,
			form: url.Values{"autodisablethreshold_control": {"disabled"}}, ok: true,
			check: func(t *testing.T, c Config) {
				if c.Threshold != 0 {
					t.Errorf("threshold %d", c.Threshold)
				}
			}},
		{name: "threshold: negative is 0, as Perl clamps it", start: withMembers(), path: PathAdjustClusterOptions,
			form: url.Values{"autodisablethreshold": {"-4"}}, ok: true,
			check: func(t *testing.T, c Config) {
				if c.Threshold != 0 {
					t.Errorf("threshold %d", c.Threshold)
				}
			}},
		{name: "threshold: missing", start: withMembers(), path: PathAdjustClusterOptions, message: "Missing failure threshold setting."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.start)
			before := f.g.Snapshot()
			status, body := f.post(t, tc.path, tc.form)
			if status != http.StatusOK {
				t.Fatalf("HTTP %d", status)
			}
			if tc.ok != okPage(body) || tc.ok == errorPage(body) {
				t.Fatalf("ok = %t, want %t:\n%s", okPage(body), tc.ok, body)
			}
			if !strings.Contains(body, tc.message) {
				t.Errorf("page lacks %q:\n%s", tc.message, body)
			}
			if tokenShown.MatchString(body) || strings.Contains(body, testToken) {
				t.Errorf("page shows a token:\n%s", body)
			}
			if strings.Join(f.calls, ",") != strings.Join(tc.hooks, ",") {
				t.Errorf("hooks %v, want %v", f.calls, tc.hooks)
			}
			after := f.g.Snapshot()
			if !tc.ok {
				if !equalConfig(before, after) {
					t.Errorf("a refused request changed the config")
				}
				return
			}
			if len(f.changed) != 1 || !equalConfig(f.changed[0], after) {
				t.Errorf("Changed hook saw %d configs", len(f.changed))
			}
			if tc.check != nil {
				tc.check(t, after)
			}
		})
	}
}

func equalConfig(a, b Config) bool {
	if a.Enabled != b.Enabled || a.Threshold != b.Threshold || a.Notify != b.Notify || len(a.Members) != len(b.Members) {
		return false
	}
	for h, m := range a.Members {
		if n := b.Members[h]; n == nil || *n != *m {
			return false
		}
	}
	return true
}

func TestActivateRemoteHookFailures(t *testing.T) {
	form := url.Values{"module": {"cPanel"}, "host": {"ns2.example"}, "user": {"root"}, "pass": {"tok2"}, "dnsrole": {"sync"}, "recurse": {"on"}}
	t.Run("verify fails: nothing saved", func(t *testing.T) {
		f := newFixture(t, withMembers())
		f.fail["verify"] = errors.New("401 access denied for token tok2")
		_, body := f.post(t, PathActivateRemote, form)
		if !errorPage(body) || !strings.Contains(body, `id="activateNameserverFailed"`) || !strings.Contains(body, "401 access denied") {
			t.Fatalf("page:\n%s", body)
		}
		if tokenShown.MatchString(body) {
			t.Fatalf("page shows the token a hook's error quoted:\n%s", body)
		}
		if len(f.g.Snapshot().Members) != 0 {
			t.Fatal("member saved although the remote refused")
		}
	})
	t.Run("reverse trust fails: member kept, warning shown", func(t *testing.T) {
		f := newFixture(t, withMembers())
		f.fail["reversetrust"] = errors.New("remote refused")
		_, body := f.post(t, PathActivateRemote, form)
		if !okPage(body) || !strings.Contains(body, `<div class="warningmsg">`) || !strings.Contains(body, "remote refused") {
			t.Fatalf("page:\n%s", body)
		}
		if f.g.Snapshot().Members["ns2.example"] == nil {
			t.Fatal("member not saved")
		}
	})
}

func TestAuthAndMethods(t *testing.T) {
	f := newFixture(t, withMembers(ns1))
	for _, path := range Paths {
		for _, authz := range []string{"", "whm root:wrong", "cpanel root:" + testToken} {
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader("clusterdns=0&server=ns1.example"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with %q: HTTP %d, want 401", path, authz, resp.StatusCode)
			}
		}
		req, _ := http.NewRequest(http.MethodDelete, f.srv.URL+path, nil)
		req.Header.Set("Authorization", "whm root:"+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("DELETE %s: HTTP %d", path, resp.StatusCode)
		}
	}
	if c := f.g.Snapshot(); !c.Enabled || len(c.Members) != 1 {
		t.Fatal("refused requests changed the config")
	}
	t.Run("GET works like POST", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+PathAdjustClusterDNS+"?clusterdns=0", nil)
		req.Header.Set("Authorization", "whm root:"+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if f.g.Snapshot().Enabled {
			t.Fatal("GET did not disable clustering")
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		_, body := f.post(t, PathRemClusterServer, url.Values{"server": {"ns1.example"}, "pad": {strings.Repeat("x", maxForm)}})
		if !errorPage(body) || !strings.Contains(body, "too large") {
			t.Fatalf("page:\n%s", body)
		}
		if len(f.g.Snapshot().Members) != 1 {
			t.Fatal("oversized request changed the config")
		}
	})
}

func TestClusterStatusGolden(t *testing.T) {
	cfg := withMembers(
		Member{Host: "ns1.example", User: "root", Token: "tok1", Role: RoleSync, Module: ModuleCPanel},
		Member{Host: "ns2.example", User: "reseller<b>", Token: "tok2", Role: RoleWriteOnly, Module: ModuleCPanel, Disabled: true, Failures: 11},
		Member{Host: "ns0.example", User: "root", Token: "tok0", Role: RoleStandalone, Module: ModuleCPanel, Failures: 2},
	)
	cfg.Threshold = 5
	f := newFixture(t, cfg)
	status, body := f.post(t, PathClusterStatus, nil)
	if status != http.StatusOK {
		t.Fatalf("HTTP %d", status)
	}
	if tokenShown.MatchString(body) {
		t.Fatal("status page shows a token")
	}
	path := filepath.Join("testdata", "clusterstatus.html")
	if *update {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if body != string(want) {
		t.Errorf("status page differs from %s:\n%s", path, body)
	}
	// The page parses back into the config, which is what a provider relies on.
	got, err := ParseStatus(body)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Enabled || got.Threshold != 5 || !got.Notify || len(got.Members) != 3 {
		t.Fatalf("parsed %+v", got)
	}
	for h, m := range cfg.Members {
		p := got.Members[h]
		if p == nil || p.Role != m.Role || p.User != m.User || p.Disabled != m.Disabled || p.Failures != m.Failures || p.Module != m.Module || p.Token != "" {
			t.Errorf("%s parsed as %#v, want %#v", h, p, m)
		}
	}
}

func TestGuardedJSON(t *testing.T) {
	g := NewGuarded(withMembers(ns1))
	b, err := g.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Guarded
	if err := back.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if !equalConfig(back.Snapshot(), g.Snapshot()) {
		t.Fatalf("round trip: %s", b)
	}
	if err := back.UnmarshalJSON([]byte(`{"members": 3}`)); err == nil {
		t.Fatal("bad JSON accepted")
	}
	m := ns1
	if strings.Contains(m.String(), "tok1") || strings.Contains((&m).GoString(), "tok1") {
		t.Fatal("Member prints its token")
	}
}

func TestPerlInt(t *testing.T) {
	tests := map[string]int{"": 0, "abc": 0, "7": 7, " 12 ": 12, "3.9": 3, "5x": 5, "-4": -4, "+2": 2, "-": 0,
		"99999999999": 1<<31 - 1, "-99999999999": -1 << 31}
	for in, want := range tests {
		if got := perlInt(in); got != want {
			t.Errorf("perlInt(%q) = %d, want %d", in, got, want)
		}
	}
}

package dnscluster

import (
	"context"
	"flag"
	"fmt"
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

// The fixture's fleet: this server is 192.0.2.1; ns1..ns3 resolve to 192.0.2.11..13.
var fleet = map[string]string{"ns1.example": "192.0.2.11", "ns2.example": "192.0.2.12", "ns3.example": "192.0.2.13", "self.example": "192.0.2.1"}

type fixture struct {
	g       *Guarded
	srv     *httptest.Server
	mu      sync.Mutex
	changed int
	calls   []string             // hook calls, in order
	remote  map[string]error     // Remote's error by IP
	trust   error                // ReverseTrust's error
	peers   map[string]PeerState // Peer's answer by IP
	acls    map[string][]string  // token → ACLs (testToken: all)
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{g: NewGuarded(cfg), remote: map[string]error{}, peers: map[string]PeerState{},
		acls: map[string][]string{testToken: {"all"}, "CLUSTERONLY": {"clustering"}, "NOACL": {"list-accts"}}}
	record := func(s string) {
		f.mu.Lock()
		f.calls = append(f.calls, s)
		f.mu.Unlock()
	}
	hooks := Hooks{
		Resolve: func(host string) (string, bool) {
			ip, ok := fleet[strings.ToLower(host)]
			return ip, ok
		},
		LocalIPs: func() []string { return []string{"192.0.2.1"} },
		Remote: func(_ context.Context, ip, user, token string) (RemoteInfo, error) {
			record("remote " + ip + " " + user)
			if err := f.remote[ip]; err != nil {
				return RemoteInfo{}, err
			}
			for h, a := range fleet {
				if a == ip {
					return RemoteInfo{Version: "11.120.0.5", Hostname: h}, nil
				}
			}
			return RemoteInfo{}, fmt.Errorf("500 Can't connect to %s:2087", ip)
		},
		ReverseTrust: func(_ context.Context, m Member) error { record("reversetrust " + m.Host); return f.trust },
		SyncZones:    func(_ context.Context, m Member) { record("synczones " + m.Host) },
		Peer: func(_ context.Context, m Member) PeerState {
			if p, ok := f.peers[m.Host]; ok {
				return p
			}
			return PeerState{Reached: true, GoodPrivs: true, Version: "11.120.0.5", DNSServer: "bind", DNSEnabled: true, DNSRunning: true, DNSMonitored: true, HasTrust: 1}
		},
		Changed: func(Config) { f.mu.Lock(); f.changed++; f.mu.Unlock() },
	}
	auth := func(r *http.Request) (Identity, bool) {
		user, tok, _ := strings.Cut(strings.TrimPrefix(r.Header.Get("Authorization"), "whm "), ":")
		acls, ok := f.acls[tok]
		return Identity{User: user, ACLs: acls}, ok && user == "root"
	}
	f.srv = httptest.NewServer(Handler(f.g, auth, hooks))
	t.Cleanup(f.srv.Close)
	return f
}

// post sends a form the way WHM's screens do and returns status and body.
func (f *fixture) post(t *testing.T, path string, form url.Values) (int, string) {
	t.Helper()
	return f.postAs(t, testToken, path, form)
}

func (f *fixture) postAs(t *testing.T, token, path string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "whm root:"+token)
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

var ns1 = Member{Host: "192.0.2.11", Hostname: "ns1.example", User: "root", Token: "tok1", Role: RoleSync, Module: ModuleCPanel}

// add is a complete add form as WHM's configure screen posts it.
func add(host, role string, extra ...string) url.Values {
	v := url.Values{"module": {"cPanel"}, "cluster_user": {"root"}, "host": {host}, "user": {"root"}, "pass": {"tok9"}, "dnsrole": {role}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			v.Del(extra[i])
			continue
		}
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// TestScreens checks each screen against the form fields and checks its CGI reads
// (whostmgr/docroot/cgi/*.cgi, Cpanel/NameServer/Setup/Remote/cPanel.pm,
// Cpanel/DNSLib/PeerConfig.pm, Whostmgr/DNS/Cluster.pm) and the texts it prints.
func TestScreens(t *testing.T) {
	tests := []struct {
		name    string
		start   Config
		token   string
		path    string
		form    url.Values
		ok      bool
		message string // the page's exact ok/error text (lines joined by <br />)
		calls   []string
		check   func(t *testing.T, c Config)
	}{
		{name: "enable clustering", start: DefaultConfig(), path: PathAdjustClusterDNS, form: url.Values{"clusterdns": {"1"}, "cluster_user": {"root"}},
			ok: true, message: "<h3>Your changes have been saved.</h3>", check: func(t *testing.T, c Config) {
				if !c.Enabled {
					t.Error("not enabled")
				}
			}},
		{name: "disable clustering keeps members", start: withMembers(ns1), path: PathAdjustClusterDNS, form: url.Values{"clusterdns": {"0"}},
			ok: true, check: func(t *testing.T, c Config) {
				if c.Enabled || len(c.Members) != 1 {
					t.Errorf("enabled %t, %d members", c.Enabled, len(c.Members))
				}
			}},
		{name: "clusterdns left out disables (Perl truth)", start: withMembers(), path: PathAdjustClusterDNS, form: url.Values{},
			ok: true, check: func(t *testing.T, c Config) {
				if c.Enabled {
					t.Error("still enabled")
				}
			}},
		{name: "clustering is root only", start: DefaultConfig(), token: "CLUSTERONLY", path: PathAdjustClusterDNS, form: url.Values{"clusterdns": {"1"}},
			message: "<h3>Permission denied</h3>"},
		{name: "add: keyed by the resolved address, host name from the remote, reverse trust, sync",
			start: withMembers(), path: PathActivateRemote,
			form: add("NS2.example", "sync", "recurse", "on", "synczones", "on", "debug", "1"),
			ok:   true,
			message: "The Trust Relationship has been established.<br />The remote server, ns2.example, is running WHM version: 11.120.0.5<br />" +
				"The reverse trust relationship has been established from the remote server to this server as well.<br />Queued task to synchronize zones.<br /><br />The new role for 192.0.2.12 is sync.",
			calls: []string{"remote 192.0.2.12 root", "reversetrust 192.0.2.12", "synczones 192.0.2.12"},
			check: func(t *testing.T, c Config) {
				m := c.Members["192.0.2.12"]
				if m == nil || m.Hostname != "ns2.example" || m.Role != RoleSync || m.Token != "tok9" || m.User != "root" || m.Module != ModuleCPanel || !m.Debug {
					t.Errorf("member %#v", m)
				}
				if c.Members["ns2.example"] != nil || len(c.Members) != 1 {
					t.Errorf("members %v", c.Hosts())
				}
			}},
		{name: "add without recurse: no credential check, version 10.0.0, typed host kept",
			start: withMembers(), path: PathActivateRemote, form: add("ns3.example", "write-only"),
			ok:      true,
			message: "The Trust Relationship has been established.<br />The remote server, ns3.example, is running WHM version: 10.0.0<br /><br />The new role for 192.0.2.13 is write-only.",
			check: func(t *testing.T, c Config) {
				if m := c.Members["192.0.2.13"]; m == nil || m.Role != RoleWriteOnly {
					t.Errorf("member %#v", m)
				}
			}},
		{name: "add with recurse=1: credentials checked, no reverse trust",
			start: withMembers(), path: PathActivateRemote, form: add("ns3.example", "write-only", "recurse", "1"),
			ok: true, calls: []string{"remote 192.0.2.13 root"}},
		{name: "add with a wrong token: refused, nothing saved, setup's text dropped",
			start: withMembers(), path: PathActivateRemote, form: add("ns2.example", "sync", "recurse", "on"),
			message: "Failed to set up DNS cluster for module “cPanel”.", calls: []string{"remote 192.0.2.12 root"},
			check: func(t *testing.T, c Config) {
				if len(c.Members) != 0 {
					t.Errorf("saved %v", c.Hosts())
				}
			}},
		{name: "reverse trust refused: member kept, notice", start: withMembers(), path: PathActivateRemote,
			form: add("ns1.example", "standalone", "recurse", "on"), ok: true,
			calls: []string{"remote 192.0.2.11 root", "reversetrust 192.0.2.11"},
			check: func(t *testing.T, c Config) {
				if c.Members["192.0.2.11"] == nil {
					t.Error("member not saved")
				}
			}},
		{name: "re-adding keeps the down state", start: withMembers(Member{Host: "192.0.2.11", Hostname: "ns1.example", User: "root", Token: "old", Role: RoleSync, Module: ModuleCPanel, Disabled: true, Failures: 11}),
			path: PathActivateRemote, form: add("ns1.example", "write-only"), ok: true,
			check: func(t *testing.T, c Config) {
				if m := c.Members["192.0.2.11"]; m.Token != "tok9" || m.Role != RoleWriteOnly || !m.Disabled || m.Failures != 11 {
					t.Errorf("member %#v", m)
				}
			}},
		{name: "add: dnsrole is required", start: withMembers(), path: PathActivateRemote, form: add("ns1.example", ""),
			message: "The required parameter “dnsrole” is not set."},
		{name: "add: dnsrole 0 is missing too (Perl truth)", start: withMembers(), path: PathActivateRemote, form: add("ns1.example", "0"),
			message: "The required parameter “dnsrole” is not set."},
		{name: "add: cluster_user is required", start: withMembers(), path: PathActivateRemote, form: add("ns1.example", "sync", "cluster_user", ""),
			message: "The required parameter “cluster_user” is not set."},
		{name: "add: a bad role fails in setup", start: withMembers(), path: PathActivateRemote, form: add("ns1.example", "Sync"),
			message: "Failed to set up DNS cluster for module “cPanel”."},
		{name: "add: an unresolvable host", start: withMembers(), path: PathActivateRemote, form: add("nowhere.example", "sync"),
			message: "Failed to set up DNS cluster for module “cPanel”."},
		{name: "add: this server itself", start: withMembers(), path: PathActivateRemote, form: add("self.example", "sync"),
			message: "Failed to set up DNS cluster for module “cPanel”."},
		{name: "add: another module", start: withMembers(), path: PathActivateRemote, form: add("ns1.example", "sync", "module", "SoftLayer"),
			message: "The system failed to load the module “Cpanel::NameServer::Setup::Remote::SoftLayer”."},
		{name: "change a role by address", start: withMembers(ns1), path: PathChangeClusterDNS, form: url.Values{"server": {"192.0.2.11"}, "dnsrole": {"write-only"}},
			ok: true, message: "The new role for 192.0.2.11 is write-only.", check: func(t *testing.T, c Config) {
				if c.Members["192.0.2.11"].Role != RoleWriteOnly {
					t.Error("role not changed")
				}
			}},
		{name: "change to sync by host name: refused (root never added that name)", start: withMembers(ns1), path: PathChangeClusterDNS,
			form:    url.Values{"server": {"ns1.example"}, "dnsrole": {"sync"}},
			message: "For security reasons, the root user must add this server into the cluster before it can be made to synchronize dns records.  To accomplish this you or the server administrator must login as root and add ns1.example to the cluster."},
		{name: "change to standalone by host name: a stray role file", start: withMembers(ns1), path: PathChangeClusterDNS,
			form: url.Values{"server": {"ns1.example"}, "dnsrole": {"standalone"}}, ok: true,
			check: func(t *testing.T, c Config) {
				if c.StrayRoles["ns1.example"] != RoleStandalone || c.Members["192.0.2.11"].Role != RoleSync {
					t.Errorf("stray %v, member %#v", c.StrayRoles, c.Members["192.0.2.11"])
				}
			}},
		{name: "change with a bad role", start: withMembers(ns1), path: PathChangeClusterDNS, form: url.Values{"server": {"192.0.2.11"}, "dnsrole": {"master"}},
			message: "The dnsrole is not valid."},
		{name: "change without a server", start: withMembers(ns1), path: PathChangeClusterDNS, form: url.Values{"dnsrole": {"sync"}},
			message: "The server contains invalid characters."},
		{name: "remove by address", start: withMembers(ns1), path: PathRemClusterServer, form: url.Values{"server": {"192.0.2.11"}},
			ok: true, message: "<h3>Server removed from cluster.</h3>", check: func(t *testing.T, c Config) {
				if len(c.Members) != 0 {
					t.Error("not removed")
				}
			}},
		{name: "remove by host name unlinks nothing", start: withMembers(ns1), path: PathRemClusterServer, form: url.Values{"server": {"ns1.example"}},
			ok: true, check: func(t *testing.T, c Config) {
				if len(c.Members) != 1 {
					t.Error("removed by host name")
				}
			}},
		{name: "remove without a server", start: withMembers(ns1), path: PathRemClusterServer, message: "<h3>Server Not Specified</h3>"},
		{name: "enable a disabled member", start: withMembers(Member{Host: "192.0.2.11", Hostname: "ns1.example", User: "root", Token: "t", Role: RoleSync, Module: ModuleCPanel, Disabled: true, Failures: 12}),
			path: PathEnableClusterServer, form: url.Values{"server": {"192.0.2.11"}}, ok: true, message: "<h3>192.0.2.11 is now enabled.</h3>",
			check: func(t *testing.T, c Config) {
				if m := c.Members["192.0.2.11"]; m.Disabled || m.Failures != 0 {
					t.Errorf("member %#v", m)
				}
			}},
		{name: "enable by host name", start: withMembers(ns1), path: PathEnableClusterServer, form: url.Values{"server": {"ns1.example"}},
			message: "<h3>ns1.example does not appear to be configured as a member of the cluster.</h3>"},
		{name: "enable needs root", start: withMembers(ns1), token: "CLUSTERONLY", path: PathEnableClusterServer, form: url.Values{"server": {"192.0.2.11"}},
			message: "<h3>Permission denied</h3>"},
		{name: "threshold custom", start: withMembers(), path: PathAdjustClusterOptions,
			form: url.Values{"autodisablethreshold_control": {"custom"}, "autodisablethreshold": {"3"}, "cluster_failure_notifications": {"1"}},
			ok:   true, message: "<h3>Your changes have been saved.</h3>", check: func(t *testing.T, c Config) {
				if c.Threshold != 3 || !c.Notify {
					t.Errorf("threshold %d notify %t", c.Threshold, c.Notify)
				}
			}},
		{name: "threshold default wins over the number; notifications off when left out", start: withMembers(), path: PathAdjustClusterOptions,
			form: url.Values{"autodisablethreshold_control": {"default"}, "autodisablethreshold": {"3"}}, ok: true,
			check: func(t *testing.T, c Config) {
				if c.Threshold != 10 || c.Notify {
					t.Errorf("threshold %d notify %t", c.Threshold, c.Notify)
				}
			}},
		{name: "threshold never", start: withMembers(), path: PathAdjustClusterOptions, form: url.Values{"autodisablethreshold_control": {"disabled"}}, ok: true,
			check: func(t *testing.T, c Config) {
				if c.Threshold != 0 {
					t.Errorf("threshold %d", c.Threshold)
				}
			}},
		{name: "threshold missing", start: withMembers(), path: PathAdjustClusterOptions, form: url.Values{"autodisablethreshold_control": {"custom"}},
			message: "<h3>Missing failure threshold setting.</h3>"},
		{name: "trustclustermaster: the caller joins as standalone, by address", start: DefaultConfig(), path: PathTrustClusterMaster,
			form: url.Values{"user": {"root"}, "clustermaster": {"192.0.2.12"}, "pass": {"tok7"}, "version": {"11.120.0.5"}, "recurse": {"0"}},
			ok:   true, message: "The trust relationship has been established from the remote server to this server.",
			calls: []string{"remote 192.0.2.12 root"},
			check: func(t *testing.T, c Config) {
				m := c.Members["192.0.2.12"]
				if m == nil || m.Role != RoleStandalone || m.Hostname != "192.0.2.12" || m.Token != "tok7" || c.Enabled {
					t.Errorf("member %#v, enabled %t", m, c.Enabled)
				}
			}},
		{name: "trustclustermaster: a token the caller refuses", start: DefaultConfig(), path: PathTrustClusterMaster,
			form:    url.Values{"user": {"root"}, "clustermaster": {"192.0.2.11"}, "pass": {"tok7"}, "recurse": {"0"}},
			message: "<h3>The remote server did not accept the access hash.  Please verify the access hash and username and try again.  The exact message was 401 Access Denied.  For more information check /usr/local/cpanel/logs/login_log on the remote server.</h3>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.start)
			f.remote["192.0.2.12"] = nil
			if strings.Contains(tt.name, "wrong token") || strings.Contains(tt.name, "refuses") {
				f.remote["192.0.2.12"] = fmt.Errorf("%w", ErrUnauthorized)
				f.remote["192.0.2.11"] = fmt.Errorf("%w", ErrUnauthorized)
			}
			if strings.Contains(tt.name, "reverse trust refused") {
				f.trust = fmt.Errorf("refused")
			}
			token := tt.token
			if token == "" {
				token = testToken
			}
			status, body := f.postAs(t, token, tt.path, tt.form)
			if status != http.StatusOK {
				t.Fatalf("HTTP %d", status)
			}
			if okPage(body) != tt.ok || errorPage(body) == tt.ok {
				t.Fatalf("ok %t, want %t:\n%s", okPage(body), tt.ok, body)
			}
			if tt.message != "" && !strings.Contains(body, tt.message) {
				t.Fatalf("page lacks %q:\n%s", tt.message, body)
			}
			if tokenShown.MatchString(body) {
				t.Fatalf("page shows a token:\n%s", body)
			}
			if tt.calls != nil && strings.Join(f.calls, "; ") != strings.Join(tt.calls, "; ") {
				t.Errorf("calls %q, want %q", f.calls, tt.calls)
			}
			if !tt.ok && f.changed > 0 && !strings.Contains(tt.name, "wrong token") {
				t.Errorf("a refused request changed the config")
			}
			if tt.check != nil {
				tt.check(t, f.g.Snapshot())
			}
		})
	}
}

func TestAuthAndMethods(t *testing.T) {
	f := newFixture(t, withMembers(ns1))
	for _, path := range Paths {
		for _, authz := range []string{"", "whm root:wrong", "cpanel root:" + testToken} {
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader("clusterdns=0&server=192.0.2.11"))
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
		if _, body := f.postAs(t, "NOACL", path, url.Values{"clusterdns": {"0"}, "server": {"192.0.2.11"}}); !strings.Contains(body, "Permission denied") {
			t.Errorf("%s without the clustering ACL:\n%s", path, body)
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
		_, body := f.post(t, PathRemClusterServer, url.Values{"server": {"192.0.2.11"}, "pad": {strings.Repeat("x", maxForm)}})
		if !errorPage(body) || !strings.Contains(body, "too large") {
			t.Fatalf("page:\n%s", body)
		}
		if len(f.g.Snapshot().Members) != 1 {
			t.Fatal("oversized request changed the config")
		}
	})
}

// StatusStates is every member state clusterstatus.tmpl renders for a cPanel member,
// with the peer answer that leads to it. The provider's parser tests read the golden
// page it makes.
var StatusStates = []struct {
	Name   string
	Member Member
	Peer   PeerState
}{
	{"active", Member{Host: "192.0.2.11", Hostname: "ns1.example", User: "root", Token: "tok1", Role: RoleSync, Module: ModuleCPanel},
		PeerState{Reached: true, GoodPrivs: true, Version: "11.120.0.5", DNSServer: "bind", DNSEnabled: true, DNSRunning: true, DNSMonitored: true, HasTrust: 1}},
	{"auto-disabled", Member{Host: "192.0.2.12", Hostname: "ns2.example", User: "root", Token: "tok2", Role: RoleWriteOnly, Module: ModuleCPanel, Disabled: true, Failures: 11}, PeerState{}},
	{"remote DNS switched off", Member{Host: "192.0.2.13", Hostname: "ns3.example", User: "root", Token: "tok3", Role: RoleWriteOnly, Module: ModuleCPanel},
		PeerState{Reached: true, GoodPrivs: true, Version: "11.120.0.5", DNSServer: "bind", DNSMonitored: true, HasTrust: 1}},
	{"needs reverse trust", Member{Host: "192.0.2.14", Hostname: "ns4.example", User: "root", Token: "tok4", Role: RoleStandalone, Module: ModuleCPanel},
		PeerState{Reached: true, GoodPrivs: true, Version: "11.120.0.5", DNSServer: "bind", DNSEnabled: true, DNSRunning: true, DNSMonitored: true, HasTrust: 0}},
	{"unreachable", Member{Host: "192.0.2.15", Hostname: "ns5.example", User: "root", Token: "tok5", Role: RoleSync, Module: ModuleCPanel}, PeerState{HasTrust: -1}},
	{"insufficient ACLs", Member{Host: "192.0.2.16", Hostname: "ns6.example", User: "reseller<b>", Token: "tok6", Role: RoleWriteOnly, Module: ModuleCPanel},
		PeerState{Reached: true, Version: "11.120.0.5", HasTrust: -1}},
	{"DNS server down", Member{Host: "192.0.2.17", Hostname: "ns7.example", User: "root", Token: "tok7", Role: RoleWriteOnly, Module: ModuleCPanel},
		PeerState{Reached: true, GoodPrivs: true, Version: "11.120.0.5", DNSServer: "bind", DNSEnabled: true, DNSMonitored: true, HasTrust: 1}},
	{"DNS server not monitored", Member{Host: "192.0.2.18", Hostname: "", User: "root", Token: "tok8", Role: RoleWriteOnly, Module: ModuleCPanel},
		PeerState{Reached: true, GoodPrivs: true, Version: "11.120.0.5", DNSServer: "bind", DNSEnabled: true, HasTrust: 1}},
}

func TestClusterStatusGolden(t *testing.T) {
	tests := []struct {
		file string
		cfg  func() Config
	}{
		{"clusterstatus.html", func() Config {
			cfg := DefaultConfig()
			cfg.Enabled, cfg.Threshold = true, 5
			for _, s := range StatusStates {
				m := s.Member
				cfg.Members[m.Host] = &m
			}
			return cfg
		}},
		{"clusterstatus.off.html", DefaultConfig},
		{"clusterstatus.empty.html", func() Config { c := DefaultConfig(); c.Enabled, c.Threshold, c.Notify = true, 0, false; return c }},
		{"clusterstatus.default.html", func() Config { c := DefaultConfig(); c.Enabled = true; c.Members["192.0.2.11"] = &ns1; return c }},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := newFixture(t, tt.cfg())
			for _, s := range StatusStates {
				f.peers[s.Member.Host] = s.Peer
			}
			status, body := f.post(t, PathClusterStatus, nil)
			if status != http.StatusOK {
				t.Fatalf("HTTP %d", status)
			}
			if tokenShown.MatchString(body) {
				t.Fatal("status page shows a token")
			}
			path := filepath.Join("testdata", tt.file)
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
		})
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

func TestPerlInt(t *testing.T) {
	tests := map[string]int{"": 0, "abc": 0, "7": 7, " 12 ": 12, "3.9": 3, "5x": 5, "-4": -4, "+2": 2, "-": 0,
		"99999999999": 1<<31 - 1, "-99999999999": -1 << 31}
	for in, want := range tests {
		if got := perlInt(in); got != want {
			t.Errorf("perlInt(%q) = %d, want %d", in, got, want)
		}
	}
}

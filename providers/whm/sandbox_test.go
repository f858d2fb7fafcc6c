package whm

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/sandbox/dnscluster"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// These tests talk to internal/sandbox over real HTTP on loopback: the provider
// cannot tell it from a WHM server.

// quiet drops log lines: several tests provoke the failures the provider logs.
var quiet = slog.New(slog.DiscardHandler)

func sandboxFleet() *schema.Fleet {
	return &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1":  {Role: schema.RoleParent, Host: "web1.example.net", IPv4: "192.0.2.10", Version: 118, Profile: schema.ProfileStandard},
		"mail1": {Role: schema.RoleChild, Parent: "web1", Host: "mail1.example.net", IPv4: "192.0.2.20", Version: 118, Services: []string{"mail"}},
		"mail2": {Role: schema.RoleChild, Parent: "web1", Host: "mail2.example.net", IPv4: "192.0.2.21", Version: 118, Services: []string{"mail"}},
		"ns1":   {Role: schema.RoleDNSOnly, Host: "ns1.example.net", IPv4: "192.0.2.53", Version: 118},
	}}
}

type sbFixture struct {
	sb      *sandbox.Sandbox
	p       *Provider
	desired *schema.Fleet
	mu      sync.Mutex
	calls   []recordedCall
}

type recordedCall struct {
	fn     string
	params url.Values
}

func startSandbox(t testing.TB, fleet *schema.Fleet) *sbFixture {
	t.Helper()
	sb, err := sandbox.Start(context.Background(), sandbox.Options{
		StateDir: t.TempDir(), Fleet: fleet, TaskDelay: 20 * time.Millisecond,
		RemoteTimeout: 2 * time.Second, FlushInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	f := &sbFixture{sb: sb, desired: fleet}
	eps := map[string]providers.Endpoint{}
	for name, ep := range sb.Endpoints().Nodes {
		eps[name] = ep.ProviderEndpoint()
	}
	p, err := New(providers.Config{Endpoints: eps, Logger: quiet}, Options{
		Client: whmapi.Options{BaseDelay: 5 * time.Millisecond, OnCall: func(fn string, q url.Values) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.calls = append(f.calls, recordedCall{fn, q})
		}, OnDecode: decodes.add},
		PollBase: 5 * time.Millisecond, PollMax: 50 * time.Millisecond, TaskTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.rememberHosts(fleet)
	f.p = p
	return f
}

func (f *sbFixture) observe(t *testing.T) *schema.Fleet {
	t.Helper()
	got, err := f.p.Observe(context.Background(), "web1", f.desired)
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	return got
}

func TestSandboxApplyAndObserve(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	ctx := context.Background()

	bob := &schema.Reseller{Account: *acct("bob-hosting.example", "mail1", func(a *schema.Account) {
		a.ContactEmail = "bob@example.org"
	}), ACLs: []string{"list-accts", "create-acct"}, Limits: &schema.ResellerLimits{Accounts: intp(50)}}
	bob2 := *bob
	bob2.Limits = &schema.ResellerLimits{Accounts: intp(7)}
	alice := acct("alice.example", "mail1", func(a *schema.Account) {
		a.Owner, a.ContactEmail, a.Features = "bob", "alice@example.org", map[string]bool{"apitokens": true}
	})
	carol := acct("carol.example", "", func(a *schema.Account) { a.Suspended = true })
	carol2 := acct("carol.example", "", func(a *schema.Account) { a.ContactEmail = "c@example.org" })
	carolM2 := acct("carol.example", "mail2", func(a *schema.Account) { a.ContactEmail = "c@example.org" })
	carolM1 := acct("carol.example", "mail1", func(a *schema.Account) { a.ContactEmail = "c@example.org" })

	type sbStep struct {
		ch      *plan.Change
		check   func(t *testing.T, obs *schema.Fleet)
		before  func(t *testing.T)
		wantErr string
	}
	mailIs := func(user, node string) func(*testing.T, *schema.Fleet) {
		return func(t *testing.T, obs *schema.Fleet) {
			a := obs.Accounts[user]
			if a == nil || a.MailNode() != node {
				t.Errorf("%s observed %+v, want mail on %q", user, a, node)
			}
		}
	}
	steps := []sbStep{
		{ch: &plan.Change{Address: "node.mail1", Action: plan.Update, Fields: []string{"profile", "passwordStrength"}, Target: "mail1",
			After: &schema.Node{Role: schema.RoleChild, Parent: "web1", Profile: schema.ProfileMailNode, PasswordStrength: map[string]int{"virtual": 70, "list": 60}}},
			// Not linked yet: observed on its own, with no role.
			check: func(t *testing.T, obs *schema.Fleet) {
				if n := obs.Nodes["mail1"]; n == nil || n.Role != "" || n.Profile != schema.ProfileMailNode || n.PasswordStrength["virtual"] != 70 {
					t.Errorf("mail1 observed %+v", n)
				}
			}},
		{ch: &plan.Change{Address: "node.mail1", Action: plan.Link, After: sandboxFleet().Nodes["mail1"], Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				n := obs.Nodes["mail1"]
				if n == nil || n.Role != schema.RoleChild || n.Parent != "web1" || n.Profile != schema.ProfileMailNode ||
					!reflect.DeepEqual(n.PasswordStrength, map[string]int{"virtual": 70, "list": 60}) || !reflect.DeepEqual(n.Services, []string{"mail"}) || n.Version != 118 {
					t.Errorf("mail1 observed %+v", n)
				}
			}},
		{ch: &plan.Change{Address: "node.mail2", Action: plan.Link, After: sandboxFleet().Nodes["mail2"], Target: "web1"}},
		{ch: &plan.Change{Address: "node.web1", Action: plan.Update, Fields: []string{"passwordStrength"}, Target: "web1",
			After: &schema.Node{Role: schema.RoleParent, PasswordStrength: map[string]int{"createacct": 80}}},
			check: func(t *testing.T, obs *schema.Fleet) {
				if obs.Nodes["web1"].PasswordStrength["createacct"] != 80 {
					t.Errorf("web1 strengths %v", obs.Nodes["web1"].PasswordStrength)
				}
			}},
		{ch: &plan.Change{Address: "reseller.bob", Action: plan.Create, After: bob, Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				r := obs.Resellers["bob"]
				if r == nil || r.MailNode() != "mail1" || r.Limits == nil || r.Limits.Accounts == nil || *r.Limits.Accounts != 50 || obs.Accounts["bob"] != nil {
					t.Errorf("bob observed %+v", r)
				}
			}},
		{ch: &plan.Change{Address: "reseller.bob", Action: plan.Update, Before: bob, After: &bob2, Fields: []string{"limits"}, Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				if r := obs.Resellers["bob"]; r == nil || r.Limits.Accounts == nil || *r.Limits.Accounts != 7 {
					t.Errorf("bob observed %+v", r)
				}
			}},
		{ch: &plan.Change{Address: "account.alice", Action: plan.Create, After: alice, Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				a := obs.Accounts["alice"]
				if a == nil || a.Owner != "bob" || a.MailNode() != "mail1" || !a.Features["apitokens"] || a.ContactEmail != "alice@example.org" {
					t.Errorf("alice observed %+v", a)
				}
			}},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Create, After: carol, Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				if a := obs.Accounts["carol"]; a == nil || !a.Suspended || a.MailNode() != "" {
					t.Errorf("carol observed %+v", a)
				}
			}},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Update, Before: carol, After: carol2, Fields: []string{"contactEmail", "suspended"}, Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				if a := obs.Accounts["carol"]; a == nil || a.Suspended || a.ContactEmail != "c@example.org" {
					t.Errorf("carol observed %+v", a)
				}
			}},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Distribute, Before: carol2, After: carolM2, Target: "web1"},
			before: func(t *testing.T) {
				if err := f.sb.AddMail("web1", "carol", "INBOX", 7); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, obs *schema.Fleet) {
				mailIs("carol", "mail2")(t, obs)
				if n := f.sb.MessageCount("mail2", "carol"); n != 7 {
					t.Errorf("carol has %d messages on mail2, want the 7 she had", n)
				}
			}},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Distribute, Before: carolM2, After: carolM1, Target: "web1", Flags: plan.Flags{Disruptive: true}},
			check: func(t *testing.T, obs *schema.Fleet) {
				mailIs("carol", "mail1")(t, obs)
				if n := f.sb.MessageCount("mail1", "carol"); n != 7 {
					t.Errorf("carol has %d messages on mail1, want 7", n)
				}
			}},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Dedistribute, Before: carolM1, After: carol2, Target: "web1", Flags: plan.Flags{Disruptive: true}},
			check: mailIs("carol", "")},
		{ch: &plan.Change{Address: "account.alice", Action: plan.Dedistribute, Before: alice, After: acct("alice.example", "", nil), Target: "web1", Flags: plan.Flags{Disruptive: true, DataLoss: true}},
			check: mailIs("alice", "")},
		{ch: &plan.Change{Address: "account.alice", Action: plan.Delete, Before: alice, Target: "web1", Flags: plan.Flags{Destructive: true}},
			check: func(t *testing.T, obs *schema.Fleet) {
				if obs.Accounts["alice"] != nil || f.sb.HasAccount("web1", "alice") {
					t.Error("alice still exists")
				}
			}},
		{ch: &plan.Change{Address: "node.mail2", Action: plan.Unlink, Before: sandboxFleet().Nodes["mail2"], Target: "web1", Flags: plan.Flags{Destructive: true}},
			check: func(t *testing.T, obs *schema.Fleet) {
				// It still answers, as nobody's child.
				if n := obs.Nodes["mail2"]; n == nil || n.Role != "" || n.Parent != "" {
					t.Errorf("mail2 observed %+v, want it unlinked", n)
				}
			}},
		{ch: &plan.Change{Address: "node.mail1", Action: plan.Unlink, Before: sandboxFleet().Nodes["mail1"], Target: "web1"}, wantErr: "in use"},
		{ch: &plan.Change{Address: "reseller.bob", Action: plan.Delete, Before: &bob2, Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				if obs.Resellers["bob"] != nil || obs.Accounts["bob"] != nil {
					t.Error("bob still exists")
				}
			}},
	}
	for i, s := range steps {
		ok := t.Run(fmt.Sprintf("%02d %s %s", i, s.ch.Address, s.ch.Action), func(t *testing.T) {
			if s.before != nil {
				s.before(t)
			}
			err := f.p.Apply(ctx, s.ch)
			if s.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), s.wantErr) {
					t.Fatalf("err = %v, want %q", err, s.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var before *schema.Fleet
			if s.ch.Action == plan.Create {
				before = f.observe(t)
			}
			f.mu.Lock()
			n := len(f.calls)
			f.mu.Unlock()
			if err := f.p.Apply(ctx, s.ch); err != nil {
				t.Fatalf("second apply: %v", err)
			}
			if before != nil && !reflect.DeepEqual(before, f.observe(t)) {
				t.Errorf("second create changed the fleet")
			}
			f.mu.Lock()
			var fns []string
			for _, c := range f.calls[n:] {
				fns = append(fns, functionsOf(c.fn, c.params)...)
			}
			for i, fn := range fns {
				// A create asks createacct first, which the sandbox refuses for a user
				// that exists; the observations around the re-run show nothing changed.
				if i == 0 && fn == "createacct" && s.ch.Action == plan.Create {
					continue
				}
				if !reads[fn] && fn != "setacls" {
					t.Errorf("second apply called %s", fn)
				}
			}
			f.mu.Unlock()
			if s.check != nil {
				s.check(t, f.observe(t))
			}
		})
		if !ok {
			break
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		for _, bad := range checkOfficial(c.fn, c.params) {
			t.Errorf("official list: %s", bad)
		}
	}
}

// A parent that goes offline: Observe fails naming it, transiently.
func TestSandboxParentOffline(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	if err := f.sb.SetFaults("web1", sandbox.Faults{Offline: true}); err != nil {
		t.Fatal(err)
	}
	f.p.opts.Client.Attempts = 2
	f.p.clients = map[string]*whmapi.Client{}
	_, err := f.p.Observe(context.Background(), "web1", f.desired)
	if err == nil || !strings.Contains(err.Error(), "parent web1") {
		t.Fatalf("err = %v, want one naming parent web1", err)
	}
}

// The DNS cluster screens of the sandbox (internal/sandbox/dnscluster), served on
// their own so the test can mark a member disabled the way WHM's dnsadmin does.
func TestSandboxDNSCluster(t *testing.T) {
	const tok = "cluster-token-SECRET"
	g := dnscluster.NewGuarded(dnscluster.Config{})
	h := dnscluster.Handler(g, func(r *http.Request) bool { return r.Header.Get("Authorization") == "whm root:"+tok }, dnscluster.Hooks{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	desired := sandboxFleet()
	p, err := New(providers.Config{Endpoints: map[string]providers.Endpoint{
		"web1": {URL: srv.URL, User: "root", Token: tok},
		"ns1":  {URL: "https://ns1.example.net:2087", User: "root", Token: "ns1-token"},
	}}, Options{Client: whmapi.Options{BaseDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	p.rememberHosts(desired)
	ctx := context.Background()
	cl := &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{N: 3}, NotifyOnDisable: true}
	clNever := &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{Never: true}}
	ns1 := &schema.Member{Node: "ns1", Host: "ns1.example.net", Role: schema.DNSRoleSync}
	ns1wo := &schema.Member{Node: "ns1", Host: "ns1.example.net", Role: schema.DNSRoleWriteOnly}
	desired.DNSClusters = map[string]*schema.DNSCluster{"web1": {Enabled: true, Members: map[string]*schema.Member{"ns1": ns1}}}

	observeCluster := func(t *testing.T) *schema.DNSCluster {
		t.Helper()
		c, _ := p.client("web1")
		got, err := p.observeCluster(ctx, c, "web1", desired)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	steps := []struct {
		ch   *plan.Change
		want *schema.DNSCluster
	}{
		{&plan.Change{Address: "dns.web1.cluster", Action: plan.Enable, After: cl, Target: "web1"},
			&schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{N: 3}, NotifyOnDisable: true}},
		{&plan.Change{Address: "dns.web1.member.ns1", Action: plan.Create, After: ns1, Target: "web1"},
			&schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{N: 3}, NotifyOnDisable: true,
				Members: map[string]*schema.Member{"ns1": {Backend: "cpanel", Node: "ns1", Role: "sync"}}}},
		{&plan.Change{Address: "dns.web1.member.ns1", Action: plan.Update, Before: ns1, After: ns1wo, Fields: []string{"role"}, Target: "web1"},
			&schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{N: 3}, NotifyOnDisable: true,
				Members: map[string]*schema.Member{"ns1": {Backend: "cpanel", Node: "ns1", Role: "write-only"}}}},
		{&plan.Change{Address: "dns.web1.cluster", Action: plan.Update, Before: cl, After: clNever, Fields: []string{"failureThreshold", "notifyOnDisable"}, Target: "web1"},
			&schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{Never: true},
				Members: map[string]*schema.Member{"ns1": {Backend: "cpanel", Node: "ns1", Role: "write-only"}}}},
		{&plan.Change{Address: "dns.web1.member.ns1", Action: plan.Enable, Before: ns1wo, After: ns1wo, Fields: []string{"disabled"}, Target: "web1"},
			&schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{Never: true},
				Members: map[string]*schema.Member{"ns1": {Backend: "cpanel", Node: "ns1", Role: "write-only"}}}},
		{&plan.Change{Address: "dns.web1.member.ns1", Action: plan.Delete, Before: ns1wo, Target: "web1"},
			&schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{Never: true}}},
		{&plan.Change{Address: "dns.web1.cluster", Action: plan.Disable, Before: clNever, Target: "web1"},
			&schema.DNSCluster{Enabled: false, FailureThreshold: schema.Threshold{Never: true}}},
	}
	for i, s := range steps {
		t.Run(fmt.Sprintf("%02d %s %s", i, s.ch.Address, s.ch.Action), func(t *testing.T) {
			if s.ch.Action == plan.Enable && strings.Contains(s.ch.Address, "member") {
				// WHM disabled it after failures; enable brings it back.
				_ = g.Update(func(c *dnscluster.Config) error {
					for _, m := range c.Members {
						m.Disabled = true
					}
					return nil
				})
			}
			for range 2 { // the second run must find it done
				if err := p.Apply(ctx, s.ch); err != nil {
					t.Fatal(err)
				}
			}
			if got := observeCluster(t); !reflect.DeepEqual(got, s.want) {
				t.Errorf("observed %s, want %s", jsonOf(got), jsonOf(s.want))
			}
		})
	}

	// A refused screen (div.errormsg) is an error naming the screen, token redacted.
	err = p.Apply(ctx, &plan.Change{Address: "dns.web1.member.ns1", Action: plan.Update, After: ns1, Target: "web1"})
	if err == nil || !strings.Contains(err.Error(), "not in the cluster") {
		t.Errorf("update of a missing member: %v", err)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestSandboxObserveDNSOnly(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	got, err := f.p.Observe(context.Background(), "ns1", f.desired)
	if err != nil {
		t.Fatal(err)
	}
	n := got.Nodes["ns1"]
	if len(got.Nodes) != 1 || n == nil || n.Role != schema.RoleDNSOnly || n.Version != 118 || n.Host != "ns1.example.net" || n.PasswordStrength == nil {
		t.Errorf("ns1 observed %+v", n)
	}
}

// The DNS cluster through the sandbox's own parents: a real member (ns1, a DNS-only
// node of the sandbox) is verified by the parent before it is saved, and Observe
// reports the cluster under the fleet's member name.
func TestSandboxClusterOnParent(t *testing.T) {
	fleet := sandboxFleet()
	ns1 := &schema.Member{Node: "ns1", Host: "ns1.example.net", Role: schema.DNSRoleSync}
	fleet.DNSClusters = map[string]*schema.DNSCluster{"web1": {Enabled: true, FailureThreshold: schema.Threshold{N: 4}, Members: map[string]*schema.Member{"primary": ns1}}}
	f := startSandbox(t, fleet)
	ctx := context.Background()
	for _, ch := range []*plan.Change{
		{Address: "dns.web1.cluster", Action: plan.Enable, After: fleet.DNSClusters["web1"], Target: "web1"},
		{Address: "dns.web1.member.primary", Action: plan.Create, After: ns1, Target: "web1"},
	} {
		for range 2 {
			if err := f.p.Apply(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := f.observe(t).DNSClusters["web1"]
	want := &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{N: 4},
		Members: map[string]*schema.Member{"primary": {Backend: "cpanel", Node: "ns1", Role: "sync"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("observed %s, want %s", jsonOf(got), jsonOf(want))
	}
	// A member the parent cannot verify is refused, and the error says so.
	bad := &schema.Member{Node: "mail2", Host: "ghost.example.net", Role: schema.DNSRoleSync}
	err := f.p.Apply(ctx, &plan.Change{Address: "dns.web1.member.ghost", Action: plan.Create, After: bad, Target: "web1"})
	if err == nil || !strings.Contains(err.Error(), "dns.web1.member.ghost") || !strings.Contains(err.Error(), cgiAddMember) {
		t.Errorf("err = %v, want the parent's refusal", err)
	} else {
		t.Logf("refused as expected: %v", err)
	}
}

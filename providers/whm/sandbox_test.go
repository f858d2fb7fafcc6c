package whm

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/reconciler"
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
	dir     string // the sandbox's state folder
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

// startSandbox starts a sandbox of fleet and a provider for it; opts adjust the
// sandbox's options (a task that never ends, a node's faults from the start).
func startSandbox(t testing.TB, fleet *schema.Fleet, opts ...func(*sandbox.Options)) *sbFixture {
	t.Helper()
	dir := t.TempDir()
	o := sandbox.Options{
		StateDir: dir, Fleet: fleet, TaskDelay: 20 * time.Millisecond,
		RemoteTimeout: 2 * time.Second, FlushInterval: 50 * time.Millisecond,
	}
	for _, opt := range opts {
		opt(&o)
	}
	sb, err := sandbox.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	f := &sbFixture{dir: dir, sb: sb, desired: fleet}
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

// TestSandboxApplyAndObserve applies every kind of change the provider makes, one
// step at a time, on the sandbox: each step is checked through Observe (and, for what
// WHM API 1 cannot read back, the sandbox's own state), applied a second time with
// reads only, and every call is held against the official function list.
func TestSandboxApplyAndObserve(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	ctx := context.Background()

	bob := &schema.Reseller{Account: *acct("bob-hosting.example", "mail1", func(a *schema.Account) {
		a.Plan, a.ContactEmail = "reseller", "bob@example.org"
	}), ACLs: []string{"list-accts", "create-acct"}, Limits: &schema.ResellerLimits{Accounts: intp(50)}}
	bob2 := *bob
	bob2.Limits = &schema.ResellerLimits{Accounts: intp(7)}
	bob3 := bob2
	bob3.ACLs = []string{"list-accts", "suspend-acct"}
	bob3.Limits = &schema.ResellerLimits{}
	alice := acct("alice.example", "mail1", func(a *schema.Account) {
		a.Owner, a.ContactEmail, a.Features = "bob", "alice@example.org", map[string]bool{"apitokens": true, "sslinstall": false}
		a.Forwarders = []schema.Forwarder{{From: "sales", To: "alice@example.org"}}
	})
	carol := acct("carol.example", "", func(a *schema.Account) { a.Suspended = true })
	carol2 := acct("carol.example", "", func(a *schema.Account) { a.Plan, a.ContactEmail = "gold", "c@example.org" })
	carolFwds := []schema.Forwarder{{From: "info", To: "c@example.org"}, {From: "void", To: ":blackhole:"}}
	carol3 := acct("carol.example", "", func(a *schema.Account) { a.Plan, a.ContactEmail, a.Forwarders = "gold", "c@example.org", carolFwds })
	carolM2 := acct("carol.example", "mail2", func(a *schema.Account) { a.Plan, a.ContactEmail, a.Forwarders = "gold", "c@example.org", carolFwds })
	carolM1 := acct("carol.example", "mail1", func(a *schema.Account) { a.Plan, a.ContactEmail, a.Forwarders = "gold", "c@example.org", carolFwds })
	fwdsOn := func(node, user string, want ...string) func(*testing.T, *schema.Fleet) {
		return func(t *testing.T, obs *schema.Fleet) {
			if got := f.sb.Forwarders(node, user); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("%s's forwarders on %s: %q, want %q", user, node, got, want)
			}
		}
	}
	carolFwdLines := []string{"info@carol.example c@example.org", "void@carol.example :blackhole:"}
	cl := &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{N: 3}}
	clNever := &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{Never: true}, NotifyOnDisable: true}
	clOne := &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{N: 1}, NotifyOnDisable: true}
	ns1 := &schema.Member{Node: "ns1", Role: schema.DNSRoleSync}
	ns1wo := &schema.Member{Node: "ns1", Role: schema.DNSRoleWriteOnly}

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
	aclsAre := func(user string, want ...string) func(*testing.T) {
		return func(t *testing.T) {
			if got, ok := f.sb.ResellerACLs("web1", user); !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: reseller %t, ACLs %v, want %v", user, ok, got, want)
			}
		}
	}
	strengths := func(t *testing.T, node string) map[string]int {
		c, err := f.p.client(node)
		if err != nil {
			t.Fatal(err)
		}
		pw, err := c.PasswordStrengths(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return pw
	}
	var mail1FTP int // mail1's own ftp strength before the update: the parent governs it
	steps := []sbStep{
		{ch: &plan.Change{Address: "node.mail1", Action: plan.Update, Fields: []string{"profile", "passwordStrength"}, Target: "mail1",
			After: &schema.Node{Role: schema.RoleChild, Parent: "web1", Profile: schema.ProfileMailNode, PasswordStrength: map[string]int{"virtual": 70, "list": 60, "ftp": 10}}},
			before: func(t *testing.T) { mail1FTP = strengths(t, "mail1")["ftp"] },
			// Not linked yet: observed on its own, with no role.
			check: func(t *testing.T, obs *schema.Fleet) {
				if n := obs.Nodes["mail1"]; n == nil || n.Role != "" || n.Profile != schema.ProfileMailNode || n.PasswordStrength["virtual"] != 70 {
					t.Errorf("mail1 observed %+v", n)
				}
				if got := strengths(t, "mail1")["ftp"]; got != mail1FTP {
					t.Errorf("mail1 ftp strength %d, want %d kept (ftp is the parent's to govern)", got, mail1FTP)
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
			After: &schema.Node{Role: schema.RoleParent, PasswordStrength: map[string]int{"createacct": 80, "virtual": 50}}},
			check: func(t *testing.T, obs *schema.Fleet) {
				if pw := obs.Nodes["web1"].PasswordStrength; pw["createacct"] != 80 || pw["virtual"] != 50 {
					t.Errorf("web1 strengths %v", pw)
				}
			}},
		{ch: &plan.Change{Address: "reseller.bob", Action: plan.Create, After: bob, Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				r := obs.Resellers["bob"]
				if r == nil || r.MailNode() != "mail1" || r.Plan != "reseller" || r.Limits == nil || r.Limits.Accounts == nil || *r.Limits.Accounts != 50 || obs.Accounts["bob"] != nil {
					t.Errorf("bob observed %+v", r)
				}
				aclsAre("bob", "create-acct", "list-accts")(t)
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
				if a == nil || a.Owner != "bob" || a.MailNode() != "mail1" || !a.Features["apitokens"] || a.Features["sslinstall"] || a.ContactEmail != "alice@example.org" {
					t.Errorf("alice observed %+v", a)
					return
				}
				// Created distributed: the parent sent the forwarder to the mail child,
				// and observes it back (a distributed account's forwarders are read).
				fwdsOn("mail1", "alice", "sales@alice.example alice@example.org")(t, obs)
				if !schema.SameForwarders(a.Forwarders, alice.Forwarders) {
					t.Errorf("alice's forwarders observed %v", a.Forwarders)
				}
				// apitokens is on in the feature list already: only sslinstall needs an override.
				if o := f.sb.FeatureOverrides("web1", "alice"); !reflect.DeepEqual(o, map[string]bool{"sslinstall": false}) {
					t.Errorf("alice's overrides %v, want sslinstall off alone", o)
				}
			}},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Create, After: carol, Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				if a := obs.Accounts["carol"]; a == nil || !a.Suspended || a.MailNode() != "" {
					t.Errorf("carol observed %+v", a)
				}
			}},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Update, Before: carol, After: carol2, Fields: []string{"plan", "contactEmail", "suspended"}, Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				if a := obs.Accounts["carol"]; a == nil || a.Suspended || a.Plan != "gold" || a.ContactEmail != "c@example.org" {
					t.Errorf("carol observed %+v", a)
				}
			}},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Update, Before: carol2, After: carol3, Fields: []string{"forwarders"}, Target: "web1"},
			before: func(t *testing.T) {
				// One the fleet does not list: removed.
				if err := f.sb.AddForwarder("web1", "carol", "old@carol.example", "gone@example.org"); err != nil {
					t.Fatal(err)
				}
			},
			check: fwdsOn("web1", "carol", carolFwdLines...)},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Distribute, Before: carol3, After: carolM2, Target: "web1"},
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
				fwdsOn("mail2", "carol", carolFwdLines...)(t, obs)
			}},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Distribute, Before: carolM2, After: carolM1, Target: "web1", Flags: plan.Flags{Disruptive: true}},
			check: func(t *testing.T, obs *schema.Fleet) {
				mailIs("carol", "mail1")(t, obs)
				if n := f.sb.MessageCount("mail1", "carol"); n != 7 {
					t.Errorf("carol has %d messages on mail1, want 7", n)
				}
			}},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Dedistribute, Before: carolM1, After: carol3, Target: "web1", Flags: plan.Flags{Disruptive: true}},
			check: func(t *testing.T, obs *schema.Fleet) {
				mailIs("carol", "")(t, obs)
				fwdsOn("web1", "carol", carolFwdLines...)(t, obs)
			}},
		{ch: &plan.Change{Address: "account.alice", Action: plan.Dedistribute, Before: alice, After: acct("alice.example", "", nil), Target: "web1", Flags: plan.Flags{Disruptive: true, DataLoss: true}},
			check: func(t *testing.T, obs *schema.Fleet) {
				mailIs("alice", "")(t, obs)
				if !f.called("force_dedistribution_from_node") {
					t.Error("a data-loss dedistribution must use force_dedistribution_from_node")
				}
			}},
		{ch: &plan.Change{Address: "reseller.bob", Action: plan.Update, Before: &bob2, After: &bob3, Fields: []string{"acls", "limits"}, Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				if r := obs.Resellers["bob"]; r == nil || (r.Limits != nil && r.Limits.Accounts != nil) {
					t.Errorf("bob observed %+v, want no account limit", r)
				}
				aclsAre("bob", "list-accts", "suspend-acct")(t)
			}},
		{ch: &plan.Change{Address: "account.alice", Action: plan.Delete, Before: alice, Target: "web1", Flags: plan.Flags{Destructive: true}},
			check: func(t *testing.T, obs *schema.Fleet) {
				if obs.Accounts["alice"] != nil || f.sb.HasAccount("web1", "alice") {
					t.Error("alice still exists")
				}
			}},
		{ch: &plan.Change{Address: "dns.web1.cluster", Action: plan.Enable, After: cl, Target: "web1"},
			check: func(t *testing.T, _ *schema.Fleet) {
				if st := f.statusPage(t, "web1"); !st.Enabled || st.Threshold != (schema.Threshold{N: 3}) || st.Notify {
					t.Errorf("cluster on=%t threshold=%+v notify=%t", st.Enabled, st.Threshold, st.Notify)
				}
			}},
		{ch: &plan.Change{Address: "dns.web1.cluster", Action: plan.Update, Before: cl, After: clNever, Fields: []string{"failureThreshold", "notifyOnDisable"}, Target: "web1"},
			check: func(t *testing.T, _ *schema.Fleet) {
				if st := f.statusPage(t, "web1"); !st.Threshold.Never || !st.Notify {
					t.Errorf("threshold=%+v notify=%t", st.Threshold, st.Notify)
				}
			}},
		{ch: &plan.Change{Address: "dns.web1.member.ns1", Action: plan.Create, After: ns1, Target: "web1"},
			check: func(t *testing.T, _ *schema.Fleet) {
				if m := p(f.statusPage(t, "web1"), "192.0.2.53"); m == nil || m.Role != "sync" || m.Hostname != "ns1.example.net" || m.State != stateActive {
					t.Errorf("ns1 in web1's cluster: %+v", m)
				}
			}},
		{ch: &plan.Change{Address: "dns.web1.member.ns1", Action: plan.Update, Before: ns1, After: ns1wo, Fields: []string{"role"}, Target: "web1"},
			check: func(t *testing.T, _ *schema.Fleet) {
				if m := p(f.statusPage(t, "web1"), "192.0.2.53"); m == nil || m.Role != "write-only" {
					t.Errorf("ns1 in web1's cluster: %+v", m)
				}
			}},
		// For the next step: WHM disables a member after failures (one, at this threshold).
		{ch: &plan.Change{Address: "dns.web1.cluster", Action: plan.Update, Before: clNever, After: clOne, Fields: []string{"failureThreshold"}, Target: "web1"},
			check: func(t *testing.T, _ *schema.Fleet) {
				if err := f.sb.SetFaults("ns1", sandbox.Faults{Offline: true}); err != nil {
					t.Fatal(err)
				}
				for range 2 {
					_ = f.sb.ReplicateDNS(ctx)
				}
				if err := f.sb.SetFaults("ns1", sandbox.Faults{}); err != nil {
					t.Fatal(err)
				}
				if m := p(f.statusPage(t, "web1"), "192.0.2.53"); m == nil || !m.Disabled() {
					t.Fatalf("ns1 in web1's cluster: %+v, want disabled by WHM", m)
				}
			}},
		{ch: &plan.Change{Address: "dns.web1.member.ns1", Action: plan.Enable, Before: ns1wo, After: ns1wo, Target: "web1"},
			check: func(t *testing.T, _ *schema.Fleet) {
				if m := p(f.statusPage(t, "web1"), "192.0.2.53"); m == nil || m.Disabled() {
					t.Errorf("ns1 in web1's cluster: %+v, want enabled", m)
				}
			}},
		{ch: &plan.Change{Address: "dns.web1.member.ns1", Action: plan.Delete, Before: ns1wo, Target: "web1", Flags: plan.Flags{Destructive: true}},
			check: func(t *testing.T, _ *schema.Fleet) {
				if st := f.statusPage(t, "web1"); len(st.Members) != 0 {
					t.Errorf("members %+v", st.Members)
				}
			}},
		{ch: &plan.Change{Address: "dns.web1.cluster", Action: plan.Disable, Before: clOne, Target: "web1", Flags: plan.Flags{Destructive: true}},
			check: func(t *testing.T, _ *schema.Fleet) {
				if f.statusPage(t, "web1").Enabled {
					t.Error("cluster still on")
				}
			}},
		{ch: &plan.Change{Address: "node.mail2", Action: plan.Unlink, Before: sandboxFleet().Nodes["mail2"], Target: "web1", Flags: plan.Flags{Destructive: true}},
			check: func(t *testing.T, obs *schema.Fleet) {
				// It still answers, as nobody's child.
				if n := obs.Nodes["mail2"]; n == nil || n.Role != "" || n.Parent != "" {
					t.Errorf("mail2 observed %+v, want it unlinked", n)
				}
			}},
		// bob's mail is still on mail1: WHM refuses, and the error says why.
		{ch: &plan.Change{Address: "node.mail1", Action: plan.Unlink, Before: sandboxFleet().Nodes["mail1"], Target: "web1"}, wantErr: "in use"},
		{ch: &plan.Change{Address: "reseller.bob", Action: plan.Delete, Before: &bob3, Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				if obs.Resellers["bob"] != nil || obs.Accounts["bob"] != nil {
					t.Error("bob still exists")
				}
			}},
		{ch: &plan.Change{Address: "node.mail1", Action: plan.Unlink, Before: sandboxFleet().Nodes["mail1"], Target: "web1"},
			check: func(t *testing.T, obs *schema.Fleet) {
				if n := obs.Nodes["mail1"]; n == nil || n.Role != "" || n.Parent != "" {
					t.Errorf("mail1 observed %+v, want it unlinked", n)
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
				if err == nil || !strings.Contains(err.Error(), s.wantErr) || !strings.Contains(err.Error(), s.ch.Address) {
					t.Fatalf("err = %v, want one naming %s and saying %q", err, s.ch.Address, s.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.check != nil {
				s.check(t, f.observe(t))
			}
			// Idempotent: running it again finds the work done and writes nothing. A
			// create asks createacct first (no look before it); the server refuses a
			// user that exists, so the observation must come out unchanged.
			before := f.observe(t)
			f.mu.Lock()
			n := len(f.calls)
			f.mu.Unlock()
			if err := f.p.Apply(ctx, s.ch); err != nil {
				t.Fatalf("second apply: %v", err)
			}
			if s.ch.Action == plan.Create && !reflect.DeepEqual(before, f.observe(t)) {
				t.Errorf("second create changed the fleet")
			}
			f.mu.Lock()
			var fns []string
			for _, c := range f.calls[n:] {
				fns = append(fns, functionsOf(c.fn, c.params)...)
			}
			f.mu.Unlock()
			for i, fn := range fns {
				if i == 0 && fn == "createacct" && s.ch.Action == plan.Create {
					continue
				}
				// setacls is the one write a re-run repeats: ACLs cannot be read back
				// through WHM API 1, and setting the same set twice leaves the same state.
				if !reads[fn] && fn != "setacls" {
					t.Errorf("second apply called %s; want reads only", fn)
				}
			}
		})
		if !ok {
			break
		}
	}
	// Every call the scenario made is in the official list, batch commands included,
	// and the scenario made every write the provider has.
	f.mu.Lock()
	defer f.mu.Unlock()
	used := map[string]bool{}
	for _, c := range f.calls {
		used[c.fn] = true
		for _, bad := range checkOfficial(c.fn, c.params) {
			t.Errorf("official list: %s", bad)
		}
		if c.fn != "batch" {
			continue
		}
		for _, cmd := range c.params["command"] {
			fn, q, _ := strings.Cut(cmd, "?")
			used[fn] = true
			sub, _ := url.ParseQuery(q)
			for _, bad := range checkOfficial(fn, sub) {
				t.Errorf("official list (batch): %s", bad)
			}
		}
	}
	if t.Failed() {
		return
	}
	var missing []string
	for _, fn := range []string{"link_server_node_with_api_token", "unlink_server_node", "start_profile_activation", "setminimumpasswordstrengths",
		"createacct", "modifyacct", "changepackage", "suspendacct", "unsuspendacct", "removeacct", "force_dedistribution_from_node",
		"setupreseller", "setacls", "setresellerlimits", "add_override_features_for_user",
		cgiAdjustCluster, cgiClusterOptions, cgiAddMember, cgiChangeRole, cgiRemoveMember, cgiEnableMember} {
		if !used[fn] {
			missing = append(missing, fn)
		}
	}
	if len(missing) > 0 {
		t.Errorf("the scenario never called %v", missing)
	}
}

// called reports whether the provider has called function fn (alone or in a batch).
func (f *sbFixture) called(fn string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if slices.Contains(functionsOf(c.fn, c.params), fn) {
			return true
		}
	}
	return false
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

// clusterFleet is a parent and three DNS-only nodes, nothing else, so every plan
// is about the DNS cluster.
func clusterFleet() *schema.Fleet {
	return &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1": {Role: schema.RoleParent, Host: "web1.example.net", IPv4: "192.0.2.10", Version: 118, Profile: schema.ProfileStandard},
		"ns1":  {Role: schema.RoleDNSOnly, Host: "ns1.example.net", IPv4: "192.0.2.53", Version: 118},
		"ns2":  {Role: schema.RoleDNSOnly, Host: "ns2.example.net", IPv4: "192.0.2.54", Version: 118},
		"ns3":  {Role: schema.RoleDNSOnly, Host: "ns3.example.net", IPv4: "192.0.2.55", Version: 118},
	}, Policy: &schema.Policy{Prune: true}}
}

// observeAll observes every scope of the fleet, as plan does.
func (f *sbFixture) observeAll(t *testing.T) *schema.Fleet {
	t.Helper()
	out := &schema.Fleet{Nodes: map[string]*schema.Node{}, Accounts: map[string]*schema.Account{}, Resellers: map[string]*schema.Reseller{}}
	for _, scope := range f.p.Scopes(f.desired) {
		got, err := f.p.Observe(context.Background(), scope, f.desired)
		if err != nil {
			t.Fatalf("observe %s: %v", scope, err)
		}
		for k, v := range got.Nodes {
			out.Nodes[k] = v
		}
		for k, v := range got.DNSClusters {
			if out.DNSClusters == nil {
				out.DNSClusters = map[string]*schema.DNSCluster{}
			}
			out.DNSClusters[k] = v
		}
	}
	return out
}

// converge plans, applies every change, and plans again: the second plan must be
// empty. It returns the first plan.
func (f *sbFixture) converge(t *testing.T, inventory map[string]bool) *plan.Plan {
	t.Helper()
	p := reconciler.Diff(f.desired, f.observeAll(t), reconciler.DiffOptions{Fleet: providers.FleetProvider(), Members: providers.MemberPlanners(), Inventory: inventory})
	for _, ch := range p.Changes {
		if !strings.HasPrefix(ch.Address, "dns.") {
			t.Fatalf("unexpected change %s %s: %s", ch.Address, ch.Action, ch.Reason)
		}
		if err := f.p.Apply(context.Background(), ch); err != nil {
			t.Fatalf("apply %s %s: %v", ch.Address, ch.Action, err)
		}
		inventory[ch.Address] = ch.Action != plan.Delete
	}
	if again := reconciler.Diff(f.desired, f.observeAll(t), reconciler.DiffOptions{Fleet: providers.FleetProvider(), Members: providers.MemberPlanners(), Inventory: inventory}); !again.Empty() {
		for _, ch := range again.Changes {
			t.Errorf("second plan: %s %s: %s", ch.Address, ch.Action, ch.Reason)
		}
	}
	return p
}

// statusPage is web1's cluster status page as WHM renders it.
func (f *sbFixture) statusPage(t *testing.T, node string) *clusterStatus {
	t.Helper()
	c, err := f.p.client(node)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.p.readClusterStatus(context.Background(), c, node)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSandboxDNSClusterConverges drives the whole DNS cluster life through plan and
// apply on the sandbox: every step converges and the next plan is empty.
func TestSandboxDNSClusterConverges(t *testing.T) {
	f := startSandbox(t, clusterFleet())
	defer func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		bad, seen := checkedScreens(f.calls)
		for _, b := range bad {
			t.Error(b)
		}
		for _, screen := range ClusterCGIs {
			if !seen[screen] && !t.Failed() {
				t.Errorf("the run never posted to %s", screen)
			}
		}
	}()
	inv := map[string]bool{}
	member := func(node, role string) *schema.Member { return &schema.Member{Node: node, Role: role} }
	set := func(cl *schema.DNSCluster) {
		f.desired.DNSClusters = map[string]*schema.DNSCluster{"web1": cl}
		f.p.rememberHosts(f.desired)
	}
	cluster := func(threshold schema.Threshold, notify bool, members map[string]*schema.Member) *schema.DNSCluster {
		return &schema.DNSCluster{Enabled: true, FailureThreshold: threshold, NotifyOnDisable: notify, Members: members}
	}

	t.Run("add a sync member", func(t *testing.T) {
		set(cluster(schema.Threshold{N: 3}, true, map[string]*schema.Member{"ns1": member("ns1", "sync")}))
		p := f.converge(t, inv)
		var create *plan.Change
		for _, ch := range p.Changes {
			if ch.Address == "dns.web1.member.ns1" {
				create = ch
			}
		}
		if create == nil || !strings.Contains(strings.Join(create.Warnings, " "), "plain text") {
			t.Fatalf("the plan does not say the member's token is stored on the parent: %+v", create)
		}
		st := f.statusPage(t, "web1")
		if len(st.Members) != 1 || st.Members[0].IP != "192.0.2.53" || st.Members[0].State != stateActive {
			t.Fatalf("web1's cluster: %+v", st.Members)
		}
		// Reverse trust: ns1 has web1 in its own cluster, by address.
		ns1 := f.statusPage(t, "ns1")
		if ns1.Enabled {
			t.Fatal("reverse trust turned clustering on on ns1")
		}
	})
	t.Run("role to write-only", func(t *testing.T) {
		set(cluster(schema.Threshold{N: 3}, true, map[string]*schema.Member{"ns1": member("ns1", "write-only")}))
		f.converge(t, inv)
	})
	t.Run("role back to sync", func(t *testing.T) {
		set(cluster(schema.Threshold{N: 3}, true, map[string]*schema.Member{"ns1": member("ns1", "sync")}))
		f.converge(t, inv)
		if st := f.statusPage(t, "web1"); st.Members[0].State != stateActive {
			t.Fatalf("ns1 after role changes: %s", st.Members[0].State)
		}
	})
	t.Run("threshold never, notifications off", func(t *testing.T) {
		set(cluster(schema.Threshold{Never: true}, false, map[string]*schema.Member{"ns1": member("ns1", "sync")}))
		f.converge(t, inv)
	})
	t.Run("threshold custom", func(t *testing.T) {
		set(cluster(schema.Threshold{N: 7}, true, map[string]*schema.Member{"ns1": member("ns1", "sync")}))
		f.converge(t, inv)
	})
	t.Run("disable and enable clustering", func(t *testing.T) {
		cl := cluster(schema.Threshold{N: 7}, true, map[string]*schema.Member{"ns1": member("ns1", "sync")})
		cl.Enabled = false
		set(cl)
		f.converge(t, inv)
		if f.statusPage(t, "web1").Enabled {
			t.Fatal("still enabled")
		}
		set(cluster(schema.Threshold{N: 7}, true, map[string]*schema.Member{"ns1": member("ns1", "sync")}))
		f.converge(t, inv)
	})
	t.Run("add a standalone and a write-only member", func(t *testing.T) {
		set(cluster(schema.Threshold{N: 7}, true, map[string]*schema.Member{
			"ns1": member("ns1", "sync"), "ns2": member("ns2", "standalone"), "ns3": member("ns3", "write-only")}))
		f.converge(t, inv)
		for _, m := range f.statusPage(t, "web1").Members {
			if m.State != stateActive {
				t.Errorf("%s: %s", m.IP, m.State)
			}
		}
	})
	t.Run("remove a member: the member leaves clustering first", func(t *testing.T) {
		// ns2 had turned clustering on by hand: removal turns it off there first.
		c, _ := f.p.client("ns2")
		if _, err := f.p.cgi(context.Background(), c, whmapi.Idempotent, cgiAdjustCluster, url.Values{"clusterdns": {"1"}, "cluster_user": {"root"}}); err != nil {
			t.Fatal(err)
		}
		set(cluster(schema.Threshold{N: 7}, true, map[string]*schema.Member{"ns1": member("ns1", "sync"), "ns3": member("ns3", "write-only")}))
		p := f.converge(t, inv)
		if len(p.Changes) != 1 || p.Changes[0].Action != plan.Delete {
			t.Fatalf("plan %v", p.Changes)
		}
		if f.statusPage(t, "ns2").Enabled {
			t.Error("clustering still on on the removed member")
		}
		for _, m := range f.statusPage(t, "web1").Members {
			if m.IP == "192.0.2.54" {
				t.Error("ns2 still in web1's cluster")
			}
		}
	})
	t.Run("a member whose DNS server is switched off is not disabled", func(t *testing.T) {
		if err := f.sb.SetService("ns1", "named", false, true); err != nil {
			t.Fatal(err)
		}
		st := f.statusPage(t, "web1")
		if m := p(st, "192.0.2.53"); m == nil || !m.DNSOff || m.Disabled() {
			t.Fatalf("ns1: %+v", m)
		}
		f.converge(t, inv)
		if err := f.sb.SetService("ns1", "named", true, true); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an auto-disabled member is found by plan and returned by dns enable", func(t *testing.T) {
		set(cluster(schema.Threshold{N: 1}, true, map[string]*schema.Member{"ns1": member("ns1", "sync"), "ns3": member("ns3", "write-only")}))
		f.converge(t, inv)
		if err := f.sb.SetFaults("ns1", sandbox.Faults{Offline: true}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			_ = f.sb.ReplicateDNS(context.Background())
		}
		if err := f.sb.SetFaults("ns1", sandbox.Faults{}); err != nil {
			t.Fatal(err)
		}
		observed := f.observeAll(t)
		if m := observed.DNSClusters["web1"].Members["ns1"]; m == nil || !m.Disabled {
			t.Fatalf("ns1 observed %+v, want disabled", m)
		}
		if p := reconciler.Diff(f.desired, observed, reconciler.DiffOptions{Fleet: providers.FleetProvider(), Members: providers.MemberPlanners(), Inventory: inv}); !p.Empty() ||
			!strings.Contains(strings.Join(p.Warnings, " "), "tether dns enable ns1") {
			t.Fatalf("plan: %d changes, warnings %q", len(p.Changes), p.Warnings)
		}
		en, err := reconciler.EnableMember(f.desired, observed, "ns1", reconciler.DiffOptions{Fleet: providers.FleetProvider(), Members: providers.MemberPlanners()})
		if err != nil || len(en.Changes) != 1 {
			t.Fatalf("dns enable: %v %+v", err, en)
		}
		if err := f.p.Apply(context.Background(), en.Changes[0]); err != nil {
			t.Fatal(err)
		}
		if m := f.observeAll(t).DNSClusters["web1"].Members["ns1"]; m == nil || m.Disabled {
			t.Fatalf("ns1 after dns enable: %+v", m)
		}
		f.converge(t, inv)
	})
}

func p(st *clusterStatus, ip string) *clusterMember {
	for i := range st.Members {
		if st.Members[i].IP == ip {
			return &st.Members[i]
		}
	}
	return nil
}

// A wrong member token fails when the member is added, and the error names it.
func TestSandboxClusterWrongMemberToken(t *testing.T) {
	f := startSandbox(t, clusterFleet())
	eps := map[string]providers.Endpoint{}
	for name, ep := range f.sb.Endpoints().Nodes {
		eps[name] = ep.ProviderEndpoint()
	}
	ns2 := eps["ns2"]
	ns2.Token = "WRONGTOKENWRONGTOKEN"
	eps["ns2"] = ns2
	pr, err := New(providers.Config{Endpoints: eps, Logger: quiet}, Options{Client: whmapi.Options{BaseDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	f.desired.DNSClusters = map[string]*schema.DNSCluster{"web1": {Enabled: true, FailureThreshold: schema.Threshold{N: 10}, NotifyOnDisable: true,
		Members: map[string]*schema.Member{"backup": {Node: "ns2", Role: schema.DNSRoleSync}}}}
	f.p.rememberHosts(f.desired)
	pr.rememberHosts(f.desired)
	pl := reconciler.Diff(f.desired, f.observeAll(t), reconciler.DiffOptions{Fleet: providers.FleetProvider(), Members: providers.MemberPlanners()})
	var addErr error
	for _, ch := range pl.Changes {
		if err := pr.Apply(context.Background(), ch); err != nil {
			if ch.Address != "dns.web1.member.backup" {
				t.Fatalf("%s: %v", ch.Address, err)
			}
			addErr = err
		}
	}
	if addErr == nil || !strings.Contains(addErr.Error(), "DNS member backup (node ns2") || !strings.Contains(addErr.Error(), "Failed to set up DNS cluster") {
		t.Fatalf("err = %v, want one naming the member", addErr)
	}
	if strings.Contains(addErr.Error(), "WRONGTOKEN") {
		t.Fatal("the error shows the token")
	}
	if st := f.statusPage(t, "web1"); len(st.Members) != 0 {
		t.Fatalf("member saved with a wrong token: %+v", st.Members)
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
}

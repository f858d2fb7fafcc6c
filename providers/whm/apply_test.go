package whm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/sandbox/dnscluster"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// reads are the calls that change nothing; a second Apply of a done change may only
// make these.
var reads = map[string]bool{
	"version": true, "get_current_profile": true, "getminimumpasswordstrengths": true,
	"list_linked_server_nodes": true, "listaccts": true, "listresellers": true, "acctcounts": true,
	"batch": true, "get_users_features_settings": true, "is_role_enabled": true, cgiClusterStatus: true,
	"uapi_cpanel Email::list_forwarders": true,
}

type fakeFleet struct {
	web1, mail1, mail2, ns1 *fakeWHM
	p                       *Provider
	mu                      sync.Mutex
	called                  []struct {
		fn     string
		params url.Values
	}
}

const (
	tokWeb1  = "web1-token-SECRET-1111"
	tokMail1 = "mail1-token-SECRET-2222"
	tokMail2 = "mail2-token-SECRET-3333"
	tokNS1   = "ns1-token-SECRET-4444"
)

func newFakeFleet(t *testing.T) *fakeFleet {
	ff := &fakeFleet{
		web1:  newFakeWHM(t, "root", tokWeb1),
		mail1: newFakeWHM(t, "root", tokMail1),
		mail2: newFakeWHM(t, "root", tokMail2),
		ns1:   newFakeWHM(t, "root", tokNS1),
	}
	ff.web1.childTokens["mail1.example.net"] = tokMail1
	ff.web1.childTokens["mail2.example.net"] = tokMail2
	eps := map[string]providers.Endpoint{
		"web1":  {URL: ff.web1.start().URL, User: "root", Token: tokWeb1},
		"mail1": {URL: ff.mail1.start().URL, User: "root", Token: tokMail1},
		"mail2": {URL: ff.mail2.start().URL, User: "root", Token: tokMail2},
		"ns1":   {URL: ff.ns1.start().URL, User: "root", Token: tokNS1},
	}
	p, err := New(providers.Config{Endpoints: eps}, Options{
		Client:   whmapi.Options{BaseDelay: time.Millisecond, OnCall: ff.record},
		PollBase: time.Millisecond, PollMax: 5 * time.Millisecond, TaskTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ff.p = p
	p.rememberHosts(fleetForApply())
	return ff
}

func (ff *fakeFleet) record(fn string, params url.Values) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	ff.called = append(ff.called, struct {
		fn     string
		params url.Values
	}{fn, params})
}

func (ff *fakeFleet) writesSince(n int) []string {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	var out []string
	for _, c := range ff.called[n:] {
		for _, fn := range functionsOf(c.fn, c.params) {
			// setacls is the one write a re-run repeats: ACLs cannot be read back
			// through WHM API 1, and setting the same set twice leaves the same state.
			if !reads[fn] && fn != "setacls" {
				out = append(out, fn)
			}
		}
	}
	return out
}

// functionsOf names the functions one request ran: a batch's commands, in order, or
// the function itself. A batch is only as read-only as what it carries.
func functionsOf(fn string, params url.Values) []string {
	uapi := func(fn string, q url.Values) string {
		if fn == "uapi_cpanel" {
			// The UAPI function it runs tells a read from a write.
			return fn + " " + q.Get("cpanel.module") + "::" + q.Get("cpanel.function")
		}
		return fn
	}
	if fn != "batch" {
		return []string{uapi(fn, params)}
	}
	var out []string
	for _, cmd := range params["command"] {
		name, query, _ := strings.Cut(cmd, "?")
		q, _ := url.ParseQuery(query)
		out = append(out, uapi(name, q))
	}
	return out
}

func fleetForApply() *schema.Fleet {
	return &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1":  {Role: schema.RoleParent, Host: "web1.example.net"},
		"mail1": {Role: schema.RoleChild, Parent: "web1", Host: "mail1.example.net"},
		"mail2": {Role: schema.RoleChild, Parent: "web1", Host: "mail2.example.net"},
		"ns1":   {Role: schema.RoleDNSOnly, Host: "ns1.example.net"},
	}}
}

func intp(n int) *int { return &n }

func child(name string) *schema.Node {
	return &schema.Node{Role: schema.RoleChild, Parent: "web1", Host: name + ".example.net", Services: []string{"mail"}}
}

func acct(domain, mail string, mod func(*schema.Account)) *schema.Account {
	a := &schema.Account{Parent: "web1", Domain: domain}
	if mail != "" {
		a.Mail = &schema.MailPlacement{Node: mail}
	}
	if mod != nil {
		mod(a)
	}
	return a
}

type step struct {
	ch    *plan.Change
	check func(t *testing.T, ff *fakeFleet)
	// wantErr: the change must fail with this text (and leave state alone).
	wantErr string
}

func TestApplyEveryChangeKind(t *testing.T) {
	ff := newFakeFleet(t)
	bob := &schema.Reseller{Account: *acct("bob-hosting.example", "mail1", func(a *schema.Account) {
		a.Plan, a.ContactEmail = "reseller", "bob@example.org"
	}), ACLs: []string{"list-accts", "create-acct"}, Limits: &schema.ResellerLimits{Accounts: intp(50)}}
	bob2 := *bob
	bob2.ACLs = []string{"list-accts", "suspend-acct"}
	bob2.Limits = &schema.ResellerLimits{}
	alice := acct("alice.example", "mail1", func(a *schema.Account) {
		a.Owner, a.ContactEmail, a.Features = "bob", "alice@example.org", map[string]bool{"apitokens": true, "sslinstall": false}
	})
	carol := acct("carol.example", "", func(a *schema.Account) { a.Suspended = true })
	carol2 := acct("carol.example", "", func(a *schema.Account) { a.Plan, a.ContactEmail = "gold", "c@example.org" })
	carolM2 := acct("carol.example", "mail2", func(a *schema.Account) { a.Plan, a.ContactEmail = "gold", "c@example.org" })
	carolM1 := acct("carol.example", "mail1", func(a *schema.Account) { a.Plan, a.ContactEmail = "gold", "c@example.org" })
	cl := &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{N: 3}}
	clNever := &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{Never: true}, NotifyOnDisable: true}
	ns1 := &schema.Member{Node: "ns1", Role: schema.DNSRoleSync}
	ns1wo := &schema.Member{Node: "ns1", Role: schema.DNSRoleWriteOnly}

	web := func(f func(w *fakeWHM) error) func(*testing.T, *fakeFleet) {
		return func(t *testing.T, ff *fakeFleet) {
			t.Helper()
			ff.web1.mu.Lock()
			defer ff.web1.mu.Unlock()
			if err := f(ff.web1); err != nil {
				t.Error(err)
			}
		}
	}
	mailOf := func(user, want string) func(*testing.T, *fakeFleet) {
		return web(func(w *fakeWHM) error {
			if a := w.accts[user]; a == nil || a.Mail != want {
				return fmt.Errorf("%s mail on %+v, want %q", user, a, want)
			}
			return nil
		})
	}
	steps := []step{
		{ch: &plan.Change{Address: "node.mail1", Action: plan.Link, After: child("mail1"), Target: "web1"},
			check: web(func(w *fakeWHM) error {
				if w.linked["mail1"] == nil || w.linked["mail1"]["hostname"] != "mail1.example.net" {
					return fmt.Errorf("linked = %v", w.linked)
				}
				return nil
			})},
		{ch: &plan.Change{Address: "node.mail2", Action: plan.Link, After: child("mail2"), Target: "web1"}},
		{ch: &plan.Change{Address: "node.mail1", Action: plan.Update, Fields: []string{"profile", "passwordStrength"}, Target: "mail1",
			Before: child("mail1"),
			After:  &schema.Node{Role: schema.RoleChild, Parent: "web1", Profile: "MAILNODE", PasswordStrength: map[string]int{"virtual": 70, "list": 60, "ftp": 10}}},
			check: func(t *testing.T, ff *fakeFleet) {
				ff.mail1.mu.Lock()
				defer ff.mail1.mu.Unlock()
				if ff.mail1.profile != "MAILNODE" || ff.mail1.pw["virtual"] != 70 || ff.mail1.pw["list"] != 60 || ff.mail1.pw["ftp"] != 65 {
					t.Errorf("mail1: profile %s, strengths %v (ftp is the parent's to govern)", ff.mail1.profile, ff.mail1.pw)
				}
			}},
		{ch: &plan.Change{Address: "node.web1", Action: plan.Update, Fields: []string{"passwordStrength"}, Target: "web1",
			After: &schema.Node{Role: schema.RoleParent, PasswordStrength: map[string]int{"createacct": 80, "virtual": 50}}},
			check: web(func(w *fakeWHM) error {
				if w.pw["createacct"] != 80 || w.pw["virtual"] != 50 {
					return fmt.Errorf("web1 strengths %v", w.pw)
				}
				return nil
			})},
		{ch: &plan.Change{Address: "reseller.bob", Action: plan.Create, After: bob, Target: "web1"},
			check: web(func(w *fakeWHM) error {
				if !w.resellers["bob"] || !reflect.DeepEqual(w.acls["bob"], []string{"create-acct", "list-accts"}) || w.limits["bob"] == nil || *w.limits["bob"] != 50 || w.accts["bob"].Mail != "mail1" {
					return fmt.Errorf("bob: reseller %t acls %v limit %v acct %+v", w.resellers["bob"], w.acls["bob"], w.limits["bob"], w.accts["bob"])
				}
				return nil
			})},
		{ch: &plan.Change{Address: "account.alice", Action: plan.Create, After: alice, Target: "web1"},
			check: web(func(w *fakeWHM) error {
				a := w.accts["alice"]
				if a == nil {
					return errors.New("alice does not exist")
				}
				// apitokens is on in the feature list already: only sslinstall needs an override.
				v, set := a.Features["sslinstall"]
				if a.Owner != "bob" || a.Mail != "mail1" || !set || v || len(a.Features) != 1 || a.Email != "alice@example.org" {
					return fmt.Errorf("alice = %+v", a)
				}
				return nil
			})},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Create, After: carol, Target: "web1"},
			check: web(func(w *fakeWHM) error {
				if a := w.accts["carol"]; a == nil || !a.Suspended || a.Mail != "" {
					return fmt.Errorf("carol = %+v", a)
				}
				return nil
			})},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Update, Before: carol, After: carol2, Fields: []string{"plan", "contactEmail", "suspended"}, Target: "web1"},
			check: web(func(w *fakeWHM) error {
				if a := w.accts["carol"]; a.Suspended || a.Plan != "gold" || a.Email != "c@example.org" {
					return fmt.Errorf("carol = %+v", a)
				}
				return nil
			})},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Distribute, Before: carol2, After: carolM2, Target: "web1"}, check: mailOf("carol", "mail2")},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Distribute, Before: carolM2, After: carolM1, Target: "web1", Flags: plan.Flags{Disruptive: true}}, check: mailOf("carol", "mail1")},
		{ch: &plan.Change{Address: "account.carol", Action: plan.Dedistribute, Before: carolM1, After: carol2, Target: "web1", Flags: plan.Flags{Disruptive: true}}, check: mailOf("carol", "")},
		{ch: &plan.Change{Address: "account.alice", Action: plan.Dedistribute, Before: alice, After: acct("alice.example", "", nil), Target: "web1", Flags: plan.Flags{Disruptive: true, DataLoss: true}},
			check: func(t *testing.T, ff *fakeFleet) {
				mailOf("alice", "")(t, ff)
				ff.web1.mu.Lock()
				defer ff.web1.mu.Unlock()
				if !contains(ff.web1.calls, "force_dedistribution_from_node") {
					t.Error("a data-loss dedistribution must use force_dedistribution_from_node")
				}
			}},
		{ch: &plan.Change{Address: "reseller.bob", Action: plan.Update, Before: bob, After: &bob2, Fields: []string{"acls", "limits"}, Target: "web1"},
			check: web(func(w *fakeWHM) error {
				if !reflect.DeepEqual(w.acls["bob"], []string{"list-accts", "suspend-acct"}) || w.limits["bob"] != nil {
					return fmt.Errorf("bob acls %v limit %v", w.acls["bob"], w.limits["bob"])
				}
				return nil
			})},
		{ch: &plan.Change{Address: "account.alice", Action: plan.Delete, Before: alice, Target: "web1", Flags: plan.Flags{Destructive: true}},
			check: web(func(w *fakeWHM) error {
				if w.accts["alice"] != nil {
					return errors.New("alice still exists")
				}
				return nil
			})},
		{ch: &plan.Change{Address: "dns.web1.cluster", Action: plan.Enable, After: cl, Target: "web1"},
			check: web(func(w *fakeWHM) error {
				if c := w.cluster.Snapshot(); !c.Enabled || c.Threshold != 3 || c.Notify {
					return fmt.Errorf("cluster on=%t threshold=%d notify=%t", c.Enabled, c.Threshold, c.Notify)
				}
				return nil
			})},
		{ch: &plan.Change{Address: "dns.web1.cluster", Action: plan.Update, Before: cl, After: clNever, Fields: []string{"failureThreshold", "notifyOnDisable"}, Target: "web1"},
			check: web(func(w *fakeWHM) error {
				if c := w.cluster.Snapshot(); c.Threshold != 0 || !c.Notify {
					return fmt.Errorf("threshold=%d notify=%t", c.Threshold, c.Notify)
				}
				return nil
			})},
		{ch: &plan.Change{Address: "dns.web1.member.ns1", Action: plan.Create, After: ns1, Target: "web1"},
			check: web(func(w *fakeWHM) error {
				if m := w.cluster.Snapshot().Members["192.0.2.53"]; m == nil || m.Role != "sync" || m.Hostname != "ns1.example.net" {
					return fmt.Errorf("members %v", w.cluster.Snapshot().Hosts())
				}
				return nil
			})},
		{ch: &plan.Change{Address: "dns.web1.member.ns1", Action: plan.Update, Before: ns1, After: ns1wo, Fields: []string{"role"}, Target: "web1"},
			check: web(func(w *fakeWHM) error {
				if m := w.cluster.Snapshot().Members["192.0.2.53"]; m.Role != "write-only" {
					return fmt.Errorf("role %s", m.Role)
				}
				// For the next step: WHM disables it after failures.
				return w.cluster.Update(func(c *dnscluster.Config) error { c.Members["192.0.2.53"].Disabled = true; return nil })
			})},
		{ch: &plan.Change{Address: "dns.web1.member.ns1", Action: plan.Enable, Before: ns1wo, After: ns1wo, Target: "web1"},
			check: web(func(w *fakeWHM) error {
				if w.cluster.Snapshot().Members["192.0.2.53"].Disabled {
					return errors.New("still disabled")
				}
				return nil
			})},
		{ch: &plan.Change{Address: "dns.web1.member.ns1", Action: plan.Delete, Before: ns1wo, Target: "web1", Flags: plan.Flags{Destructive: true}},
			check: web(func(w *fakeWHM) error {
				if c := w.cluster.Snapshot(); len(c.Members) != 0 {
					return fmt.Errorf("members %v", c.Hosts())
				}
				return nil
			})},
		{ch: &plan.Change{Address: "dns.web1.cluster", Action: plan.Disable, Before: clNever, Target: "web1", Flags: plan.Flags{Destructive: true}},
			check: web(func(w *fakeWHM) error {
				if w.cluster.Snapshot().Enabled {
					return errors.New("cluster still on")
				}
				return nil
			})},
		{ch: &plan.Change{Address: "node.mail2", Action: plan.Unlink, Before: child("mail2"), Target: "web1", Flags: plan.Flags{Destructive: true}}},
		// bob's mail is still on mail1: WHM refuses, and the error says why.
		{ch: &plan.Change{Address: "node.mail1", Action: plan.Unlink, Before: child("mail1"), Target: "web1"}, wantErr: "in use"},
		{ch: &plan.Change{Address: "reseller.bob", Action: plan.Delete, Before: &bob2, Target: "web1"}},
		{ch: &plan.Change{Address: "node.mail1", Action: plan.Unlink, Before: child("mail1"), Target: "web1"},
			check: web(func(w *fakeWHM) error {
				if len(w.linked) != 0 {
					return fmt.Errorf("linked %v", w.linked)
				}
				return nil
			})},
	}
	ctx := context.Background()
	for i, s := range steps {
		name := fmt.Sprintf("%02d %s %s", i, s.ch.Address, s.ch.Action)
		ok := t.Run(name, func(t *testing.T) {
			err := ff.p.Apply(ctx, s.ch)
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
				s.check(t, ff)
			}
			// Idempotent: running it again finds the work done and writes nothing. A
			// create asks createacct first (no look before it); the server refuses a
			// user that exists, so the accounts must come out unchanged.
			ff.mu.Lock()
			n := len(ff.called)
			ff.mu.Unlock()
			before := ff.web1.snapshotAccts()
			if err := ff.p.Apply(ctx, s.ch); err != nil {
				t.Fatalf("second apply: %v", err)
			}
			w := ff.writesSince(n)
			if s.ch.Action == plan.Create && len(w) > 0 && w[0] == "createacct" {
				w = w[1:]
				if after := ff.web1.snapshotAccts(); !reflect.DeepEqual(before, after) {
					t.Errorf("second create changed the accounts:\n%v\nthen\n%v", before, after)
				}
			}
			if len(w) > 0 {
				t.Errorf("second apply wrote %v; want reads only", w)
			}
		})
		if !ok {
			break
		}
	}
	// Every call the scenario made is in the official list (the fake checks as it
	// serves; this checks the complete record, batch commands included).
	ff.mu.Lock()
	defer ff.mu.Unlock()
	used := map[string]bool{}
	for _, c := range ff.called {
		used[c.fn] = true
		for _, fn := range functionsOf(c.fn, c.params) {
			used[fn] = true
		}
		for _, bad := range checkOfficial(c.fn, c.params) {
			t.Errorf("official list: %s", bad)
		}
		if c.fn == "batch" {
			for _, cmd := range c.params["command"] {
				fn, q, _ := strings.Cut(cmd, "?")
				sub, _ := url.ParseQuery(q)
				for _, bad := range checkOfficial(fn, sub) {
					t.Errorf("official list (batch): %s", bad)
				}
			}
		}
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
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the scenario never called %v", missing)
	}
}

func TestApplyRejects(t *testing.T) {
	ff := newFakeFleet(t)
	ctx := context.Background()
	tests := []struct {
		ch   *plan.Change
		want string
	}{
		{&plan.Change{Address: "widget.x", Action: plan.Create}, "not an address"},
		{&plan.Change{Address: "account.zed", Action: plan.Create, Target: "web1"}, "needs the desired object"},
		{&plan.Change{Address: "account.zed", Action: plan.Update, After: acct("zed.example", "", nil), Target: "web1"}, "does not exist"},
		{&plan.Change{Address: "account.zed", Action: plan.Resync, After: acct("zed.example", "", nil), Target: "web1"}, "not supported"},
		{&plan.Change{Address: "account.zed", Action: plan.Create, After: acct("zed.example", "", nil), Target: "nowhere"}, "no endpoint"},
		{&plan.Change{Address: "node.web1", Action: plan.Update, Fields: []string{"version"}, After: &schema.Node{Role: schema.RoleParent}, Target: "web1"}, "never changed"},
		{&plan.Change{Address: "dns.web1.member.b", Action: plan.Create, After: &schema.Member{Backend: "rfc2136", Role: "sync"}, Target: "web1"}, "rfc2136"},
		{&plan.Change{Address: "account.zed", Action: plan.Distribute, After: acct("zed.example", "nolink", nil), Target: "web1"}, "does not exist"},
		{&plan.Change{Address: "node.mail9", Action: plan.Link, After: child("mail9"), Target: "web1"}, "no API token"},
	}
	for _, tt := range tests {
		err := ff.p.Apply(ctx, tt.ch)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.ch.Address) {
			t.Errorf("%s %s: err = %v, want it to name the address and say %q", tt.ch.Address, tt.ch.Action, err, tt.want)
		}
	}
}

// A distribution whose background task never finishes ends with a clear timeout.
func TestDistributeTimeout(t *testing.T) {
	ff := newFakeFleet(t)
	ff.p.opts.TaskTimeout = 50 * time.Millisecond
	ff.web1.taskPolls = 1 << 30
	ctx := context.Background()
	if err := ff.p.Apply(ctx, &plan.Change{Address: "node.mail1", Action: plan.Link, After: child("mail1"), Target: "web1"}); err != nil {
		t.Fatal(err)
	}
	if err := ff.p.Apply(ctx, &plan.Change{Address: "account.zed", Action: plan.Create, After: acct("zed.example", "", nil), Target: "web1"}); err != nil {
		t.Fatal(err)
	}
	err := ff.p.Apply(ctx, &plan.Change{Address: "account.zed", Action: plan.Distribute, After: acct("zed.example", "mail1", nil), Target: "web1"})
	if err == nil || !strings.Contains(err.Error(), "account.zed") || !strings.Contains(err.Error(), "to child mail1 did not finish within 50ms") {
		t.Fatalf("err = %v", err)
	}
}

// Apply, then Observe of the same fake: what was applied is what is observed.
func TestApplyThenObserve(t *testing.T) {
	ff := newFakeFleet(t)
	ctx := context.Background()
	bob := &schema.Reseller{Account: *acct("bob.example", "mail1", func(a *schema.Account) { a.Features = map[string]bool{"apitokens": true} }),
		ACLs: []string{"list-accts"}, Limits: &schema.ResellerLimits{Accounts: intp(5)}}
	alice := acct("alice.example", "mail1", func(a *schema.Account) {
		a.Owner, a.ContactEmail, a.Plan, a.Features = "bob", "a@example.org", "basic", map[string]bool{"apitokens": true}
	})
	for _, ch := range []*plan.Change{
		{Address: "node.mail1", Action: plan.Link, After: child("mail1"), Target: "web1"},
		{Address: "reseller.bob", Action: plan.Create, After: bob, Target: "web1"},
		{Address: "account.alice", Action: plan.Create, After: alice, Target: "web1"},
	} {
		if err := ff.p.Apply(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	desired := fleetForApply()
	desired.Accounts = map[string]*schema.Account{"alice": alice}
	desired.Resellers = map[string]*schema.Reseller{"bob": bob}
	got, err := ff.p.Observe(ctx, "web1", desired)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Accounts["alice"], alice) {
		t.Errorf("alice observed %+v, applied %+v", got.Accounts["alice"], alice)
	}
	wantBob := *bob
	wantBob.ACLs = nil       // not observable through WHM API 1
	wantBob.Plan = "default" // the server's package when none is asked for
	if !reflect.DeepEqual(got.Resellers["bob"], &wantBob) {
		t.Errorf("bob observed %+v (limits %+v), applied %+v", got.Resellers["bob"], got.Resellers["bob"].Limits, wantBob)
	}
	if n := got.Nodes["mail1"]; n == nil || n.Role != schema.RoleChild || n.Parent != "web1" || n.Profile != "STANDARD" || n.PasswordStrength["virtual"] != 65 || n.PasswordStrength["ftp"] != 0 {
		t.Errorf("mail1 observed %+v", n)
	}
}

// A plain account creation costs one request: a batch of createacct and its read
// back. The apply benchmark of 10k creations depends on it. Applied again (an interrupted apply finished by the
// next run), createacct is refused, the account is read back and nothing changes; a
// user that exists with another domain is an error, and a refusal for a user that
// does not exist is passed on as it is.
func TestCreateCallCount(t *testing.T) {
	zed := func(domain string) *plan.Change {
		return &plan.Change{Address: "account.zed", Action: plan.Create,
			After: acct(domain, "", func(a *schema.Account) { a.ContactEmail = "z@example.org" }), Target: "web1"}
	}
	tests := []struct {
		name      string
		setup     func(ff *fakeFleet)
		ch        *plan.Change
		wantCalls []string
		wantErr   string
	}{
		{name: "new", ch: zed("zed.example"), wantCalls: []string{"batch:createacct+listaccts"}},
		{name: "exists already", ch: zed("zed.example"), wantCalls: []string{"batch:createacct+listaccts"},
			setup: func(ff *fakeFleet) {
				ff.web1.accts["zed"] = &facct{User: "zed", Domain: "zed.example", Owner: "root", Plan: "default", Email: "z@example.org", Features: map[string]bool{}}
			}},
		{name: "exists with another domain", ch: zed("zed.example"), wantCalls: []string{"batch:createacct+listaccts"},
			wantErr: "already exists on this parent with domain other.example",
			setup: func(ff *fakeFleet) {
				ff.web1.accts["zed"] = &facct{User: "zed", Domain: "other.example", Owner: "root", Plan: "default", Features: map[string]bool{}}
			}},
		{name: "batch refused: two calls", ch: zed("zed.example"), wantCalls: []string{"batch:createacct+listaccts", "createacct:createacct", "listaccts:listaccts"},
			setup: func(ff *fakeFleet) { ff.web1.fail["batch"] = "batch does not run createacct" }},
		{name: "refused", ch: zed("zed.example"), wantCalls: []string{"batch:createacct+listaccts"},
			wantErr: "the package does not exist",
			setup:   func(ff *fakeFleet) { ff.web1.fail["createacct"] = "the package does not exist" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ff := newFakeFleet(t)
			if tt.setup != nil {
				tt.setup(ff)
			}
			before := ff.web1.snapshotAccts()
			err := ff.p.Apply(context.Background(), tt.ch)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			var got []string
			for _, c := range ff.called {
				got = append(got, c.fn+":"+strings.Join(functionsOf(c.fn, c.params), "+"))
			}
			if !reflect.DeepEqual(got, tt.wantCalls) {
				t.Errorf("calls %v, want %v", got, tt.wantCalls)
			}
			if tt.name != "new" && !strings.HasPrefix(tt.name, "batch refused") && !reflect.DeepEqual(before, ff.web1.snapshotAccts()) {
				t.Errorf("accounts changed: %v, then %v", before, ff.web1.snapshotAccts())
			}
		})
	}
}

// snapshotAccts copies the fake's accounts, to compare before and after a re-run.
func (f *fakeWHM) snapshotAccts() map[string]facct {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]facct, len(f.accts))
	for u, a := range f.accts {
		c := *a
		c.Features = maps.Clone(a.Features)
		out[u] = c
	}
	return out
}

// A parent that quotes back the child's or nameserver's token in a refusal: the
// error names the object and keeps every token out.
func TestApplyErrorsCarryNoToken(t *testing.T) {
	ff := newFakeFleet(t)
	ff.web1.fail["link_server_node_with_api_token"] = "API failure: the remote server refused the token “" + tokMail1 + "” for root on " + tokWeb1
	ff.web1.fail[cgiAddMember] = "The remote server rejected root:" + tokNS1
	ff.web1.fail["createacct"] = "bad " + tokWeb1 + " " + tokMail2
	ctx := context.Background()
	var errs []error
	for _, ch := range []*plan.Change{
		{Address: "node.mail1", Action: plan.Link, After: child("mail1"), Target: "web1"},
		{Address: "dns.web1.member.ns1", Action: plan.Create, After: &schema.Member{Node: "ns1", Role: "sync"}, Target: "web1"},
		{Address: "account.zed", Action: plan.Create, After: acct("zed.example", "", nil), Target: "web1"},
	} {
		err := ff.p.Apply(ctx, ch)
		if err == nil || !strings.Contains(err.Error(), ch.Address) {
			t.Errorf("%s: err = %v, want a failure naming it", ch.Address, err)
			continue
		}
		errs = append(errs, err)
	}
	for _, err := range errs {
		for _, tok := range []string{tokWeb1, tokMail1, tokMail2, tokNS1} {
			if strings.Contains(err.Error(), tok) {
				t.Errorf("token %s… in %v", tok[:8], err)
			}
		}
		if !strings.Contains(err.Error(), "[REDACTED]") {
			t.Errorf("%v: want the quoted token replaced", err)
		}
	}
}

func TestLinkDetails(t *testing.T) {
	ctx := context.Background()
	t.Run("insecure child is linked with skip_tls_verification", func(t *testing.T) {
		ff := newFakeFleet(t)
		n := child("mail1")
		n.TLS = &schema.TLS{Insecure: true}
		if err := ff.p.Apply(ctx, &plan.Change{Address: "node.mail1", Action: plan.Link, After: n, Target: "web1"}); err != nil {
			t.Fatal(err)
		}
		linked := false
		for _, c := range ff.called {
			linked = linked || c.fn == "link_server_node_with_api_token"
			if c.fn == "link_server_node_with_api_token" && (c.params.Get("skip_tls_verification") != "1" || c.params.Get("username") != "root" || c.params.Get("api_token") != tokMail1) {
				t.Errorf("link sent skip_tls_verification=%q username=%q, token right: %t", c.params.Get("skip_tls_verification"), c.params.Get("username"), c.params.Get("api_token") == tokMail1)
			}
		}
		if !linked {
			t.Error("link_server_node_with_api_token was not called")
		}
	})
	t.Run("alias already linked to another host", func(t *testing.T) {
		ff := newFakeFleet(t)
		ff.web1.linked["mail1"] = map[string]any{"alias": "mail1", "hostname": "other.example.net"}
		err := ff.p.Apply(ctx, &plan.Change{Address: "node.mail1", Action: plan.Link, After: child("mail1"), Target: "web1"})
		if err == nil || !strings.Contains(err.Error(), "other.example.net") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("forced dedistribution from a child the account is not on", func(t *testing.T) {
		ff := newFakeFleet(t)
		ff.web1.linked["mail1"] = map[string]any{"alias": "mail1", "hostname": "mail1.example.net"}
		ff.web1.linked["mail2"] = map[string]any{"alias": "mail2", "hostname": "mail2.example.net"}
		ff.web1.accts["zed"] = &facct{User: "zed", Domain: "zed.example", Owner: "root", Plan: "default", Mail: "mail2", Features: map[string]bool{}}
		err := ff.p.Apply(ctx, &plan.Change{Address: "account.zed", Action: plan.Dedistribute, Flags: plan.Flags{DataLoss: true},
			Before: acct("zed.example", "mail1", nil), After: acct("zed.example", "", nil), Target: "web1"})
		if err == nil || !strings.Contains(err.Error(), "on mail2, not on the lost child") {
			t.Fatalf("err = %v", err)
		}
		if ff.web1.accts["zed"].Mail != "mail2" {
			t.Error("the account was moved")
		}
	})
}

func TestLinkTLSVerificationHint(t *testing.T) {
	ff := newFakeFleet(t)
	ff.web1.typedFail = map[string]string{"link_server_node_with_api_token": "TLSVerification"}
	err := ff.p.Apply(context.Background(), &plan.Change{Address: "node.mail1", Action: plan.Link, After: child("mail1"), Target: "web1"})
	if !errors.Is(err, whmapi.ErrTLSVerification) || !strings.Contains(err.Error(), "tls.insecure") || !strings.Contains(err.Error(), "node.mail1") {
		t.Fatalf("err = %v", err)
	}
}

package whm

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/sandbox"
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
	"uapi_cpanel Email::list_forwarders": true, "fetch_ds_records_for_domains": true,
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

// These tests run on internal/sandbox over HTTPS (startSandbox in sandbox_test.go):
// the sandbox is the only WHM the provider's tests meet. A refusal the simulation
// does not reach by itself is its refusal fault (sandbox.Faults.Refuse), never a
// hand-written server.

// token is a node's root token in the sandbox: the secret errors must never show.
func (f *sbFixture) token(node string) string { return f.sb.Endpoints().Nodes[node].Token }

// refuse makes node refuse calls (functions or screen paths) with the given answers.
func (f *sbFixture) refuse(t *testing.T, node string, r map[string]sandbox.Refusal) {
	t.Helper()
	if err := f.sb.SetFaults(node, sandbox.Faults{Refuse: r}); err != nil {
		t.Fatal(err)
	}
}

// mark is where the record of calls stands; callsSince lists the requests after it
// as FUNCTION:COMMANDS (a batch's commands joined with +).
func (f *sbFixture) mark() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *sbFixture) callsSince(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls[n:] {
		out = append(out, c.fn+":"+strings.Join(functionsOf(c.fn, c.params), "+"))
	}
	return out
}

// call makes one WHM API 1 call on node as the provider's client would, for a test's
// own setup.
func (f *sbFixture) call(t *testing.T, node, fn string, q url.Values) {
	t.Helper()
	c, err := f.p.client(node)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(context.Background(), whmapi.Idempotent, fn, q, nil); err != nil {
		t.Fatalf("%s on %s: %v", fn, node, err)
	}
}

func TestApplyRejects(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
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
		err := f.p.Apply(ctx, tt.ch)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.ch.Address) {
			t.Errorf("%s %s: err = %v, want it to name the address and say %q", tt.ch.Address, tt.ch.Action, err, tt.want)
		}
	}
}

// neverEnding makes the sandbox's background tasks (distribution, profile
// activation) outlast any test.
func neverEnding(o *sandbox.Options) { o.TaskDelay = time.Hour }

// linkAndCreate links mail1 and creates zed on web1 alone.
func (f *sbFixture) linkAndCreate(t *testing.T) {
	t.Helper()
	for _, ch := range []*plan.Change{
		{Address: "node.mail1", Action: plan.Link, After: child("mail1"), Target: "web1"},
		{Address: "account.zed", Action: plan.Create, After: acct("zed.example", "", nil), Target: "web1"},
	} {
		if err := f.p.Apply(context.Background(), ch); err != nil {
			t.Fatal(err)
		}
	}
}

// A distribution whose background task never finishes ends with a clear timeout.
func TestDistributeTimeout(t *testing.T) {
	f := startSandbox(t, sandboxFleet(), neverEnding)
	f.linkAndCreate(t)
	f.p.opts.TaskTimeout = 50 * time.Millisecond
	err := f.p.Apply(context.Background(), &plan.Change{Address: "account.zed", Action: plan.Distribute, After: acct("zed.example", "mail1", nil), Target: "web1"})
	if err == nil || !strings.Contains(err.Error(), "account.zed") || !strings.Contains(err.Error(), "to child mail1 did not finish within 50ms") {
		t.Fatalf("err = %v", err)
	}
}

// Apply, then Observe: what was applied is what is observed.
func TestApplyThenObserve(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
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
		if err := f.p.Apply(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	f.desired.Accounts = map[string]*schema.Account{"alice": alice}
	f.desired.Resellers = map[string]*schema.Reseller{"bob": bob}
	got := f.observe(t)
	if !reflect.DeepEqual(got.Accounts["alice"], alice) {
		t.Errorf("alice observed %+v, applied %+v", got.Accounts["alice"], alice)
	}
	wantBob := *bob
	wantBob.ACLs = nil       // not observable through WHM API 1
	wantBob.Plan = "default" // the server's package when none is asked for
	if !reflect.DeepEqual(got.Resellers["bob"], &wantBob) {
		t.Errorf("bob observed %+v (limits %+v), applied %+v", got.Resellers["bob"], got.Resellers["bob"].Limits, wantBob)
	}
	c, err := f.p.client("mail1")
	if err != nil {
		t.Fatal(err)
	}
	pw, err := c.PasswordStrengths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A child's strengths are its own but for the kinds its parent governs (ftp).
	if n := got.Nodes["mail1"]; n == nil || n.Role != schema.RoleChild || n.Parent != "web1" || n.Profile != "STANDARD" ||
		n.PasswordStrength["virtual"] != pw["virtual"] || pw["virtual"] == 0 || n.PasswordStrength["ftp"] != 0 {
		t.Errorf("mail1 observed %+v (server strengths %v)", n, pw)
	}
}

// A plain account creation costs one request: a batch of createacct and its read
// back. The apply benchmark of 10k creations depends on it. Applied again (an
// interrupted apply finished by the next run), createacct is refused, the account is
// read back and nothing changes; a user that exists with another domain is an error,
// and a refusal for a user that does not exist is passed on as it is.
func TestCreateCallCount(t *testing.T) {
	zed := func(domain string) *plan.Change {
		return &plan.Change{Address: "account.zed", Action: plan.Create,
			After: acct(domain, "", func(a *schema.Account) { a.ContactEmail = "z@example.org" }), Target: "web1"}
	}
	exists := func(domain string) func(*testing.T, *sbFixture) {
		return func(t *testing.T, f *sbFixture) {
			f.call(t, "web1", "createacct", url.Values{"username": {"zed"}, "domain": {domain}, "contactemail": {"z@example.org"}})
		}
	}
	tests := []struct {
		name      string
		setup     func(*testing.T, *sbFixture)
		ch        *plan.Change
		wantCalls []string
		wantErr   string
		changes   bool // the apply creates the account
	}{
		{name: "new", ch: zed("zed.example"), wantCalls: []string{"batch:createacct+listaccts"}, changes: true},
		{name: "exists already", ch: zed("zed.example"), wantCalls: []string{"batch:createacct+listaccts"}, setup: exists("zed.example")},
		{name: "exists with another domain", ch: zed("zed.example"), wantCalls: []string{"batch:createacct+listaccts"},
			wantErr: "already exists on this parent with domain other.example", setup: exists("other.example")},
		{name: "batch refused: two calls", ch: zed("zed.example"), wantCalls: []string{"batch:createacct+listaccts", "createacct:createacct", "listaccts:listaccts"},
			changes: true,
			setup: func(t *testing.T, f *sbFixture) {
				f.refuse(t, "web1", map[string]sandbox.Refusal{"batch": {Reason: "batch does not run createacct"}})
			}},
		{name: "refused", ch: zed("zed.example"), wantCalls: []string{"batch:createacct+listaccts"},
			wantErr: "the package does not exist",
			setup: func(t *testing.T, f *sbFixture) {
				f.refuse(t, "web1", map[string]sandbox.Refusal{"createacct": {Reason: "the package does not exist"}})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startSandbox(t, sandboxFleet())
			if tt.setup != nil {
				tt.setup(t, f)
			}
			before := f.observe(t).Accounts
			n := f.mark()
			err := f.p.Apply(context.Background(), tt.ch)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if got := f.callsSince(n); !reflect.DeepEqual(got, tt.wantCalls) {
				t.Errorf("calls %v, want %v", got, tt.wantCalls)
			}
			after := f.observe(t).Accounts
			if !tt.changes && !reflect.DeepEqual(before, after) {
				t.Errorf("accounts changed: %v, then %v", before, after)
			}
			if tt.changes && (after["zed"] == nil || after["zed"].Domain != "zed.example") {
				t.Errorf("zed observed %+v after its creation", after["zed"])
			}
		})
	}
}

// A parent that quotes back the child's or nameserver's token in a refusal: the
// error names the object and keeps every token out.
func TestApplyErrorsCarryNoToken(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	tokWeb1, tokMail1, tokMail2, tokNS1 := f.token("web1"), f.token("mail1"), f.token("mail2"), f.token("ns1")
	f.refuse(t, "web1", map[string]sandbox.Refusal{
		"link_server_node_with_api_token": {Reason: "API failure: the remote server refused the token “" + tokMail1 + "” for root on " + tokWeb1},
		cgiAddMember:                      {Reason: "The remote server rejected root:" + tokNS1},
		"createacct":                      {Reason: "bad " + tokWeb1 + " " + tokMail2},
	})
	f.desired.DNSClusters = map[string]*schema.DNSCluster{"web1": {Enabled: true, Members: map[string]*schema.Member{"ns1": {Node: "ns1", Role: "sync"}}}}
	f.p.rememberHosts(f.desired)
	ctx := context.Background()
	var errs []error
	for _, ch := range []*plan.Change{
		{Address: "node.mail1", Action: plan.Link, After: child("mail1"), Target: "web1"},
		{Address: "dns.web1.member.ns1", Action: plan.Create, After: &schema.Member{Node: "ns1", Role: "sync"}, Target: "web1"},
		{Address: "account.zed", Action: plan.Create, After: acct("zed.example", "", nil), Target: "web1"},
	} {
		err := f.p.Apply(ctx, ch)
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
		f := startSandbox(t, sandboxFleet())
		n := child("mail1")
		n.TLS = &schema.TLS{Insecure: true}
		if err := f.p.Apply(ctx, &plan.Change{Address: "node.mail1", Action: plan.Link, After: n, Target: "web1"}); err != nil {
			t.Fatal(err)
		}
		linked := false
		f.mu.Lock()
		for _, c := range f.calls {
			linked = linked || c.fn == "link_server_node_with_api_token"
			if c.fn == "link_server_node_with_api_token" && (c.params.Get("skip_tls_verification") != "1" || c.params.Get("username") != "root" || c.params.Get("api_token") != f.token("mail1")) {
				t.Errorf("link sent skip_tls_verification=%q username=%q, token right: %t", c.params.Get("skip_tls_verification"), c.params.Get("username"), c.params.Get("api_token") == f.token("mail1"))
			}
		}
		f.mu.Unlock()
		if !linked {
			t.Error("link_server_node_with_api_token was not called")
		}
		if obs := f.observe(t).Nodes["mail1"]; obs == nil || obs.Role != schema.RoleChild || obs.Parent != "web1" {
			t.Errorf("mail1 observed %+v, want linked", obs)
		}
	})
	t.Run("alias already linked to another host", func(t *testing.T) {
		f := startSandbox(t, sandboxFleet())
		f.call(t, "web1", "link_server_node_with_api_token", url.Values{"alias": {"mail1"}, "hostname": {"mail2.example.net"},
			"username": {"root"}, "api_token": {f.token("mail2")}})
		err := f.p.Apply(ctx, &plan.Change{Address: "node.mail1", Action: plan.Link, After: child("mail1"), Target: "web1"})
		if err == nil || !strings.Contains(err.Error(), "mail2.example.net") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("forced dedistribution from a child the account is not on", func(t *testing.T) {
		f := startSandbox(t, sandboxFleet())
		for _, ch := range []*plan.Change{
			{Address: "node.mail1", Action: plan.Link, After: child("mail1"), Target: "web1"},
			{Address: "node.mail2", Action: plan.Link, After: child("mail2"), Target: "web1"},
			{Address: "account.zed", Action: plan.Create, After: acct("zed.example", "mail2", nil), Target: "web1"},
		} {
			if err := f.p.Apply(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
		err := f.p.Apply(ctx, &plan.Change{Address: "account.zed", Action: plan.Dedistribute, Flags: plan.Flags{DataLoss: true},
			Before: acct("zed.example", "mail1", nil), After: acct("zed.example", "", nil), Target: "web1"})
		if err == nil || !strings.Contains(err.Error(), "on mail2, not on the lost child") {
			t.Fatalf("err = %v", err)
		}
		if a := f.observe(t).Accounts["zed"]; a == nil || a.MailNode() != "mail2" {
			t.Errorf("zed observed %+v: the account was moved", a)
		}
	})
}

// A parent that cannot verify the child's certificate answers the typed failure
// TLSVerification (whm-api.md, Whostmgr/API/1/Utils/TLS.pm); the sandbox's nodes
// trust one another, so its refusal fault stands for that parent.
func TestLinkTLSVerificationHint(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	f.refuse(t, "web1", map[string]sandbox.Refusal{"link_server_node_with_api_token": {
		Reason: "The system failed to verify the TLS certificate of “mail1.example.net”.", Type: "TLSVerification"}})
	err := f.p.Apply(context.Background(), &plan.Change{Address: "node.mail1", Action: plan.Link, After: child("mail1"), Target: "web1"})
	if !errors.Is(err, whmapi.ErrTLSVerification) || !strings.Contains(err.Error(), "tls.insecure") || !strings.Contains(err.Error(), "node.mail1") {
		t.Fatalf("err = %v", err)
	}
}

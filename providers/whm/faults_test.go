package whm

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// Faults injected into the sandbox, seen through the provider.

func TestSandboxFlakyParentIsRetried(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	ctx := context.Background()
	if err := f.p.Apply(ctx, &plan.Change{Address: "account.zed", Action: plan.Create, After: acct("zed.example", "", nil), Target: "web1"}); err != nil {
		t.Fatal(err)
	}
	// A third of the requests get HTTP 500: reads retry through it.
	if err := f.sb.SetFaults("web1", sandbox.Faults{ErrorRate: 0.3}); err != nil {
		t.Fatal(err)
	}
	f.p.opts.Client.Attempts = 12
	f.p.clients = map[string]*whmapi.Client{}
	for range 3 {
		got, err := f.p.Observe(ctx, "web1", f.desired)
		if err != nil {
			t.Fatalf("observe through 30%% errors: %v", err)
		}
		if got.Accounts["zed"] == nil {
			t.Fatalf("zed not observed")
		}
	}
}

func TestSandboxHangingParentTimesOut(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	if err := f.sb.SetFaults("web1", sandbox.Faults{Timeout: true}); err != nil {
		t.Fatal(err)
	}
	f.p.opts.Client.CallTimeout = 50 * time.Millisecond
	f.p.opts.Client.Attempts = 2
	f.p.clients = map[string]*whmapi.Client{}
	start := time.Now()
	_, err := f.p.Observe(context.Background(), "web1", f.desired)
	if err == nil || !errors.Is(err, providers.ErrTransient) || !strings.Contains(err.Error(), "parent web1") || !strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("err = %v, want a transient timeout naming parent web1", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

// A child refuses calls about distributed accounts with the typed SendToParent.
func TestSandboxChildSendsToParent(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	ctx := context.Background()
	for _, ch := range []*plan.Change{
		{Address: "node.mail1", Action: plan.Link, After: sandboxFleet().Nodes["mail1"], Target: "web1"},
		{Address: "account.zed", Action: plan.Create, After: acct("zed.example", "mail1", nil), Target: "web1"},
	} {
		if err := f.p.Apply(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	c, err := f.p.client("mail1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(ctx, whmapi.Idempotent, "suspendacct", url.Values{"user": {"zed"}}, nil)
	var ae *whmapi.APIError
	if !errors.As(err, &ae) || !errors.Is(err, whmapi.ErrSendToParent) || errors.Is(err, providers.ErrTransient) {
		t.Fatalf("err = %v, want a permanent SendToParent", err)
	}
	// The provider never does this: account work goes to the parent (Target).
	if err := f.p.Apply(ctx, &plan.Change{Address: "account.zed", Action: plan.Update, After: acct("zed.example", "mail1", func(a *schema.Account) { a.Suspended = true }),
		Fields: []string{"suspended"}, Target: "web1"}); err != nil {
		t.Fatal(err)
	}
}

// A distribution whose task fails half-way never shows the account on the child:
// the wait ends at TaskTimeout with an error naming the account and the move, and
// the account keeps its mail where it was.
func TestSandboxDistributionFailsHalfway(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	ctx := context.Background()
	for _, ch := range []*plan.Change{
		{Address: "node.mail1", Action: plan.Link, After: sandboxFleet().Nodes["mail1"], Target: "web1"},
		{Address: "account.zed", Action: plan.Create, After: acct("zed.example", "", nil), Target: "web1"},
	} {
		if err := f.p.Apply(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.sb.AddMail("web1", "zed", "INBOX", 3); err != nil {
		t.Fatal(err)
	}
	if err := f.sb.SetFaults("web1", sandbox.Faults{FailTasks: true}); err != nil {
		t.Fatal(err)
	}
	// WHM shows a failed move through no API read: the account stays on the
	// parent, and the bound turns that into an error naming account and child.
	f.p.opts.TaskTimeout = 300 * time.Millisecond
	start := time.Now()
	err := f.p.Apply(ctx, &plan.Change{Address: "account.zed", Action: plan.Distribute, After: acct("zed.example", "mail1", nil), Target: "web1"})
	if err == nil || !strings.Contains(err.Error(), "account zed: moving its mail from the parent web1 to child mail1 did not finish within 300ms") ||
		!strings.Contains(err.Error(), "Offload Functionality to a Child Node Failure") {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the failure was reported after %s, bound 300ms", took)
	}
	if n := f.sb.MessageCount("web1", "zed"); n != 3 {
		t.Errorf("zed has %d messages on the parent after a failed move, want 3", n)
	}
	// Fault gone: the same change, run again, finishes the job.
	if err := f.sb.SetFaults("web1", sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	f.p.opts.TaskTimeout = 10 * time.Second
	if err := f.p.Apply(ctx, &plan.Change{Address: "account.zed", Action: plan.Distribute, After: acct("zed.example", "mail1", nil), Target: "web1"}); err != nil {
		t.Fatal(err)
	}
	if n := f.sb.MessageCount("mail1", "zed"); n != 3 {
		t.Errorf("zed has %d messages on mail1, want 3", n)
	}
}

// Cancelling the context stops a wait at once, and says so.
func TestPollStopsOnCancel(t *testing.T) {
	f := startSandbox(t, sandboxFleet(), neverEnding)
	f.linkAndCreate(t)
	cctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := f.p.Apply(cctx, &plan.Change{Address: "account.zed", Action: plan.Distribute, After: acct("zed.example", "mail1", nil), Target: "web1"})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "stopped waiting") {
		t.Fatalf("err = %v", err)
	}
}

// A child that is down (or lost) does not hide its parent: the parent is observed,
// the child is listed from the parent's links with its own settings unread.
func TestSandboxChildOfflineDoesNotHideParent(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	ctx := context.Background()
	for _, ch := range []*plan.Change{
		{Address: "node.mail1", Action: plan.Link, After: sandboxFleet().Nodes["mail1"], Target: "web1"},
		{Address: "account.zed", Action: plan.Create, After: acct("zed.example", "mail1", nil), Target: "web1"},
	} {
		if err := f.p.Apply(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.sb.SetFaults("mail1", sandbox.Faults{Offline: true}); err != nil {
		t.Fatal(err)
	}
	f.p.opts.Client.Attempts = 1
	f.p.clients = map[string]*whmapi.Client{}
	for _, lost := range []bool{false, true} {
		f.desired.Nodes["mail1"].Lost = lost
		got, err := f.p.Observe(ctx, "web1", f.desired)
		// A lost child is not asked; one that should answer and does not is named.
		var unread *providers.UnreadError
		switch {
		case lost && err != nil:
			t.Fatalf("lost=%t: %v", lost, err)
		case !lost && (!errors.As(err, &unread) || len(unread.Nodes) != 1 || unread.Nodes["mail1"] == nil):
			t.Fatalf("lost=%t: err = %v, want mail1 named as unread", lost, err)
		case got == nil:
			t.Fatalf("lost=%t: no fleet beside the unread child", lost)
		}
		n := got.Nodes["mail1"]
		if n == nil || n.Role != schema.RoleChild || n.Profile != "" || n.PasswordStrength != nil {
			t.Errorf("lost=%t: mail1 observed %+v, want linked with settings unread", lost, n)
		}
		if a := got.Accounts["zed"]; a == nil || a.MailNode() != "mail1" {
			t.Errorf("lost=%t: zed observed %+v", lost, a)
		}
	}
	// Lost: forced dedistribution goes through the parent alone.
	err := f.p.Apply(ctx, &plan.Change{Address: "account.zed", Action: plan.Dedistribute, Flags: plan.Flags{Disruptive: true, DataLoss: true},
		Before: acct("zed.example", "mail1", nil), After: acct("zed.example", "", nil), Target: "web1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.observe(t).Accounts["zed"]; got == nil || got.MailNode() != "" {
		t.Errorf("zed after forced dedistribution: %+v", got)
	}
}

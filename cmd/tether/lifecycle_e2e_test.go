package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/sandbox"
)

// A distributed account is created on a server whose default feature list has API
// tokens off: Tether creates it on the parent, gives it the feature, then distributes
// it, the order a real server accepts (the child side of a distributed createacct
// makes an API token as the new user).
func TestDistributedAccountWithAPITokensOffByDefault(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "plan", e.fleet), 0) // creates the blank servers
	sb := servedSandbox(t, e)
	if err := sb.SetFeatureList("web1", "default", "apitokens", false); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "Apply complete! 7 created")
	e.assertConverged(t)
	for user, child := range map[string]string{"alice": "mail1", "dave": "mail2"} {
		if !sb.HasAccount(child, user) {
			t.Errorf("%s has no account on %s", user, child)
		}
	}
}

// A move that fails on the server is reported within --task-timeout, naming the
// account and the child; once the fault is gone the next apply converges.
func TestDistributionFailureReportedWithinBound(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "plan", e.fleet), 0)
	sb := servedSandbox(t, e)
	if err := sb.SetFaults("mail2", sandbox.Faults{FailTasks: true}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := e.run(t, "apply", "--auto-approve", "--task-timeout", "1s", e.fleet)
	took := time.Since(start)
	expect(t, r, 1, "account dave: moving its mail from the parent web1 to child mail2 did not finish within 1s",
		"Offload Functionality to a Child Node Failure")
	if took > 15*time.Second {
		t.Errorf("apply took %s to report a failed move with a 1s bound", took)
	}
	if n := sb.Notifications("web1"); len(n) == 0 || !strings.Contains(strings.Join(n, "\n"), "Accounts::ChildDistributionFailure") {
		t.Errorf("the parent sent no failure notification: %v", n)
	}
	if err := sb.SetFaults("mail2", sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!")
	e.assertConverged(t)
}

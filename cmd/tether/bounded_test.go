package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/sandbox"
)

// TestHungChildCostsPlanTheCallTimeout: a child that never answers costs plan at most
// --call-timeout × --call-attempts (plus backoff), and the plan names the slow node.
func TestHungChildCostsPlanTheCallTimeout(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0)
	sb := servedSandbox(t, e)
	if err := sb.SetFaults("mail1", sandbox.Faults{Timeout: true}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := e.run(t, "plan", "--call-timeout", "500ms", "--call-attempts", "2", e.fleet)
	took := time.Since(start)
	expect(t, r, 1, "mail1")
	t.Logf("plan with a hung child took %v", took)
	if took > 10*time.Second {
		t.Errorf("plan took %v with --call-timeout 500ms --call-attempts 2", took)
	}
	if !strings.Contains(r.stdout+r.stderr, "no answer within") {
		t.Errorf("the plan does not say the node was slow:\n%s\n%s", r.stdout, r.stderr)
	}
}

// TestInterruptStopsWaitingThenNextApplyWaitsForTheMoveInFlight: the first Ctrl-C
// stops an apply that waits for a server's mail move at once (not when the move ends),
// with the journal kept; the next apply, started while the move still runs, waits for
// it instead of failing with "already changing the distribution", and converges.
func TestInterruptStopsWaitingThenNextApplyWaitsForTheMoveInFlight(t *testing.T) {
	e := newEnv(t)
	// Everything but the distributions first.
	e.edit(t, "    mail: {node: mail1}\n", "")
	e.edit(t, "    mail: {node: mail2}\n", "")
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0)
	e.write(t, mustRead(t, "testdata/e2e/fleet.yaml"))
	// A served sandbox whose mail moves take 4 seconds.
	sb, err := sandbox.Start(context.Background(), sandbox.Options{StateDir: e.sandbox, TaskDelay: 4 * time.Second,
		FlushInterval: 20 * time.Millisecond, RemoteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	if err := sandbox.WritePID(e.sandbox); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	signalled := make(chan time.Time, 1)
	c := withEvents(func(ev engine.Event) {
		if ev.Kind == engine.EventStart && ev.Change != nil && strings.HasSuffix(ev.Change.ID, "/distribute") {
			once.Do(func() {
				go func() {
					time.Sleep(300 * time.Millisecond)
					signalled <- time.Now()
					interruptSelf()
				}()
			})
		}
	})
	r := e.runWith(t, c, "apply", "--auto-approve", "--parallelism", "1", e.fleet)
	var stopped time.Duration
	select {
	case at := <-signalled:
		stopped = time.Since(at)
	default:
		t.Fatalf("no move started, so no signal was sent:\n%s\n%s", r.stdout, r.stderr)
	}
	expect(t, r, 1, "stopped waiting")
	t.Logf("exited %v after the signal", stopped)
	if stopped > 2*time.Second {
		t.Errorf("apply took %v to stop after Ctrl-C (the move takes 4s)", stopped)
	}
	if js, _ := e.state(t).Journals(context.Background()); len(js) != 1 {
		t.Fatalf("%d journals after an interrupted apply, want 1", len(js))
	}
	// The move is still running on the server: the next apply waits for it.
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "Apply complete!", "waiting for a move of the account already in flight")
	if strings.Contains(r.stdout+r.stderr, "already changing the distribution") {
		t.Errorf("a move in flight failed the next apply:\n%s\n%s", r.stdout, r.stderr)
	}
	e.assertConverged(t)
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPolicyBoundsCalls: the fleet's policy.callTimeout and callAttempts bound a hung
// child as the flags do, when no flag is given.
func TestPolicyBoundsCalls(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0)
	b, _ := os.ReadFile(filepath.Join(e.fleet, "fleet.yaml"))
	e.write(t, "policy: {callTimeout: 400ms, callAttempts: 1, changeTimeout: 5m}\n"+string(b))
	sb := servedSandbox(t, e)
	if err := sb.SetFaults("mail1", sandbox.Faults{Timeout: true}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := e.run(t, "plan", e.fleet)
	expect(t, r, 1, "mail1", "no answer within 400ms")
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("plan took %v with policy.callTimeout 400ms", took)
	}
	e.write(t, "policy: {callTimeout: soon}\n"+string(b))
	expect(t, tether(t, context.Background(), "", "validate", e.fleet), 1, "TETHER-SCHEMA: policy: callTimeout is not a duration")
}

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/cueguard"
	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/state"
)

func TestMain(m *testing.M) {
	// The watch daemon's CUE child is this test binary run again.
	cueguard.RunChildIfAsked()
	// A test that needs tether as a separate process (one it can SIGKILL) runs this
	// binary again with TETHER_TEST_MAIN=1: the command line as tests build it.
	if os.Getenv("TETHER_TEST_MAIN") == "1" {
		root := newRoot(testCLI())
		root.SetArgs(os.Args[1:])
		if err := root.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testCLI is the command line as tests build it: a sandbox whose background tasks
// take milliseconds, and retries that do not wait half a second. The tests exercise
// the flow, not the clock.
func testCLI() *cli {
	c := defaultCLI()
	c.session = func(o *session.Options) {
		o.SandboxOptions.TaskDelay = 5 * time.Millisecond
		o.SandboxOptions.FlushInterval = 20 * time.Millisecond
	}
	c.retry = engine.Retry{Attempts: 2, Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	return c
}

// withEvents is testCLI with an observer of every apply event.
func withEvents(f func(engine.Event)) *cli {
	c := testCLI()
	c.onEvent = f
	return c
}

type result struct {
	stdout, stderr string
	code           int
}

// tether runs the command line as main does, with its own streams.
func tether(t *testing.T, ctx context.Context, stdin string, args ...string) result {
	t.Helper()
	return tetherWith(t, testCLI(), ctx, stdin, args...)
}

// tetherWith is tether with the command line built from c.
func tetherWith(t *testing.T, c *cli, ctx context.Context, stdin string, args ...string) result {
	t.Helper()
	root := newRoot(c)
	// Synchronised: a command has several loggers on stderr (the session's, the
	// apply's progress), each locking only itself, as an *os.File needs no more.
	var out, errb syncBuffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	code := runCommand(ctx, root, args)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// env is a fleet copied into a temporary folder, with its sandbox state beside it.
type env struct {
	dir, fleet, sandbox string
}

func newEnv(t *testing.T) env {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/e2e/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := env{dir: dir, fleet: filepath.Join(dir, "fleet"), sandbox: filepath.Join(dir, "sandbox")}
	if err := os.MkdirAll(e.fleet, 0o700); err != nil {
		t.Fatal(err)
	}
	e.write(t, string(b))
	return e
}

func (e env) write(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.fleet, "fleet.yaml"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e env) edit(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.fleet, "fleet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), from) {
		t.Fatalf("fleet has no %q", from)
	}
	e.write(t, strings.Replace(string(b), from, to, 1))
}

func (e env) run(t *testing.T, args ...string) result {
	t.Helper()
	return e.runWith(t, testCLI(), args...)
}

// runWith is run with the command line built from c.
func (e env) runWith(t *testing.T, c *cli, args ...string) result {
	t.Helper()
	return tetherWith(t, c, context.Background(), "", append(args, "--sandbox", "--sandbox-state", e.sandbox)...)
}

func (e env) state(t *testing.T) *state.Folder {
	t.Helper()
	st, err := state.Open(filepath.Join(e.sandbox, "tether-state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func expect(t *testing.T, r result, code int, wants ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	all := r.stdout + r.stderr
	for _, w := range wants {
		if !strings.Contains(all, w) {
			t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", w, r.stdout, r.stderr)
		}
	}
}

// assertConverged plans again: the fleet must show no changes.
func (e env) assertConverged(t *testing.T) {
	t.Helper()
	r := e.run(t, "plan", "--detailed-exitcode", e.fleet)
	expect(t, r, 0, "No changes.")
}

func TestApplyConvergesAndSecondPlanIsEmpty(t *testing.T) {
	e := newEnv(t)
	r := e.run(t, "plan", "--detailed-exitcode", e.fleet)
	expect(t, r, 2, "+ account.alice", "Plan: 7 to create, 0 to change, 0 to remove.")
	if _, err := os.Stat(filepath.Join(e.sandbox, "tether-state", "inventory.json")); err == nil {
		t.Fatal("plan wrote an inventory")
	}
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	// Off a terminal: one readable line per change (and JSON with --log-format json,
	// TestApplyLogFormatJSON).
	expect(t, r, 0, "Apply complete! 7 created, 0 changed, 0 removed.", "✓ create account.alice on web1 (", "Applied 7 of 7 change(s): 0 failed, 0 skipped.")
	eps, err := sandbox.ReadEndpoints(e.sandbox)
	if err != nil {
		t.Fatal(err)
	}
	for name, ep := range eps.Nodes {
		if ep.Token != "" && strings.Contains(r.stdout+r.stderr, ep.Token) {
			t.Errorf("the token of %s was printed", name)
		}
	}
	e.assertConverged(t)
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "No changes. The fleet matches the configuration.", "Apply complete! Nothing to change.")

	st := e.state(t)
	inv, err := st.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"node.mail1", "node.mail2", "reseller.bob", "account.alice", "account.dave", "account.frank", "account.ivan"} {
		if _, ok := inv[a]; !ok {
			t.Errorf("inventory lacks %s: %v", a, inv)
		}
	}
	prot, _ := st.Protected(context.Background())
	if !prot["account.alice"] || prot["account.dave"] {
		t.Errorf("protected %v", prot)
	}
	if js, _ := st.Journals(context.Background()); len(js) != 0 {
		t.Errorf("journals left after a complete apply: %d", len(js))
	}
	// Nothing went next to the fleet: the sandbox's state is its own.
	if _, err := os.Stat(filepath.Join(e.fleet, ".tether")); err == nil {
		t.Error("a sandbox apply wrote state next to the real fleet")
	}
}

func TestPlanFormatsAndSavedPlan(t *testing.T) {
	e := newEnv(t)
	saved := filepath.Join(e.dir, "tfplan")
	r := e.run(t, "plan", "--format", "json", "-out", saved, e.fleet)
	expect(t, r, 0, `"format_version"`, "Saved the plan to "+saved)
	if !json.Valid([]byte(r.stdout)) {
		t.Errorf("--format json wrote more than JSON on stdout:\n%s", r.stdout)
	}
	r = e.run(t, "plan", "--format", "markdown", e.fleet)
	expect(t, r, 0, "account.alice")
	r = e.run(t, "plan", "--format", "yaml", e.fleet)
	expect(t, r, 1, `--format "yaml": want text, json or markdown`)

	r = e.run(t, "apply", saved)
	expect(t, r, 0, "Applying the saved plan", "Apply complete! 7 created")
	e.assertConverged(t)
}

func TestSavedPlanRefusedWhenServersMoved(t *testing.T) {
	e := newEnv(t)
	saved := filepath.Join(e.dir, "tfplan")
	expect(t, e.run(t, "plan", "-out="+saved, e.fleet), 0)
	// Someone applies in between: the servers no longer look as they did.
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0)
	r := e.run(t, "apply", saved)
	expect(t, r, 1, "saved plan "+saved+" is stale", "account.alice (appeared)", "node.mail1 (", "reseller.bob (appeared)")
	if strings.Contains(r.stdout, "Apply complete") {
		t.Fatal("a stale plan was applied")
	}
}

func TestSavedPlanRefusedWhenFleetMoved(t *testing.T) {
	e := newEnv(t)
	saved := filepath.Join(e.dir, "tfplan")
	expect(t, e.run(t, "plan", "-out", saved, e.fleet), 0)
	e.edit(t, "contactEmail: frank@example.org", "contactEmail: frank@example.net")
	r := e.run(t, "apply", saved)
	expect(t, r, 1, "is stale", "the fleet changed since the plan was made")
	expect(t, e.run(t, "plan", "--detailed-exitcode", e.fleet), 2, "Plan: 7 to create")
}

func TestLostChildNeedsAllowDataLoss(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0)
	e.edit(t, "tokenEnv: MAIL2_WHM_TOKEN}", "tokenEnv: MAIL2_WHM_TOKEN}\n    lost: true")
	e.edit(t, "contactEmail: dave@example.org\n    mail: {node: mail2}", "contactEmail: dave@example.org")
	r := e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 1, "account.dave/dedistribute loses data", "Nothing was applied. To apply it anyway, add --allow-data-loss.")
	// Still planned: nothing moved.
	expect(t, e.run(t, "plan", "--detailed-exitcode", e.fleet), 2, "<- account.dave", "data loss")
	r = e.run(t, "apply", "--auto-approve", "--allow-data-loss", e.fleet)
	expect(t, r, 0, "Apply complete! 0 created, 1 changed, 0 removed.")
	e.assertConverged(t)
}

func TestInvalidFleetContactsNothing(t *testing.T) {
	e := newEnv(t)
	e.edit(t, "domain: frank.example", "domain: frank.example\n    contactemial: x@example.org")
	for _, cmd := range []string{"plan", "apply"} {
		r := e.run(t, cmd, "--auto-approve", e.fleet)
		if cmd == "plan" {
			r = e.run(t, cmd, e.fleet)
		}
		expect(t, r, 1, "fleet.yaml:", "TETHER-SCHEMA", "nothing was contacted")
	}
	if _, err := os.Stat(e.sandbox); err == nil {
		t.Error("an invalid fleet started the sandbox")
	}
}

func TestApplyAsksFirst(t *testing.T) {
	e := newEnv(t)
	args := []string{"apply", e.fleet, "--sandbox", "--sandbox-state", e.sandbox}
	r := tether(t, context.Background(), "yes\n", args...)
	expect(t, r, 1, "standard input is not a terminal", "--auto-approve")

	onTerminal := testCLI()
	onTerminal.terminal = func(rw any) bool { _, ok := rw.(*strings.Reader); return ok }
	r = tetherWith(t, onTerminal, context.Background(), "no\n", args...)
	expect(t, r, 1, "Do you want to perform these actions? Only 'yes' will be accepted:", "Apply cancelled: nothing was changed.")
	expect(t, e.run(t, "plan", "--detailed-exitcode", e.fleet), 2)
	r = tetherWith(t, onTerminal, context.Background(), "yes\n", args...)
	expect(t, r, 0, "Apply complete!")
}

// servedSandbox starts the sandbox as `tether sandbox serve` would, so the commands
// talk to it over its endpoints and the test can inject faults while they run.
func servedSandbox(t *testing.T, e env) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.Start(context.Background(), sandbox.Options{StateDir: e.sandbox, TaskDelay: 5 * time.Millisecond,
		FlushInterval: 20 * time.Millisecond, RemoteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	if err := sandbox.WritePID(e.sandbox); err != nil {
		t.Fatal(err)
	}
	return sb
}

func TestFaultInjectedApplyReportsEveryFailureThenConverges(t *testing.T) {
	e := newEnv(t)
	// Create the fleet's blank servers, then serve them from this process.
	expect(t, e.run(t, "plan", e.fleet), 0)
	sb := servedSandbox(t, e)

	// mail1 answers every call with HTTP 500; mail2 goes offline once the apply is
	// under way: as its link starts (the event comes before the change is handed to
	// a worker). Keyed to that change, not to whichever change ends first: the engine
	// starts the longest chain first, and a mail2 that went offline after its link
	// would leave the account distributed there waiting out --task-timeout.
	if err := sb.SetFaults("mail1", sandbox.Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	c := withEvents(func(ev engine.Event) {
		if ev.Kind == engine.EventStart && ev.Change != nil && ev.Change.Address == "node.mail2" {
			once.Do(func() { sb.SetFaults("mail2", sandbox.Faults{Offline: true}) })
		}
	})
	// mail1, not linked yet, cannot be read: the plan is incomplete and apply refuses
	// it; with --partial it applies the rest (nothing is planned for mail1 or the
	// account whose mail goes there) and still exits 1.
	r := e.runWith(t, c, "apply", "--auto-approve", "--parallelism", "1", e.fleet)
	expect(t, r, 1, "INCOMPLETE PLAN: 1 part(s) of the fleet could not be read (mail1)", "Nothing was applied. To apply it anyway, add --partial.")
	r = e.runWith(t, c, "apply", "--auto-approve", "--partial", "--parallelism", "1", e.fleet)
	expect(t, r, 1, "INCOMPLETE PLAN", "Apply incomplete:", "✗ link node.mail2 on web1",
		"- create account.dave: skipped: it depends on node.mail2/link, which failed")
	if strings.Contains(r.stdout, "node.mail1/link") || strings.Contains(r.stdout, "account.alice") {
		t.Errorf("something was planned for the unread mail1:\n%s", r.stdout)
	}
	if n := strings.Count(r.stderr, "Error:"); n != 1 {
		t.Errorf("%d error blocks", n)
	}
	js, err := e.state(t).Journals(context.Background())
	if err != nil || len(js) != 1 {
		t.Fatalf("journal after a failed apply: %v, %v", js, err)
	}

	sb.SetFaults("mail1", sandbox.Faults{})
	sb.SetFaults("mail2", sandbox.Faults{})
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "Note: an apply of "+js[0].Fleet, "did not finish", "Apply complete! 4 created")
	e.assertConverged(t)
	if js, _ := e.state(t).Journals(context.Background()); len(js) != 0 {
		t.Fatalf("journals left: %d", len(js))
	}
}

func TestInterruptedApplyIsFinishedByTheNext(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := withEvents(func(ev engine.Event) {
		if ev.Kind == engine.EventDone {
			cancel() // Ctrl-C after the first change
		}
	})
	r := tetherWith(t, c, ctx, "", "apply", "--auto-approve", "--parallelism", "1", e.fleet, "--sandbox", "--sandbox-state", e.sandbox)
	expect(t, r, 1, "apply interrupted", "were not started", "run tether apply again to finish")
	js, err := e.state(t).Journals(context.Background())
	if err != nil || len(js) != 1 || len(js[0].Remaining()) == 0 {
		t.Fatalf("journal: %+v, %v", js, err)
	}
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "did not finish", "Apply complete!")
	e.assertConverged(t)
	if js, _ := e.state(t).Journals(context.Background()); len(js) != 0 {
		t.Fatalf("journals left: %d", len(js))
	}
}

// A server that cannot be read: the plan says so, exits 1, and is not saved.
func TestPlanWithUnreachableParent(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "plan", e.fleet), 0)
	sb := servedSandbox(t, e)
	sb.SetFaults("web1", sandbox.Faults{Offline: true})
	saved := filepath.Join(e.dir, "tfplan")
	r := e.run(t, "plan", "-out", saved, e.fleet)
	expect(t, r, 1, "web1", "The plan was not saved to "+saved+": it is incomplete.", "could not be read")
	if _, err := os.Stat(saved); err == nil {
		t.Fatal("an incomplete plan was saved")
	}
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 1, "could not be read, so nothing was planned or applied there")
	if strings.Contains(r.stdout, "The fleet matches") {
		t.Error("claimed a match without reading the fleet")
	}
}

// A real SIGINT (Ctrl-C) during apply: caught, nothing new starts, the journal stays.
func TestSigintDuringApply(t *testing.T) {
	e := newEnv(t)
	var once sync.Once
	c := withEvents(func(ev engine.Event) {
		if ev.Kind == engine.EventDone {
			once.Do(func() { interruptSelf() })
		}
	})
	r := e.runWith(t, c, "apply", "--auto-approve", "--parallelism", "1", e.fleet)
	expect(t, r, 1, "run tether apply again to finish")
	if js, _ := e.state(t).Journals(context.Background()); len(js) != 1 {
		t.Fatalf("%d journals", len(js))
	}
}

// The watch daemon (or another apply) writing to web1: apply refuses, naming who.
func TestApplyRefusedWhileParentLocked(t *testing.T) {
	e := newEnv(t)
	held, err := e.state(t).Lock(context.Background(), "web1")
	if err != nil {
		t.Fatal(err)
	}
	// The writer holding the lock is an apply of this fleet, still running: its
	// journal is open. The refused apply must not call it unfinished.
	abs, _ := filepath.Abs(e.fleet)
	running := state.JournalHeader{ID: "running-apply", Started: time.Now(), Fleet: abs, Parents: []string{"web1"},
		Changes: []state.PlannedChange{{ID: "account.frank/create", Address: "account.frank", Action: "create", Target: "web1"}}}
	if err := e.state(t).BeginJournal(context.Background(), running); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "apply", "--auto-approve", "--lock-timeout", "100ms", e.fleet)
	expect(t, r, 1, "cannot apply to web1: parent web1: locked by another writer (held by pid")
	if strings.Contains(r.stdout+r.stderr, "did not finish") {
		t.Errorf("an apply that did not get the lock called the running one unfinished:\n%s", r.stderr)
	}
	held.Unlock()
	// The lock is free: now the journal is an unfinished apply's, and this one says so
	// and finishes it.
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!", "did not finish", "finishes it")
}

// TestQuickstartConverges is the README's first command: the quickstart applied on a
// fresh sandbox, then planned again, must show no changes, and every nameserver must
// answer what the fleet implies.
func TestQuickstartConverges(t *testing.T) {
	b, err := os.ReadFile("../../examples/quickstart/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.write(t, string(b))
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!")
	e.assertConverged(t)
	expect(t, e.run(t, "dns", "verify", e.fleet), 0, "DNS OK: 3 server(s)")
}

// A CI apply job checks the reviewed fleet out in another folder than the plan job
// did: --fleet points the saved plan there, and the plan is still held to the same
// files.
func TestSavedPlanAppliedFromAnotherCheckout(t *testing.T) {
	e := newEnv(t)
	saved := filepath.Join(e.dir, "tfplan")
	// The hint keeps the sandbox: without it the command would go to the real servers.
	expect(t, e.run(t, "plan", "-out", saved, e.fleet), 0, "To apply exactly these changes: tether apply "+saved+" --sandbox --sandbox-state "+e.sandbox)
	b, err := os.ReadFile(filepath.Join(e.fleet, "fleet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(t.TempDir(), "checkout", "fleet")
	if err := os.MkdirAll(moved, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(moved, "fleet.yaml"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(e.fleet); err != nil {
		t.Fatal(err)
	}
	expect(t, e.run(t, "apply", "--fleet", moved, e.fleet), 1, "--fleet goes with a saved plan")
	edited := strings.Replace(string(b), "contactEmail: frank@example.org", "contactEmail: frank@example.net", 1)
	if err := os.WriteFile(filepath.Join(moved, "fleet.yaml"), []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	expect(t, e.run(t, "apply", saved, "--fleet", moved), 1, "is stale")
	if err := os.WriteFile(filepath.Join(moved, "fleet.yaml"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	expect(t, e.run(t, "apply", saved, "--fleet", moved), 0, "Applying the saved plan", "Apply complete!")
	expect(t, e.run(t, "plan", "--detailed-exitcode", moved), 0)
}

func TestApplyLogFormatJSON(t *testing.T) {
	e := newEnv(t)
	r := e.run(t, "apply", "--auto-approve", "-log-format", "json", e.fleet)
	expect(t, r, 0, "Apply complete! 7 created", `"msg":"change applied"`, `"address":"account.alice"`)
	if strings.Contains(r.stderr, "✓ ") {
		t.Errorf("text lines under --log-format json:\n%s", r.stderr)
	}
	expect(t, e.run(t, "plan", "--log-format", "yaml", e.fleet), 1, `--log-format "yaml": want text or json`)
}

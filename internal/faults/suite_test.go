// Package faults is the fault suite: each scenario converges a fleet on the sandbox,
// delivers mail, then changes the fleet and applies it under one fault (latency, 5xx,
// timeouts, a child offline mid-move, server-side task failures, kill -9 mid-apply,
// two writers, a CUE bomb). The fault is lifted and the next apply must converge with
// no account and no message lost or duplicated. One command runs it and prints the
// table:
//
//	go test ./internal/faults -run TestFaultSuite -v           # 9 accounts (CI)
//	go test ./internal/faults -run TestFaultSuite -v -short    # 6 accounts
//	TETHER_FAULTS_ACCOUNTS=60 go test ./internal/faults -run TestFaultSuite -v
package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/tether-dev/tether/internal/cueguard"
	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/workspace"
	_ "github.com/tether-dev/tether/providers/all"
)

// childApplyEnv makes the test binary, run again, apply the fleet at its value and
// exit: the process the kill -9 scenario kills.
const childApplyEnv = "TETHER_FAULTS_CHILD_APPLY"

func TestMain(m *testing.M) {
	cueguard.RunChildIfAsked()
	if path := os.Getenv(childApplyEnv); path != "" {
		_, err := apply(context.Background(), path, os.Getenv("TETHER_FAULTS_SANDBOX"), nil, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const messagesPerAccount = 12

// placements rotate: each scenario moves every account's mail one step.
var placements = []string{"", "mail1", "mail2"}

func fleetYAML(n, shift int) string {
	var b strings.Builder
	b.WriteString(`nodes:
  web1: {role: parent, host: web1.example.net, ipv4: 192.0.2.10, version: 118, profile: STANDARD, credentials: {user: root, tokenEnv: WEB1_WHM_TOKEN}}
  mail1: {role: child, parent: web1, host: mail1.example.net, ipv4: 192.0.2.20, version: 118, services: [mail], credentials: {user: root, tokenEnv: MAIL1_WHM_TOKEN}}
  mail2: {role: child, parent: web1, host: mail2.example.net, ipv4: 192.0.2.21, version: 118, services: [mail], credentials: {user: root, tokenEnv: MAIL2_WHM_TOKEN}}
accounts:
`)
	for i := range n {
		fmt.Fprintf(&b, "  u%03d: {parent: web1, domain: u%03d.example, plan: basic, contactEmail: u%03d@example.org, features: {apitokens: true}", i, i, i)
		if m := placements[(i+shift)%len(placements)]; m != "" {
			fmt.Fprintf(&b, ", mail: {node: %s}", m)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// env is one scenario's fleet folder and served sandbox.
type env struct {
	t        *testing.T
	n        int
	fleetDir string
	sbDir    string
	sb       *sandbox.Sandbox
}

func newEnv(t *testing.T, n int, taskDelay time.Duration) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, n: n, fleetDir: filepath.Join(dir, "fleet"), sbDir: filepath.Join(dir, "sandbox")}
	if err := os.MkdirAll(e.fleetDir, 0o700); err != nil {
		t.Fatal(err)
	}
	e.write(0)
	fleet, _, err := workspace.Load(e.fleetDir)
	if err != nil {
		t.Fatal(err)
	}
	e.sb, err = sandbox.Start(context.Background(), sandbox.Options{StateDir: e.sbDir, Fleet: fleet, TaskDelay: taskDelay,
		FlushInterval: 20 * time.Millisecond, RemoteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.sb.Close() })
	if err := sandbox.WritePID(e.sbDir); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) write(shift int) {
	if err := os.WriteFile(filepath.Join(e.fleetDir, "fleet.yaml"), []byte(fleetYAML(e.n, shift)), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// applyOpts bound a scenario's applies: short timeouts, so a fault costs seconds.
type applyOpts struct {
	events      func(engine.Event)
	callTimeout time.Duration
	taskTimeout time.Duration
	lockWait    time.Duration
}

func apply(ctx context.Context, fleetDir, sbDir string, events func(engine.Event), lockWait time.Duration) (*workspace.Applied, error) {
	return applyWith(ctx, fleetDir, sbDir, applyOpts{events: events, lockWait: lockWait})
}

func applyWith(ctx context.Context, fleetDir, sbDir string, o applyOpts) (*workspace.Applied, error) {
	if o.callTimeout == 0 {
		o.callTimeout = 5 * time.Second
	}
	if o.taskTimeout == 0 {
		o.taskTimeout = 20 * time.Second
	}
	w, err := workspace.Open(ctx, fleetDir, session.Options{Sandbox: true, SandboxState: sbDir,
		CallTimeout: o.callTimeout, CallAttempts: 2, TaskTimeout: o.taskTimeout})
	if err != nil {
		return nil, err
	}
	defer w.Close()
	return w.Apply(ctx, workspace.ApplyOptions{
		Parallelism: 4, PerTarget: 4, LockWait: o.lockWait, ChangeTimeout: time.Minute,
		Retry:  engine.Retry{Attempts: 3, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		Events: o.events,
	})
}

func (e *env) apply(o applyOpts) (*workspace.Applied, error) {
	return applyWith(context.Background(), e.fleetDir, e.sbDir, o)
}

// converge applies until nothing is left, at most three times, and says how many
// applies it took; the last must have nothing to do.
func (e *env) converge() (int, error) {
	for i := 1; i <= 3; i++ {
		res, err := e.apply(applyOpts{lockWait: 30 * time.Second})
		if err == nil && res.Plan != nil && len(res.Plan.Errors) > 0 {
			err = fmt.Errorf("the plan is incomplete: %s", strings.Join(res.Plan.Errors, "; "))
		}
		if err == nil && res.Plan != nil && res.Plan.Empty() && len(res.Unfinished) == 0 {
			return i, nil
		}
		if i == 3 {
			if err == nil {
				err = errors.New("changes left after three applies")
			}
			return i, err
		}
		if err := e.sb.WaitIdle(context.Background()); err != nil {
			return i, err
		}
	}
	return 0, nil
}

// mailNode is where user's mail lives with the fleet at shift.
func (e *env) mailNode(i, shift int) string {
	if m := placements[(i+shift)%len(placements)]; m != "" {
		return m
	}
	return "web1"
}

// count reports accounts missing from web1, and messages lost and duplicated (on
// the node the fleet at shift puts each account's mail), against messagesPerAccount.
func (e *env) count(shift int) (accountsLost, lost, dup int) {
	for i := range e.n {
		user := fmt.Sprintf("u%03d", i)
		if !e.sb.HasAccount("web1", user) {
			accountsLost++
			lost += messagesPerAccount
			continue
		}
		got := e.sb.MessageCount(e.mailNode(i, shift), user)
		if got < messagesPerAccount {
			lost += messagesPerAccount - got
		} else {
			dup += got - messagesPerAccount
		}
	}
	return
}

// prepare converges the fleet at shift 0 and delivers mail to every account.
func (e *env) prepare() {
	e.t.Helper()
	if _, err := e.converge(); err != nil {
		e.t.Fatalf("first converge: %v", err)
	}
	if err := e.sb.WaitIdle(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	for i := range e.n {
		user := fmt.Sprintf("u%03d", i)
		if err := e.sb.AddMail(e.mailNode(i, 0), user, "INBOX", messagesPerAccount); err != nil {
			e.t.Fatal(err)
		}
	}
}

// row is one scenario's line of the table.
type row struct {
	name                    string
	faultedErr              string
	applies                 int
	converged               bool
	accountsLost, lost, dup int
	took                    time.Duration
}

// scenario changes the fleet (shift 1: every account's mail moves) and applies it
// under a fault; then lifts the fault and converges.
type scenario struct {
	name      string
	taskDelay time.Duration
	// fault runs the faulted apply (or applies) and returns its error; the suite
	// lifts every fault afterwards.
	fault func(t *testing.T, e *env) error
}

func scenarios() []scenario {
	quick := applyOpts{callTimeout: 500 * time.Millisecond, taskTimeout: 3 * time.Second}
	return []scenario{
		{name: "latency 30ms on every node", fault: func(t *testing.T, e *env) error {
			for _, n := range []string{"web1", "mail1", "mail2"} {
				e.sb.SetFaults(n, sandbox.Faults{Latency: 30 * time.Millisecond})
			}
			_, err := e.apply(quick)
			return err
		}},
		{name: "5xx on 30% of web1's calls", fault: func(t *testing.T, e *env) error {
			e.sb.SetFaults("web1", sandbox.Faults{ErrorRate: 0.3})
			_, err := e.apply(quick)
			return err
		}},
		{name: "mail2 never answers (timeouts)", fault: func(t *testing.T, e *env) error {
			e.sb.SetFaults("mail2", sandbox.Faults{Timeout: true})
			_, err := e.apply(quick)
			return err
		}},
		{name: "mail2 offline mid-move", taskDelay: 200 * time.Millisecond, fault: func(t *testing.T, e *env) error {
			var once sync.Once
			o := quick
			o.events = func(ev engine.Event) {
				if ev.Kind == engine.EventStart && ev.Change != nil && ev.Change.Action == "distribute" {
					once.Do(func() { e.sb.SetFaults("mail2", sandbox.Faults{Offline: true}) })
				}
			}
			_, err := e.apply(o)
			return err
		}},
		{name: "server-side task failures on mail1", fault: func(t *testing.T, e *env) error {
			e.sb.SetFaults("mail1", sandbox.Faults{FailTasks: true})
			_, err := e.apply(quick)
			return err
		}},
		{name: "kill -9 mid-apply", taskDelay: 2 * time.Second, fault: func(t *testing.T, e *env) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), childApplyEnv+"="+e.fleetDir, "TETHER_FAULTS_SANDBOX="+e.sbDir)
			if err := cmd.Start(); err != nil {
				return err
			}
			// Killed once a move is running on the server.
			deadline := time.Now().Add(30 * time.Second)
			for e.sb.PendingTasks("web1") == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			return errors.New("killed with a move in flight")
		}},
		{name: "two writers at once", fault: func(t *testing.T, e *env) error {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for k := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[k] = e.apply(applyOpts{lockWait: 200 * time.Millisecond})
				}()
			}
			wg.Wait()
			return errors.Join(errs...)
		}},
		{name: "a CUE bomb commit", fault: func(t *testing.T, e *env) error {
			bomb := "import \"list\"\n_bomb: [for i in list.Range(0, 1000000000, 1) {\"element \\(i)\"}]\n\"x-bomb\": len(_bomb)\n"
			p := filepath.Join(e.fleetDir, "bomb.cue")
			if err := os.WriteFile(p, []byte(bomb), 0o600); err != nil {
				return err
			}
			defer os.Remove(p)
			err := cueguard.Check(context.Background(), e.fleetDir, cueguard.Limits{Timeout: time.Minute, Memory: 192 << 20})
			var se *cueguard.StoppedError
			if !errors.As(err, &se) {
				t.Errorf("the bomb was not stopped: %v", err)
			}
			return err
		}},
	}
}

func TestFaultSuite(t *testing.T) {
	n := 9
	if testing.Short() {
		n = 6
	}
	if s := os.Getenv("TETHER_FAULTS_ACCOUNTS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			n = v
		}
	}
	var rows []row
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			start := time.Now()
			delay := sc.taskDelay
			if delay == 0 {
				delay = 20 * time.Millisecond
			}
			e := newEnv(t, n, delay)
			e.prepare()
			e.write(1)
			r := row{name: sc.name}
			if err := sc.fault(t, e); err != nil {
				r.faultedErr = firstLine(err.Error())
			}
			for _, node := range []string{"web1", "mail1", "mail2"} {
				e.sb.SetFaults(node, sandbox.Faults{})
			}
			applies, err := e.converge()
			r.applies, r.converged = applies, err == nil
			if err != nil {
				t.Errorf("did not converge: %v", err)
			}
			if err := e.sb.WaitIdle(context.Background()); err != nil {
				t.Error(err)
			}
			r.accountsLost, r.lost, r.dup = e.count(1)
			if r.accountsLost+r.lost+r.dup > 0 {
				t.Errorf("%d accounts lost, %d messages lost, %d duplicated", r.accountsLost, r.lost, r.dup)
			}
			r.took = time.Since(start)
			rows = append(rows, r)
		})
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tfaulted apply\tapplies to converge\tconverges\taccounts lost\tmessages lost\tduplicates\ttime\n")
	var total row
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%d\t%d\t%d\t%s\n", r.name, orOK(r.faultedErr), r.applies, r.converged,
			r.accountsLost, r.lost, r.dup, r.took.Round(100*time.Millisecond))
		total.accountsLost += r.accountsLost
		total.lost += r.lost
		total.dup += r.dup
	}
	fmt.Fprintf(tw, "total: %d scenarios, %d accounts × %d messages each\t\t\t\t%d\t%d\t%d\t\n", len(rows), n, messagesPerAccount,
		total.accountsLost, total.lost, total.dup)
	tw.Flush()
	t.Log("\n" + b.String())
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 70 {
		s = s[:67] + "..."
	}
	return s
}

func orOK(s string) string {
	if s == "" {
		return "ok"
	}
	return "failed: " + s
}

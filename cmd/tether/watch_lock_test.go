package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/internal/workspace"
)

// holdAtFirstStart returns an event hook that stops the apply at its first change,
// with its locks held, until release is closed; started is closed when it stops.
func holdAtFirstStart() (hook func(engine.Event), started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook = func(ev engine.Event) {
		if ev.Kind == engine.EventStart {
			once.Do(func() { close(started); <-release })
		}
	}
	return hook, started, release
}

// newTestRunner is the daemon's reconcile as `tether watch --sandbox` builds it, with
// a short wait for locks; events, when set, sees every apply event.
func newTestRunner(sb, stateDir string, sandbox bool, events func(engine.Event)) *workspace.Daemon {
	c := testCLI()
	return workspace.NewDaemon(workspace.DaemonOptions{
		Sandbox: sandbox, SandboxState: sb, StateDir: stateDir,
		Apply: workspace.ApplyOptions{Parallelism: engine.DefaultApplyParallelism, PerTarget: engine.DefaultPerTarget,
			LockWait: 200 * time.Millisecond, Retry: c.retry, Events: events},
		Session: c.session, Logger: slog.New(slog.DiscardHandler),
	})
}

// The CLI and the daemon on one sandbox use one state folder, so each sees the
// other's parent locks: the daemon's apply is refused while the CLI applies, and the
// CLI's while the daemon applies.
func TestWatchAndCLIShareParentLocks(t *testing.T) {
	e := newEnv(t)
	// The daemon's hook is swapped between its reconciles, never during one.
	var daemonHook func(engine.Event)
	r := newTestRunner(e.sandbox, filepath.Join(e.dir, "watch"), true, func(ev engine.Event) {
		if daemonHook != nil {
			daemonHook(ev)
		}
	})
	defer r.Close()
	ctx := context.Background()
	if got, want := r.StateDir(), session.StateDirFor(e.fleet, true, e.sandbox); got != want {
		t.Fatalf("daemon state %s, CLI state %s", got, want)
	}
	// A dry run opens the daemon's session: its sandbox is now served to the CLI.
	if _, err := r.Reconcile(ctx, e.fleet, "c1", false); err != nil {
		t.Fatal(err)
	}

	// The CLI applies and stops at its first change; the daemon runs into its lock.
	hook, started, release := holdAtFirstStart()
	cli := make(chan result, 1)
	go func() { cli <- e.runWith(t, withEvents(hook), "apply", "--auto-approve", "--no-verify", e.fleet) }()
	<-started
	out, err := r.Reconcile(ctx, e.fleet, "c1", true)
	if !errors.Is(err, state.ErrLocked) || out.Applied != 0 {
		t.Fatalf("the daemon applied while the CLI held web1: applied %d, err %v", out.Applied, err)
	}
	close(release)
	expect(t, <-cli, 0, "Apply complete! 7 created")

	// The daemon applies and stops at its first change; the CLI, told not to wait,
	// is refused and names the holder.
	e.edit(t, "contactEmail: frank@example.org", "contactEmail: frank@example.net")
	daemonHook, started, release = holdAtFirstStart()
	daemon := make(chan error, 1)
	go func() {
		_, err := r.Reconcile(ctx, e.fleet, "c2", true)
		daemon <- err
	}()
	<-started
	expect(t, e.run(t, "apply", "--auto-approve", "--no-verify", "--lock-timeout", "0", e.fleet), 1,
		"cannot apply to web1", "locked by another writer", "held by pid")
	close(release)
	if err := <-daemon; err != nil {
		t.Fatal(err)
	}
	e.assertConverged(t)
}

// TETHER_STATE_DIR puts the state of both in one folder, for real servers too.
func TestStateDirEnvSharedByCLIAndDaemon(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(session.StateDirEnv, dir)
	for _, cf := range []connFlags{{}, {sandbox: true}, {sandbox: true, sandboxState: "/elsewhere"}} {
		if got := session.StateDirFor("fleet", cf.sandbox, cf.sandboxState); got != dir {
			t.Errorf("CLI %+v: state in %s, want %s", cf, got, dir)
		}
	}
	for _, sb := range []bool{false, true} {
		r := newTestRunner("", "/var/lib/tether", sb, nil)
		if got := r.StateDir(); got != dir {
			t.Errorf("daemon (sandbox %v): state in %s, want %s", sb, got, dir)
		}
	}
	t.Setenv(session.StateDirEnv, "")
	if got := newTestRunner("", "/var/lib/tether", true, nil).StateDir(); got != "/var/lib/tether/sandbox/tether-state" {
		t.Errorf("daemon's default sandbox state %s", got)
	}
}

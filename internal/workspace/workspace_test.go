package workspace

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/session"
	_ "github.com/tether-dev/tether/providers/all"
	"github.com/tether-dev/tether/reconciler/plan"
)

// quickstart copies the README's quickstart fleet into a fresh folder.
func quickstart(t *testing.T) (fleet, sandboxDir string) {
	t.Helper()
	b, err := os.ReadFile("../../examples/quickstart/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fleet = filepath.Join(dir, "fleet")
	if err := os.MkdirAll(fleet, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fleet, "fleet.yaml"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return fleet, filepath.Join(dir, "sandbox")
}

func fastSandbox(o *session.Options) {
	o.SandboxOptions.TaskDelay = 5 * time.Millisecond
	o.SandboxOptions.FlushInterval = 20 * time.Millisecond
}

var fastRetry = engine.Retry{Attempts: 2, Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}

// The CLI's apply and the daemon's reconcile are one pipeline: what one applies, the
// other plans as nothing, on the same state and servers; a second apply runs no engine.
func TestApplyAndDaemonShareThePipeline(t *testing.T) {
	ctx := context.Background()
	fleet, sb := quickstart(t)
	so := session.Options{Sandbox: true, SandboxState: sb, Logger: slog.New(slog.DiscardHandler)}
	fastSandbox(&so)

	apply := func() *Applied {
		t.Helper()
		w, err := Open(ctx, fleet, so)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		var planned, confirmed int
		res, err := w.Apply(ctx, ApplyOptions{Retry: fastRetry,
			Planned: func(p *plan.Plan) error { planned++; return nil },
			Confirm: func(p *plan.Plan) error { confirmed++; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		if planned != 1 || (confirmed == 1) != !res.Plan.Empty() {
			t.Fatalf("hooks: planned %d, confirmed %d for a plan of %d changes", planned, confirmed, len(res.Plan.Changes))
		}
		return res
	}
	first := apply()
	if first.Result == nil || !first.Converged || first.Result.Done == 0 || first.ProtectionErr != nil {
		t.Fatalf("first apply: %+v", first)
	}
	if second := apply(); !second.Plan.Empty() || second.Result != nil {
		t.Fatalf("second apply: %d changes, engine ran: %v", len(second.Plan.Changes), second.Result != nil)
	}

	// The daemon on the same sandbox and state finds nothing to do, in both modes.
	d := NewDaemon(DaemonOptions{Sandbox: true, SandboxState: sb, StateDir: t.TempDir(),
		Apply: ApplyOptions{Retry: fastRetry}, Session: fastSandbox, Logger: slog.New(slog.DiscardHandler)})
	defer d.Close()
	if want := session.StateDirFor(fleet, true, sb); d.StateDir() != want {
		t.Fatalf("daemon state %s, CLI state %s", d.StateDir(), want)
	}
	for _, applyMode := range []bool{false, true} {
		out, err := d.Reconcile(ctx, fleet, "c1", applyMode)
		if err != nil || out.Changes != 0 || out.Applied != 0 || len(out.Problems) != 0 {
			t.Fatalf("daemon (apply %v): %+v, %v", applyMode, out, err)
		}
	}
}

// NoFingerprint leaves the observation undigested and changes nothing else of the plan.
func TestMakePlanNoFingerprint(t *testing.T) {
	ctx := context.Background()
	fleet, sb := quickstart(t)
	so := session.Options{Sandbox: true, SandboxState: sb, Logger: slog.New(slog.DiscardHandler)}
	fastSandbox(&so)
	plans := map[bool]*Workspace{}
	for _, skip := range []bool{false, true} {
		w, err := Open(ctx, fleet, so)
		if err != nil {
			t.Fatal(err)
		}
		w.NoFingerprint = skip
		if err := w.MakePlan(ctx, 4); err != nil {
			t.Fatal(err)
		}
		w.Close()
		plans[skip] = w
	}
	with, without := plans[false], plans[true]
	if with.Fingerprint.Fingerprint == "" || with.Plan.Observed != with.Fingerprint.Fingerprint || len(with.Fingerprint.Objects) == 0 {
		t.Errorf("fingerprinted plan: %q, plan's %q, %d objects", with.Fingerprint.Fingerprint, with.Plan.Observed, len(with.Fingerprint.Objects))
	}
	if without.Fingerprint.Fingerprint != "" || without.Fingerprint.Objects != nil || without.Plan.Observed != "" {
		t.Errorf("NoFingerprint: %q, plan's %q, %d objects", without.Fingerprint.Fingerprint, without.Plan.Observed, len(without.Fingerprint.Objects))
	}
	if len(with.Plan.Changes) == 0 || len(with.Plan.Changes) != len(without.Plan.Changes) {
		t.Errorf("changes: %d fingerprinted, %d not", len(with.Plan.Changes), len(without.Plan.Changes))
	}
	for i := range min(len(with.Plan.Changes), len(without.Plan.Changes)) {
		if a, b := with.Plan.Changes[i].Address, without.Plan.Changes[i].Address; a != b {
			t.Errorf("change %d: %s fingerprinted, %s not", i, a, b)
		}
	}
}

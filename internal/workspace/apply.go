package workspace

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/reconciler/planfile"
)

// DefaultChangeTimeout bounds one change when neither the command line nor the fleet's
// policy does: a mailbox copy can take long, an hour is past any that finishes.
const DefaultChangeTimeout = time.Hour

// ApplyOptions are the choices of one apply, from the command line or the daemon.
type ApplyOptions struct {
	// Parallelism bounds servers read, and changes applied, at once; PerTarget the
	// changes run at once against one server. Zero: the engine's defaults.
	Parallelism, PerTarget int
	// LockWait is how long to wait for a parent another writer holds.
	LockWait time.Duration
	// ChangeTimeout bounds one change, its retries and waits included (0: the
	// fleet's policy.changeTimeout, else DefaultChangeTimeout).
	ChangeTimeout time.Duration
	// Retry is the engine's retry policy (zero: its default).
	Retry engine.Retry
	// Safety are the gates the plan must pass (--force, --allow-data-loss, --partial);
	// the state the plan was made with is filled in.
	Safety reconciler.SafetyOptions
	// Saved, when set, is a plan made earlier: the plan is made again from the fleet
	// and the live state, and applied only if it is the saved one change for change
	// (and the fleet and servers are what it was made from). What runs is always what
	// Diff makes now, checked by the safety rules now, never what the file says.
	Saved *planfile.File
	// SavedPath names the saved plan in what is reported about it.
	SavedPath string
	// Events sees every event of the engine (progress, logs, tests).
	Events func(engine.Event)

	// Unfinished is told of each earlier apply of this fleet that did not finish,
	// once this apply holds the parents' locks (engine.EventBegin): before that, a
	// journal may be an apply still running elsewhere, which holds them. This apply
	// finishes it.
	Unfinished func(*state.Journal)
	// ObservedReads is told what counting the observation's reads against the
	// servers reported (an rfc2136 member disabled by it, state not written). It
	// does not stop the apply: the plan already leaves unread members alone.
	ObservedReads func(error)
	// Planned sees the plan before its gates are checked: the command line renders
	// it, the daemon summarises it. An error stops the apply before any change.
	Planned func(*plan.Plan) error
	// Confirm is asked before a plan with changes runs; an error stops it. Nil
	// applies without asking (--auto-approve, a saved plan, the daemon).
	Confirm func(*plan.Plan) error
	// Replanned is told when the apply waited for another writer's lock and the
	// servers had changed meanwhile: the plan made again (p) runs instead of the one
	// shown, which only happens when nobody approved the one shown (no Confirm, no
	// saved plan); moved names what changed.
	Replanned func(p *plan.Plan, moved []planfile.ObjectChange)
}

// ChangedWhileWaiting refuses an approved plan (confirmed, or saved) that another
// writer made stale while this apply waited for its locks.
type ChangedWhileWaiting struct {
	Moved []planfile.ObjectChange
}

func (e *ChangedWhileWaiting) Error() string {
	var names []string
	for i, m := range e.Moved {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(e.Moved)-5))
			break
		}
		names = append(names, m.Address+" "+m.How)
	}
	return fmt.Sprintf("while this apply waited for another writer's lock, the servers changed (%s); the plan that was approved no longer holds and nothing was applied: make the plan again",
		strings.Join(names, ", "))
}

// Applied is what an apply did.
type Applied struct {
	// Plan is what was applied (or would have been, when a gate refused it).
	Plan *plan.Plan
	// Unfinished are the earlier applies of this fleet this one set out to finish.
	Unfinished []*state.Journal
	// Result is the engine's account, nil when the engine did not run (nothing to
	// do, or a gate refused).
	Result *engine.Result
	// Converged: the engine ran and every change succeeded.
	Converged bool
	// ProtectionErr is the failure to record what the fleet protects after the
	// engine ran; the changes themselves are not undone by it.
	ProtectionErr error
}

// Gated is a plan refused before any change: a saved plan whose fleet or servers
// changed, or a plan that needs a flag (*reconciler.SafetyError, wrapped).
type Gated struct{ Err error }

func (e *Gated) Error() string { return e.Err.Error() }
func (e *Gated) Unwrap() error { return e.Err }

// Apply is the one apply pipeline, run by `tether apply` and by each reconcile of the
// watch daemon: plan (or check a saved plan), count what observing sent, let the
// caller see the plan, check its gates, confirm, run the engine (locks, journal,
// retries, post-checks) and record protection. The plan's unread parts (Plan.Errors)
// are the caller's to report: what was read is applied when Safety.Partial allows.
func (w *Workspace) Apply(ctx context.Context, o ApplyOptions) (*Applied, error) {
	out := &Applied{}
	prev, err := w.Unfinished(ctx)
	if err != nil {
		return out, err
	}
	out.Unfinished = prev
	events := o.Events
	if o.Unfinished != nil && len(prev) > 0 {
		events = func(ev engine.Event) {
			if ev.Kind == engine.EventBegin {
				for _, j := range prev {
					o.Unfinished(j)
				}
			}
			if o.Events != nil {
				o.Events(ev)
			}
		}
	}
	if err := w.MakePlan(ctx, o.Parallelism); err != nil {
		return out, err
	}
	// Every apply counts what observing sent against the servers that answered or
	// failed (an rfc2136 member whose AXFR fails gets one more consecutive failure,
	// and is disabled past its threshold), whatever it goes on to do; plan never does.
	if err := engine.RecordObserved(context.WithoutCancel(ctx), w.Session.Providers); err != nil && o.ObservedReads != nil {
		o.ObservedReads(err)
	}
	if o.Saved != nil {
		if err := o.Saved.Check(o.SavedPath, w.Source, w.Fingerprint); err != nil {
			return out, &Gated{Err: err}
		}
		if err := o.Saved.Verify(o.SavedPath, w.Plan); err != nil {
			return out, &Gated{Err: err}
		}
	}
	out.Plan = w.Plan
	if o.Planned != nil {
		if err := o.Planned(w.Plan); err != nil {
			return out, err
		}
	}
	safety := o.Safety
	safety.Inventory, safety.Protected = w.Owned, w.Protected
	if err := reconciler.CheckSafety(w.Plan, w.Fleet, w.Observed, safety); err != nil {
		return out, &Gated{Err: err}
	}
	if !w.Plan.Empty() && o.Confirm != nil {
		if err := o.Confirm(w.Plan); err != nil {
			return out, err
		}
	}
	// An empty plan still runs when an interrupted apply left a journal: the fleet
	// converged, and the engine closes that journal.
	if w.Plan.Empty() && len(prev) == 0 {
		return out, nil
	}
	changeTimeout := o.ChangeTimeout
	if changeTimeout == 0 {
		changeTimeout = w.Fleet.Policy.Bounds().ChangeTimeout
	}
	if changeTimeout == 0 {
		changeTimeout = DefaultChangeTimeout
	}
	res, err := engine.Apply(ctx, w.Plan, w.Session.Providers, engine.ApplyOptions{
		Parallelism:   o.Parallelism,
		PerTarget:     o.PerTarget,
		State:         w.State,
		Locks:         w.locks(prev),
		LockWait:      o.LockWait,
		Replan:        w.replan(o, safety),
		Reread:        w.Reread(),
		ChangeTimeout: changeTimeout,
		Retry:         o.Retry,
		Events:        events,
	})
	out.Result, out.Plan = res, w.Plan
	if res == nil {
		return out, err
	}
	out.Converged = res.Failed == 0 && res.NotStarted == 0 && err == nil
	if perr := w.recordProtection(ctx, out.Converged); perr != nil {
		out.ProtectionErr = fmt.Errorf("record protection: %w", perr)
	}
	return out, err
}

// replan makes the plan again once the apply holds its locks, when taking them had
// to wait: the writer that held them may have changed the servers the plan was made
// from. Nothing changed: the plan stands (nil). Something did: a plan someone
// approved is refused (*Gated wrapping *ChangedWhileWaiting); otherwise the plan
// made now runs, past the same gates.
func (w *Workspace) replan(o ApplyOptions, safety reconciler.SafetyOptions) func(context.Context) (*plan.Plan, error) {
	return func(ctx context.Context) (*plan.Plan, error) {
		before := w.Fingerprint
		old := w.Plan
		if err := w.MakePlan(ctx, o.Parallelism); err != nil {
			return nil, fmt.Errorf("plan again after waiting for the locks: %w", err)
		}
		moved := before.Diff(w.Fingerprint)
		if len(moved) == 0 && before.Fingerprint == w.Fingerprint.Fingerprint {
			w.Plan = old
			return nil, nil
		}
		if o.Confirm != nil || o.Saved != nil {
			return nil, &Gated{Err: &ChangedWhileWaiting{Moved: moved}}
		}
		safety.Inventory, safety.Protected = w.Owned, w.Protected
		if err := reconciler.CheckSafety(w.Plan, w.Fleet, w.Observed, safety); err != nil {
			return nil, &Gated{Err: err}
		}
		if o.Replanned != nil {
			o.Replanned(w.Plan, moved)
		}
		return w.Plan, nil
	}
}

// locks are the parents an apply holds: those of its changes and of the earlier
// journals it finishes — of these, with a replica's workspace, only the owned ones
// (another replica holds the rest, running or finishing its own apply).
func (w *Workspace) locks(prev []*state.Journal) []string {
	ls := engine.Locks(w.Plan, prev)
	if w.Owns != nil {
		ls = slices.DeleteFunc(ls, func(p string) bool { return !w.Owns(p) })
	}
	return ls
}

// TouchesDNS reports whether a plan changes records the nameservers serve: accounts
// and resellers (their zones), mail placement, links and the DNS cluster.
func TouchesDNS(p *plan.Plan) bool {
	for _, c := range p.Changes {
		if a := c.Addr(); a.OwnsZones() || a.IsDNS() {
			return true
		}
	}
	return false
}

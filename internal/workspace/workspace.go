// Package workspace is Tether's application layer: plan, apply, reconcile (the watch
// daemon's), verify, enable and import, each the one pipeline that the command line
// and the daemon both call. It joins the pieces below it — the fleet (schema), the
// planner (reconciler), the providers through a session, the engine and Tether's
// state — and prints nothing: callers are told what happens through return values and
// hooks, and the command line renders it.
package workspace

import (
	"context"
	"fmt"
	"runtime/trace"
	"slices"
	"sort"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/reconciler/planfile"
	"github.com/tether-dev/tether/schema"
)

// Invalid is a fleet that failed its checks: nothing was contacted.
type Invalid struct {
	Diagnostics []schema.Diagnostic
}

func (e *Invalid) Error() string {
	return fmt.Sprintf("the fleet has %d problem(s)", len(e.Diagnostics))
}

// Load reads and checks the fleet at path. An invalid fleet is an *Invalid listing
// every problem.
func Load(path string) (*schema.Fleet, plan.Source, error) {
	// The files' fingerprint for saved plans reads them again and hashes them (16 MB
	// for a 100k fleet): it needs nothing the load finds, so it runs beside it rather
	// than after it on one core. It touches no server; an invalid fleet drops it.
	type source struct {
		src plan.Source
		err error
	}
	srcDone := make(chan source, 1)
	go func() {
		defer trace.StartRegion(context.Background(), "fleet source").End()
		src, err := planfile.FleetSource(path)
		srcDone <- source{src, err}
	}()
	// The "phase" marks name a plan's steps in an execution trace ($TETHER_TRACE,
	// cmd/tether/profile.go), where a step that leaves a core idle shows.
	trace.Log(context.Background(), "phase", "load start")
	// What the fleet asks of the providers, by their declared capabilities: refused
	// here, before any server is called (reported only when the rules found
	// nothing, checked beside them).
	f, ds, err := schema.LoadWith(path, providers.Check)
	trace.Log(context.Background(), "phase", "load and checks done")
	s := <-srcDone
	if err != nil {
		return nil, plan.Source{}, fmt.Errorf("load %s: %w", path, err)
	}
	if len(ds) > 0 {
		return nil, plan.Source{}, &Invalid{Diagnostics: ds}
	}
	if s.err != nil {
		return nil, plan.Source{}, s.err
	}
	return f, s.src, nil
}

// Workspace is one fleet joined to its servers: the loaded fleet, the session with
// the providers, Tether's state, and what observing and planning produced.
type Workspace struct {
	Fleet   *schema.Fleet
	Source  plan.Source
	Session *session.Session
	State   state.Store

	// Observed, its fingerprint and the plan are filled by Observe and MakePlan.
	Observed    *schema.Fleet
	Fingerprint planfile.Observed
	Plan        *plan.Plan
	// Owned and Protected are Tether's state as the plan was made with it; the
	// safety check judges removals against them again.
	Owned, Protected map[string]bool

	// Owns, when set, limits the workspace to the units (parents and DNS-only nodes,
	// see Units) it says yes to: a replica of the daemon observes, plans, locks and
	// finishes journals only for the parents it owns; the rest is another replica's.
	// Nil is the whole fleet.
	Owns func(unit string) bool

	// ObserveProgress, when set, is told as each part of the fleet is read (the CLI
	// shows it while servers answer).
	ObserveProgress func(engine.ObserveEvent)

	// NoFingerprint, when set, makes MakePlan leave what it observed without a
	// fingerprint (Fingerprint and Plan.Observed stay empty): for a plan that is only
	// printed as text or markdown, which show neither, and not saved. The 100k fleet's
	// 101k objects are ≈ 0.3 CPU-s of JSON and SHA-256, part of it alone on a core
	// after the diff, for a digest nothing would read. Apply and saved plans need it.
	NoFingerprint bool

	closers []func() error
}

// Open loads the fleet at path and connects: the session (real endpoints or the
// sandbox) opens Tether's state (next to the fleet, or inside the sandbox's folder:
// what Tether created there never counts as created on the real servers) and hands
// the same store to the providers. The caller closes the workspace.
func Open(ctx context.Context, path string, so session.Options) (*Workspace, error) {
	fleet, src, err := Load(path)
	if err != nil {
		return nil, err
	}
	so.FleetPath = path
	sess, err := session.Open(ctx, fleet, so)
	trace.Log(ctx, "phase", "session.Open done")
	if err != nil {
		return nil, err
	}
	w := New(fleet, src, sess, sess.State)
	w.closers = append(w.closers, sess.Close)
	return w, nil
}

// New joins a loaded fleet to an open session and a state store; closing the
// workspace closes neither (the daemon keeps its session across reconciles).
func New(fleet *schema.Fleet, src plan.Source, sess *session.Session, st state.Store) *Workspace {
	return &Workspace{Fleet: fleet, Source: src, Session: sess, State: st}
}

// Close releases what Open opened.
func (w *Workspace) Close() error {
	var first error
	for i := len(w.closers) - 1; i >= 0; i-- {
		if err := w.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	w.closers = nil
	return first
}

// providerList is the session's providers in name order, as Observe merges them.
func providerList(provs map[string]providers.Provider) []providers.Provider {
	names := make([]string, 0, len(provs))
	for n := range provs {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]providers.Provider, 0, len(names))
	for _, n := range names {
		out = append(out, provs[n])
	}
	return out
}

// Observe reads the live fleet through every provider and fingerprints it. The
// returned errors are the scopes that could not be read (*reconciler.ScopeError); the
// error is a cancelled context or a fingerprint that could not be made.
func (w *Workspace) Observe(ctx context.Context, parallelism int) ([]error, error) {
	errs, fingerprinted, err := w.observe(ctx, parallelism, true)
	if err != nil {
		return nil, err
	}
	return errs, fingerprinted()
}

// observe reads the live fleet into w.Observed and starts fingerprinting it; the
// returned function waits for the fingerprint and sets w.Fingerprint. Both only read
// the observed fleet, so a plan diffs while the fingerprint is made: on the 100k
// fleet each is about half a CPU-second, and nothing else runs between the last read
// and the plan's output.
func (w *Workspace) observe(ctx context.Context, parallelism int, fingerprint bool) ([]error, func() error, error) {
	trace.Log(ctx, "phase", "observe start")
	observed, errs := engine.ObserveWith(ctx, w.scopedProviders(), w.Fleet, parallelism, w.ObserveProgress)
	trace.Log(ctx, "phase", "observe done")
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("observe: %w", err)
	}
	w.Observed = observed
	if !fingerprint {
		return errs, func() error {
			w.Fingerprint = planfile.Observed{}
			return nil
		}, nil
	}
	type result struct {
		fp  planfile.Observed
		err error
	}
	done := make(chan result, 1)
	go func() {
		fp, err := planfile.Fingerprint(observed)
		done <- result{fp, err}
	}()
	return errs, func() error {
		r := <-done
		if r.err != nil {
			return r.err
		}
		w.Fingerprint = r.fp
		return nil
	}, nil
}

// MakePlan observes and diffs against what Tether owns and protects.
func (w *Workspace) MakePlan(ctx context.Context, parallelism int) error {
	// Tether's state is read while the servers are: it does not depend on what they
	// answer, and the inventory of a large fleet (a 100k plan's: 0.2–0.3 CPU-s of
	// JSON) would otherwise run on one core between the last read and the diff.
	type stateRead struct {
		owned, prot map[string]bool
		err         error
	}
	stateDone := make(chan stateRead, 1)
	go func() {
		defer trace.StartRegion(ctx, "read state").End()
		var r stateRead
		if r.owned, r.err = state.InventoryAddresses(ctx, w.State); r.err == nil {
			r.prot, r.err = w.State.Protected(ctx)
		}
		stateDone <- r
	}()
	errs, fingerprinted, err := w.observe(ctx, parallelism, !w.NoFingerprint)
	st := <-stateDone
	if err != nil {
		return err
	}
	if st.err != nil {
		_ = fingerprinted()
		return st.err
	}
	owned, prot := st.owned, st.prot
	w.Owned, w.Protected = owned, prot
	opts := PlanOptions()
	opts.Inventory, opts.Protected, opts.ObserveErrors = owned, prot, errs
	opts.FailedScopes = w.notOwned()
	trace.Log(ctx, "phase", "diff start")
	p := reconciler.Diff(w.Fleet, w.Observed, opts)
	trace.Log(ctx, "phase", "diff done")
	if err := fingerprinted(); err != nil {
		return err
	}
	trace.Log(ctx, "phase", "fingerprint done")
	w.Plan = p
	w.keepOwned(w.Plan)
	w.Plan.Source = w.Source
	w.Plan.Observed = w.Fingerprint.Fingerprint
	return nil
}

// Unfinished returns the journals of earlier applies that did not finish, over this
// fleet's nodes: whatever process, machine or checkout wrote them (a journal names
// parents, not a folder), whoever next holds those parents' locks finishes them, since
// the next plan re-observes the fleet and so holds what they left.
func (w *Workspace) Unfinished(ctx context.Context) ([]*state.Journal, error) {
	js, err := w.State.Journals(ctx)
	if err != nil {
		return nil, err
	}
	var mine []*state.Journal
	for _, j := range js {
		if j.Fleet == w.Source.Path || slices.ContainsFunc(j.Parents, func(p string) bool { return w.Fleet.Nodes[p] != nil }) {
			mine = append(mine, j)
		}
	}
	return w.ownedJournals(mine), nil
}

// Reread are the fleet's nodes the plan read whole: not unread themselves, and no
// child of theirs unread. An earlier journal's part over them is finished by an apply
// of this plan that succeeds; over the others it stays for a later apply.
func (w *Workspace) Reread() []string {
	unread := map[string]bool{}
	if w.Plan != nil {
		for _, u := range w.Plan.Unread {
			unread[u.Scope] = true
			if n := w.Fleet.Nodes[u.Scope]; n != nil && n.Parent != "" {
				unread[n.Parent] = true
			}
		}
	}
	out := []string{}
	for _, name := range schema.Names(w.Fleet.Nodes) {
		if !unread[name] {
			out = append(out, name)
		}
	}
	return out
}

// recordProtection remembers which objects the fleet protects, so deleting an
// object's declaration does not drop its protection. Protection is recorded after
// any apply; its removal (an explicit protect: false) only after one that converged.
func (w *Workspace) recordProtection(ctx context.Context, allowRemove bool) error {
	var add, remove []string
	mark := func(addr string, protect bool) {
		if protect {
			add = append(add, addr)
		} else if allowRemove {
			remove = append(remove, addr)
		}
	}
	for name, a := range w.Fleet.Accounts {
		if a != nil {
			mark(plan.AccountAddress(name), a.Protect)
		}
	}
	for name, r := range w.Fleet.Resellers {
		if r != nil {
			mark(plan.ResellerAddress(name), r.Protect)
		}
	}
	return w.State.UpdateProtected(context.WithoutCancel(ctx), add, remove)
}

// PlanOptions gives the planner what the registered providers say: which provider
// executes fleet changes and each DNS member backend's planner.
func PlanOptions() reconciler.DiffOptions {
	return reconciler.DiffOptions{Fleet: providers.FleetProvider(), Members: providers.MemberPlanners(), FleetCapabilities: providers.FleetCapabilities()}
}

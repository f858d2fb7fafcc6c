package workspace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tether-dev/tether/internal/cueguard"
	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/notify"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/shard"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/internal/watch"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/reconciler/planfile"
	"github.com/tether-dev/tether/schema"
)

// DaemonOptions configure the watch daemon's reconciles.
type DaemonOptions struct {
	// Path is the fleet's folder inside the repository (plans and journals name it).
	Path string
	// Sandbox reconciles the simulated fleet in SandboxState (default
	// StateDir/sandbox) instead of the real servers.
	Sandbox      bool
	SandboxState string
	// StateDir holds the daemon's files; Tether's state is in StateDir/state unless
	// $TETHER_STATE_DIR or the sandbox places it (see Daemon.StateDir).
	StateDir string
	// StateURL names the state backend (--state, else $TETHER_STATE): an etcd
	// cluster shared by several daemons and CI, or a folder. It wins over StateDir.
	StateURL string
	// Apply are the engine's choices; LockWait defaults to a minute, and the gates
	// are the daemon's own (it never forces; an incomplete plan is not applied).
	Apply ApplyOptions
	// Session adjusts the session's options: the command line's (strict secrets, task
	// timeout), tests' (a faster sandbox).
	Session func(*session.Options)
	Logger  *slog.Logger
	// Replica, with several daemons on one etcd, is this daemon's share of the
	// parents (see JoinReplicas): each reconcile observes, plans and applies only the
	// parents it owns, and stops starting changes when the ownership is lost. Nil: one
	// daemon owns the whole fleet (the folder store).
	Replica *shard.Replica
	// Notifier sends every notification to chat and mail services (Slack, Teams,
	// Matrix, …) beside policy.notifyWebhook; nil sends none.
	Notifier *notify.Notifier
}

// Daemon is the watch daemon's reconcile (a watch.Runner): load the commit's fleet,
// then the same Apply pipeline as `tether apply`, with the daemon's state.
type Daemon struct {
	o DaemonOptions

	mu      sync.Mutex
	webhook string // the last valid fleet's policy.notifyWebhook

	// One session, and with --sandbox one in-process sandbox, serves every reconcile:
	// starting them is most of a reconcile's cost. A fleet whose nodes change gets a
	// new session. The daemon runs one reconcile at a time; smu guards Close.
	smu     sync.Mutex
	sess    *session.Session
	sessKey string
}

var _ watch.Runner = (*Daemon)(nil)

// NewDaemon builds the reconcile of a daemon; Close ends its session.
func NewDaemon(o DaemonOptions) *Daemon {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Apply.LockWait == 0 {
		o.Apply.LockWait = time.Minute
	}
	return &Daemon{o: o}
}

// SandboxState is the daemon's sandbox folder: DaemonOptions.SandboxState, else
// inside its state folder.
func (d *Daemon) SandboxState() string {
	if d.o.SandboxState != "" {
		return d.o.SandboxState
	}
	return filepath.Join(d.o.StateDir, "sandbox")
}

// StateDir is where Tether's state (inventory, journals, parent locks) lives: with a
// sandbox the same folder a CLI command given the same --sandbox-state uses;
// $TETHER_STATE_DIR for both when set, so they share the locks on real servers too.
func (d *Daemon) StateDir() string {
	if dir := os.Getenv(session.StateDirEnv); dir != "" {
		return dir
	}
	if d.o.Sandbox {
		return session.StateDirFor("", true, d.SandboxState())
	}
	return filepath.Join(d.o.StateDir, "state")
}

// session returns the open session, or opens one for the fleet's nodes.
func (d *Daemon) session(ctx context.Context, fleet *schema.Fleet, fleetPath string) (*session.Session, error) {
	d.smu.Lock()
	defer d.smu.Unlock()
	b, err := json.Marshal(fleet.Nodes)
	if err != nil {
		return nil, fmt.Errorf("fleet nodes: %w", err)
	}
	key := string(b)
	if d.sess != nil && d.sessKey == key {
		return d.sess, nil
	}
	if d.sess != nil {
		d.sess.Close()
		d.sess = nil
	}
	// The providers keep their state (DNS members' health) in the daemon's state
	// folder, the one each reconcile opens.
	so := session.Options{FleetPath: fleetPath, Sandbox: d.o.Sandbox, SandboxState: d.SandboxState(), StateDir: d.StateDir(), StateURL: d.o.StateURL, Logger: d.o.Logger}
	if d.o.Session != nil {
		d.o.Session(&so)
	}
	s, err := session.Open(ctx, fleet, so)
	if err != nil {
		return nil, err
	}
	if s.InProcess != nil {
		// Served for as long as the daemon runs, so `tether plan --sandbox
		// --sandbox-state` on the same folder reads the same servers instead of
		// being refused the folder.
		if err := sandbox.WritePID(so.SandboxState); err != nil {
			d.o.Logger.Warn("the sandbox is not shared with other commands", "err", err)
		}
	}
	d.sess, d.sessKey = s, key
	return s, nil
}

// Close ends the session (and the in-process sandbox) when the daemon stops.
func (d *Daemon) Close() error {
	d.smu.Lock()
	defer d.smu.Unlock()
	if d.sess == nil {
		return nil
	}
	err := d.sess.Close()
	d.sess = nil
	return err
}

// Reconcile implements watch.Runner: the fleet of one commit planned, and applied
// when apply is set, through Workspace.Apply.
func (d *Daemon) Reconcile(ctx context.Context, fleetPath, commit string, apply bool) (watch.Outcome, error) {
	var out watch.Outcome
	// A CUE fleet is evaluated first in a child process held to the CUE bounds: CUE
	// cannot be stopped in process, and the daemon must outlive any commit.
	if cueguard.HasCUE(fleetPath) {
		lim, err := cueguard.LimitsFromEnv()
		if err != nil {
			return out, err
		}
		var stopped *cueguard.StoppedError
		switch err := cueguard.Check(ctx, fleetPath, lim); {
		case errors.As(err, &stopped):
			out.Problems, out.Stopped = []string{stopped.Diagnostic().String()}, true
			return out, nil
		case err != nil:
			return out, err
		}
	}
	if r := d.o.Replica; r != nil {
		var cancel context.CancelFunc
		ctx, cancel = r.Bind(ctx)
		defer cancel()
		// The parents this reconcile owns stay its own until it ends (see Hold).
		defer r.Hold()()
	}
	fleet, ds, err := schema.Load(fleetPath)
	if err != nil {
		return out, err
	}
	for _, dg := range ds {
		out.Problems = append(out.Problems, dg.String())
	}
	if len(ds) > 0 {
		return out, nil
	}
	out.Drift = "warn"
	if p := fleet.Policy; p != nil {
		if p.Drift != "" {
			out.Drift = p.Drift
		}
		d.mu.Lock()
		d.webhook = p.NotifyWebhook
		d.mu.Unlock()
	}
	sess, err := d.session(ctx, fleet, fleetPath)
	if err != nil {
		return out, err
	}
	// The session outlives this reconcile; only the state is opened per reconcile.
	st, err := d.openState(ctx)
	if err != nil {
		return out, err
	}
	defer st.Close()
	w := New(fleet, plan.Source{Path: d.o.Path, Commit: commit}, sess, st)
	if r := d.o.Replica; r != nil {
		owned, err := r.Sync(ctx, Units(fleet))
		if err != nil {
			return out, err
		}
		// What this reconcile owns is decided once, here: a parent released while it
		// runs stays locked by it until it ends, so the next owner waits, never writes
		// beside it.
		set := make(map[string]bool, len(owned))
		for _, u := range owned {
			set[u] = true
		}
		w.Owns = func(u string) bool { return set[u] }
		out.Owned = len(owned)
	}

	// Both modes report the plan the same way; an incomplete one is an error (the
	// daemon runs again on the next trigger and reports the unread parts each time).
	planned := func(p *plan.Plan) error {
		out.Changes = len(p.Changes)
		out.Summary = Summary(p)
		out.Drifted = out.Drifted[:0]
		for _, c := range p.Changes {
			out.Drifted = append(out.Drifted, string(c.Action)+" "+c.Address)
		}
		if len(p.Errors) > 0 {
			return fmt.Errorf("%d part(s) of the fleet could not be read: %s", len(p.Errors), strings.Join(p.Errors, "; "))
		}
		return nil
	}
	if !apply {
		if err := w.MakePlan(ctx, d.o.Apply.Parallelism); err != nil {
			return out, err
		}
		d.perParent(ctx, &out, w, st, nil)
		return out, planned(w.Plan)
	}
	start := time.Now()
	o := d.o.Apply
	// The daemon never forces: a risky plan waits for an operator at the terminal.
	o.Safety = reconciler.SafetyOptions{Partial: true}
	var planTime time.Duration
	o.Planned = func(p *plan.Plan) error {
		planTime = time.Since(start)
		return planned(p)
	}
	o.Unfinished = func(j *state.Journal) {
		d.o.Logger.Warn("an earlier apply did not finish; this one re-read the fleet and finishes it", "journal", j.Summary())
	}
	o.Replanned = func(p *plan.Plan, moved []planfile.ObjectChange) {
		d.o.Logger.Info("another writer changed the servers while this apply waited for its locks; applying the plan made now",
			"changed", len(moved), "changes", len(p.Changes))
	}
	// What this round's reads met counts towards DNS members' failure thresholds,
	// so a member that cannot be read is disabled in time and stops holding the rest
	// of the fleet back.
	o.ObservedReads = func(err error) { d.o.Logger.Warn("DNS member health", "err", err.Error()) }
	events := d.o.Apply.Events
	o.Events = func(ev engine.Event) {
		if ev.Kind == engine.EventFailed {
			d.o.Logger.Error("change failed", "event", fmt.Sprint(ev))
		}
		if events != nil {
			events(ev)
		}
	}
	res, err := w.Apply(ctx, o)
	if res.Result != nil {
		d.o.Logger.Debug("reconcile timing", "commit", commit, "plan_ms", planTime.Milliseconds(), "apply_ms", (time.Since(start) - planTime).Milliseconds())
	}
	var gated *Gated
	if errors.As(err, &gated) {
		return out, fmt.Errorf("not applied: %w", gated.Err)
	}
	if r := res.Result; r != nil {
		out.Applied, out.Failed = r.Done, r.Failed+r.Skipped
	}
	if w.Plan != nil {
		d.perParent(ctx, &out, w, st, res.Result)
	}
	if res.ProtectionErr != nil {
		d.o.Logger.Warn("protection not recorded", "err", res.ProtectionErr)
	}
	if err != nil && out.Failed == 0 {
		return out, err
	}
	return out, nil
}

// perParent fills the outcome's per-parent counts (every parent of the fleet, those
// with nothing to do included) and the DNS members' health, for metrics and
// `tether watch status`.
func (d *Daemon) perParent(ctx context.Context, out *watch.Outcome, w *Workspace, st state.Store, r *engine.Result) {
	parents := map[string]watch.ParentOutcome{}
	for name, n := range w.Fleet.Nodes {
		if n.Role == schema.RoleParent {
			parents[name] = watch.ParentOutcome{}
		}
	}
	owner := func(c *plan.Change) string {
		if c.Parent != "" {
			return c.Parent
		}
		return c.Target
	}
	for _, c := range w.Plan.Changes {
		p := parents[owner(c)]
		p.Changes++
		p.Drifted = append(p.Drifted, string(c.Action)+" "+c.Address)
		parents[owner(c)] = p
	}
	if r != nil {
		for _, cr := range r.Changes {
			p := parents[owner(cr.Change)]
			switch cr.Status {
			case engine.StatusDone:
				p.Applied++
			case engine.StatusFailed:
				p.Failed++
			case engine.StatusSkipped:
				p.Skipped++
			case engine.StatusNotStarted:
				p.NotStarted++
			}
			parents[owner(cr.Change)] = p
		}
	}
	out.Parents = parents

	health, err := stateHealth(ctx, st)
	if err != nil {
		d.o.Logger.Warn("DNS member health not read", "err", err.Error())
	}
	out.Members = []watch.MemberStatus{}
	for _, parent := range schema.Names(w.Fleet.DNSClusters) {
		for _, name := range schema.Names(w.Fleet.DNSClusters[parent].Members) {
			m := w.Fleet.DNSClusters[parent].Members[name]
			ms := watch.MemberStatus{Parent: parent, Member: name, Backend: m.BackendName()}
			if h, ok := health[parent+"/"+name]; ok {
				ms.Disabled, ms.ConsecutiveFailures = h.Disabled, h.ConsecutiveFailures
			}
			if w.Observed != nil {
				if c := w.Observed.DNSClusters[parent]; c != nil && c.Members[name] != nil && c.Members[name].Disabled {
					ms.Disabled = true
				}
			}
			out.Members = append(out.Members, ms)
		}
	}
}

// Summary is a plan's counts in one phrase.
func Summary(p *plan.Plan) string {
	s := p.Summary
	return fmt.Sprintf("%d to create, %d to change, %d to remove", s.Create, s.Change, s.Remove)
}

// Notify logs every event, sends it to the configured services (DaemonOptions.Notifier)
// and posts it to the fleet's policy.notifyWebhook (or $TETHER_NOTIFY_WEBHOOK) when one
// is set.
func (d *Daemon) Notify(ev watch.Event) {
	d.o.Logger.Info("notification", "kind", ev.Kind, "commit", ev.Commit, "message", ev.Message)
	if err := d.o.Notifier.Send(notify.Message{Kind: ev.Kind, Commit: ev.Commit, Text: ev.Message}); err != nil {
		d.o.Logger.Warn("notification not delivered", "err", err.Error())
	}
	d.mu.Lock()
	url := d.webhook
	d.mu.Unlock()
	if url == "" {
		url = os.Getenv("TETHER_NOTIFY_WEBHOOK")
	}
	if url == "" {
		return
	}
	b, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(b)))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	} else {
		d.o.Logger.Warn("notification not delivered", "err", err)
	}
}

// openState opens Tether's state for one reconcile: the backend --state or
// $TETHER_STATE names, else the folder StateDir says.
func (d *Daemon) openState(ctx context.Context) (state.Store, error) {
	u := d.o.StateURL
	if u == "" {
		u = os.Getenv(session.StateEnv)
	}
	if u != "" {
		return state.OpenURL(ctx, u)
	}
	return state.Open(d.StateDir())
}

// JoinReplicas makes this daemon a replica among those sharing the etcd that stateURL
// (else $TETHER_STATE) names, dividing the fleet's parents with them; it returns nil
// for a folder store, where one daemon owns everything. Closing the returned function
// leaves the group (its parents go to the others at once) and closes the client.
func JoinReplicas(ctx context.Context, stateURL string, o shard.Options) (*shard.Replica, func() error, error) {
	if stateURL == "" {
		stateURL = os.Getenv(session.StateEnv)
	}
	if !state.IsEtcdURL(stateURL) {
		return nil, func() error { return nil }, nil
	}
	st, err := state.OpenEtcd(ctx, stateURL, os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	o.Client, o.Prefix = st.Client(), st.Prefix()
	r, err := shard.Join(ctx, o)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return r, func() error { return errors.Join(r.Close(), st.Close()) }, nil
}

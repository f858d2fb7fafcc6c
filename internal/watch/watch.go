// Package watch is the daemon behind `tether watch`: it follows a branch of a fleet
// repository, validates and applies each new commit, checks the live fleet for drift
// on an interval, and exposes health, readiness and Prometheus metrics. What a sync
// does to the fleet is the Runner's business; this package decides when to run it,
// with which commit, and what to report.
package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tether-dev/tether/internal/atomicfile"
	"github.com/tether-dev/tether/internal/gitsource"
)

// Outcome is what one reconcile did.
type Outcome struct {
	// Problems are validation diagnostics, one line each; a fleet with problems is
	// never applied.
	Problems []string
	// Drift is the policy's drift mode for this fleet: "warn" or "correct".
	Drift string
	// Changes is the number of changes the plan held; Applied and Failed what apply did.
	Changes int
	Applied int
	Failed  int
	// Summary is a one-line description for logs and notifications.
	Summary string
	// Drifted names each change of the plan ("update account.alice"), so a drift
	// notice says what drifted, not only how much.
	Drifted []string
	// Owned is the number of parents this replica reconciled (with several daemons on
	// one etcd); 0 otherwise.
	Owned int
	// Stopped: evaluating the fleet was stopped at a bound (a CUE evaluation past
	// its memory or time limit). The daemon remembers the commit and never
	// evaluates it again, across restarts: a bomb at HEAD must not crash-loop it.
	Stopped bool
	// Parents is the round per parent, every parent of the fleet (nil from a runner
	// that does not say; metrics then count under parent "").
	Parents map[string]ParentOutcome
	// Members are the DNS cluster members' health as this round read it (nil: not read).
	Members []MemberStatus
}

// Runner plans and (when apply is true) applies the fleet at fleetPath, which came
// from commit.
type Runner interface {
	Reconcile(ctx context.Context, fleetPath, commit string, apply bool) (Outcome, error)
}

// Event is sent to the notifier on failures, drift and refused commits.
type Event struct {
	Kind    string `json:"kind"` // failure, drift, refused, invalid, applied
	Commit  string `json:"commit,omitempty"`
	Message string `json:"message"`
	Time    string `json:"time"`
}

// Config configures the daemon.
type Config struct {
	Source *gitsource.Source
	// LocalDir is the repository folder to watch with fsnotify; empty for remote
	// repositories, which are polled.
	LocalDir string
	Branch   string
	// Interval is how often drift is checked; Poll how often a remote is fetched.
	Interval time.Duration
	Poll     time.Duration
	// Keyring, when set, is an armored OpenPGP keyring: only commits signed by one of
	// its keys are applied.
	Keyring string
	// StateDir holds the daemon's own files (suspend flag, last good commit).
	StateDir string
	// Listen is the address of /healthz, /readyz, /metrics and /hook; empty disables.
	Listen string
	// HookToken is /hook's secret: a request must carry it (Authorization: Bearer,
	// X-Gitlab-Token) or sign its body with it (GitHub X-Hub-Signature-256,
	// Gitea/Forgejo X-Gitea-Signature). Without it /hook refuses everything, unless
	// HookOpen.
	HookToken string
	// HookOpen lets /hook take requests without credentials when there is no
	// HookToken; only on a loopback listener (Run refuses it on any other).
	HookOpen bool
	Runner   Runner
	Notify   func(Event)
	Logger   *slog.Logger
	// Registry receives the metrics; nil means a new one. Daemon.Registry returns it.
	Registry *prometheus.Registry
	// Annotate adds to the status before it is shown or written (a replica's
	// ownership of parents, ParentStatus.Owner).
	Annotate func(*Status)
	// Ownership, with several replicas on one etcd, is this replica's share of the
	// parents: /readyz and /metrics report it, and a replica that lost its lease is
	// not ready. Nil: this daemon owns every parent.
	Ownership Ownership
}

// Ownership is a replica's share of the fleet (internal/shard.Replica).
type Ownership interface {
	ID() string
	// Owned lists the parents owned now; Units is how many the fleet has.
	Owned() []string
	Units() int
	// Live: the replica holds its lease; without it, it owns and applies nothing.
	Live() bool
	// Handovers counts parents taken from or released to other replicas.
	Handovers() int
}

// Daemon is a running watcher.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	trigger chan string
	metrics *Metrics

	mu       sync.Mutex
	lastSeen plumbing.Hash
	lastGood plumbing.Hash
	drift    string // the last good fleet's drift mode, once a reconcile has said
	ready    bool
	addr     string
	status   Status
}

// New prepares a daemon; Run starts it.
func New(cfg Config) (*Daemon, error) {
	if cfg.Source == nil || cfg.Runner == nil {
		return nil, errors.New("watch: a source and a runner are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Notify == nil {
		cfg.Notify = func(Event) {}
	}
	if cfg.StateDir != "" {
		if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
			return nil, fmt.Errorf("watch: state folder: %w", err)
		}
		// The mark tells `tether watch suspend/resume` that a daemon uses the folder,
		// so a mistyped --state-dir is refused rather than suspending nothing.
		if err := os.WriteFile(filepath.Join(cfg.StateDir, daemonMark), []byte("used by tether watch; tether watch suspend/resume look for this file\n"), 0o644); err != nil {
			return nil, fmt.Errorf("watch: state folder: %w", err)
		}
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, trigger: make(chan string, 1)}
	d.metrics = NewMetrics(cfg.Registry, d.Suspended)
	if o := cfg.Ownership; o != nil {
		d.metrics.Registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tether_owned_parents",
				Help:        "Parents this replica owns (observes, plans and applies) among the replicas sharing one etcd.",
				ConstLabels: prometheus.Labels{"replica": o.ID()}}, func() float64 { return float64(len(o.Owned())) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tether_fleet_parents",
				Help:        "Parents the fleet divides between the replicas, as this replica last read it.",
				ConstLabels: prometheus.Labels{"replica": o.ID()}}, func() float64 { return float64(o.Units()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tether_parent_handovers_total",
				Help:        "Parents taken from, or released to, another replica since this one started.",
				ConstLabels: prometheus.Labels{"replica": o.ID()}}, func() float64 { return float64(o.Handovers()) }),
		)
	}
	d.lastGood = d.readLastGood()
	if !d.lastGood.IsZero() {
		d.status.Commit = d.lastGood.String()
	}
	d.status.Parents = map[string]*ParentStatus{}
	if old, err := ReadStatus(cfg.StateDir); err == nil && old.Commit == d.status.Commit {
		// A restart keeps what the last run knew until a round says otherwise.
		old.Suspended, old.SuspendReason, old.LastError = false, "", ""
		d.status = old
	}
	return d, nil
}

// Registry is the registry /metrics serves; other parts of the daemon add theirs to it.
func (d *Daemon) Registry() *prometheus.Registry { return d.metrics.Registry }

// Metrics are the daemon's own metrics.
func (d *Daemon) Metrics() *Metrics { return d.metrics }

// Addr is the address the HTTP endpoints listen on, once Run has started them.
func (d *Daemon) Addr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addr
}

// Sync asks the daemon to look for a new commit now (what the webhook does).
func (d *Daemon) Sync(why string) {
	select {
	case d.trigger <- why:
	default: // a sync is already pending; it will see the newest commit
	}
}

// Resync applies the branch's newest commit again, even if it was applied already:
// a replica that took parents over reconciles them at once (their previous owner may
// have died before applying it, or mid-apply).
func (d *Daemon) Resync(why string) {
	d.mu.Lock()
	d.lastSeen = plumbing.ZeroHash
	d.mu.Unlock()
	d.Sync(why)
}

// Run watches until ctx ends. Cancelling ctx stops new work; a reconcile in progress
// gets the cancellation and finishes its running changes (the runner's contract).
func (d *Daemon) Run(ctx context.Context) error {
	if d.cfg.Listen != "" {
		srv, err := d.serveHTTP()
		if err != nil {
			return err
		}
		defer srv.Shutdown(context.Background())
		d.log.Info("listening", "addr", d.Addr())
	}
	if d.cfg.LocalDir != "" {
		stop, err := d.watchLocal(ctx)
		if err != nil {
			d.log.Warn("fsnotify unavailable, falling back to polling", "err", err)
		} else {
			defer stop()
		}
	}
	d.Sync("start")
	poll := time.NewTicker(d.cfg.Poll)
	defer poll.Stop()
	drift := time.NewTicker(d.cfg.Interval)
	defer drift.Stop()
	for {
		select {
		case <-ctx.Done():
			d.log.Info("watch stopping")
			return nil
		case why := <-d.trigger:
			d.syncCommit(ctx, why)
		case <-poll.C:
			d.syncCommit(ctx, "poll")
		case <-drift.C:
			d.checkDrift(ctx)
		}
	}
}

// Once runs one round, as a CI job or a tour would: the branch's newest commit
// fetched, checked, planned and applied, the status written; no endpoints, no
// waiting. It returns nil when the commit is in force with every change done.
func (d *Daemon) Once(ctx context.Context) error {
	if d.Suspended() {
		return fmt.Errorf("suspended (%s): nothing applied; tether watch resume --state-dir %s", suspensionReason(d.cfg.StateDir), d.cfg.StateDir)
	}
	d.mu.Lock()
	before := d.status.LastRound
	d.mu.Unlock()
	d.syncCommit(ctx, "once")
	s := d.Status()
	switch {
	case s.LastRound.Equal(before):
		return errors.New("no round ran: the commit's evaluation was stopped before (see stopped-commits)")
	case s.LastResult == RoundOK:
		return nil
	case s.LastError != "":
		return fmt.Errorf("round %s: %s", s.LastResult, s.LastError)
	default:
		return fmt.Errorf("round %s: some changes failed (tether watch status)", s.LastResult)
	}
}

// watchLocal triggers a sync whenever the repository's refs move (a commit, a reset,
// a fetch). It watches .git and .git/refs/heads, where those writes land.
func (d *Daemon) watchLocal(ctx context.Context) (func(), error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	gitDir := filepath.Join(d.cfg.LocalDir, ".git")
	if fi, err := os.Stat(gitDir); err != nil || !fi.IsDir() {
		gitDir = d.cfg.LocalDir // a bare repository
	}
	for _, p := range []string{gitDir, filepath.Join(gitDir, "refs", "heads")} {
		if err := w.Add(p); err != nil {
			w.Close()
			return nil, err
		}
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if strings.HasSuffix(ev.Name, ".lock") {
					continue
				}
				d.Sync("fsnotify")
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				d.log.Warn("fsnotify", "err", err)
			}
		}
	}()
	return func() { w.Close() }, nil
}

// resolveRetry is how long a failed resolve waits before its one retry.
const resolveRetry = 50 * time.Millisecond

// syncCommit applies the branch's newest commit if it is new, valid and (with a
// keyring) signed by a trusted key. Anything else leaves the last good commit in force.
func (d *Daemon) syncCommit(ctx context.Context, why string) {
	if err := d.cfg.Source.Fetch(ctx); err != nil {
		d.fail(TriggerCommit, "", fmt.Errorf("fetch: %w", err))
		return
	}
	h, err := d.cfg.Source.Resolve(d.cfg.Branch)
	if err != nil {
		// A ref caught mid-write (some writers truncate the file before writing
		// the new hash) reads as missing for a moment; only a lasting failure counts.
		select {
		case <-ctx.Done():
			return
		case <-time.After(resolveRetry):
		}
		if h, err = d.cfg.Source.Resolve(d.cfg.Branch); err != nil {
			d.fail(TriggerCommit, "", err)
			return
		}
	}
	d.mu.Lock()
	seen := d.lastSeen
	d.mu.Unlock()
	if h == seen {
		return
	}
	if why := d.refusedBefore(h); why != "" {
		d.mu.Lock()
		d.lastSeen = h
		d.mu.Unlock()
		d.log.Error("commit not evaluated: its evaluation was stopped before; push a fixed commit", "commit", h.String()[:12], "stopped", why)
		return
	}
	if d.Suspended() {
		// Not marked as seen: after resume the same commit is applied.
		d.log.Info("suspended: new commit seen, not applied", "commit", h.String()[:12])
		return
	}
	d.mu.Lock()
	d.lastSeen = h
	d.status.Seen = h.String()
	d.mu.Unlock()
	short := h.String()[:12]
	log := d.log.With("commit", short, "trigger", why)
	if d.cfg.Keyring != "" {
		signer, err := d.cfg.Source.Verify(h, d.cfg.Keyring)
		if err != nil {
			d.record(TriggerCommit, RoundRefused, Outcome{}, err, false)
			log.Error("commit refused", "err", err)
			d.cfg.Notify(event("refused", short, err.Error()))
			return
		}
		log = log.With("signer", signer)
	}
	out, err := d.reconcile(ctx, TriggerCommit, h, true)
	if err != nil {
		// Nothing of this commit is known to be in force (a server could not be read,
		// a parent was locked): forget having seen it, so the next poll or trigger
		// tries again rather than leaving the commit unapplied until the next one.
		d.mu.Lock()
		if d.lastSeen == h {
			d.lastSeen = seen
		}
		d.mu.Unlock()
		d.fail(TriggerCommit, short, err)
		return
	}
	if len(out.Problems) > 0 && out.Stopped {
		d.rememberRefused(h, strings.Join(out.Problems, "; "))
	}
	if len(out.Problems) > 0 {
		result := RoundInvalid
		if out.Stopped {
			result = RoundStopped
		}
		d.record(TriggerCommit, result, out, errors.New(strings.Join(out.Problems, "\n")), false)
		msg := fmt.Sprintf("fleet at %s is invalid, not applied; %s stays in force:\n%s",
			short, shortHash(d.lastGoodHash()), strings.Join(out.Problems, "\n"))
		log.Error("invalid fleet", "problems", len(out.Problems))
		d.cfg.Notify(event("invalid", short, msg))
		return
	}
	d.setLastGood(h)
	d.setDriftMode(out.Drift)
	d.metrics.LastSync.SetToCurrentTime()
	d.metrics.LastSyncCommit.Reset()
	d.metrics.LastSyncCommit.WithLabelValues(h.String()).Set(1)
	d.mu.Lock()
	d.ready = true
	d.status.Commit, d.status.LastSync = h.String(), time.Now().UTC()
	d.mu.Unlock()
	d.record(TriggerCommit, roundResult(out), out, nil, true)
	// Logged last, once metrics and readiness say the same: a reader of the log can
	// rely on /metrics and /readyz already showing this commit.
	if out.Failed > 0 {
		d.cfg.Notify(event("failure", short, out.Summary))
		log.Error("apply finished with failures", "applied", out.Applied, "failed", out.Failed)
		// The commit is valid; the next drift check retries what failed.
	} else {
		log.Info("applied", "changes", out.Changes, "summary", out.Summary)
	}
}

// checkDrift plans the last good commit against the live fleet; in correct mode it
// applies what it finds.
func (d *Daemon) checkDrift(ctx context.Context) {
	h := d.lastGoodHash()
	if h.IsZero() {
		return
	}
	short := h.String()[:12]
	// Known to be in correct mode: one reconcile finds and corrects the drift, so the
	// fleet is read once and what is applied is what that reading found.
	if d.driftMode() == "correct" && !d.Suspended() {
		out, err := d.reconcile(ctx, TriggerDrift, h, true)
		if err == nil && len(out.Problems) > 0 {
			err = fmt.Errorf("the fleet at %s no longer validates: %s", short, strings.Join(out.Problems, "; "))
		}
		if err != nil {
			d.fail(TriggerDrift, short, fmt.Errorf("drift correction: %w", err))
			return
		}
		d.setDriftMode(out.Drift)
		d.record(TriggerDrift, roundResult(out), out, nil, true)
		if out.Changes == 0 {
			return
		}
		d.reportDrift(short, out)
		d.corrected(short, out)
		return
	}
	// The drift mode is the fleet's; a dry run tells us both mode and drift.
	out, err := d.reconcile(ctx, TriggerDrift, h, false)
	if err != nil {
		d.fail(TriggerDrift, short, fmt.Errorf("drift check: %w", err))
		return
	}
	d.setDriftMode(out.Drift)
	d.record(TriggerDrift, RoundOK, out, nil, false)
	if out.Changes == 0 {
		return
	}
	d.reportDrift(short, out)
	if out.Drift != "correct" || d.Suspended() {
		return
	}
	fixed, err := d.reconcile(ctx, TriggerDrift, h, true)
	if err != nil {
		d.fail(TriggerDrift, short, fmt.Errorf("drift correction: %w", err))
		return
	}
	d.record(TriggerDrift, roundResult(fixed), fixed, nil, true)
	d.corrected(short, fixed)
}

func (d *Daemon) reportDrift(short string, out Outcome) {
	d.log.Warn("drift", "commit", short, "changes", out.Changes, "mode", out.Drift, "drifted", strings.TrimPrefix(driftList(out.Drifted), "; drifted: "))
	d.cfg.Notify(event("drift", short, fmt.Sprintf("%d change(s) between the fleet and the servers: %s%s", out.Changes, out.Summary, driftList(out.Drifted))))
}

func (d *Daemon) corrected(short string, out Outcome) {
	if out.Failed > 0 {
		d.cfg.Notify(event("failure", short, out.Summary))
	}
}

// roundResult is an applying round's result: ok, or degraded when changes failed.
func roundResult(out Outcome) string {
	if out.Failed > 0 {
		return RoundDegraded
	}
	return RoundOK
}

func (d *Daemon) driftMode() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.drift
}

func (d *Daemon) setDriftMode(m string) {
	d.mu.Lock()
	d.drift = m
	d.mu.Unlock()
}

func (d *Daemon) reconcile(ctx context.Context, trigger string, h plumbing.Hash, apply bool) (Outcome, error) {
	dir, err := os.MkdirTemp("", "tether-watch-")
	if err != nil {
		return Outcome{}, err
	}
	defer os.RemoveAll(dir)
	path, err := d.cfg.Source.Export(h, dir)
	if err != nil {
		return Outcome{}, err
	}
	start := time.Now()
	out, err := d.cfg.Runner.Reconcile(ctx, path, h.String(), apply)
	d.metrics.Duration.WithLabelValues(trigger).Observe(time.Since(start).Seconds())
	// Diagnostics name files in the export folder; operators know them by repo path.
	for i, p := range out.Problems {
		out.Problems[i] = strings.ReplaceAll(p, dir+string(os.PathSeparator), "")
	}
	return out, err
}

func (d *Daemon) fail(trigger, commit string, err error) {
	d.record(trigger, RoundFailed, Outcome{}, err, false)
	d.log.Error("sync failed", "commit", commit, "err", err)
	d.cfg.Notify(event("failure", commit, err.Error()))
}

func event(kind, commit, msg string) Event {
	return Event{Kind: kind, Commit: commit, Message: msg, Time: time.Now().UTC().Format(time.RFC3339)}
}

func shortHash(h plumbing.Hash) string {
	if h.IsZero() {
		return "no commit"
	}
	return h.String()[:12]
}

// Suspended reports whether `tether watch suspend` is in force.
func (d *Daemon) Suspended() bool { return IsSuspended(d.cfg.StateDir) }

const suspendFile = "suspended"

// daemonMark is the file a daemon leaves in its state folder.
const daemonMark = "watch-daemon"

// used refuses a folder no daemon uses: one that does not exist (it is never created
// here: a mistyped --state-dir must not look suspended) or that holds no daemon's mark.
func used(stateDir string) error {
	fi, err := os.Stat(stateDir)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("no watch daemon uses %s: the folder does not exist (give the daemon's --state-dir; nothing was created)", stateDir)
	}
	if _, err := os.Stat(filepath.Join(stateDir, daemonMark)); err != nil {
		return fmt.Errorf("no watch daemon uses %s: it holds no %s file, which every tether watch leaves in its --state-dir (give the daemon's --state-dir)", stateDir, daemonMark)
	}
	return nil
}

// Suspend makes a daemon using stateDir stop applying (it keeps watching and
// reporting). A folder no daemon uses is refused.
func Suspend(stateDir, reason string) error {
	if err := used(stateDir); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(stateDir, suspendFile), []byte(reason+"\n"), 0o644)
}

// Resume undoes Suspend. A folder no daemon uses is refused.
func Resume(stateDir string) error {
	if err := used(stateDir); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(stateDir, suspendFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// IsSuspended reports whether stateDir holds a suspension.
func IsSuspended(stateDir string) bool {
	if stateDir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(stateDir, suspendFile))
	return err == nil
}

func (d *Daemon) lastGoodHash() plumbing.Hash {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastGood
}

func (d *Daemon) setLastGood(h plumbing.Hash) {
	d.mu.Lock()
	d.lastGood = h
	d.mu.Unlock()
	if d.cfg.StateDir == "" {
		return
	}
	// Best effort: the commit is known in memory; on disk it only shortens a restart.
	_ = atomicfile.Write(filepath.Join(d.cfg.StateDir, "last-good-commit"), []byte(h.String()+"\n"), 0o644)
}

// refusedFile lists commits whose evaluation was stopped: one "HASH reason" a line.
const refusedFile = "stopped-commits"

// rememberRefused records that evaluating h was stopped, so no later round (nor a
// restarted daemon) evaluates it again.
func (d *Daemon) rememberRefused(h plumbing.Hash, why string) {
	if d.cfg.StateDir == "" {
		return
	}
	why = strings.ReplaceAll(why, "\n", " ")
	f, err := os.OpenFile(filepath.Join(d.cfg.StateDir, refusedFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		d.log.Warn("cannot remember a stopped commit", "err", err.Error())
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s\n", h, why)
}

// refusedBefore returns why evaluating h was stopped before, or "".
func (d *Daemon) refusedBefore(h plumbing.Hash) string {
	if d.cfg.StateDir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(d.cfg.StateDir, refusedFile))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if hash, why, ok := strings.Cut(line, " "); ok && hash == h.String() {
			return why
		}
	}
	return ""
}

func (d *Daemon) readLastGood() plumbing.Hash {
	if d.cfg.StateDir == "" {
		return plumbing.ZeroHash
	}
	b, err := os.ReadFile(filepath.Join(d.cfg.StateDir, "last-good-commit"))
	if err != nil {
		return plumbing.ZeroHash
	}
	return plumbing.NewHash(strings.TrimSpace(string(b)))
}

// serveHTTP starts /healthz, /readyz, /metrics and /hook.
func (d *Daemon) serveHTTP() (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		d.mu.Lock()
		ready := d.ready
		d.mu.Unlock()
		own := d.cfg.Ownership
		switch {
		case own != nil && !own.Live():
			http.Error(w, fmt.Sprintf("replica %s lost its etcd lease: it owns and applies nothing until it joins again", own.ID()), http.StatusServiceUnavailable)
			return
		case !ready:
			http.Error(w, "no commit applied yet", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
		if own != nil {
			fmt.Fprintf(w, "replica %s owns %d of %d parents; %d handovers\n", own.ID(), len(own.Owned()), own.Units(), own.Handovers())
		}
	})
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(d.Status())
	})
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if err := authenticateHook(r, d.cfg.HookToken, d.cfg.HookOpen); err != nil {
			d.log.Warn("webhook refused", "remote", r.RemoteAddr, "err", err.Error())
			code := http.StatusUnauthorized
			if errors.Is(err, errHookClosed) {
				code = http.StatusForbidden
			}
			http.Error(w, err.Error(), code)
			return
		}
		d.Sync("webhook")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]string{"status": "sync queued"})
	})
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("watch: listen %s: %w", d.cfg.Listen, err)
	}
	switch {
	case d.cfg.HookToken == "" && d.cfg.HookOpen && !isLoopback(ln.Addr()):
		ln.Close()
		return nil, fmt.Errorf("watch: --hook-open on %s: anyone who reaches that address could trigger syncs; set a hook secret ($TETHER_HOOK_TOKEN) instead, or listen on loopback only (127.0.0.1:PORT)", ln.Addr())
	case d.cfg.HookToken == "" && !d.cfg.HookOpen:
		d.log.Warn("/hook is closed: no hook secret is set ($TETHER_HOOK_TOKEN), so every webhook is refused; set one (the forge's webhook secret), or pass --hook-open on a loopback listener")
	case d.cfg.HookToken == "":
		d.log.Warn("/hook is open: it takes requests without credentials (--hook-open, loopback only)")
	}
	d.mu.Lock()
	d.addr = ln.Addr().String()
	d.mu.Unlock()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

// maxDriftNamed caps the changes a drift notice names; the count says the rest.
const maxDriftNamed = 10

// driftList names the drifted changes for a notice: "; drifted: update account.a,
// delete account.b and 3 more".
func driftList(drifted []string) string {
	if len(drifted) == 0 {
		return ""
	}
	named := drifted
	more := ""
	if len(named) > maxDriftNamed {
		named = named[:maxDriftNamed]
		more = fmt.Sprintf(" and %d more", len(drifted)-maxDriftNamed)
	}
	return "; drifted: " + strings.Join(named, ", ") + more
}

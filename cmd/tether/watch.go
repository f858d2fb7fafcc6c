package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/cueguard"
	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/gitsource"
	"github.com/tether-dev/tether/internal/redact"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/internal/watch"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

func init() { subcommands = append(subcommands, newWatchCmd) }

type watchFlags struct {
	connFlags
	repo, branch, path string
	interval, poll     time.Duration
	stateDir           string
	listen             string
	keyring            string
	hookTokenEnv       string
	hookOpen           bool
	sshKey             string
	perNode            int
	logLevel           string
}

func newWatchCmd() *cobra.Command {
	var wf watchFlags
	cmd := &cobra.Command{
		Use:   "watch --repo URL|PATH [--branch B] [--path P] [--interval D]",
		Short: "Keep the fleet equal to a git branch: apply new commits, report or correct drift",
		Long: `A daemon. It follows --branch of --repo (a local repository, watched with fsnotify, or
a remote URL, fetched every --poll; POST /hook syncs at once, for forge webhooks). Each
new commit is validated, planned and applied; a commit that fails validation is not
applied and the last good commit stays in force. With --keyring, only commits signed
by one of its OpenPGP keys are applied. Every --interval the live fleet is compared
with the last good commit: policy.drift "warn" reports drift, "correct" applies.

Endpoints on --listen: /healthz, /readyz, /metrics (Prometheus), /hook. /hook needs
the secret in $TETHER_HOOK_TOKEN: as a bearer token, GitLab's X-Gitlab-Token, or the key
of GitHub's X-Hub-Signature-256 or Gitea/Forgejo's signature; without one it refuses
every request (--hook-open takes any, on a loopback listener only).
SIGTERM or Ctrl-C: running changes finish, no new change starts.
"tether watch suspend" / "tether watch resume" pause and resume applying.

Tether's state (inventory, journals, per-parent locks) is in $TETHER_STATE_DIR when set
(export the same for CLI applies, so the two never write to one parent at once), else
in --state-dir/state, or with --sandbox where a CLI command given the same
--sandbox-state keeps it. With --sandbox the daemon serves its sandbox to other
commands for as long as it runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if wf.repo == "" {
				return fmt.Errorf("--repo is required: a local repository path or a remote URL")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var level slog.Level
			if err := level.UnmarshalText([]byte(wf.logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", wf.logLevel)
			}
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), redact.Options(level)))
			src, err := gitsource.Open(ctx, gitsource.Options{Repo: wf.repo, Ref: wf.branch, Path: wf.path,
				CacheDir: filepath.Join(wf.stateDir, "repo"), SSHKeyFile: wf.sshKey, Lazy: true})
			if err != nil {
				return err
			}
			keyring := ""
			if wf.keyring != "" {
				b, err := os.ReadFile(wf.keyring)
				if err != nil {
					return fmt.Errorf("--keyring: %w", err)
				}
				keyring = string(b)
			}
			local := ""
			if !gitsource.IsRemote(wf.repo) {
				local = wf.repo
			}
			run := &watchRunner{wf: wf, log: logger}
			defer run.Close()
			d, err := watch.New(watch.Config{
				Source: src, LocalDir: local, Branch: wf.branch, Interval: wf.interval, Poll: wf.poll,
				Keyring: keyring, StateDir: wf.stateDir, Listen: wf.listen, HookToken: os.Getenv(wf.hookTokenEnv), HookOpen: wf.hookOpen,
				Runner: run, Notify: run.notify, Logger: logger,
			})
			if err != nil {
				return err
			}
			logger.Info("watching", "repo", redact.URL(wf.repo), "branch", wf.branch, "path", wf.path, "interval", wf.interval.String(), "listen", wf.listen)
			return d.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&wf.repo, "repo", "", "the fleet repository: a local path or a remote URL (https token from $TETHER_GIT_TOKEN)")
	f.StringVar(&wf.branch, "branch", "main", "the branch to follow (or a tag or commit)")
	f.StringVar(&wf.path, "path", "", "the fleet's folder inside the repository")
	f.DurationVar(&wf.interval, "interval", 5*time.Minute, "how often to check the live fleet for drift")
	f.DurationVar(&wf.poll, "poll", time.Minute, "how often to fetch a remote repository")
	f.StringVar(&wf.stateDir, "state-dir", ".tether/watch", "the daemon's files: clone, last good commit, suspension (and Tether's state, unless $TETHER_STATE_DIR)")
	f.StringVar(&wf.listen, "listen", "127.0.0.1:9310", "address for /healthz, /readyz, /metrics and /hook (\"\" to serve none)")
	f.StringVar(&wf.keyring, "keyring", "", "an armored OpenPGP keyring: apply only commits signed by its keys")
	f.StringVar(&wf.hookTokenEnv, "hook-token-env", "TETHER_HOOK_TOKEN", "environment variable holding /hook's secret: a bearer token, GitLab's secret token, or the key GitHub, Gitea and Forgejo sign with (if it is unset, /hook refuses every request unless --hook-open)")
	f.BoolVar(&wf.hookOpen, "hook-open", false, "let /hook take requests without credentials when no hook secret is set (refused unless --listen is a loopback address)")
	f.StringVar(&wf.sshKey, "ssh-key", "", "private key file for ssh repository URLs")
	f.StringVar(&wf.logLevel, "log-level", "info", "info, or debug to add each reconcile's plan and apply times")
	f.IntVar(&wf.perNode, "per-node", engine.DefaultPerTarget, "how many changes run at once against one server")
	wf.connFlags.register(cmd)
	cmd.AddCommand(newWatchSuspendCmd(true), newWatchSuspendCmd(false))
	return cmd
}

func newWatchSuspendCmd(suspend bool) *cobra.Command {
	var stateDir, reason string
	use, short := "resume", "Let a suspended watch daemon apply again"
	if suspend {
		use, short = "suspend", "Stop a watch daemon from applying (it keeps watching and reporting)"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if suspend {
				if err := watch.Suspend(stateDir, reason); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "suspended: the daemon using %s applies nothing until `tether watch resume`\n", stateDir)
				return nil
			}
			if err := watch.Resume(stateDir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "resumed: the daemon using %s applies again\n", stateDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", ".tether/watch", "the daemon's --state-dir")
	if suspend {
		cmd.Flags().StringVar(&reason, "reason", "suspended by an operator", "why, for whoever looks next")
	}
	return cmd
}

// watchRunner is one reconcile of the daemon: the same load, observe, diff, safety
// check and apply engine as the plan and apply commands, with the daemon's state.
type watchRunner struct {
	wf  watchFlags
	log *slog.Logger
	// lockWait bounds the wait for a parent that a CLI apply is writing to.
	lockWait time.Duration
	// events, when set, also sees every apply event (tests hold an apply mid-run).
	events func(engine.Event)

	mu      sync.Mutex
	webhook string // the last valid fleet's policy.notifyWebhook

	// One session, and with --sandbox one in-process sandbox, serves every reconcile:
	// starting them is most of a reconcile's cost. A fleet whose nodes change gets a
	// new session. The daemon runs one reconcile at a time; smu guards Close.
	smu     sync.Mutex
	sess    *session.Session
	sessKey string
}

// sandboxState is the daemon's sandbox folder: --sandbox-state, else inside --state-dir.
func (r *watchRunner) sandboxState() string {
	if r.wf.sandboxState != "" {
		return r.wf.sandboxState
	}
	return filepath.Join(r.wf.stateDir, "sandbox")
}

// stateDir is where Tether's state (inventory, journals, parent locks) lives: with
// --sandbox the same folder a CLI command given the same --sandbox-state uses;
// $TETHER_STATE_DIR for both when set, so they share the locks on real servers too.
func (r *watchRunner) stateDir() string {
	if d := os.Getenv(session.StateDirEnv); d != "" {
		return d
	}
	if r.wf.sandbox {
		return session.StateDirFor("", true, r.sandboxState())
	}
	return filepath.Join(r.wf.stateDir, "state")
}

// session returns the open session, or opens one for the fleet's nodes.
func (r *watchRunner) session(ctx context.Context, fleet *schema.Fleet, fleetPath string) (*session.Session, error) {
	r.smu.Lock()
	defer r.smu.Unlock()
	b, err := json.Marshal(fleet.Nodes)
	if err != nil {
		return nil, fmt.Errorf("fleet nodes: %w", err)
	}
	key := string(b)
	if r.sess != nil && r.sessKey == key {
		return r.sess, nil
	}
	if r.sess != nil {
		r.sess.Close()
		r.sess = nil
	}
	// The providers keep their state (DNS members' health) in the daemon's state
	// folder, the one each reconcile opens.
	so := session.Options{FleetPath: fleetPath, Sandbox: r.wf.sandbox, SandboxState: r.sandboxState(), StateDir: r.stateDir(), StrictSecrets: r.wf.strict, Logger: r.log, TaskTimeout: r.wf.taskTimeout}
	sandboxOptions(&so)
	s, err := session.Open(ctx, fleet, so)
	if err != nil {
		return nil, err
	}
	if s.InProcess != nil {
		// Served for as long as the daemon runs, so `tether plan --sandbox
		// --sandbox-state` on the same folder reads the same servers instead of
		// being refused the folder.
		if err := sandbox.WritePID(so.SandboxState); err != nil {
			r.log.Warn("the sandbox is not shared with other commands", "err", err)
		}
	}
	r.sess, r.sessKey = s, key
	return s, nil
}

// Close ends the session (and the in-process sandbox) when the daemon stops.
func (r *watchRunner) Close() error {
	r.smu.Lock()
	defer r.smu.Unlock()
	if r.sess == nil {
		return nil
	}
	err := r.sess.Close()
	r.sess = nil
	return err
}

func (r *watchRunner) Reconcile(ctx context.Context, fleetPath, commit string, apply bool) (watch.Outcome, error) {
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
	fleet, ds, err := schema.Load(fleetPath)
	if err != nil {
		return out, err
	}
	for _, d := range ds {
		out.Problems = append(out.Problems, d.String())
	}
	if len(ds) > 0 {
		return out, nil
	}
	out.Drift = "warn"
	if p := fleet.Policy; p != nil {
		if p.Drift != "" {
			out.Drift = p.Drift
		}
		r.mu.Lock()
		r.webhook = p.NotifyWebhook
		r.mu.Unlock()
	}
	sess, err := r.session(ctx, fleet, fleetPath)
	if err != nil {
		return out, err
	}
	// The session outlives this reconcile; only the state is opened per reconcile.
	w := &workspace{path: fleetPath, fleet: fleet, src: plan.Source{Path: r.wf.path, Commit: commit}}
	defer func() {
		if w.st != nil {
			w.st.Close()
		}
	}()
	w.sess = sess
	if w.st, err = state.Open(r.stateDir()); err != nil {
		return out, err
	}
	planStart := time.Now()
	if err := w.makePlan(ctx, r.wf.parallelism); err != nil {
		return out, err
	}
	planTime := time.Since(planStart)
	if apply {
		// As apply does: what this round's reads met counts towards DNS members'
		// failure thresholds, so a member that cannot be read is disabled in time and
		// stops holding the rest of the fleet back.
		if err := engine.RecordObserved(context.WithoutCancel(ctx), w.sess.Providers); err != nil {
			r.log.Warn("DNS member health", "err", err.Error())
		}
	}
	out.Changes = len(w.plan.Changes)
	out.Summary = planSummary(w.plan)
	if len(w.plan.Errors) > 0 {
		return out, fmt.Errorf("%d part(s) of the fleet could not be read: %s", len(w.plan.Errors), strings.Join(w.plan.Errors, "; "))
	}
	if !apply {
		return out, nil
	}
	journals, err := w.st.Journals(ctx)
	if err != nil {
		return out, err
	}
	var mine []*state.Journal
	for _, j := range journals {
		if j.Fleet == w.src.Path {
			mine = append(mine, j)
			r.log.Warn("an earlier apply did not finish; this one re-read the fleet and finishes it", "journal", j.Summary())
		}
	}
	// An empty plan still runs when an interrupted apply left a journal: the fleet
	// converged, and the engine closes that journal.
	if w.plan.Empty() && len(mine) == 0 {
		return out, nil
	}
	// The daemon never forces: a risky plan waits for an operator at the terminal. An
	// incomplete plan is applied for what could be read (Partial): the daemon runs
	// again on the next trigger, and reports the unread parts every time.
	if err := reconciler.CheckSafety(w.plan, w.fleet, w.observed, w.safety(false, false, true)); err != nil {
		return out, fmt.Errorf("not applied: %w", err)
	}
	lockWait := r.lockWait
	if lockWait == 0 {
		lockWait = time.Minute
	}
	applyStart := time.Now()
	defer func() {
		r.log.Debug("reconcile timing", "commit", commit, "plan_ms", planTime.Milliseconds(), "apply_ms", time.Since(applyStart).Milliseconds())
	}()
	res, err := engine.Apply(ctx, w.plan, w.sess.Providers, engine.ApplyOptions{
		Parallelism: r.wf.parallelism, PerTarget: r.wf.perNode, State: w.st,
		Locks: engine.Locks(w.plan, mine), LockWait: lockWait, Retry: applyRetry,
		Events: func(ev engine.Event) {
			if ev.Kind == engine.EventFailed {
				r.log.Error("change failed", "event", fmt.Sprint(ev))
			}
			if r.events != nil {
				r.events(ev)
			}
		},
	})
	if res != nil {
		out.Applied, out.Failed = res.Done, res.Failed+res.Skipped
		if err == nil {
			if perr := recordProtection(ctx, w, res.Failed == 0 && res.NotStarted == 0); perr != nil {
				r.log.Warn("protection not recorded", "err", perr)
			}
		}
	}
	if err != nil && out.Failed == 0 {
		return out, err
	}
	return out, nil
}

func planSummary(p *plan.Plan) string {
	s := p.Summary
	return fmt.Sprintf("%d to create, %d to change, %d to remove", s.Create, s.Change, s.Remove)
}

// notify logs every event and posts it to the fleet's policy.notifyWebhook (or
// $TETHER_NOTIFY_WEBHOOK) when one is set.
func (r *watchRunner) notify(ev watch.Event) {
	r.log.Info("notification", "kind", ev.Kind, "commit", ev.Commit, "message", ev.Message)
	r.mu.Lock()
	url := r.webhook
	r.mu.Unlock()
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
		r.log.Warn("notification not delivered", "err", err)
	}
}

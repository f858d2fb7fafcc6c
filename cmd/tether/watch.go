package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/gitsource"
	"github.com/tether-dev/tether/internal/notify"
	"github.com/tether-dev/tether/internal/redact"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/shard"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/internal/watch"
	"github.com/tether-dev/tether/internal/workspace"
	"github.com/tether-dev/tether/providers"
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
	replicaID          string
	replicaTTL         time.Duration
	once               bool
	notifyFile         string
}

func newWatchCmd(c *cli) *cobra.Command {
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
"tether watch suspend" / "tether watch resume" pause and resume applying; "tether watch status"
shows the commit in force, drift, suspension and DNS members per parent (also at /status).

Tether's state (inventory, journals, per-parent locks) is in $TETHER_STATE_DIR when set
(export the same for CLI applies, so the two never write to one parent at once), else
in --state-dir/state, or with --sandbox where a CLI command given the same
--sandbox-state keeps it. With --sandbox the daemon serves its sandbox to other
commands for as long as it runs.

With --state etcd://… (or $TETHER_STATE) the daemon is one replica among those sharing
that etcd: the replicas divide the fleet's parents (each owned by one live replica, on
a lease of --replica-ttl), each reconciling only its own; a replica that dies loses its
parents within the TTL and the others take them over, one cut off from etcd stops
applying after half of it. /readyz, /metrics and "tether watch status" show who owns
what (docs/etcd.md).`,
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
			// JSON unless --log-format text: the daemon's log is read by journald and
			// log collectors.
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), redact.Options(level)))
			if c.logFormat == "text" {
				logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), redact.Options(level)))
			}
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
			// With etcd, this daemon is one replica of those sharing it; a parent taken
			// over is reconciled at once (d is set before the replica can gain any).
			// One round (--once) is an apply of the branch, not a member of the group:
			// it takes the whole fleet, parent by parent under the shared locks.
			var d *watch.Daemon
			var replica *shard.Replica
			if !wf.once {
				r, leave, err := workspace.JoinReplicas(ctx, wf.state, shard.Options{ID: wf.replicaID, TTL: wf.replicaTTL, Logger: logger,
					Gained: func([]string) { d.Resync("takeover") }})
				if err != nil {
					return err
				}
				defer leave()
				replica = r
				// The locks this replica takes name it, so a replica that lost one
				// (paused past the TTL) is told which replica took it over. (No
				// replica without an etcd state.)
				if r != nil {
					ctx = state.WithHolder(ctx, state.Holder{Replica: r.ID()})
				}
			}
			notifier, err := wf.notifier(logger)
			if err != nil {
				return err
			}
			run := c.daemon(wf, logger, notifier, replica)
			defer run.Close()
			cfg := watch.Config{
				Source: src, LocalDir: local, Branch: wf.branch, Interval: wf.interval, Poll: wf.poll,
				Keyring: keyring, StateDir: wf.stateDir, Listen: wf.listen, HookToken: os.Getenv(wf.hookTokenEnv), HookOpen: wf.hookOpen,
				Runner: run, Notify: run.Notify, Logger: logger,
			}
			if replica != nil {
				cfg.Ownership, cfg.Annotate = replica, ownersOf(replica)
				logger.Info("replica joined", "replica", replica.ID(), "ttl", replica.TTL().String())
			}
			if d, err = watch.New(cfg); err != nil {
				return err
			}
			if wf.once {
				return d.Once(ctx)
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
	f.StringVar(&wf.notifyFile, "notify-urls-file", "", "a private file of notification service URLs, one a line (slack://, teams://, matrix://, discord://, smtp://, generic+https://, … as shoutrrr spells them); else $"+notifyURLsEnv)
	f.BoolVar(&wf.once, "once", false, "run one round (the branch's newest commit checked, planned, applied; status written) and exit: 0 when it is in force with every change done")
	f.IntVar(&wf.perNode, "per-node", engine.DefaultPerTarget, "how many changes run at once against one server")
	f.StringVar(&wf.replicaID, "replica-id", "", "with --state etcd://…: this daemon's name among the replicas dividing the parents (default HOST-PID)")
	f.DurationVar(&wf.replicaTTL, "replica-ttl", shard.DefaultTTL, "with --state etcd://…: the replica's lease; a replica that dies loses its parents within it, one cut off from etcd stops applying after half of it")
	wf.connFlags.register(cmd)
	cmd.AddCommand(newWatchSuspendCmd(true), newWatchSuspendCmd(false), newWatchStatusCmd())
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

// ownersOf fills each parent's owner in the status from etcd, so `tether watch status`
// on any replica shows which replica owns what.
func ownersOf(r *shard.Replica) func(*watch.Status) {
	return func(s *watch.Status) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		a, err := r.Assignment(ctx)
		if err != nil {
			return // the status still says what this replica knows; owners are extra
		}
		for p, owner := range a.Owners {
			if s.Parents[p] == nil {
				s.Parents[p] = &watch.ParentStatus{}
			}
			s.Parents[p].Owner = owner
		}
	}
}

// daemon is the reconcile the watch flags ask for: workspace.Apply, the pipeline of
// `tether apply`, with the daemon's state.
func (c *cli) daemon(wf watchFlags, logger *slog.Logger, notifier *notify.Notifier, replica *shard.Replica) *workspace.Daemon {
	return workspace.NewDaemon(workspace.DaemonOptions{
		Notifier: notifier,
		Path:     wf.path, Sandbox: wf.sandbox, SandboxState: wf.sandboxState, StateDir: wf.stateDir, StateURL: wf.state,
		Apply: workspace.ApplyOptions{Parallelism: wf.parallelism, PerTarget: wf.perNode, Retry: c.retry, Events: c.onEvent},
		Session: func(o *session.Options) {
			o.StrictSecrets, o.TaskTimeout = wf.strict, wf.taskTimeout
			o.CallTimeout, o.CallAttempts = wf.callTimeout, wf.callAttempts
			if c.session != nil {
				c.session(o)
			}
		},
		Logger:  logger,
		Replica: replica,
	})
}

// notifyURLsEnv holds notification service URLs when --notify-urls-file is not given.
const notifyURLsEnv = "TETHER_NOTIFY_URLS"

// notifier reads the notification services from --notify-urls-file or $TETHER_NOTIFY_URLS
// (their URLs hold secrets: never a flag's value) and checks them; nil when none.
func (wf watchFlags) notifier(logger *slog.Logger) (*notify.Notifier, error) {
	ref := providers.SecretRef{Env: notifyURLsEnv, File: wf.notifyFile, What: "notification URLs"}
	if wf.notifyFile != "" {
		ref.Env = ""
	} else if os.Getenv(notifyURLsEnv) == "" {
		return nil, nil
	}
	res := providers.SecretResolver{Strict: wf.strict, Warn: func(msg string) { logger.Warn(msg) }}
	list, err := res.Resolve(ref)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	n, err := notify.New(notify.ParseURLs(list))
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	logger.Info("notifications", "services", n.Services())
	return n, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/trace"
	"time"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/workspace"
	"github.com/tether-dev/tether/providers"
	_ "github.com/tether-dev/tether/providers/all"
	"github.com/tether-dev/tether/reconciler/desired"
	"github.com/tether-dev/tether/reconciler/planfile"
	"github.com/tether-dev/tether/schema"
)

func init() { subcommands = append(subcommands, newPlanCmd) }

// connFlags are the flags of every command that talks to the fleet.
type connFlags struct {
	sandbox      bool
	sandboxState string
	parallelism  int
	taskTimeout  time.Duration
	strict       bool
	callTimeout  time.Duration
	callAttempts int
	state        string
}

// sandboxArgs repeats the sandbox flags for a hint: a command suggested without them
// would talk to the real servers.
func (f connFlags) sandboxArgs() string {
	switch {
	case f.sandboxState != "":
		return " --sandbox --sandbox-state " + f.sandboxState
	case f.sandbox:
		return " --sandbox"
	}
	return ""
}

func (f *connFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.sandbox, "sandbox", false, "use the simulated fleet kept in .tether/sandbox next to the fleet (or --sandbox-state) instead of the real servers")
	cmd.Flags().StringVar(&f.sandboxState, "sandbox-state", "", "the sandbox's state folder (default .tether/sandbox next to the fleet)")
	// Only apply and watch change anything; the others must not promise it.
	usage := "how many servers are read at once"
	if n := cmd.Name(); n == "apply" || n == "watch" {
		usage = "how many servers are read, and changes applied, at once"
	}
	cmd.Flags().IntVar(&f.parallelism, "parallelism", engine.DefaultApplyParallelism, usage)
	if n := cmd.Name(); n == "apply" || n == "watch" {
		cmd.Flags().DurationVar(&f.taskTimeout, "task-timeout", providers.DefaultTaskTimeout,
			"how long to wait for a server's background task (moving an account's mail, activating a profile) before reporting it failed")
	}
	cmd.Flags().DurationVar(&f.callTimeout, "call-timeout", 0, "how long one request to a server may go unanswered before it counts as failed; a hung server costs at most this times --call-attempts per request (default policy.callTimeout, else 2m)")
	cmd.Flags().IntVar(&f.callAttempts, "call-attempts", 0, "how many times a request that timed out or failed transiently is tried in all (default policy.callAttempts, else 4)")
	cmd.Flags().StringVar(&f.state, "state", "", "where Tether's state (inventory, journals, locks) is: etcd://HOST:2379[,HOST…]/PREFIX to share it between machines, or a folder (default $TETHER_STATE, else the folder next to the fleet; etcd TLS files and credentials from $TETHER_ETCD_CERT, _KEY, _CA, _USER, _PASSWORD_FILE)")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "refuse token and secret files their group or others can read (otherwise a warning)")
}

// sessionOptionsFor is the session a command's flags ask for, logging to cmd's stderr.
func (c *cli) sessionOptionsFor(cmd *cobra.Command, path string, cf connFlags) session.Options {
	return c.sessionOptions(session.Options{FleetPath: path, Sandbox: cf.sandbox, SandboxState: cf.sandboxState, StrictSecrets: cf.strict,
		TaskTimeout: cf.taskTimeout, CallTimeout: cf.callTimeout, CallAttempts: cf.callAttempts, StateURL: cf.state, Logger: c.newLogger(cmd.ErrOrStderr())})
}

// reportInvalid prints an invalid fleet's problems line by line on stderr and ends the
// command with exit 1; any other error is returned as it is.
func reportInvalid(cmd *cobra.Command, err error) error {
	var inv *workspace.Invalid
	if !errors.As(err, &inv) || wantsJSON(cmd) {
		// Under --format json, runCommand writes the diagnostics as errorJSON.
		return err
	}
	for _, d := range inv.Diagnostics {
		fmt.Fprintln(cmd.ErrOrStderr(), d.String())
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s; nothing was contacted\n", problemCount(len(inv.Diagnostics)))
	return exitError{code: 1}
}

// load reads and checks the fleet, before anything is contacted.
func load(cmd *cobra.Command, path string) (*schema.Fleet, error) {
	f, _, err := workspace.Load(path)
	if err != nil {
		return nil, reportInvalid(cmd, err)
	}
	return f, nil
}

// open loads the fleet and connects to its servers; the caller closes the workspace.
func (c *cli) open(ctx context.Context, cmd *cobra.Command, path string, cf connFlags) (*workspace.Workspace, error) {
	w, err := workspace.Open(ctx, path, c.sessionOptionsFor(cmd, path, cf))
	if err != nil {
		return nil, reportInvalid(cmd, err)
	}
	w.ObserveProgress = c.reading(cmd.ErrOrStderr())
	return w, nil
}

// planFormats are what plan and show write.
var planFormats = []string{"text", "json", "markdown"}

func newPlanCmd(c *cli) *cobra.Command {
	var (
		cf       connFlags
		format   string
		out      string
		detailed bool
		gitBase  string
	)
	cmd := &cobra.Command{
		Use:   "plan [PATH] [--sandbox] [--format text|json|markdown] [-out FILE] [--detailed-exitcode] [--git-base REF]",
		Short: "Observe the fleet and print what apply would change",
		Long: `Load the fleet (PATH, default the current folder), read the live servers (or the
sandbox with --sandbox), and print the plan: every change, its reason and its risks.
Nothing is changed. -out FILE saves the plan with fingerprints of the fleet and of what
was observed, for ` + "`tether apply FILE`" + ` to apply exactly that or refuse.
--git-base REF (in a git work tree) shows first what the pull request changes in the
fleet files: objects added, removed and changed since REF, field by field.

Exit codes: 0 no changes (or changes without --detailed-exitcode), 2 changes with
--detailed-exitcode, 1 an error (an invalid fleet, a server that could not be read).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, planFormats...); err != nil {
				return err
			}
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			ctx := cmd.Context()
			w, err := c.open(ctx, cmd, path, cf)
			if err != nil {
				return err
			}
			defer w.Close()
			// Only JSON shows the observed fingerprint, and only a saved plan is
			// checked against it.
			w.NoFingerprint = out == "" && format != "json"
			var dr *desired.Report
			if gitBase != "" {
				if dr, err = workspace.DesiredChanges(path, gitBase, w.Fleet); err != nil {
					return err
				}
			}
			if err := w.MakePlan(ctx, cf.parallelism); err != nil {
				return err
			}
			if err := c.renderWithDesired(cmd.OutOrStdout(), w.Plan, format, dr); err != nil {
				return err
			}
			trace.Log(ctx, "phase", "render done")
			if out != "" && len(w.Plan.Errors) > 0 {
				// A saved plan is applied without a second look; one made without seeing
				// the whole fleet is not worth keeping.
				fmt.Fprintf(cmd.ErrOrStderr(), "\nThe plan was not saved to %s: it is incomplete.\n", out)
			} else if out != "" {
				if err := planfile.Write(out, planfile.New(w.Plan, w.Source, w.Fingerprint, time.Now())); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "\nSaved the plan to %s. To apply exactly these changes: tether apply %s%s\n", out, out, cf.sandboxArgs())
			}
			if len(w.Plan.Errors) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "\nThe plan is incomplete: %d part(s) of the fleet could not be read (listed above); nothing is planned for them.\n", len(w.Plan.Errors))
				return exitError{code: 1}
			}
			if detailed && !w.Plan.Empty() {
				return exitError{code: 2}
			}
			return nil
		},
	}
	cf.register(cmd)
	formatFlag(cmd, &format, planFormats...)
	cmd.Flags().StringVar(&out, "out", "", "save the plan to FILE (also spelled -out FILE)")
	cmd.Flags().StringVar(&gitBase, "git-base", "", "show first what changed in the fleet files since this git ref (a pull request's base, e.g. origin/main)")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when the plan has changes, 0 when it has none")
	return cmd
}

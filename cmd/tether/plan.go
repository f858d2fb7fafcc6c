package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/redact"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/providers"
	_ "github.com/tether-dev/tether/providers/all"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/desired"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/reconciler/planfile"
	"github.com/tether-dev/tether/reconciler/render"
	"github.com/tether-dev/tether/schema"
)

func init() {
	subcommands = append(subcommands, newPlanCmd)
	argRewriters = append(argRewriters, singleDashOut)
}

// singleDashOut accepts Terraform's `-out FILE` and `-out=FILE` (the DESIGN.md
// contract) by spelling them the way pflag parses long flags.
func singleDashOut(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch {
		case a == "--":
			copy(out[i:], args[i:])
			return out
		case a == "-out" || strings.HasPrefix(a, "-out="):
			out[i] = "-" + a
		default:
			out[i] = a
		}
	}
	return out
}

// connFlags are the flags of every command that talks to the fleet.
type connFlags struct {
	sandbox      bool
	sandboxState string
	parallelism  int
	taskTimeout  time.Duration
	strict       bool
}

// sessionOptions are the session options every command that talks to the fleet shares.
func (f *connFlags) sessionOptions(path string, logger *slog.Logger) session.Options {
	return session.Options{FleetPath: path, Sandbox: f.sandbox, SandboxState: f.sandboxState, StrictSecrets: f.strict, Logger: logger, TaskTimeout: f.taskTimeout}
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
	cmd.Flags().BoolVar(&f.strict, "strict", false, "refuse token and secret files their group or others can read (otherwise a warning)")
}

// sandboxOptions lets tests shorten the sandbox's background tasks; the command line
// keeps the sandbox's defaults.
var sandboxOptions = func(o *session.Options) {}

// workspace is what plan and apply share: the loaded fleet, its session with the
// providers, Tether's state, and the plan made from what was observed.
type workspace struct {
	path     string
	fleet    *schema.Fleet
	src      plan.Source
	sess     *session.Session
	st       state.Store
	observed *schema.Fleet
	obs      planfile.Observed
	plan     *plan.Plan
	// owned and protected are Tether's state as the plan was made with it; the
	// safety check judges removals against them again.
	owned, protected map[string]bool
}

// safety is what CheckSafety needs beyond the operator's flags: the state the plan
// was made with.
func (w *workspace) safety(force, allowDataLoss, partial bool) reconciler.SafetyOptions {
	return reconciler.SafetyOptions{Force: force, AllowDataLoss: allowDataLoss, Partial: partial, Inventory: w.owned, Protected: w.protected}
}

func (w *workspace) close() {
	// The session closes the state it opened; a store given to it is closed here.
	if w.st != nil && (w.sess == nil || w.sess.State != w.st) {
		w.st.Close()
	}
	if w.sess != nil {
		w.sess.Close()
	}
}

// load reads and checks the fleet; an invalid one is reported line by line on stderr
// and ends the command with exit 1 before anything is contacted.
func load(cmd *cobra.Command, path string) (*schema.Fleet, plan.Source, error) {
	f, ds, err := schema.Load(path)
	if err != nil {
		return nil, plan.Source{}, fmt.Errorf("load %s: %w", path, err)
	}
	if len(ds) > 0 {
		for _, d := range ds {
			fmt.Fprintln(cmd.ErrOrStderr(), d.String())
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%s; nothing was contacted\n", problemCount(len(ds)))
		return nil, plan.Source{}, exitError{code: 1}
	}
	src, err := planfile.FleetSource(path)
	if err != nil {
		return nil, plan.Source{}, err
	}
	return f, src, nil
}

// open loads the fleet and connects: session (real endpoints or the sandbox) and
// state. The caller closes the workspace.
func open(ctx context.Context, cmd *cobra.Command, path string, cf connFlags, logger *slog.Logger) (*workspace, error) {
	fleet, src, err := load(cmd, path)
	if err != nil {
		return nil, err
	}
	w := &workspace{path: path, fleet: fleet, src: src}
	// The session opens Tether's state (next to the fleet, or inside the sandbox's
	// folder: what Tether created there never counts as created on the real servers)
	// and hands the same store to the providers.
	so := cf.sessionOptions(path, logger)
	sandboxOptions(&so)
	w.sess, err = session.Open(ctx, fleet, so)
	if err != nil {
		return nil, err
	}
	w.st = w.sess.State
	return w, nil
}

// observe reads the live fleet through every provider.
func (w *workspace) observe(ctx context.Context, parallelism int) ([]error, error) {
	names := make([]string, 0, len(w.sess.Providers))
	for n := range w.sess.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	provs := make([]providers.Provider, 0, len(names))
	for _, n := range names {
		provs = append(provs, w.sess.Providers[n])
	}
	observed, errs := engine.Observe(ctx, provs, w.fleet, parallelism)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	w.observed = observed
	obs, err := planfile.Fingerprint(observed)
	if err != nil {
		return nil, err
	}
	w.obs = obs
	return errs, nil
}

// makePlan observes and diffs.
func (w *workspace) makePlan(ctx context.Context, parallelism int) error {
	errs, err := w.observe(ctx, parallelism)
	if err != nil {
		return err
	}
	inv, err := w.st.Inventory(ctx)
	if err != nil {
		return err
	}
	prot, err := w.st.Protected(ctx)
	if err != nil {
		return err
	}
	owned := make(map[string]bool, len(inv))
	for a := range inv {
		owned[a] = true
	}
	w.owned, w.protected = owned, prot
	w.plan = reconciler.Diff(w.fleet, w.observed, reconciler.DiffOptions{Inventory: owned, Protected: prot, ObserveErrors: errs})
	w.plan.Source = w.src
	w.plan.Observed = w.obs.Fingerprint
	return nil
}

func newPlanCmd() *cobra.Command {
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
			switch format {
			case "text", "json", "markdown":
			default:
				return fmt.Errorf("--format %q: want text, json or markdown", format)
			}
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			ctx := cmd.Context()
			logger := newLogger(cmd.ErrOrStderr())
			w, err := open(ctx, cmd, path, cf, logger)
			if err != nil {
				return err
			}
			defer w.close()
			var dr *desired.Report
			if gitBase != "" {
				if dr, err = desiredReport(path, gitBase, w.fleet); err != nil {
					return err
				}
			}
			if err := w.makePlan(ctx, cf.parallelism); err != nil {
				return err
			}
			if err := renderWithDesired(cmd.OutOrStdout(), w.plan, format, dr); err != nil {
				return err
			}
			if out != "" && len(w.plan.Errors) > 0 {
				// A saved plan is applied without a second look; one made without seeing
				// the whole fleet is not worth keeping.
				fmt.Fprintf(cmd.ErrOrStderr(), "\nThe plan was not saved to %s: it is incomplete.\n", out)
			} else if out != "" {
				if err := planfile.Write(out, planfile.New(w.plan, w.src, w.obs, time.Now())); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "\nSaved the plan to %s. To apply exactly these changes: tether apply %s\n", out, out)
			}
			if len(w.plan.Errors) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "\nThe plan is incomplete: %d part(s) of the fleet could not be read (listed above); nothing is planned for them.\n", len(w.plan.Errors))
				return exitError{code: 1}
			}
			if detailed && !w.plan.Empty() {
				return exitError{code: 2}
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, json or markdown")
	cmd.Flags().StringVar(&out, "out", "", "save the plan to FILE (also spelled -out FILE)")
	cmd.Flags().StringVar(&gitBase, "git-base", "", "show first what changed in the fleet files since this git ref (a pull request's base, e.g. origin/main)")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when the plan has changes, 0 when it has none")
	return cmd
}

func renderPlan(w io.Writer, p *plan.Plan, format string) error {
	var err error
	switch format {
	case "json":
		err = render.JSON(w, p)
	case "markdown":
		err = render.Markdown(w, p, render.MarkdownOptions{})
	default:
		err = render.Text(w, p, render.TextOptions{Color: isTerminal(w) && os.Getenv("NO_COLOR") == ""})
	}
	if err != nil {
		return fmt.Errorf("render the plan: %w", err)
	}
	return nil
}

// newLogger writes structured logs to stderr: text on a terminal, JSON elsewhere (CI
// and journald parse it). Every attribute goes through redact, so no log site can
// write a URL's credentials.
func newLogger(w io.Writer) *slog.Logger {
	if isTerminal(w) {
		return slog.New(slog.NewTextHandler(w, redact.Options(slog.LevelWarn)))
	}
	return slog.New(slog.NewJSONHandler(w, redact.Options(nil)))
}

// isTerminal reports whether rw is a terminal. Tests replace it.
var isTerminal = func(rw any) bool {
	f, ok := rw.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

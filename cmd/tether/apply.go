package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/progress"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/internal/workspace"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/reconciler/planfile"
	"github.com/tether-dev/tether/reconciler/render"
)

func init() { subcommands = append(subcommands, newApplyCmd) }

type applyFlags struct {
	connFlags
	autoApprove   bool
	allowDataLoss bool
	force         bool
	partial       bool
	perNode       int
	lockTimeout   time.Duration
	changeTimeout time.Duration
	noVerify      bool
	fleet         string
}

func newApplyCmd(c *cli) *cobra.Command {
	var af applyFlags
	cmd := &cobra.Command{
		Use:   "apply [PATH|PLANFILE] [--sandbox] [--auto-approve] [--allow-data-loss] [--force] [--parallelism N]",
		Short: "Make the fleet match its files: plan, confirm, apply",
		Long: `Plan as ` + "`tether plan`" + ` does, show the plan and ask for confirmation (or
--auto-approve), then apply it: changes in dependency order, independent ones in
parallel (--parallelism overall, --per-node against one server), transient failures
retried, every failure reported while the rest goes on.

Given a saved plan (tether plan -out FILE), apply re-reads the fleet and the servers and
refuses if either changed since the plan was made, naming what changed; otherwise it
applies exactly the saved changes, without asking again.

A plan that loses data (a child marked lost) needs --allow-data-loss; one that removes
more than policy.maxRemovePercent of a parent's accounts needs --force. An incomplete
plan (a parent, child or DNS member could not be read) is refused: nothing is applied
unless --partial says to apply what was planned for the rest; nothing is planned for
what could not be read, and apply still exits 1. The plan lists these gates.

Ctrl-C (or SIGTERM) stops starting changes and waits for the running ones; the journal
in Tether's state lets the next apply finish the work. Exit 0 when everything applied,
1 otherwise.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			// Observation is cancelled by the first signal; applying then stops starting
			// changes. A second signal ends the process at once: signal handling is
			// handed back to the runtime after the first.
			ctx, stop := signal.NotifyContext(cmd.Context(), c.signals...)
			defer stop()
			go func() {
				<-ctx.Done()
				stop()
			}()
			return c.apply(ctx, cmd, path, af)
		},
	}
	af.register(cmd)
	cmd.Flags().BoolVar(&af.autoApprove, "auto-approve", false, "apply without asking for confirmation")
	cmd.Flags().BoolVar(&af.allowDataLoss, "allow-data-loss", false, "allow changes that lose data (forced dedistribution from a lost child)")
	cmd.Flags().BoolVar(&af.force, "force", false, "allow a plan that removes more than policy.maxRemovePercent of a parent's accounts")
	cmd.Flags().BoolVar(&af.partial, "partial", false, "apply an incomplete plan: what was planned for the parts of the fleet that could be read (exit 1 all the same)")
	cmd.Flags().IntVar(&af.perNode, "per-node", engine.DefaultPerTarget, "how many changes run at once against one server")
	cmd.Flags().BoolVar(&af.noVerify, "no-verify", false, "do not query the nameservers after changes that touch DNS (see tether dns verify)")
	cmd.Flags().DurationVar(&af.changeTimeout, "change-timeout", 0, "the most one change may take, its retries and its waits for the server's background tasks included (default policy.changeTimeout, else 1h)")
	cmd.Flags().StringVar(&af.fleet, "fleet", "", "with a PLANFILE: the fleet it was made from, checked out elsewhere (another CI job's folder); it must hold the same files at the same commit, or apply refuses")
	cmd.Flags().DurationVar(&af.lockTimeout, "lock-timeout", 0, "how long to wait for a parent that another apply or the watch daemon is writing to (0: do not wait)")
	return cmd
}

// apply runs workspace.Apply, the pipeline the watch daemon runs too, and says on
// the terminal what it does: the plan, the gates, the question, the outcome.
func (c *cli) apply(ctx context.Context, cmd *cobra.Command, path string, af applyFlags) error {
	o := c.applyOptions(cmd, af)
	if planfile.Is(path) {
		saved, err := planfile.Read(path)
		if err != nil {
			return err
		}
		o.Saved, o.SavedPath = saved, path
		o.Confirm = nil // a saved plan was reviewed when it was made
		o.Planned = func(p *plan.Plan) error {
			fmt.Fprintf(cmd.OutOrStdout(), "Applying the saved plan %s (%s).\n", o.SavedPath, render.SummaryLine(p))
			return nil
		}
		path = saved.Fleet.Path
		if af.fleet != "" {
			// The plan names the folder it was made in; a CI apply job checks the
			// reviewed commit out somewhere else. Check still holds it to the same
			// files and commit.
			path = af.fleet
		}
	} else if af.fleet != "" {
		return fmt.Errorf("--fleet goes with a saved plan (tether apply PLANFILE --fleet PATH); to apply a fleet, give its path")
	}
	w, err := c.open(ctx, cmd, path, af.connFlags)
	if err != nil {
		return err
	}
	defer w.Close()
	res, err := w.Apply(ctx, o)
	var gated *workspace.Gated
	if errors.As(err, &gated) {
		fmt.Fprintln(cmd.ErrOrStderr(), "Error:", gated.Err)
		var se *reconciler.SafetyError
		if errors.As(gated.Err, &se) {
			if allFlagged(se) {
				fmt.Fprintf(cmd.ErrOrStderr(), "Nothing was applied. To apply it anyway, add %s.\n", strings.Join(se.Flags(), " "))
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "Nothing was applied. No flag allows a removal the fleet's policy forbids; make a new plan.")
			}
		}
		return exitError{code: 1}
	}
	if res.Result == nil {
		if err != nil {
			return err
		}
		noChanges(cmd.OutOrStdout(), res.Plan)
		return incomplete(cmd, res.Plan)
	}
	return c.reportApply(ctx, cmd, w, res, err, af.noVerify)
}

// allFlagged reports whether a flag allows every problem of se.
func allFlagged(se *reconciler.SafetyError) bool {
	for _, p := range se.Problems {
		if p.Flag == "" {
			return false
		}
	}
	return true
}

// applyOptions are the flags' choices, and what the terminal is told on the way.
func (c *cli) applyOptions(cmd *cobra.Command, af applyFlags) workspace.ApplyOptions {
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	o := workspace.ApplyOptions{
		Parallelism:   af.parallelism,
		PerTarget:     af.perNode,
		LockWait:      af.lockTimeout,
		ChangeTimeout: af.changeTimeout,
		Retry:         c.retry,
		Safety:        reconciler.SafetyOptions{Force: af.force, AllowDataLoss: af.allowDataLoss, Partial: af.partial},
		Events:        c.events(errw),
		Unfinished: func(j *state.Journal) {
			fmt.Fprintf(errw, "Note: %s. This apply re-reads the fleet and finishes it.\n", j.Summary())
		},
		ObservedReads: func(err error) {
			// Members disabled by counting this observation's reads: the plan in hand
			// already leaves them alone, since they could not be read.
			for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
				fmt.Fprintln(errw, "Warning:", line)
			}
		},
		Planned: func(p *plan.Plan) error { return c.renderPlan(out, p, "text") },
		Replanned: func(p *plan.Plan, moved []planfile.ObjectChange) {
			fmt.Fprintf(errw, "Note: while this apply waited for another writer's lock, %d object(s) changed on the servers; it applies the plan made now instead. %s\n",
				len(moved), render.SummaryLine(p))
		},
	}
	if !af.autoApprove {
		o.Confirm = func(*plan.Plan) error { return c.confirm(cmd) }
	}
	return o
}

// reportApply says what became of an apply that ran, checks DNS after one that
// converged and touched it, and picks the exit code.
func (c *cli) reportApply(ctx context.Context, cmd *cobra.Command, w *workspace.Workspace, res *workspace.Applied, err error, noVerify bool) error {
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	err = errors.Join(err, res.ProtectionErr)
	if len(res.Result.Changes) == 0 && err == nil {
		noChanges(out, res.Plan)
		if len(res.Result.Closed) > 0 {
			fmt.Fprintf(out, "The unfinished apply recorded in the journal is complete.\n")
		}
		return incomplete(cmd, res.Plan)
	}
	report(out, res.Result)
	mismatches := 0
	if res.Converged && !noVerify && workspace.TouchesDNS(res.Plan) {
		// What the records say is the proof that distribution reached every
		// nameserver. A mismatch fails the apply: the changes stay applied, and the
		// report names the server and the name to look at.
		fmt.Fprintln(out)
		n, verr := verifyDNS(ctx, out, w.Fleet, w.Session, "text")
		if verr != nil {
			fmt.Fprintln(errw, "DNS verification could not run:", verr)
		}
		mismatches = n
	}
	if err != nil {
		fmt.Fprintln(errw)
		fmt.Fprintln(errw, "Error:", strings.TrimSpace(err.Error()))
		if res.Result.Interrupted {
			fmt.Fprintf(errw, "Interrupted: %d change(s) were not started. The journal records where the apply stopped; run tether apply again to finish.\n", res.Result.NotStarted)
		}
		return exitError{code: 1}
	}
	if mismatches > 0 {
		fmt.Fprintf(errw, "\nError: the changes were applied, but DNS verification found %d mismatch(es) (listed above, by server and name): a nameserver does not answer as the fleet implies. Look at those servers (replication, a disabled member), then run tether dns verify.\n", mismatches)
		return exitError{code: 1}
	}
	return incomplete(cmd, res.Plan)
}

// confirm asks on a terminal; anywhere else it refuses, since nobody can answer.
func (c *cli) confirm(cmd *cobra.Command) error {
	in := cmd.InOrStdin()
	if !c.terminal(in) {
		fmt.Fprintln(cmd.ErrOrStderr(), "Error: apply needs confirmation, and standard input is not a terminal to ask on; review the plan and run again with --auto-approve (or apply a saved plan: tether plan -out FILE, then tether apply FILE)")
		return exitError{code: 1}
	}
	fmt.Fprint(cmd.OutOrStdout(), "\nDo you want to perform these actions? Only 'yes' will be accepted: ")
	answer, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the answer: %w", err)
	}
	if strings.TrimSpace(answer) != "yes" {
		fmt.Fprintln(cmd.ErrOrStderr(), "Apply cancelled: nothing was changed.")
		return exitError{code: 1}
	}
	return nil
}

// noChanges ends an apply that had nothing to do; the rendered plan has already said
// "No changes", and a match is claimed only when every part of the fleet was read.
func noChanges(out io.Writer, p *plan.Plan) {
	if len(p.Errors) == 0 {
		fmt.Fprintln(out, "\nApply complete! Nothing to change.")
	}
}

// incomplete ends with exit 1 when parts of the fleet could not be read: what was
// applied is right, but the fleet is not known to match.
func incomplete(cmd *cobra.Command, p *plan.Plan) error {
	if len(p.Errors) == 0 {
		return nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Error: %d part(s) of the fleet could not be read, so nothing was planned or applied there:\n", len(p.Errors))
	for _, e := range p.Errors {
		fmt.Fprintln(cmd.ErrOrStderr(), "  "+e)
	}
	return exitError{code: 1}
}

// events shows the engine's progress on stderr (a line on a terminal, logs
// elsewhere) and tells c.events too.
func (c *cli) events(errw io.Writer) func(engine.Event) {
	show := progress.Log(c.newLogger(errw))
	if f, ok := errw.(*os.File); ok && c.terminal(f) {
		show = progress.NewLine(f).Event
	}
	if hook := c.onEvent; hook != nil {
		return func(ev engine.Event) { show(ev); hook(ev) }
	}
	return show
}

// report prints what became of the plan: the counts, then each change that did not
// succeed with the reason.
func report(out io.Writer, res *engine.Result) {
	var created, changed, removed int
	for _, c := range res.Changes {
		if c.Status != engine.StatusDone {
			continue
		}
		switch c.Change.Action.Kind() {
		case "create":
			created++
		case "remove":
			removed++
		default:
			changed++
		}
	}
	if res.Failed == 0 && res.Skipped == 0 && res.NotStarted == 0 {
		fmt.Fprintf(out, "\nApply complete! %d created, %d changed, %d removed.\n", created, changed, removed)
		return
	}
	fmt.Fprintf(out, "\nApply incomplete: %d applied (%d created, %d changed, %d removed), %d failed, %d skipped, %d not started.\n",
		res.Done, created, changed, removed, res.Failed, res.Skipped, res.NotStarted)
	for _, c := range res.Changes {
		switch c.Status {
		case engine.StatusFailed:
			fmt.Fprintf(out, "  ✗ %s %s on %s: %v\n", c.Change.Action, c.Change.Address, c.Change.Target, c.Err)
		case engine.StatusSkipped:
			fmt.Fprintf(out, "  - %s %s: %v\n", c.Change.Action, c.Change.Address, c.Err)
		case engine.StatusNotStarted:
			fmt.Fprintf(out, "  · %s %s: not started\n", c.Change.Action, c.Change.Address)
		}
	}
}

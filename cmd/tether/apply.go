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
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/progress"
	"github.com/tether-dev/tether/internal/state"
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
	noVerify      bool
}

// applyRetry is the engine's retry policy; tests shorten it.
var applyRetry engine.Retry

// eventHook, when set, also sees every apply event (tests inject faults mid-run).
var eventHook func(engine.Event)

// interruptSignals end an apply gracefully: nothing new starts, running changes end.
var interruptSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

func newApplyCmd() *cobra.Command {
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
			ctx, stop := signal.NotifyContext(cmd.Context(), interruptSignals...)
			defer stop()
			go func() {
				<-ctx.Done()
				stop()
			}()
			if planfile.Is(path) {
				return applySaved(ctx, cmd, path, af)
			}
			return applyFleet(ctx, cmd, path, af)
		},
	}
	af.register(cmd)
	cmd.Flags().BoolVar(&af.autoApprove, "auto-approve", false, "apply without asking for confirmation")
	cmd.Flags().BoolVar(&af.allowDataLoss, "allow-data-loss", false, "allow changes that lose data (forced dedistribution from a lost child)")
	cmd.Flags().BoolVar(&af.force, "force", false, "allow a plan that removes more than policy.maxRemovePercent of a parent's accounts")
	cmd.Flags().BoolVar(&af.partial, "partial", false, "apply an incomplete plan: what was planned for the parts of the fleet that could be read (exit 1 all the same)")
	cmd.Flags().IntVar(&af.perNode, "per-node", engine.DefaultPerTarget, "how many changes run at once against one server")
	cmd.Flags().BoolVar(&af.noVerify, "no-verify", false, "do not query the nameservers after changes that touch DNS (see tether dns verify)")
	cmd.Flags().DurationVar(&af.lockTimeout, "lock-timeout", 0, "how long to wait for a parent that another apply or the watch daemon is writing to (0: do not wait)")
	return cmd
}

func applyFleet(ctx context.Context, cmd *cobra.Command, path string, af applyFlags) error {
	logger := newLogger(cmd.ErrOrStderr())
	w, err := open(ctx, cmd, path, af.connFlags, logger)
	if err != nil {
		return err
	}
	defer w.close()
	prev, err := reportJournals(ctx, cmd, w)
	if err != nil {
		return err
	}
	if err := w.makePlan(ctx, af.parallelism); err != nil {
		return err
	}
	recordObserved(ctx, cmd, w)
	out := cmd.OutOrStdout()
	if err := renderPlan(out, w.plan, "text"); err != nil {
		return err
	}
	if err := checkSafety(cmd, w, af); err != nil {
		return err
	}
	if !w.plan.Empty() && !af.autoApprove {
		if err := confirm(cmd); err != nil {
			return err
		}
	}
	return runApply(ctx, cmd, w, af, prev)
}

func applySaved(ctx context.Context, cmd *cobra.Command, planPath string, af applyFlags) error {
	saved, err := planfile.Read(planPath)
	if err != nil {
		return err
	}
	logger := newLogger(cmd.ErrOrStderr())
	w, err := open(ctx, cmd, saved.Fleet.Path, af.connFlags, logger)
	if err != nil {
		return err
	}
	defer w.close()
	prev, err := reportJournals(ctx, cmd, w)
	if err != nil {
		return err
	}
	// The plan is made again from the fleet and the live state, and the saved one is
	// applied only if it is the same change for change: what runs is always what Diff
	// makes now, checked by the safety rules now, never what the file says.
	if err := w.makePlan(ctx, af.parallelism); err != nil {
		return err
	}
	recordObserved(ctx, cmd, w)
	if err := saved.Check(planPath, w.src, w.obs); err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "Error:", err)
		return exitError{code: 1}
	}
	if err := saved.Verify(planPath, w.plan); err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "Error:", err)
		return exitError{code: 1}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Applying the saved plan %s (%s).\n", planPath, render.SummaryLine(w.plan))
	if err := checkSafety(cmd, w, af); err != nil {
		return err
	}
	return runApply(ctx, cmd, w, af, prev)
}

// recordObserved counts what observing sent against the servers that answered or
// failed (an rfc2136 member whose AXFR fails gets one more consecutive failure, and
// is disabled past its threshold). Every apply counts, whatever it goes on to do;
// plan never does. Members disabled by it are told on stderr; the plan in hand
// already leaves them alone, since they could not be read.
func recordObserved(ctx context.Context, cmd *cobra.Command, w *workspace) {
	err := engine.RecordObserved(context.WithoutCancel(ctx), w.sess.Providers)
	if err == nil {
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		fmt.Fprintln(cmd.ErrOrStderr(), "Warning:", line)
	}
}

// reportJournals says, before planning, that an earlier apply of this fleet did not
// finish; the plan made next re-observes the fleet, so it holds what is left.
func reportJournals(ctx context.Context, cmd *cobra.Command, w *workspace) ([]*state.Journal, error) {
	js, err := w.st.Journals(ctx)
	if err != nil {
		return nil, err
	}
	var mine []*state.Journal
	for _, j := range js {
		if j.Fleet != w.src.Path {
			continue
		}
		mine = append(mine, j)
		fmt.Fprintf(cmd.ErrOrStderr(), "Note: %s. This apply re-reads the fleet and finishes it.\n", j.Summary())
	}
	return mine, nil
}

func checkSafety(cmd *cobra.Command, w *workspace, af applyFlags) error {
	err := reconciler.CheckSafety(w.plan, w.fleet, w.observed, w.safety(af.force, af.allowDataLoss, af.partial))
	if err == nil {
		return nil
	}
	fmt.Fprintln(cmd.ErrOrStderr(), "Error:", err)
	var se *reconciler.SafetyError
	if errors.As(err, &se) {
		if allFlagged(se) {
			fmt.Fprintf(cmd.ErrOrStderr(), "Nothing was applied. To apply it anyway, add %s.\n", strings.Join(se.Flags(), " "))
		} else {
			fmt.Fprintln(cmd.ErrOrStderr(), "Nothing was applied. No flag allows a removal the fleet's policy forbids; make a new plan.")
		}
	}
	return exitError{code: 1}
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

// confirm asks on a terminal; anywhere else it refuses, since nobody can answer.
func confirm(cmd *cobra.Command) error {
	in := cmd.InOrStdin()
	if !isTerminal(in) {
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

// runApply runs the engine and reports. It also runs for an empty plan when an earlier
// apply left a journal: the fleet converged, so that journal is closed.
func runApply(ctx context.Context, cmd *cobra.Command, w *workspace, af applyFlags, prev []*state.Journal) error {
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if w.plan.Empty() && len(prev) == 0 {
		noChanges(out, w.plan)
		return incomplete(cmd, w.plan)
	}
	opts := engine.ApplyOptions{
		Parallelism: af.parallelism,
		PerTarget:   af.perNode,
		State:       w.st,
		Locks:       engine.Locks(w.plan, prev),
		LockWait:    af.lockTimeout,
		Retry:       applyRetry,
		Events:      events(errw),
	}
	if hook, show := eventHook, opts.Events; hook != nil {
		opts.Events = func(ev engine.Event) { show(ev); hook(ev) }
	}
	res, err := engine.Apply(ctx, w.plan, w.sess.Providers, opts)
	if res == nil {
		return err
	}
	if len(res.Changes) == 0 && err == nil {
		noChanges(out, w.plan)
		if len(res.Closed) > 0 {
			fmt.Fprintf(out, "The unfinished apply recorded in the journal is complete.\n")
		}
		if err := recordProtection(ctx, w, true); err != nil {
			return err
		}
		return incomplete(cmd, w.plan)
	}
	report(out, res)
	converged := res.Failed == 0 && res.NotStarted == 0 && err == nil
	mismatches := 0
	if converged && !af.noVerify && touchesDNS(w.plan) {
		// What the records say is the proof that distribution reached every
		// nameserver. A mismatch fails the apply: the changes stay applied, and the
		// report names the server and the name to look at.
		fmt.Fprintln(out)
		n, verr := verifyDNS(ctx, out, w.fleet, w.sess.Config.Endpoints, w.st, w.sess.Providers, "text")
		if verr != nil {
			fmt.Fprintln(errw, "DNS verification could not run:", verr)
		}
		mismatches = n
	}
	if perr := recordProtection(ctx, w, converged); perr != nil {
		err = errors.Join(err, perr)
	}
	if err != nil {
		fmt.Fprintln(errw)
		fmt.Fprintln(errw, "Error:", strings.TrimSpace(err.Error()))
		if res.Interrupted {
			fmt.Fprintf(errw, "Interrupted: %d change(s) were not started. The journal records where the apply stopped; run tether apply again to finish.\n", res.NotStarted)
		}
		return exitError{code: 1}
	}
	if mismatches > 0 {
		fmt.Fprintf(errw, "\nError: the changes were applied, but DNS verification found %d mismatch(es) (listed above, by server and name): a nameserver does not answer as the fleet implies. Look at those servers (replication, a disabled member), then run tether dns verify.\n", mismatches)
		return exitError{code: 1}
	}
	return incomplete(cmd, w.plan)
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

func events(errw io.Writer) func(engine.Event) {
	if f, ok := errw.(*os.File); ok && isTerminal(f) {
		return progress.NewLine(f).Event
	}
	return progress.Log(newLogger(errw))
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

// recordProtection remembers which objects the fleet protects, so deleting an
// object's declaration does not drop its protection. Protection is recorded after
// any apply; its removal (an explicit protect: false) only after one that converged.
func recordProtection(ctx context.Context, w *workspace, allowRemove bool) error {
	var add, remove []string
	mark := func(addr string, protect bool) {
		if protect {
			add = append(add, addr)
		} else if allowRemove {
			remove = append(remove, addr)
		}
	}
	for name, a := range w.fleet.Accounts {
		if a != nil {
			mark(plan.AccountAddress(name), a.Protect)
		}
	}
	for name, r := range w.fleet.Resellers {
		if r != nil {
			mark(plan.ResellerAddress(name), r.Protect)
		}
	}
	return w.st.UpdateProtected(context.WithoutCancel(ctx), add, remove)
}

// touchesDNS reports whether a plan changes records the nameservers serve: accounts
// and resellers (their zones), mail placement, links and the DNS cluster.
func touchesDNS(p *plan.Plan) bool {
	for _, c := range p.Changes {
		if a := c.Addr(); a.OwnsZones() || a.IsDNS() {
			return true
		}
	}
	return false
}

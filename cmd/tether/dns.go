package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/workspace"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

func init() { subcommands = append(subcommands, newDNSCmd) }

func newDNSCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Check and manage the fleet's DNS clusters",
	}
	cmd.AddCommand(newDNSVerifyCmd(c), newDNSEnableCmd(c))
	return cmd
}

func newDNSVerifyCmd(c *cli) *cobra.Command {
	var (
		cf     connFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "verify [PATH] [--sandbox]",
		Short: "Query every nameserver for every account's names and check what the fleet implies",
		Long: `For every account: the apex and www must resolve to its parent; mail., webmail. and
the MX target to its mail child when the account is distributed, to the parent
otherwise. Each server is asked only about the zones it holds: every parent about its
own accounts, every enabled member of a DNS cluster about its parent's accounts.
Members out of their cluster are skipped and named: rfc2136 members Tether disabled
after too many failed commands (from Tether's state), and cpanel members WHM disabled
(one read of each parent's DNS cluster status screen). Each mismatch is reported by
member and name. Exit 1 on any mismatch.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			w, err := c.open(cmd.Context(), cmd, path, cf)
			if err != nil {
				return err
			}
			defer w.Close()
			n, err := verifyDNS(cmd.Context(), cmd.OutOrStdout(), w.Fleet, w.Session, format)
			if err != nil {
				return err
			}
			if n > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cf.register(cmd)
	formatFlag(cmd, &format, "text", "json")
	return cmd
}

// verifyDNS queries the fleet's nameservers and prints the result; it returns the
// number of mismatches.
func verifyDNS(ctx context.Context, w io.Writer, fleet *schema.Fleet, sess *session.Session, format string) (int, error) {
	r, err := workspace.Verify(ctx, fleet, sess)
	if err != nil {
		return 0, err
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return len(r.Mismatches), enc.Encode(r)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	for _, m := range r.Mismatches {
		fmt.Fprintln(w, m.String())
	}
	fmt.Fprintln(w, r.Summary)
	return len(r.Mismatches), nil
}

// enableJSON is `tether dns enable --format json`.
type enableJSON struct {
	Member string `json:"member"` // PARENT/MEMBER
	// Where it was re-enabled: "state" (Tether's state, rfc2136) or "whm" (the
	// parent's DNS cluster screen, cpanel).
	Where               string     `json:"where"`
	WasDisabled         bool       `json:"was_disabled"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	Apply               *applyJSON `json:"apply"` // whm: the one-change apply; null for state
	Summary             string     `json:"summary"`
}

func newDNSEnableCmd(c *cli) *cobra.Command {
	var cf connFlags
	var path, format string
	cmd := &cobra.Command{
		Use:   "enable MEMBER [--fleet PATH] [--sandbox]",
		Short: "Re-enable a DNS cluster member that was disabled after too many failures",
		Long: `A member disabled after more consecutive failures than the cluster's failureThreshold
stays out until an operator says otherwise. MEMBER is the member's name in the fleet, or
PARENT/MEMBER (or dns.PARENT.member.MEMBER) when two clusters have a member of that name.

An rfc2136 member is re-enabled in Tether's state: its failure count is cleared, and the
next apply compares and rewrites all of its parent's zones on it before it is trusted.
A cpanel member is re-enabled in its parent's WHM (the DNS cluster screen's enable), as
a one-change plan that is printed, then applied.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, "text", "json"); err != nil {
				return err
			}
			fleet, err := load(cmd, path)
			if err != nil {
				return err
			}
			parent, name, m, err := workspace.FindMember(fleet, args[0])
			if err != nil {
				return err
			}
			so := c.sessionOptionsFor(cmd, path, cf)
			if workspace.EnabledInState(m) {
				// Only Tether's state knows this member is out: no server is contacted.
				st, err := session.OpenState(so)
				if err != nil {
					return err
				}
				defer st.Close()
				return enableInState(cmd, st, parent, name, m, format)
			}
			sess, err := session.Open(cmd.Context(), fleet, so)
			if err != nil {
				return err
			}
			defer sess.Close()
			return c.enableWHM(cmd, sess, fleet, parent, name, format)
		},
	}
	cmd.Flags().StringVar(&path, "fleet", ".", "the fleet's file or folder")
	cmd.Flags().BoolVar(&cf.sandbox, "sandbox", false, "the member belongs to the sandbox's fleet")
	cmd.ValidArgsFunction = fleetNames("fleet", memberNames)
	formatFlag(cmd, &format, "text", "json")
	cmd.Flags().StringVar(&cf.sandboxState, "sandbox-state", "", "the sandbox's state folder (default .tether/sandbox next to the fleet)")
	return cmd
}

func enableInState(cmd *cobra.Command, st providers.State, parent, name string, m *schema.Member, format string) error {
	was, err := workspace.EnableState(cmd.Context(), st, parent, name, m)
	if err != nil {
		return err
	}
	id, out := parent+"/"+name, cmd.OutOrStdout()
	if format == "json" {
		doc := enableJSON{Member: id, Where: "state", WasDisabled: was.Disabled, ConsecutiveFailures: was.ConsecutiveFailures,
			Summary: id + " enabled; the next apply resynchronises it"}
		return writeJSON(out, doc)
	}
	if !was.Disabled {
		fmt.Fprintf(out, "%s was not disabled (%d consecutive failed commands); its count is reset\n", id, was.ConsecutiveFailures)
		return nil
	}
	fmt.Fprintf(out, "%s enabled (it was disabled after %d consecutive failed commands); the next apply resynchronises it before it is trusted\n", id, was.ConsecutiveFailures)
	return nil
}

// enableWHM prints and applies the one-change plan that re-enables a cpanel member in
// its parent's WHM.
func (c *cli) enableWHM(cmd *cobra.Command, sess *session.Session, fleet *schema.Fleet, parent, name, format string) error {
	out := cmd.OutOrStdout()
	planned := func(p *plan.Plan) error { return c.renderPlan(out, p, "text") }
	if format == "json" {
		planned = func(*plan.Plan) error { return nil }
	}
	p, res, err := workspace.EnableWHM(cmd.Context(), sess, fleet, parent, name, workspace.EnableOptions{
		Retry: c.retry, Events: c.events(cmd.ErrOrStderr()), Planned: planned,
	})
	if format == "json" {
		if p == nil {
			return err // an errors document
		}
		doc := enableJSON{Member: parent + "/" + name, Where: "whm", WasDisabled: len(p.Changes) > 0, Apply: newApplyJSON(p, res, err)}
		doc.Summary = doc.Apply.Summary
		if len(p.Changes) == 0 && err == nil {
			doc.Summary = strings.Join(p.Warnings, " ")
		}
		if werr := writeJSON(out, doc); werr != nil {
			return werr
		}
		if !doc.Apply.Converged {
			return exitError{code: 1}
		}
		return nil
	}
	if p != nil && len(p.Changes) == 0 && err == nil {
		for _, w := range p.Warnings {
			fmt.Fprintln(out, w)
		}
		return nil
	}
	if res != nil {
		report(out, res)
	}
	if err != nil && res != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "Error:", strings.TrimSpace(err.Error()))
		return exitError{code: 1}
	}
	return err
}

package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/reconciler/plan"
)

func init() { subcommands = append(subcommands, newAdoptCmd) }

// adoptJSON is `tether adopt --format json`.
type adoptJSON struct {
	Adopted []plan.Adoptable `json:"adopted"`
	Summary string           `json:"summary"`
}

func newAdoptCmd(c *cli) *cobra.Command {
	var (
		cf     connFlags
		path   string
		all    bool
		format string
	)
	cmd := &cobra.Command{
		Use:   "adopt ADDRESS... | --all [--fleet PATH] [--sandbox]",
		Short: "Take objects the fleet declares, found on the servers, into Tether's inventory",
		Long: `Tether removes (with policy.prune on) only what it created: objects that existed before
it are never pruned, even once the fleet declares them. Adopting one records it in
Tether's inventory, as if Tether had created it, so that it is removed when it later
leaves the fleet. ADDRESS is account.USER, reseller.USER, node.CHILD,
dns.PARENT.cluster or dns.PARENT.member.NAME; --all adopts every object the plan lists
as adoptable. Only what the fleet declares and the servers hold where the fleet puts it
can be adopted: the servers are read first, and an address that does not qualify is
refused with the reason (nothing is adopted then). Nothing is ever adopted silently.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, "text", "json"); err != nil {
				return err
			}
			if all == (len(args) > 0) {
				return fmt.Errorf("adopt: name the addresses to adopt, or --all (not both)")
			}
			ctx := cmd.Context()
			w, err := c.open(ctx, cmd, path, cf)
			if err != nil {
				return err
			}
			defer w.Close()
			got, err := w.Adopt(ctx, args, all, cf.parallelism)
			if err != nil && format == "json" {
				return err // an errors document
			}
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "Error:", err)
				return exitError{code: 1}
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(adoptJSON{Adopted: append([]plan.Adoptable{}, got...), Summary: fmt.Sprintf("Adopted %d object(s).", len(got))})
			}
			if len(got) == 0 {
				fmt.Fprintln(out, "Nothing to adopt: every object the fleet declares on the servers is already Tether's.")
				return nil
			}
			for _, a := range got {
				fmt.Fprintf(out, "adopted %s on %s\n", a.Address, a.Target)
			}
			fmt.Fprintf(out, "Adopted %d object(s): with policy.prune on, each is removed once it leaves the fleet (unless protected).\n", len(got))
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&path, "fleet", ".", "the fleet's file or folder")
	cmd.ValidArgsFunction = fleetNames("fleet", addresses)
	cmd.Flags().BoolVar(&all, "all", false, "adopt every adoptable object")
	formatFlag(cmd, &format, "text", "json")
	return cmd
}

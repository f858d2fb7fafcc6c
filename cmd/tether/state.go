package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/state"
)

func init() { subcommands = append(subcommands, newStateCmd) }

func newStateCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Look at Tether's state: the parents' writer locks",
	}
	cmd.AddCommand(newStateLocksCmd(c), newStateUnlockCmd(c))
	return cmd
}

// stateFlags choose the state as every command does: --state, $TETHER_STATE, or
// the folder next to the fleet (in the sandbox's folder with --sandbox).
type stateFlags struct {
	state        string
	sandbox      bool
	sandboxState string
}

func (f *stateFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.state, "state", "", "where Tether's state is: etcd://HOST:2379[,HOST…]/PREFIX or a folder (default $TETHER_STATE, else the folder next to the fleet)")
	cmd.Flags().BoolVar(&f.sandbox, "sandbox", false, "the sandbox's state (.tether/sandbox next to the fleet, or --sandbox-state)")
	cmd.Flags().StringVar(&f.sandboxState, "sandbox-state", "", "the sandbox's state folder")
}

func (f stateFlags) admin(c *cli, path string) (state.Store, state.LockAdmin, error) {
	st, err := session.OpenState(c.sessionOptions(session.Options{FleetPath: path, StateURL: f.state, Sandbox: f.sandbox, SandboxState: f.sandboxState}))
	if err != nil {
		return nil, nil, err
	}
	a, ok := st.(state.LockAdmin)
	if !ok {
		st.Close()
		return nil, nil, fmt.Errorf("state %T cannot list its locks", st)
	}
	return st, a, nil
}

func newStateLocksCmd(c *cli) *cobra.Command {
	var sf stateFlags
	cmd := &cobra.Command{
		Use:   "locks [FLEET]",
		Short: "List the parents' writer locks and who holds them",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			st, a, err := sf.admin(c, path)
			if err != nil {
				return err
			}
			defer st.Close()
			ls, err := a.Locks(cmd.Context())
			if err != nil {
				return err
			}
			if len(ls) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No parent is locked.")
				return nil
			}
			for _, l := range ls {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\theld by %s\n", l.Parent, l.Holder)
			}
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}

func newStateUnlockCmd(c *cli) *cobra.Command {
	var sf stateFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "unlock PARENT [FLEET]",
		Short: "Break a parent's writer lock (etcd: its holder stops starting changes)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "."
			if len(args) == 2 {
				path = args[1]
			}
			st, a, err := sf.admin(c, path)
			if err != nil {
				return err
			}
			defer st.Close()
			if !yes {
				if !c.terminal(cmd.InOrStdin()) {
					return fmt.Errorf("unlock needs confirmation and standard input is not a terminal; run again with --yes")
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Break the lock of %s? Its holder may be applying changes. Only 'yes' will be accepted: ", args[0])
				answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if strings.TrimSpace(answer) != "yes" {
					fmt.Fprintln(cmd.ErrOrStderr(), "Unlock cancelled.")
					return exitError{code: 1}
				}
			}
			if err := a.BreakLock(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "The lock of %s is broken.\n", args[0])
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&yes, "yes", false, "break the lock without asking")
	return cmd
}

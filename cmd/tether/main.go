// Command tether reconciles cPanel & WHM fleets kept as code. This package is wiring
// only: flags, and calls into schema, reconciler, providers and internal packages.
// Each subcommand lives in its own file and adds itself to subcommands in init().
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/cueguard"
	"github.com/tether-dev/tether/internal/redact"
)

// subcommands is filled by each command's file, so adding a command touches one file.
var subcommands []func() *cobra.Command

// argRewriters adjust the raw arguments before cobra parses them, for the few
// contract spellings pflag cannot express (Terraform's single-dash `-out FILE`).
var argRewriters []func([]string) []string

// exitError ends the process with a code without printing anything more: the command
// has already reported what happened.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "tether",
		Short: "Keep a cPanel & WHM fleet as code: validate, plan, apply, watch",
		Long: `Tether reconciles cPanel & WHM fleets — parents, linked child nodes, distributed
accounts, resellers and DNS clusters — from CUE or YAML kept in a git repository.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, sub := range subcommands {
		root.AddCommand(sub())
	}
	return root
}

func main() {
	// The watch daemon evaluates CUE in a copy of this binary it can stop; that copy
	// does its one job here and exits.
	cueguard.RunChildIfAsked()
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the exit code: 0 success (or no changes),
// 1 error, 2 changes present (plan --detailed-exitcode).
func run(args []string) int {
	root := newRoot()
	for _, rw := range argRewriters {
		args = rw(args)
	}
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "Error:", redact.Text(err.Error()))
	return 1
}

package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

func init() { subcommands = append(subcommands, plain(newValidateCmd)) }

// validateReport is the --format json output; editors and CI match on it.
type validateReport struct {
	Valid    bool                `json:"valid"`
	Summary  string              `json:"summary"` // always: what the fleet holds, or how many problems
	Problems []schema.Diagnostic `json:"problems"`
}

func newValidateCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "validate [PATH]",
		Short: "Load a fleet (file or folder) and check every rule; exit 1 if anything is wrong",
		Long: `Load a fleet from a file or a folder of *.yaml, *.yml and *.cue files and check it
against the schema and every rule (TETHER-XNN ids, listed in the README). Nothing is
contacted. Prints a one-line summary and exits 0 when the fleet is valid; otherwise
prints one line per problem, FILE:LINE:COL: RULE: message (fix), and exits 1.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, "text", "json"); err != nil {
				return err
			}
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			f, ds, err := schema.Load(path)
			if err != nil {
				return fmt.Errorf("validate %s: %w", path, err)
			}
			if len(ds) == 0 {
				// What the fleet asks of the providers, by their declared capabilities.
				ds = providers.Check(f)
			}
			out := cmd.OutOrStdout()
			rep := validateReport{Valid: len(ds) == 0, Problems: ds}
			if rep.Valid {
				rep.Summary = schema.Summary(f)
			} else {
				rep.Summary = problemCount(len(ds)) + "; the fleet is not valid"
			}
			if rep.Problems == nil {
				rep.Problems = []schema.Diagnostic{}
			}
			if format == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return fmt.Errorf("validate %s: write JSON: %w", path, err)
				}
			} else if rep.Valid {
				fmt.Fprintln(out, rep.Summary)
			} else {
				for _, d := range ds {
					fmt.Fprintln(out, d.String())
				}
				// The count goes to stderr: stdout is exactly one line per problem.
				fmt.Fprintln(cmd.ErrOrStderr(), problemCount(len(ds)))
			}
			if !rep.Valid {
				return exitError{code: 1}
			}
			return nil
		},
	}
	formatFlag(cmd, &format, "text", "json")
	return cmd
}

func problemCount(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}

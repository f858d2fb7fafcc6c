package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/reconciler/planfile"
)

func init() { subcommands = append(subcommands, newShowCmd) }

// newShowCmd is Terraform's `show PLANFILE`: a saved plan, read back without
// contacting anything.
func newShowCmd(c *cli) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "show PLANFILE [--format text|json|markdown]",
		Short: "Print a saved plan (tether plan -out FILE) without contacting anything",
		Long: `Print the plan saved by ` + "`tether plan -out FILE`" + ` as plan prints it: text, JSON (the
same document as plan --format json) or Markdown (a pull request comment). Nothing is
read but the file; ` + "`tether apply FILE`" + ` checks it against the fleet and the servers.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, planFormats...); err != nil {
				return err
			}
			f, err := planfile.Read(args[0])
			if err != nil {
				return err
			}
			if format == "text" {
				src := f.Fleet.Path
				if f.Fleet.Commit != "" {
					src += " at commit " + shortCommit(f.Fleet.Commit)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Saved plan %s, made %s from %s.\n\n", args[0], f.Created.Format("2006-01-02 15:04:05 MST"), src)
			}
			return c.renderPlan(cmd.OutOrStdout(), f.Plan, format)
		},
	}
	formatFlag(cmd, &format, planFormats...)
	return cmd
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

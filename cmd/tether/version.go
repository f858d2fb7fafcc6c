package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/version"
)

func init() { subcommands = append(subcommands, plain(newVersionCmd)) }

func newVersionCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [--format text|json]",
		Short: "Print Tether's version, commit and build date",
		Long: `Print the version, the git commit and its date: stamped into release builds, else
what the Go toolchain recorded (a build from a work tree says "(devel)" and its commit).
` + "`tether --version`" + ` prints the same line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := version.Get()
			switch format {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(in)
			case "text":
				_, err := fmt.Fprintln(cmd.OutOrStdout(), in.String())
				return err
			default:
				return fmt.Errorf("--format %q: want text or json", format)
			}
		},
	}
	formatFlag(cmd, &format, "text", "json")
	return cmd
}

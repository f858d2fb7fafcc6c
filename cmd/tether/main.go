// Command tether reconciles cPanel & WHM fleets kept as code. This package is wiring
// only: flags, and calls into schema, reconciler, providers and internal packages.
// Each subcommand lives in its own file and adds itself to subcommands in init().
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tether-dev/tether/internal/cueguard"
	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/redact"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/internal/version"
)

// subcommands is filled by each command's file, so adding a command touches one file.
var subcommands []func(*cli) *cobra.Command

// plain registers a command that needs none of cli's choices.
func plain(f func() *cobra.Command) func(*cli) *cobra.Command {
	return func(*cli) *cobra.Command { return f() }
}

// cli is what the commands are built with: the command line's defaults in main, and
// shorter timings, fake terminals and observers in tests. It replaces package
// variables, so two command lines built in one process do not share them.
type cli struct {
	// session adjusts every session's options (tests shorten the sandbox's tasks).
	session func(*session.Options)
	// retry is the engine's retry policy (zero: the engine's default).
	retry engine.Retry
	// onEvent, when set, also sees every apply event (tests inject faults mid-run).
	onEvent func(engine.Event)
	// signals end an apply gracefully: nothing new starts, running changes end.
	signals []os.Signal
	// importEvery is how often a long import says how far it got.
	importEvery time.Duration
	// terminal reports whether a stream is a terminal.
	terminal func(any) bool
	// noColor is --no-color; logFormat is --log-format (text or json).
	noColor   bool
	logFormat string
}

func defaultCLI() *cli {
	return &cli{
		signals:     []os.Signal{os.Interrupt, syscall.SIGTERM},
		importEvery: 3 * time.Second,
		terminal: func(rw any) bool {
			f, ok := rw.(*os.File)
			return ok && term.IsTerminal(int(f.Fd()))
		},
	}
}

// sessionOptions are a command's session options, adjusted as c says.
func (c *cli) sessionOptions(o session.Options) session.Options {
	if c.session != nil {
		c.session(&o)
	}
	return o
}

// exitError ends the process with a code without printing anything more: the command
// has already reported what happened.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRoot(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:   "tether",
		Short: "Keep a cPanel & WHM fleet as code: validate, plan, apply, watch",
		Long: `Tether reconciles cPanel & WHM fleets — parents, linked child nodes, distributed
accounts, resellers and DNS clusters — from CUE or YAML kept in a git repository.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// The locks a command takes name it ("tether apply"), whatever the binary is
		// called or how it was started.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetContext(state.WithHolder(cmd.Context(), state.Holder{Command: cmd.CommandPath()}))
			return c.checkLogFormat()
		},
		// --version prints what `tether version` prints.
		Version: version.Get().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().BoolVar(&c.noColor, "no-color", false, "print no colours (also when NO_COLOR is set; colours are only ever used on a terminal)")
	root.PersistentFlags().StringVar(&c.logFormat, "log-format", "", "how progress and logs are written to stderr off a terminal: text (one readable line per change; the default, but for watch) or json (one JSON object per line, for machines; watch's default)")
	completeValues(root, "log-format", "text", "json")
	for _, sub := range subcommands {
		root.AddCommand(sub(c))
	}
	return root
}

func main() {
	// The watch daemon evaluates CUE in a copy of this binary it can stop; that copy
	// does its one job here and exits.
	cueguard.RunChildIfAsked()
	stop := startProfiles()
	code := run(defaultCLI(), os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code: 0 success (or no changes),
// 1 error, 2 changes present (plan --detailed-exitcode).
func run(c *cli, args []string) int {
	return runCommand(context.Background(), newRoot(c), args)
}

// runCommand runs args on root (from newRoot, its streams set) and returns the exit code.
// Single-dash long flags are normalised first. An error the command did not report
// itself is written as the command was asked: an errorJSON document on stdout under
// --format json, else "Error: …" on stderr; redacted either way.
func runCommand(ctx context.Context, root *cobra.Command, args []string) int {
	root.SetArgs(normaliseFlags(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if wantsJSON(cmd) && writeErrorJSON(cmd.OutOrStdout(), err) == nil {
		return 1
	}
	fmt.Fprintln(root.ErrOrStderr(), "Error:", redact.Text(err.Error()))
	return 1
}

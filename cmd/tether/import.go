package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/workspace"
	"github.com/tether-dev/tether/schema"
)

func init() { subcommands = append(subcommands, newImportCmd) }

func newImportCmd(c *cli) *cobra.Command {
	var (
		cf      connFlags
		outDir  string
		format  string
		splitBy string
		force   bool
		adopt   bool
	)
	cmd := &cobra.Command{
		Use:   "import [PATH] [--sandbox] [--out DIR] [--format yaml|cue] [--split-by parent]",
		Short: "Write fleet code for a live fleet, starting from its parents",
		Long: `PATH holds the parents you know: nodes with role parent, host and credentials.
Tether reads each parent through the same provider code as plan — its linked children,
resellers, accounts and DNS cluster — and writes a complete fleet to --out: stable
order, defaults left out, comments where something could not be read. Credentials
stay references; no secret is written. The import ends with the validate report of the
result, so rule violations already on the servers are seen at once.

Nothing imported is Tether's to remove until it is adopted: --adopt records every
imported object in Tether's inventory once the imported fleet is valid (or run
` + "`tether adopt`" + ` on --out later). An --out folder that already holds fleet files is
refused without --force.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "yaml" && format != "cue" {
				return fmt.Errorf("--format %q: want yaml or cue", format)
			}
			if splitBy != "" && splitBy != "parent" {
				return fmt.Errorf("--split-by %q: only parent is supported", splitBy)
			}
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			ctx := cmd.Context()
			stderr := cmd.ErrOrStderr()
			declared, err := load(cmd, path)
			if err != nil {
				return err
			}
			if n := len(declared.Accounts) + len(declared.Resellers) + len(declared.DNSClusters); n > 0 {
				fmt.Fprintf(stderr, "note: %s declares %d account(s), reseller(s) or cluster(s); import ignores them and reads everything from the servers\n", path, n)
			}
			if !hasParent(declared) {
				return fmt.Errorf("%s declares no parent: import starts from nodes with role parent, host and credentials", path)
			}
			sess, err := session.Open(ctx, declared, c.sessionOptionsFor(cmd, path, cf))
			if err != nil {
				return err
			}
			var closeOnce sync.Once
			closeSession := func() { closeOnce.Do(func() { sess.Close() }) }
			defer closeSession()
			start := time.Now()
			// The same bound as plan and apply (--parallelism): servers read at once.
			prog := &workspace.ImportCounter{}
			stop := importProgress(ctx, stderr, prog, start, c.importEvery)
			res, errs := workspace.Import(ctx, sess, declared, cf.parallelism, prog)
			stop()
			for _, e := range errs {
				fmt.Fprintf(stderr, "error: %v\n", e)
			}
			if res == nil {
				return exitError{code: 1}
			}
			files, err := workspace.WriteImport(outDir, res, format, splitBy, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Imported %s in %s into %s\n", schema.Summary(res.Fleet), time.Since(start).Round(time.Millisecond), strings.Join(files, ", "))
			for _, n := range res.Notes {
				fmt.Fprintf(cmd.OutOrStdout(), "  to do: %s\n", n)
			}
			// The validate report of what was written: positions in the new files.
			_, ds, err := schema.Load(outDir)
			if err != nil {
				return err
			}
			if len(ds) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "\nThe imported fleet has %s, as the servers stand today (debt to pay before it validates):\n", problemCount(len(ds)))
				for _, d := range ds {
					fmt.Fprintln(cmd.OutOrStdout(), d.String())
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "The imported fleet is valid: `tether plan%s %s` should report no changes.\n", cf.sandboxArgs(), outDir)
			}
			if adopt {
				// Adopting reads the servers again through --out's own workspace (the
				// sandbox serves one command at a time).
				closeSession()
				if err := adoptImported(ctx, c, cmd, outDir, cf, len(ds) > 0); err != nil {
					return err
				}
			}
			if len(errs) > 0 {
				fmt.Fprintf(stderr, "%d part(s) of the fleet could not be read; the import is incomplete\n", len(errs))
				return exitError{code: 1}
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&outDir, "out", "imported", "folder to write the fleet to")
	cmd.Flags().StringVar(&format, "format", "yaml", "output format: yaml or cue")
	cmd.Flags().StringVar(&splitBy, "split-by", "", "parent: write one file per parent (fleet.* for the rest) instead of a single fleet file")
	cmd.Flags().BoolVar(&force, "force", false, "write into an --out folder that already holds fleet files (overwriting the ones import writes)")
	cmd.Flags().BoolVar(&adopt, "adopt", false, "record every imported object in Tether's inventory (as tether adopt --all on --out), so that pruning may later remove what leaves the fleet")
	return cmd
}

func hasParent(f *schema.Fleet) bool {
	for _, n := range f.Nodes {
		if n.Role == schema.RoleParent {
			return true
		}
	}
	return false
}

// importProgress prints, every few seconds, how many servers have been read and how
// many accounts they held; long imports of thousands of accounts should not look
// hung, and a slow parent shows as the count that stops moving.
func importProgress(ctx context.Context, w interface{ Write([]byte) (int, error) }, c *workspace.ImportCounter, start time.Time, every time.Duration) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				line := fmt.Sprintf("import: read %d of %d server(s), %d account(s) so far", c.Done.Load(), c.Total.Load(), c.Accounts.Load())
				if f := c.Failed.Load(); f > 0 {
					line += fmt.Sprintf(", %d failed", f)
				}
				fmt.Fprintf(w, "%s… %s\n", line, time.Since(start).Round(time.Second))
			}
		}
	}()
	// Stopping waits for the printer, so no progress line follows the summary.
	return func() { close(done); <-finished }
}

// adoptImported adopts everything the imported fleet declares that the servers hold,
// through the same path as tether adopt --all, and says how much.
func adoptImported(ctx context.Context, c *cli, cmd *cobra.Command, outDir string, cf connFlags, invalid bool) error {
	if invalid {
		fmt.Fprintf(cmd.ErrOrStderr(), "Nothing was adopted: the imported fleet is not valid yet; fix it, then run tether adopt --all --fleet %s\n", outDir)
		return exitError{code: 1}
	}
	w, err := c.open(ctx, cmd, outDir, cf)
	if err != nil {
		return err
	}
	defer w.Close()
	got, err := w.Adopt(ctx, nil, true, cf.parallelism)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Adopted %d object(s) into Tether's inventory: with policy.prune on, what leaves the fleet may now be removed.\n", len(got))
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/dnsverify"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/rfc2136"
	"github.com/tether-dev/tether/schema"
)

func init() { subcommands = append(subcommands, newDNSCmd) }

func newDNSCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Check and manage the fleet's DNS clusters",
	}
	cmd.AddCommand(newDNSVerifyCmd(), newDNSEnableCmd())
	return cmd
}

func newDNSVerifyCmd() *cobra.Command {
	var (
		cf     connFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "verify [PATH] [--sandbox]",
		Short: "Query every nameserver for every account's names and check what the fleet implies",
		Long: `For every account: the apex and www must resolve to its parent; mail., webmail. and
the MX target to its mail child when the account is distributed, to the parent
otherwise. Every enabled member of every DNS cluster is asked, and every parent.
Each mismatch is reported by member and name. Exit 1 on any mismatch.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			fleet, _, err := load(cmd, path)
			if err != nil {
				return err
			}
			so := session.Options{FleetPath: path, Sandbox: cf.sandbox, SandboxState: cf.sandboxState, Logger: newLogger(cmd.ErrOrStderr())}
			sandboxOptions(&so)
			sess, err := session.Open(cmd.Context(), fleet, so)
			if err != nil {
				return err
			}
			defer sess.Close()
			n, err := verifyDNS(cmd.Context(), cmd.OutOrStdout(), fleet, sess.Config.Endpoints, stateDirFor(path, cf), format)
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
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	return cmd
}

// verifyDNS queries the fleet's nameservers and prints the result; it returns the
// number of mismatches.
func verifyDNS(ctx context.Context, w io.Writer, fleet *schema.Fleet, eps map[string]providers.Endpoint, stateDir, format string) (int, error) {
	targets, skipped := dnsTargets(fleet, eps, stateDir)
	mism := dnsverify.Verify(ctx, fleet, targets, dnsverify.Options{})
	names := len(dnsverify.Expectations(fleet))
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return len(mism), enc.Encode(map[string]any{"servers": len(targets), "checks": names * len(targets), "skipped": skipped, "mismatches": mism})
	}
	for _, s := range skipped {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	for _, m := range mism {
		fmt.Fprintln(w, m.String())
	}
	if len(mism) == 0 {
		fmt.Fprintf(w, "DNS OK: %d server(s) answer %d name(s) as the fleet implies\n", len(targets), names)
	} else {
		fmt.Fprintf(w, "DNS: %d mismatch(es) on %d server(s)\n", len(mism), len(targets))
	}
	return len(mism), nil
}

// dnsTargets lists the servers to ask: every parent, and every enabled member of an
// enabled cluster. Members Tether disabled after failures are skipped and named.
func dnsTargets(fleet *schema.Fleet, eps map[string]providers.Endpoint, stateDir string) ([]dnsverify.Target, []string) {
	var out []dnsverify.Target
	var skipped []string
	addrOf := func(node string) string {
		if ep, ok := eps[node]; ok && ep.DNS != "" {
			return ep.DNS
		}
		n := fleet.Nodes[node]
		if n == nil {
			return ""
		}
		if n.IPv4 != "" {
			return net.JoinHostPort(n.IPv4, "53")
		}
		if n.Host != "" {
			return net.JoinHostPort(n.Host, "53")
		}
		return ""
	}
	for name, n := range fleet.Nodes {
		if n.Role == schema.RoleParent {
			if a := addrOf(name); a != "" {
				out = append(out, dnsverify.Target{Member: name + " (parent)", Addr: a})
			}
		}
	}
	store := rfc2136.NewFileStore(filepath.Join(stateDir, "rfc2136.json"))
	for parent, c := range fleet.DNSClusters {
		if !c.Enabled {
			skipped = append(skipped, fmt.Sprintf("the DNS cluster of %s: disabled in the fleet", parent))
			continue
		}
		for name, m := range c.Members {
			switch m.BackendName() {
			case schema.BackendRFC2136:
				if h, err := store.Health(parent + "/" + name); err == nil && h.Disabled {
					skipped = append(skipped, fmt.Sprintf("%s: disabled after %d failures (tether dns enable %s)", name, h.Failures, name))
					continue
				}
				out = append(out, dnsverify.Target{Member: name, Addr: m.Address})
			default:
				if a := addrOf(m.Node); a != "" {
					out = append(out, dnsverify.Target{Member: name, Addr: a})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Member < out[j].Member })
	sort.Strings(skipped)
	return out, skipped
}

// stateDirFor is where Tether's state for a fleet lives: next to the fleet, or inside
// the sandbox's folder so the sandbox never shares state with the real fleet.
func stateDirFor(path string, cf connFlags) string {
	return session.StateDirFor(path, cf.sandbox, cf.sandboxState)
}

func newDNSEnableCmd() *cobra.Command {
	var cf connFlags
	var path string
	cmd := &cobra.Command{
		Use:   "enable MEMBER [--fleet PATH]",
		Short: "Re-enable a DNS cluster member that was disabled after too many failures",
		Long: `A member disabled after more consecutive failures than the cluster's failureThreshold
stays out until an operator says otherwise. This clears its failure count; a sync member
is compared in full and rewritten on the next apply before it is trusted again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fleet, _, err := load(cmd, path)
			if err != nil {
				return err
			}
			ids, err := rfc2136.MemberIDs(fleet, args[0])
			if err != nil {
				return err
			}
			store := rfc2136.NewFileStore(filepath.Join(stateDirFor(path, cf), "rfc2136.json"))
			for _, id := range ids {
				if err := rfc2136.Enable(store, id); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s enabled; the next apply resynchronises it before it is trusted\n", id)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "fleet", ".", "the fleet's file or folder")
	cmd.Flags().BoolVar(&cf.sandbox, "sandbox", false, "the member belongs to the sandbox's fleet")
	cmd.Flags().StringVar(&cf.sandboxState, "sandbox-state", "", "the sandbox's state folder")
	return cmd
}

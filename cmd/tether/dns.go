package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/dnsverify"
	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/rfc2136"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/plan"
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
			fleet, _, err := load(cmd, path)
			if err != nil {
				return err
			}
			so := cf.sessionOptions(path, newLogger(cmd.ErrOrStderr()))
			sandboxOptions(&so)
			sess, err := session.Open(cmd.Context(), fleet, so)
			if err != nil {
				return err
			}
			defer sess.Close()
			n, err := verifyDNS(cmd.Context(), cmd.OutOrStdout(), fleet, sess.Config.Endpoints, sess.State, sess.Providers, format)
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
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// verifyDNS queries the fleet's nameservers and prints the result; it returns the
// number of mismatches.
func verifyDNS(ctx context.Context, w io.Writer, fleet *schema.Fleet, eps map[string]providers.Endpoint, st providers.State, provs map[string]providers.Provider, format string) (int, error) {
	health, err := st.Health(ctx)
	if err != nil {
		return 0, fmt.Errorf("read the DNS members' health: %w", err)
	}
	whmOff, notes := whmDisabled(ctx, fleet, provs[reconciler.ProviderWHM])
	targets, skipped := dnsTargets(fleet, eps, health, whmOff)
	mism := dnsverify.Verify(ctx, fleet, targets, dnsverify.Options{})
	checks := dnsverify.Checks(dnsverify.Expectations(fleet), targets)
	summary := fmt.Sprintf("DNS OK: %d server(s) answer %d question(s) about their own zones as the fleet implies", len(targets), checks)
	if len(mism) > 0 {
		summary = fmt.Sprintf("DNS: %d mismatch(es) on %d server(s)", len(mism), len(targets))
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return len(mism), enc.Encode(dnsVerifyReport{Servers: len(targets), Checks: checks,
			Skipped: nonNil(skipped), Notes: nonNil(notes), Mismatches: nonNil(mism), Summary: summary})
	}
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, s := range skipped {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	for _, m := range mism {
		fmt.Fprintln(w, m.String())
	}
	fmt.Fprintln(w, summary)
	return len(mism), nil
}

// dnsVerifyReport is `tether dns verify --format json` (reconciler/render/JSON.md).
type dnsVerifyReport struct {
	Servers    int                  `json:"servers"`
	Checks     int                  `json:"checks"`
	Skipped    []string             `json:"skipped"`
	Notes      []string             `json:"notes"`
	Mismatches []dnsverify.Mismatch `json:"mismatches"`
	Summary    string               `json:"summary"`
}

// nonNil makes an empty list [] in JSON rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// clusterReader reads a parent's DNS cluster from WHM's status screen, once per
// parent (providers/whm).
type clusterReader interface {
	DNSCluster(ctx context.Context, parent string, desired *schema.Fleet) (*schema.DNSCluster, error)
}

// whmDisabled asks each parent whose enabled cluster has cpanel members which of them
// WHM has disabled: one read of its cluster status screen per parent, nothing per
// account. It returns them as "PARENT/MEMBER"; a parent whose screen cannot be read
// gets a note, and its members are asked anyway.
func whmDisabled(ctx context.Context, fleet *schema.Fleet, whm providers.Provider) (map[string]bool, []string) {
	out := map[string]bool{}
	r, ok := whm.(clusterReader)
	if !ok {
		return out, nil
	}
	var notes []string
	for _, parent := range sortedKeys(fleet.DNSClusters) {
		c := fleet.DNSClusters[parent]
		if c == nil || !c.Enabled || !hasCPanelMember(c) {
			continue
		}
		cl, err := r.DNSCluster(ctx, parent, fleet)
		if err != nil {
			notes = append(notes, fmt.Sprintf("WHM's DNS cluster status of %s could not be read (%v); its cpanel members are asked, disabled by WHM or not", parent, err))
			continue
		}
		for name, m := range cl.Members {
			if m != nil && m.Disabled {
				out[parent+"/"+name] = true
			}
		}
	}
	return out, notes
}

func hasCPanelMember(c *schema.DNSCluster) bool {
	for _, m := range c.Members {
		if m != nil && m.BackendName() == schema.BackendCPanel {
			return true
		}
	}
	return false
}

// dnsTargets lists the servers to ask: every parent, and every enabled member of an
// enabled cluster. Members Tether disabled after failures, and cpanel members WHM
// disabled (whmOff, "PARENT/MEMBER"), are skipped and named.
func dnsTargets(fleet *schema.Fleet, eps map[string]providers.Endpoint, health map[string]state.Health, whmOff map[string]bool) ([]dnsverify.Target, []string) {
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
				out = append(out, dnsverify.Target{Member: name + " (parent)", Addr: a, Parents: []string{name}})
			}
		}
	}
	for parent, c := range fleet.DNSClusters {
		if !c.Enabled {
			skipped = append(skipped, fmt.Sprintf("the DNS cluster of %s: disabled in the fleet", parent))
			continue
		}
		for name, m := range c.Members {
			if m.Role == schema.DNSRoleStandalone {
				// The parent reads a standalone member's records and writes nothing to
				// it (DESIGN.md, DNS cluster roles): it holds none of the parent's zones.
				skipped = append(skipped, fmt.Sprintf("%s: a standalone member of %s's cluster receives none of its zones, not asked", name, parent))
				continue
			}
			switch m.BackendName() {
			case schema.BackendRFC2136:
				if h := health[parent+"/"+name]; h.Disabled {
					skipped = append(skipped, fmt.Sprintf("%s: disabled after %d consecutive failed commands, not asked (re-enable: tether dns enable %s)", name, h.ConsecutiveFailures, name))
					continue
				}
				out = append(out, dnsverify.Target{Member: name, Addr: m.Address, Parents: []string{parent}})
			default:
				if whmOff[parent+"/"+name] {
					skipped = append(skipped, fmt.Sprintf("%s: disabled by WHM on %s (its DNS cluster no longer replicates to it), not asked (re-enable: tether dns enable %s)", name, parent, name))
					continue
				}
				if a := addrOf(m.Node); a != "" {
					out = append(out, dnsverify.Target{Member: name, Addr: a, Parents: []string{parent}})
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
			fleet, _, err := load(cmd, path)
			if err != nil {
				return err
			}
			parent, name, m, err := findMember(fleet, args[0])
			if err != nil {
				return err
			}
			so := cf.sessionOptions(path, newLogger(cmd.ErrOrStderr()))
			if m.BackendName() == schema.BackendRFC2136 {
				// Only Tether's state knows this member is out: no server is contacted.
				st, err := session.OpenState(so)
				if err != nil {
					return err
				}
				defer st.Close()
				return enableRFC2136(cmd, st, parent, name)
			}
			sandboxOptions(&so)
			sess, err := session.Open(cmd.Context(), fleet, so)
			if err != nil {
				return err
			}
			defer sess.Close()
			return enableCPanel(cmd, sess, fleet, parent, name)
		},
	}
	cmd.Flags().StringVar(&path, "fleet", ".", "the fleet's file or folder")
	cmd.Flags().BoolVar(&cf.sandbox, "sandbox", false, "the member belongs to the sandbox's fleet")
	cmd.Flags().StringVar(&cf.sandboxState, "sandbox-state", "", "the sandbox's state folder (default .tether/sandbox next to the fleet)")
	return cmd
}

// findMember resolves a member as an operator types it: NAME, PARENT/NAME or
// dns.PARENT.member.NAME.
func findMember(fleet *schema.Fleet, arg string) (parent, name string, m *schema.Member, err error) {
	wantParent, wantName := "", arg
	if a, err := plan.ParseAddress(arg); err == nil && a.Kind == plan.KindMember {
		wantParent, wantName = a.Cluster, a.Name
	} else if p, n, ok := strings.Cut(arg, "/"); ok {
		wantParent, wantName = p, n
	}
	var found []string
	for _, p := range sortedKeys(fleet.DNSClusters) {
		c := fleet.DNSClusters[p]
		if c == nil || c.Members[wantName] == nil || (wantParent != "" && p != wantParent) {
			continue
		}
		found = append(found, p)
	}
	switch len(found) {
	case 0:
		return "", "", nil, fmt.Errorf("dns enable %s: no DNS cluster in the fleet has a member %s", arg, wantName)
	case 1:
		return found[0], wantName, fleet.DNSClusters[found[0]].Members[wantName], nil
	default:
		return "", "", nil, fmt.Errorf("dns enable %s: %s is a member of the clusters of %s; name one as PARENT/%s", arg, wantName, strings.Join(found, ", "), wantName)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func enableRFC2136(cmd *cobra.Command, st providers.State, parent, name string) error {
	id := parent + "/" + name
	all, err := st.Health(cmd.Context())
	if err != nil {
		return err
	}
	was := all[id]
	if err := rfc2136.Enable(rfc2136.StateStore{State: st}, id); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if !was.Disabled {
		fmt.Fprintf(out, "%s was not disabled (%d consecutive failed commands); its count is reset\n", id, was.ConsecutiveFailures)
		return nil
	}
	fmt.Fprintf(out, "%s enabled (it was disabled after %d consecutive failed commands); the next apply resynchronises it before it is trusted\n", id, was.ConsecutiveFailures)
	return nil
}

// enableCPanel reads the parent's DNS cluster and applies reconciler.EnableMember's
// one-change plan through the whm provider (WHM's enable-member screen).
func enableCPanel(cmd *cobra.Command, sess *session.Session, fleet *schema.Fleet, parent, name string) error {
	ctx := cmd.Context()
	whm := sess.Providers[reconciler.ProviderWHM]
	if whm == nil {
		return fmt.Errorf("dns enable %s: no whm provider registered", name)
	}
	observed, errs := engine.Observe(ctx, []providers.Provider{whm}, fleet, 1)
	if len(errs) > 0 {
		return fmt.Errorf("dns enable %s: read the DNS cluster of %s: %w", name, parent, errors.Join(errs...))
	}
	p, err := reconciler.EnableMember(fleet, observed, plan.MemberAddress(parent, name))
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if len(p.Changes) == 0 {
		for _, w := range p.Warnings {
			fmt.Fprintln(out, w)
		}
		return nil
	}
	if err := renderPlan(out, p, "text"); err != nil {
		return err
	}
	res, err := engine.Apply(ctx, p, sess.Providers, engine.ApplyOptions{
		State: sess.State, Locks: engine.Locks(p, nil), Retry: applyRetry, Events: events(cmd.ErrOrStderr()),
	})
	if res != nil {
		report(out, res)
	}
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "Error:", strings.TrimSpace(err.Error()))
		return exitError{code: 1}
	}
	return nil
}

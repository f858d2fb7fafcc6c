package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/watch"
	"github.com/tether-dev/tether/schema"
)

func newWatchStatusCmd() *cobra.Command {
	var stateDir, url, format string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what a watch daemon keeps in force: commit, last apply, drift, suspension, DNS members, per parent",
		Long: `Reads the status a watch daemon keeps in its --state-dir (status.json, written after
every round), or with --url asks the running daemon's /status endpoint
(http://127.0.0.1:9310 for the default --listen). The suspension is read from the
folder itself, so it is current even while the daemon is down.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format %q: want text or json", format)
			}
			var s watch.Status
			var err error
			if url != "" {
				s, err = fetchStatus(url)
			} else {
				s, err = watch.ReadStatus(stateDir)
			}
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			writeStatus(cmd.OutOrStdout(), s, time.Now())
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", ".tether/watch", "the daemon's --state-dir")
	cmd.Flags().StringVar(&url, "url", "", "ask the running daemon instead: its --listen address as http://HOST:PORT")
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// fetchStatus asks a daemon's /status endpoint.
func fetchStatus(base string) (watch.Status, error) {
	var s watch.Status
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u := strings.TrimSuffix(base, "/") + "/status"
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return s, fmt.Errorf("watch status: %w (is the daemon running, listening there?)", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return s, fmt.Errorf("watch status: %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("watch status: %s answered %s", u, resp.Status)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("watch status: %s: %w", u, err)
	}
	return s, nil
}

// writeStatus is the text form: a header of the daemon's state, then a table per parent
// and one of DNS members.
func writeStatus(w io.Writer, s watch.Status, now time.Time) {
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format("2006-01-02 15:04:05") + " (" + now.Sub(t).Round(time.Second).String() + " ago)"
	}
	commit := s.Commit
	if commit == "" {
		commit = "none yet"
	} else if len(commit) > 12 {
		commit = commit[:12]
	}
	fmt.Fprintf(w, "Commit in force: %s, since %s\n", commit, ago(s.LastSync))
	if s.Seen != "" && s.Seen != s.Commit {
		fmt.Fprintf(w, "Newest commit seen: %s (not in force)\n", s.Seen[:min(12, len(s.Seen))])
	}
	fmt.Fprintf(w, "Last round: %s, %s\n", orNone(s.LastResult), ago(s.LastRound))
	if s.LastError != "" {
		fmt.Fprintf(w, "  error: %s\n", s.LastError)
	}
	fmt.Fprintf(w, "Drift: %d change(s) (policy.drift %s)\n", s.Drift, orNone(s.DriftMode))
	if s.Suspended {
		fmt.Fprintf(w, "Suspended: yes: %s (tether watch resume lifts it)\n", s.SuspendReason)
	} else {
		fmt.Fprintln(w, "Suspended: no")
	}
	if s.PID != 0 {
		fmt.Fprintf(w, "Daemon: pid %d, endpoints on %s, status as of %s\n", s.PID, orNone(s.Listen), ago(s.Updated))
	}
	if len(s.Parents) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		owners := false
		for _, p := range s.Parents {
			owners = owners || p.Owner != ""
		}
		head := "PARENT\tLAST APPLY\tRESULT\tAPPLIED\tFAILED\tDRIFT"
		if owners {
			head += "\tOWNER"
		}
		fmt.Fprintln(tw, head)
		for _, name := range schema.Names(s.Parents) {
			p := s.Parents[name]
			last := "never"
			if !p.LastApply.IsZero() {
				last = p.LastApply.Local().Format("2006-01-02 15:04:05")
			}
			row := fmt.Sprintf("%s\t%s\t%s\t%d\t%d\t%d", name, last, orNone(p.LastResult), p.Applied, p.Failed, p.Drift)
			if owners {
				row += "\t" + orNone(p.Owner)
			}
			fmt.Fprintln(tw, row)
		}
		tw.Flush()
		for _, name := range schema.Names(s.Parents) {
			if p := s.Parents[name]; len(p.Drifted) > 0 {
				more := ""
				if p.Drift > len(p.Drifted) {
					more = fmt.Sprintf(" and %d more", p.Drift-len(p.Drifted))
				}
				fmt.Fprintf(w, "  %s drifted: %s%s\n", name, strings.Join(p.Drifted, ", "), more)
			}
		}
	}
	if len(s.Members) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "DNS MEMBER\tBACKEND\tSTATE\tCONSECUTIVE FAILURES")
		for _, m := range s.Members {
			st := "in service"
			if m.Disabled {
				st = "disabled (tether dns enable " + m.Member + ")"
			}
			fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%d\n", m.Parent, m.Member, m.Backend, st, m.ConsecutiveFailures)
		}
		tw.Flush()
	}
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tether-dev/tether/internal/redact"
	"github.com/tether-dev/tether/internal/workspace"
	"github.com/tether-dev/tether/schema"
)

// formatFlag registers a command's --format with its values (the first is the
// default), for the usage text and shell completion alike.
func formatFlag(cmd *cobra.Command, p *string, values ...string) {
	cmd.Flags().StringVar(p, "format", values[0], "output format: "+orList(values))
	completeValues(cmd, "format", values...)
}

// checkFormat refuses a --format the command does not write.
func checkFormat(format string, values ...string) error {
	if !slices.Contains(values, format) {
		return fmt.Errorf("--format %q: want %s", format, orList(values))
	}
	return nil
}

func orList(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

// completeValues completes the flag name of cmd with a fixed list.
func completeValues(cmd *cobra.Command, name string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// fleetNames completes with names from the fleet at the path the flag fleetFlag
// names (or the current folder): what pick returns for it. A fleet that does not load
// completes nothing; completion never reports errors.
func fleetNames(fleetFlag string, pick func(*schema.Fleet) []string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		path := "."
		if f := cmd.Flags().Lookup(fleetFlag); f != nil && f.Value.String() != "" {
			path = f.Value.String()
		}
		// A fleet with problems still names its nodes; one that does not load names none.
		fleet, _, err := schema.Load(path)
		if err != nil || fleet == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, n := range pick(fleet) {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// nodeNames are the fleet's nodes; parents only when parentsOnly.
func nodeNames(parentsOnly bool) func(*schema.Fleet) []string {
	return func(f *schema.Fleet) []string {
		var out []string
		for _, name := range schema.Names(f.Nodes) {
			if !parentsOnly || f.Nodes[name].Parent == "" {
				out = append(out, name)
			}
		}
		return out
	}
}

// memberNames are the DNS cluster members, as dns enable takes them.
func memberNames(f *schema.Fleet) []string {
	var out []string
	for _, parent := range schema.Names(f.DNSClusters) {
		for _, m := range schema.Names(f.DNSClusters[parent].Members) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// addresses are what adopt takes: every account, reseller and node of the fleet.
func addresses(f *schema.Fleet) []string {
	var out []string
	for _, n := range schema.Names(f.Accounts) {
		out = append(out, "account."+n)
	}
	for _, n := range schema.Names(f.Resellers) {
		out = append(out, "reseller."+n)
	}
	for _, n := range schema.Names(f.Nodes) {
		out = append(out, "node."+n)
	}
	return out
}

// normaliseFlags accepts Terraform's single-dash spelling of every long flag
// (-auto-approve, -out=FILE, -detailed-exitcode) by writing it with two dashes before
// pflag parses it: pflag would read -auto-approve as the shorthands -a -u -t… Only
// names some command registers are rewritten, and nothing after "--".
func normaliseFlags(root *cobra.Command, args []string) []string {
	long := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) {
			if len(f.Name) > 1 {
				long[f.Name] = true
			}
		}
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	// cobra adds these when it runs; they take the single-dash spelling too.
	long["help"], long["version"] = true, true
	out := make([]string, len(args))
	for i, a := range args {
		if a == "--" {
			copy(out[i:], args[i:])
			return out
		}
		out[i] = a
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if long[name] {
				out[i] = "-" + a
			}
		}
	}
	return out
}

// errorJSON is how every command reports an error under --format json, on stdout:
// one document {"errors": [...]}, each error with a rule id where a rule was broken,
// where in the fleet files, the message and the fix. Documented in
// reconciler/render/JSON.md.
type errorJSON struct {
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	Rule    string `json:"rule"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

// wantsJSON reports whether cmd was asked for --format json.
func wantsJSON(cmd *cobra.Command) bool {
	if cmd == nil {
		return false
	}
	f := cmd.Flags().Lookup("format")
	return f != nil && f.Value.String() == "json"
}

// writeErrorJSON writes err (an invalid fleet's diagnostics, or one error) as an
// errorJSON document. Messages go through redact, as on stderr.
func writeErrorJSON(w io.Writer, err error) error {
	var doc errorJSON
	var inv *workspace.Invalid
	if errors.As(err, &inv) {
		for _, d := range inv.Diagnostics {
			doc.Errors = append(doc.Errors, diagItem(d))
		}
	}
	if len(doc.Errors) == 0 {
		doc.Errors = []errorItem{{Message: redact.Text(err.Error())}}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func diagItem(d schema.Diagnostic) errorItem {
	return errorItem{Rule: d.Rule, File: d.Pos.File, Line: d.Pos.Line, Column: d.Pos.Col, Message: redact.Text(d.Message), Fix: d.Fix}
}

// color says whether output to w may be coloured: a terminal, no --no-color, and no
// NO_COLOR in the environment (https://no-color.org: any non-empty value).
func (c *cli) color(w any) bool {
	return !c.noColor && os.Getenv("NO_COLOR") == "" && c.terminal(w)
}

// writeJSON writes one indented JSON document, as every --format json does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Package desired compares two desired fleets — the fleet at a pull request's base and
// at its head — object by object and field by field, for the "what this change asks
// for" section above a live plan. It is pure: no servers are involved.
package desired

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// Kind says what happened to an object between base and head.
type Kind string

const (
	Added   Kind = "added"
	Removed Kind = "removed"
	Changed Kind = "changed"
)

// FieldChange is one field that differs. Values are rendered as JSON; secrets never
// reach them because the model holds only references to secrets.
type FieldChange struct {
	Path   string `json:"path"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// ObjectChange is one object that differs.
type ObjectChange struct {
	Address string        `json:"address"`
	Kind    Kind          `json:"kind"`
	Fields  []FieldChange `json:"fields,omitempty"`
}

// Diff returns the objects that differ between base and head, sorted by address.
func Diff(base, head *schema.Fleet) []ObjectChange {
	a, b := objects(base), objects(head)
	var out []ObjectChange
	for addr, bv := range b {
		av, ok := a[addr]
		if !ok {
			out = append(out, ObjectChange{Address: addr, Kind: Added, Fields: fieldDiff(nil, bv)})
			continue
		}
		if fs := fieldDiff(av, bv); len(fs) > 0 {
			out = append(out, ObjectChange{Address: addr, Kind: Changed, Fields: fs})
		}
	}
	for addr, av := range a {
		if _, ok := b[addr]; !ok {
			out = append(out, ObjectChange{Address: addr, Kind: Removed, Fields: fieldDiff(av, nil)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// objects flattens a fleet into address → flattened fields. Addresses match the plan's.
func objects(f *schema.Fleet) map[string]map[string]string {
	out := map[string]map[string]string{}
	if f == nil {
		return out
	}
	if f.Policy != nil {
		out["policy"] = flatten(f.Policy)
	}
	for n, v := range f.Nodes {
		out[plan.NodeAddress(n)] = flatten(v)
	}
	for n, v := range f.Resellers {
		out[plan.ResellerAddress(n)] = flatten(v)
	}
	for n, v := range f.Accounts {
		out[plan.AccountAddress(n)] = flatten(v)
	}
	for p, c := range f.DNSClusters {
		members := c.Members
		cc := *c
		cc.Members = nil
		out[plan.ClusterAddress(p)] = flatten(&cc)
		for m, v := range members {
			out[plan.MemberAddress(p, m)] = flatten(v)
		}
	}
	return out
}

// flatten renders an object's JSON form as path → JSON value ("mail.node" → "\"mail1\"").
func flatten(v any) map[string]string {
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]string{"": fmt.Sprintf("<%v>", err)}
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		return map[string]string{"": string(b)}
	}
	out := map[string]string{}
	walk("", tree, out)
	return out
}

func walk(prefix string, v any, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 && prefix != "" {
			out[prefix] = "{}"
		}
		for k, c := range t {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walk(p, c, out)
		}
	case []any:
		// Lists of scalars read best whole ("[list-accts, create-acct]"); lists of
		// objects by index.
		scalar := true
		for _, c := range t {
			switch c.(type) {
			case map[string]any, []any:
				scalar = false
			}
		}
		if scalar {
			b, _ := json.Marshal(t)
			out[prefix] = string(b)
			return
		}
		for i, c := range t {
			walk(fmt.Sprintf("%s[%d]", prefix, i), c, out)
		}
	default:
		b, _ := json.Marshal(t)
		out[prefix] = string(b)
	}
}

func fieldDiff(a, b map[string]string) []FieldChange {
	var out []FieldChange
	for p, bv := range b {
		if av, ok := a[p]; !ok || av != bv {
			out = append(out, FieldChange{Path: p, Before: a[p], After: bv})
		}
	}
	for p, av := range a {
		if _, ok := b[p]; !ok {
			out = append(out, FieldChange{Path: p, Before: av})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Report is the desired-state section of a pull-request plan: how the fleet at the
// base ref differs from the work tree's. It is the `desired_changes` field of the JSON
// plan.
type Report struct {
	// Base is the ref as given (origin/main); BaseCommit the commit it resolved to.
	Base       string `json:"base"`
	BaseCommit string `json:"base_commit,omitempty"`
	// BaseProblems are the diagnostics of a fleet that is invalid at the base: the
	// comparison is then skipped, the live plan is still made.
	BaseProblems []string `json:"base_problems,omitempty"`
	// NoBaseFleet says the fleet's path does not exist at the base: every object is new.
	NoBaseFleet bool           `json:"no_base_fleet,omitempty"`
	Objects     []ObjectChange `json:"objects"`
}

// Ordered returns the changes as a reviewer should read them: removals first (they are
// the risky ones), then changes, then additions, each by address.
func Ordered(cs []ObjectChange) []ObjectChange {
	rank := map[Kind]int{Removed: 0, Changed: 1, Added: 2}
	out := append([]ObjectChange(nil), cs...)
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Kind] != rank[out[j].Kind] {
			return rank[out[i].Kind] < rank[out[j].Kind]
		}
		return out[i].Address < out[j].Address
	})
	return out
}

var symbol = map[Kind]string{Added: "+", Removed: "-", Changed: "~"}

func (r *Report) baseName() string {
	if len(r.BaseCommit) >= 12 {
		return fmt.Sprintf("%s (%s)", r.Base, r.BaseCommit[:12])
	}
	return r.Base
}

// Text writes the section for a terminal: one line per object, one per field.
func Text(w io.Writer, r *Report) error {
	var b strings.Builder
	switch {
	case len(r.BaseProblems) > 0:
		fmt.Fprintf(&b, "Desired state: the fleet at %s is invalid (%d problem(s)), so it is not compared:\n", r.baseName(), len(r.BaseProblems))
		for _, p := range r.BaseProblems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	case len(r.Objects) == 0:
		fmt.Fprintf(&b, "Desired state: the fleet files describe the same fleet as %s.\n", r.baseName())
	default:
		fmt.Fprintf(&b, "Desired state: %d object(s) differ from %s", len(r.Objects), r.baseName())
		if r.NoBaseFleet {
			b.WriteString(" (the fleet is new)")
		}
		b.WriteString(":\n")
		for _, c := range Ordered(r.Objects) {
			fmt.Fprintf(&b, "  %s %s (%s)\n", symbol[c.Kind], c.Address, c.Kind)
			if c.Kind != Changed {
				continue
			}
			for _, f := range c.Fields {
				fmt.Fprintf(&b, "      %s: %s → %s\n", f.Path, orNone(f.Before), orNone(f.After))
			}
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// foldFields is how many field rows a changed object shows before its table is folded.
const foldFields = 6

// Markdown renders the section of a pull-request comment within maxBytes (0: no
// bound): removals, changes and additions, each object's fields in a table, folded
// when long; what does not fit is counted at the end.
func Markdown(r *Report, maxBytes int) string {
	var b strings.Builder
	switch {
	case len(r.BaseProblems) > 0:
		fmt.Fprintf(&b, "### Desired state: the fleet at `%s` is invalid\n\n", r.baseName())
		fmt.Fprintf(&b, "It is not compared; the live plan below is still the work tree's. %d problem(s):\n\n", len(r.BaseProblems))
		b.WriteString("```\n")
		for _, p := range r.BaseProblems {
			if maxBytes > 0 && b.Len()+len(p)+200 > maxBytes {
				b.WriteString("…\n")
				break
			}
			b.WriteString(strings.ReplaceAll(p, "```", "'''") + "\n")
		}
		b.WriteString("```\n\n")
		return b.String()
	case len(r.Objects) == 0:
		fmt.Fprintf(&b, "### Desired state: no object differs from `%s`\n\n", r.baseName())
		return b.String()
	}
	counts := map[Kind]int{}
	for _, c := range r.Objects {
		counts[c.Kind]++
	}
	fmt.Fprintf(&b, "### Desired state: %d added, %d changed, %d removed since `%s`\n\n",
		counts[Added], counts[Changed], counts[Removed], r.baseName())
	if r.NoBaseFleet {
		b.WriteString("The fleet does not exist at the base: everything is new.\n\n")
	}
	// The trailer that says what was left out must always fit.
	const trailer = 80
	ordered := Ordered(r.Objects)
	for i, c := range ordered {
		var o strings.Builder
		fmt.Fprintf(&o, "- `%s %s` %s", symbol[c.Kind], c.Address, c.Kind)
		rows := fieldTable(c)
		switch {
		case len(c.Fields) == 0:
			o.WriteString("\n")
		case c.Kind == Changed && len(c.Fields) <= foldFields:
			o.WriteString("\n\n" + rows + "\n")
		default:
			fmt.Fprintf(&o, "\n  <details><summary>%d field(s)</summary>\n\n%s\n  </details>\n\n", len(c.Fields), rows)
		}
		if maxBytes > 0 && b.Len()+o.Len()+trailer > maxBytes {
			fmt.Fprintf(&b, "\n…and %d more object(s) not shown (the comment has a size limit).\n", len(ordered)-i)
			break
		}
		b.WriteString(o.String())
	}
	return strings.TrimRight(b.String(), "\n") + "\n\n"
}

func fieldTable(c ObjectChange) string {
	var b strings.Builder
	switch c.Kind {
	case Changed:
		b.WriteString("  | field | base | head |\n  | --- | --- | --- |\n")
		for _, f := range c.Fields {
			fmt.Fprintf(&b, "  | `%s` | %s | %s |\n", f.Path, cell(f.Before), cell(f.After))
		}
	default:
		b.WriteString("  | field | value |\n  | --- | --- |\n")
		for _, f := range c.Fields {
			v := f.After
			if c.Kind == Removed {
				v = f.Before
			}
			fmt.Fprintf(&b, "  | `%s` | %s |\n", f.Path, cell(v))
		}
	}
	return b.String()
}

func cell(v string) string {
	if v == "" {
		return "—"
	}
	v = strings.ReplaceAll(v, "|", "\\|")
	if strings.Contains(v, "`") {
		// A backtick inside would end the code span; a double-backtick span holds it.
		return "`` " + v + " ``"
	}
	return "`" + v + "`"
}

// Package desired compares two desired fleets — the fleet at a pull request's base and
// at its head — object by object and field by field, for the "what this change asks
// for" section above a live plan. It is pure: no servers are involved.
package desired

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

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
		out["node."+n] = flatten(v)
	}
	for n, v := range f.Resellers {
		out["reseller."+n] = flatten(v)
	}
	for n, v := range f.Accounts {
		out["account."+n] = flatten(v)
	}
	for p, c := range f.DNSClusters {
		members := c.Members
		cc := *c
		cc.Members = nil
		out["dns."+p+".cluster"] = flatten(&cc)
		for m, v := range members {
			out["dns."+p+".member."+m] = flatten(v)
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

// Markdown renders the changes as a pull-request section: one line per object with
// its changed fields in a table. maxObjects bounds the output (0 = no bound) and says
// how many were left out.
func Markdown(changes []ObjectChange, baseRef string, maxObjects int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Desired state: %d object(s) differ from `%s`\n\n", len(changes), baseRef)
	if len(changes) == 0 {
		b.WriteString("The fleet files describe the same fleet as the base.\n")
		return b.String()
	}
	shown := changes
	if maxObjects > 0 && len(shown) > maxObjects {
		shown = shown[:maxObjects]
	}
	sym := map[Kind]string{Added: "+", Removed: "-", Changed: "~"}
	for _, c := range shown {
		fmt.Fprintf(&b, "- `%s %s` %s", sym[c.Kind], c.Address, c.Kind)
		if c.Kind != Changed {
			b.WriteString("\n")
			continue
		}
		b.WriteString("\n\n  | field | base | head |\n  | --- | --- | --- |\n")
		for _, f := range c.Fields {
			fmt.Fprintf(&b, "  | `%s` | %s | %s |\n", f.Path, cell(f.Before), cell(f.After))
		}
		b.WriteString("\n")
	}
	if len(shown) < len(changes) {
		fmt.Fprintf(&b, "\n…and %d more object(s) not shown.\n", len(changes)-len(shown))
	}
	return b.String()
}

func cell(v string) string {
	if v == "" {
		return "—"
	}
	return "`" + strings.ReplaceAll(v, "|", "\\|") + "`"
}

package fastyaml_test

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/tether-dev/tether/schema/fastyaml"
)

// scalars are the values and keys TestGeneratedTrees writes: every kind of plain scalar
// yaml.v3 resolves, quoted ones, and plain ones with characters that end a scalar in
// one context and not in the other.
var scalars = []string{"a", "b c", "x:y", "'q'", "'it''s'", "\"d\"", "\"e\\\"\\n\"", "1", "012", "09", "-1", ".5", "1e3", "0x1f", "true", "yes", "~", "null", "<<", "2001-12-14", "é", "日本", "''", "\"\"", "10.0.0.2", "u@example.org", "a b", "x#y", "-.5", "+1", "1_0", "0o7", "0b1", "y", "n", "on", "NULL", "False", "é#", "a,b", "a]", "a}", "2001:db8::1"}

// gen writes a random block mapping (or, nested, sometimes a sequence) at indent:
// comments and blank lines anywhere, values on the line or nested, indentless
// sequences, flow collections.
func gen(r *rand.Rand, b *strings.Builder, indent, depth int) {
	n := 1 + r.Intn(4)
	seq := r.Intn(4) == 0 && depth > 0
	for i := 0; i < n; i++ {
		if r.Intn(6) == 0 {
			fmt.Fprintf(b, "%s# c\n", strings.Repeat(" ", r.Intn(8)))
		}
		if r.Intn(8) == 0 {
			b.WriteString(strings.Repeat(" ", r.Intn(4)) + "\n")
		}
		b.WriteString(strings.Repeat(" ", indent))
		if seq {
			b.WriteString("- ")
		} else {
			fmt.Fprintf(b, "%s: ", scalars[r.Intn(len(scalars))])
		}
		switch k := r.Intn(6); {
		case k == 0 && depth < 4:
			if r.Intn(3) == 0 {
				b.WriteString("# c")
			}
			b.WriteString("\n")
			ni := indent + 1 + r.Intn(3)
			if r.Intn(5) == 0 {
				ni = indent
			}
			gen(r, b, ni, depth+1)
			continue
		case k == 1:
			b.WriteString(flow(r, 0))
		default:
			b.WriteString(scalars[r.Intn(len(scalars))])
		}
		if r.Intn(5) == 0 {
			b.WriteString(" # c")
		}
		b.WriteString("\n")
	}
}

// flow is a random one-line flow collection.
func flow(r *rand.Rand, d int) string {
	var parts []string
	m := r.Intn(2) == 0
	for i := r.Intn(4); i > 0; i-- {
		v := scalars[r.Intn(len(scalars))]
		if d < 3 && r.Intn(4) == 0 {
			v = flow(r, d+1)
		}
		if m {
			v = scalars[r.Intn(len(scalars))] + ": " + v
		}
		parts = append(parts, v)
	}
	if m {
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return "[" + strings.Join(parts, ",  ") + "]"
}

// TestGeneratedTrees compares the fast path with yaml.v3 on random fleet-shaped
// documents, half of them with one token of tokens inserted anywhere (most then leave
// the subset or become invalid YAML). The seed is fixed: a failure reproduces.
func TestGeneratedTrees(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	fast, n := 0, 20000
	ps := new(fastyaml.Parser)
	for i := 0; i < n; i++ {
		var b strings.Builder
		gen(r, &b, 0, 0)
		s := b.String()
		if r.Intn(2) == 0 {
			p := r.Intn(len(s) + 1)
			s = s[:p] + tokens[r.Intn(len(tokens))] + s[p:]
		}
		f, problem := check(ps, []byte(s))
		if problem != "" {
			t.Fatalf("%q: %s", s, problem)
		}
		if f {
			fast++
		}
	}
	t.Logf("fast path taken for %d of %d", fast, n)
	if fast < n/4 {
		t.Errorf("fast path taken for only %d of %d generated documents: the generator no longer tests it", fast, n)
	}
}

package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler"
)

var updateREADME = flag.Bool("update", false, "rewrite generated sections of the README")

// TestREADMECapabilities keeps the README's capability table equal to what the
// providers declare: capabilities are data, and the documentation is made from it.
func TestREADMECapabilities(t *testing.T) {
	names := providers.Names()
	caps := map[string]providers.Capabilities{}
	var all []string
	seen := map[providers.Capability]bool{}
	for _, n := range names {
		s, _ := providers.Lookup(n)
		caps[n] = s.Capabilities
		for c := range caps[n] {
			if !seen[c] {
				seen[c] = true
				all = append(all, string(c))
			}
		}
	}
	sort.Strings(all)
	var b strings.Builder
	b.WriteString("| capability | " + strings.Join(names, " | ") + " |\n|---|" + strings.Repeat("---|", len(names)) + "\n")
	for _, c := range all {
		b.WriteString("| `" + c + "` |")
		for _, n := range names {
			mark := " no |"
			if caps[n].Can(providers.Capability(c)) {
				mark = " yes |"
			}
			b.WriteString(mark)
		}
		b.WriteString("\n")
	}
	const begin, end = "<!-- capabilities:begin -->\n", "<!-- capabilities:end -->"
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q … %q markers", begin, end)
	}
	want := s[:i+len(begin)] + b.String() + s[j:]
	if *updateREADME {
		if err := os.WriteFile("../../README.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != s {
		t.Fatal(fmt.Sprintf("the README's capability table is stale: go test ./cmd/tether -run TestREADMECapabilities -update\nwant:\n%s", b.String()))
	}
}

// TestREADMEFields keeps README's "What Tether manages" table equal to
// reconciler.Fields (go test ./cmd/tether -run TestREADMEFields -update rewrites it).
func TestREADMEFields(t *testing.T) {
	names := make([]string, 0, len(reconciler.Fields))
	for f := range reconciler.Fields {
		names = append(names, f)
	}
	order := map[string]int{"policy": 0, "node": 1, "account": 2, "reseller": 3, "dnsCluster": 4, "member": 5}
	sort.Slice(names, func(i, j int) bool {
		a, _, _ := strings.Cut(names[i], ".")
		b, _, _ := strings.Cut(names[j], ".")
		if order[a] != order[b] {
			return order[a] < order[b]
		}
		return names[i] < names[j]
	})
	var b strings.Builder
	b.WriteString("| field | after creation | how |\n|---|---|---|\n")
	for _, f := range names {
		h := reconciler.Fields[f]
		b.WriteString("| `" + f + "` | " + h.Kind + " | " + strings.ReplaceAll(h.How, "|", "\\|") + " |\n")
	}
	const begin, end = "<!-- fields:begin -->\n", "<!-- fields:end -->"
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q … %q markers", begin, end)
	}
	want := s[:i+len(begin)] + b.String() + s[j:]
	if *updateREADME {
		if err := os.WriteFile("../../README.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != s {
		t.Fatalf("the README's field table is stale: go test ./cmd/tether -run TestREADMEFields -update\nwant:\n%s", b.String())
	}
}

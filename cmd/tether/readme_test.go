package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/tether-dev/tether/providers"
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

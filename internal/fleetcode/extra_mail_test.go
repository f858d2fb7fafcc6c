package fleetcode

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-dev/tether/schema"
)

// twoMailChildren is the sample fleet with alice's mail observed on two children, which
// a live server can report and the model keeps in MailPlacement.ExtraNodes.
func twoMailChildren() *schema.Fleet {
	f := sample()
	f.Nodes["mail2"] = &schema.Node{Role: "child", Parent: "web1", Host: "mail2.example.net", Version: 118,
		Services: []string{"mail"}}
	f.Accounts["alice"].Mail = &schema.MailPlacement{Node: "mail1", ExtraNodes: []string{"mail2"}}
	return f
}

// lineOf is the 1-based line of the first line of text containing sub.
func lineOf(t *testing.T, text, sub string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			return i + 1
		}
	}
	t.Fatalf("%q not in:\n%s", sub, text)
	return 0
}

func TestExtraMailNodesAreWrittenAsTheyAre(t *testing.T) {
	for _, tc := range []struct {
		file   string
		write  func(*bytes.Buffer, *schema.Fleet) error
		line   string // the written form of the two children
		second string // the second child as written, where L04 points
	}{
		{"fleet.yaml", func(b *bytes.Buffer, f *schema.Fleet) error { return YAML(b, f, "", nil) }, "node: [mail1, mail2]", "mail2"},
		{"fleet.cue", func(b *bytes.Buffer, f *schema.Fleet) error { return CUE(b, f, "", nil) }, `node: ["mail1", "mail2"]`, `"mail2"`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b, twoMailChildren()); err != nil {
				t.Fatal(err)
			}
			want := lineOf(t, b.String(), tc.line)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), b.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			_, ds, err := schema.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			// The same report from either language: one L04, on the second child.
			if len(ds) != 1 || ds[0].Rule != schema.RuleL04 || ds[0].Pos.Line != want ||
				!strings.Contains(ds[0].Message, "(mail1 and mail2)") {
				t.Fatalf("want one TETHER-L04 at line %d naming mail1 and mail2, got:\n%v\n%s", want, ds, b.String())
			}
			line := strings.Split(b.String(), "\n")[want-1]
			if col := strings.Index(line, tc.second) + 1; ds[0].Pos.Col != col {
				t.Fatalf("L04 at column %d, want %d (the second child) in %q", ds[0].Pos.Col, col, line)
			}
		})
	}
}

// TestExtraMailNodesWithoutFirst: a placement holding only extra children (no first
// node) is still written, not dropped with the empty JSON object.
func TestExtraMailNodesWithoutFirst(t *testing.T) {
	f := twoMailChildren()
	f.Accounts["alice"].Mail = &schema.MailPlacement{ExtraNodes: []string{"mail1", "mail2"}}
	var b bytes.Buffer
	if err := YAML(&b, f, "", nil); err != nil {
		t.Fatal(err)
	}
	lineOf(t, b.String(), "node: [mail1, mail2]")
}

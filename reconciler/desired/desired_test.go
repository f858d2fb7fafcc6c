package desired

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-dev/tether/schema"
)

func fleet(mut func(f *schema.Fleet)) *schema.Fleet {
	f := &schema.Fleet{
		Nodes: map[string]*schema.Node{"web1": {Role: "parent", Host: "web1.example.net", Version: 118}},
		Accounts: map[string]*schema.Account{
			"alice": {Parent: "web1", Domain: "alice.example", ContactEmail: "a@example.org"},
			"bob":   {Parent: "web1", Domain: "bob.example"},
		},
	}
	if mut != nil {
		mut(f)
	}
	return f
}

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name string
		head func(*schema.Fleet)
		want []ObjectChange
	}{
		{"same", nil, nil},
		{"field changed", func(f *schema.Fleet) {
			f.Accounts["alice"].ContactEmail = "new@example.org"
			f.Accounts["alice"].Mail = &schema.MailPlacement{Node: "mail1"}
		}, []ObjectChange{{Address: "account.alice", Kind: Changed, Fields: []FieldChange{
			{Path: "contactEmail", Before: `"a@example.org"`, After: `"new@example.org"`},
			{Path: "mail.node", After: `"mail1"`},
		}}}},
		{"added and removed", func(f *schema.Fleet) {
			delete(f.Accounts, "bob")
			f.Accounts["carol"] = &schema.Account{Parent: "web1", Domain: "carol.example"}
		}, []ObjectChange{
			{Address: "account.bob", Kind: Removed, Fields: []FieldChange{{Path: "domain", Before: `"bob.example"`}, {Path: "parent", Before: `"web1"`}}},
			{Address: "account.carol", Kind: Added, Fields: []FieldChange{{Path: "domain", After: `"carol.example"`}, {Path: "parent", After: `"web1"`}}},
		}},
		{"secret never shown", func(f *schema.Fleet) {
			f.Nodes["web1"].Credentials = &schema.Credentials{User: "root", Token: "SECRETTOKEN"}
		}, []ObjectChange{{Address: "node.web1", Kind: Changed, Fields: []FieldChange{{Path: "credentials.user", After: `"root"`}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Diff(fleet(nil), fleet(tc.head))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Diff =\n%#v\nwant\n%#v", got, tc.want)
			}
			if md := Markdown(&Report{Base: "main", Objects: got}, 0); strings.Contains(md, "SECRETTOKEN") {
				t.Fatal("secret leaked into Markdown")
			}
		})
	}
}

func TestMarkdownBoundedAndOrdered(t *testing.T) {
	var cs []ObjectChange
	for _, n := range []string{"a", "b", "c", "d"} {
		cs = append(cs, ObjectChange{Address: "account." + n, Kind: Added, Fields: []FieldChange{{Path: "domain", After: `"` + n + `.example"`}}})
	}
	cs = append(cs, ObjectChange{Address: "account.z", Kind: Removed, Fields: []FieldChange{{Path: "domain", Before: `"z.example"`}}})
	r := &Report{Base: "main", BaseCommit: strings.Repeat("ab", 20), Objects: cs}
	full := Markdown(r, 0)
	if strings.Index(full, "account.z") > strings.Index(full, "account.a") {
		t.Errorf("a removal is not shown before the additions:\n%s", full)
	}
	if !strings.Contains(full, "`main (abababababab)`") || !strings.Contains(full, "4 added, 0 changed, 1 removed") {
		t.Errorf("heading:\n%s", full)
	}
	limit := len(full) / 2
	md := Markdown(r, limit)
	if len(md) > limit || !strings.Contains(md, "more object(s) not shown") || strings.Contains(md, "account.d") {
		t.Fatalf("Markdown(%d) is %d bytes or did not say what it left out:\n%s", limit, len(md), md)
	}
}

func TestMarkdownFoldsLongTables(t *testing.T) {
	var fs []FieldChange
	for i := 0; i < foldFields+1; i++ {
		fs = append(fs, FieldChange{Path: fmt.Sprintf("limits.f%d", i), Before: "1", After: "2"})
	}
	short := Markdown(&Report{Base: "main", Objects: []ObjectChange{{Address: "reseller.bob", Kind: Changed, Fields: fs[:2]}}}, 0)
	long := Markdown(&Report{Base: "main", Objects: []ObjectChange{{Address: "reseller.bob", Kind: Changed, Fields: fs}}}, 0)
	if strings.Contains(short, "<details>") || !strings.Contains(long, "<details><summary>7 field(s)</summary>") {
		t.Fatalf("folding:\nshort:\n%s\nlong:\n%s", short, long)
	}
}

func TestTextInvalidBase(t *testing.T) {
	var b strings.Builder
	if err := Text(&b, &Report{Base: "main", BaseProblems: []string{"fleet.yaml:3:5: bad"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "invalid (1 problem(s))") || !strings.Contains(b.String(), "fleet.yaml:3:5: bad") {
		t.Fatalf("Text = %q", b.String())
	}
	if md := Markdown(&Report{Base: "main", BaseProblems: []string{"fleet.yaml:3:5: bad"}}, 0); !strings.Contains(md, "is invalid") {
		t.Fatalf("Markdown = %q", md)
	}
}

func TestMarkdownCellEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"":        "—",
		`"a|b"`:   "`\"a\\|b\"`",
		"\"a`b\"": "`` \"a`b\" ``",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}

package desired

import (
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
			if md := Markdown(got, "main", 0); strings.Contains(md, "SECRETTOKEN") {
				t.Fatal("secret leaked into Markdown")
			}
		})
	}
}

func TestMarkdownFolds(t *testing.T) {
	var cs []ObjectChange
	for _, n := range []string{"a", "b", "c"} {
		cs = append(cs, ObjectChange{Address: "account." + n, Kind: Added})
	}
	md := Markdown(cs, "main", 2)
	if !strings.Contains(md, "and 1 more object(s) not shown") || strings.Contains(md, "account.c") {
		t.Fatalf("Markdown did not bound output:\n%s", md)
	}
}

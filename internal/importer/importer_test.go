package importer

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tether-dev/tether/internal/fleetcode"
	"github.com/tether-dev/tether/schema"
)

// observedTwoMailChildren is a live fleet a sandbox cannot produce: alice's mail is
// on two linked children at once, which WHM can report (two Mail child_nodes) and the
// observer keeps in MailPlacement.ExtraNodes.
func observedTwoMailChildren() (declared, observed *schema.Fleet) {
	declared = &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1": {Role: schema.RoleParent, Host: "web1.example.net", Version: 118,
			Credentials: &schema.Credentials{User: "root", TokenEnv: "WEB1_WHM_TOKEN"}},
	}}
	observed = &schema.Fleet{
		Nodes: map[string]*schema.Node{
			"web1":  {Role: schema.RoleParent, Host: "web1.example.net", IPv4: "192.0.2.10", Version: 118, Profile: "STANDARD"},
			"mail1": {Role: schema.RoleChild, Parent: "web1", Host: "mail1.example.net", IPv4: "192.0.2.11", Version: 118, Services: []string{"mail"}},
			"mail2": {Role: schema.RoleChild, Parent: "web1", Host: "mail2.example.net", IPv4: "192.0.2.12", Version: 118, Services: []string{"mail"}},
		},
		Accounts: map[string]*schema.Account{
			"alice": {Parent: "web1", Domain: "alice.example", Features: map[string]bool{"apitokens": true},
				Mail: &schema.MailPlacement{Node: "mail1", ExtraNodes: []string{"mail2"}}},
			"bob": {Parent: "web1", Domain: "bob.example", Mail: &schema.MailPlacement{}},
		},
	}
	return declared, observed
}

// TestImportKeepsTwoMailChildren: the import writes the account as it is, and the
// validate report of the written files names TETHER-L04 on the second child, in YAML
// and in CUE alike.
func TestImportKeepsTwoMailChildren(t *testing.T) {
	declared, observed := observedTwoMailChildren()
	r := Build(declared, observed)
	alice := r.Fleet.Accounts["alice"]
	if alice.Mail == nil || alice.Mail.Node != "mail1" || !slices.Equal(alice.Mail.ExtraNodes, []string{"mail2"}) {
		t.Fatalf("alice's mail = %+v, want mail1 and mail2", alice.Mail)
	}
	if r.Fleet.Accounts["bob"].Mail != nil {
		t.Fatalf("an empty placement (mail on the parent) is written: %+v", r.Fleet.Accounts["bob"].Mail)
	}
	alice.Mail.ExtraNodes[0] = "changed"
	if observed.Accounts["alice"].Mail.ExtraNodes[0] != "mail2" {
		t.Fatal("the imported account shares its mail children with the observation")
	}
	alice.Mail.ExtraNodes[0] = "mail2"

	for _, tc := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"fleet.yaml", func(b *bytes.Buffer) error { return fleetcode.YAML(b, r.Fleet, "Imported", r.Comments) }},
		{"fleet.cue", func(b *bytes.Buffer) error { return fleetcode.CUE(b, r.Fleet, "Imported", r.Comments) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), b.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			_, ds, err := schema.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 1 || ds[0].Rule != schema.RuleL04 || !strings.Contains(ds[0].Message, "account alice") {
				t.Fatalf("want the one debt, TETHER-L04 on alice, got:\n%v\n%s", ds, b.String())
			}
			line := strings.Split(b.String(), "\n")[ds[0].Pos.Line-1]
			if !strings.Contains(line, "mail2") {
				t.Fatalf("L04 points at %q, not at the second child", line)
			}
		})
	}
}

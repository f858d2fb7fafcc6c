package fleetcode

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tether-dev/tether/schema"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sample() *schema.Fleet {
	limit := 50
	return &schema.Fleet{
		Nodes: map[string]*schema.Node{
			"web1": {Role: "parent", Host: "web1.example.net", IPv4: "192.0.2.10", Version: 118, Profile: "STANDARD",
				Credentials: &schema.Credentials{User: "root", TokenEnv: "WEB1_WHM_TOKEN", Token: "SECRET-TOKEN"}},
			"mail1": {Role: "child", Parent: "web1", Host: "mail1.example.net", Version: 118, Profile: "MAILNODE",
				Services: []string{"mail"}, PasswordStrength: map[string]int{"virtual": 70}},
			"ns1": {Role: "dnsonly", Host: "ns1.example.net", Version: 118},
		},
		Resellers: map[string]*schema.Reseller{"bob": {Account: schema.Account{Parent: "web1", Domain: "bob.example"},
			ACLs: []string{"create-acct", "list-accts"}, Limits: &schema.ResellerLimits{Accounts: &limit}}},
		Accounts: map[string]*schema.Account{
			"alice": {Parent: "web1", Domain: "alice.example", Owner: "bob", Mail: &schema.MailPlacement{Node: "mail1"},
				Features: map[string]bool{"apitokens": true}},
			"carol": {Parent: "web1", Domain: "carol.example", Suspended: true},
		},
		DNSClusters: map[string]*schema.DNSCluster{"web1": {Enabled: true, Members: map[string]*schema.Member{
			"ns1": {Node: "ns1", Role: "sync"},
			"bind1": {Backend: "rfc2136", Host: "ns2.example.org", Address: "127.0.0.1:5300", Role: "write-only",
				TSIG: &schema.TSIG{Name: "tether", SecretEnv: "NS2_TSIG", Secret: "SECRET-TSIG"}},
		}}},
	}
}

func TestWriters(t *testing.T) {
	comments := Comments{"account.carol": "imported suspended", "dns.web1.member.ns1": "role read from the cluster status page"}
	for _, tc := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"fleet.yaml", func(b *bytes.Buffer) error { return YAML(b, sample(), "Imported by tether", comments) }},
		{"fleet.cue", func(b *bytes.Buffer) error { return CUE(b, sample(), "Imported by tether", comments) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), "SECRET") {
				t.Fatalf("a secret reached the output:\n%s", b.String())
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				os.WriteFile(golden, b.Bytes(), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Fatalf("output differs from %s (go test -update rewrites it):\n%s", golden, b.String())
			}
		})
	}
}

func TestYAMLIsStableAndParses(t *testing.T) {
	var a, b bytes.Buffer
	YAML(&a, sample(), "", nil)
	YAML(&b, sample(), "", nil)
	if a.String() != b.String() {
		t.Fatal("YAML output is not deterministic")
	}
	var doc map[string]any
	if err := yaml.Unmarshal(a.Bytes(), &doc); err != nil {
		t.Fatalf("output is not YAML: %v", err)
	}
	if doc["accounts"].(map[string]any)["alice"].(map[string]any)["mail"].(map[string]any)["node"] != "mail1" {
		t.Fatalf("mail node lost: %v", doc["accounts"])
	}
}

func TestSplitByParent(t *testing.T) {
	parts := SplitByParent(sample())
	if len(parts) != 2 || parts["web1"] == nil || parts["fleet"] == nil {
		t.Fatalf("parts = %v", parts)
	}
	if parts["web1"].Nodes["mail1"] == nil || parts["fleet"].Nodes["ns1"] == nil || len(parts["web1"].Accounts) != 2 {
		t.Fatalf("wrong split: web1=%v fleet=%v", parts["web1"].Nodes, parts["fleet"].Nodes)
	}
}

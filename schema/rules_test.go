package schema_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-dev/tether/internal/fleetgen"
	"github.com/tether-dev/tether/schema"
)

// TestCheckRules breaks one thing at a time in a valid generated fleet (no positions,
// as an observed or CUE fleet may be) and expects exactly the rule for it.
func TestCheckRules(t *testing.T) {
	// Small: web0, web1; children mail0-0, mail0-1, mail1-0, mail1-1; ns0-0, ns1-0;
	// resellers r0 (web0), r1 (web1); accounts u00..u19, u(i) on web(i%2),
	// mail on a child when i%3 == 2 (u02 on mail0-1, u05 on mail1-0, ...).
	tests := []struct {
		name   string
		break_ func(f *schema.Fleet)
		rule   string
		msg    string
	}{
		{"account parent missing", func(f *schema.Fleet) { f.Accounts["u00"].Parent = "web9" }, schema.RuleR01, "parent web9 names no node"},
		{"account parent is a child", func(f *schema.Fleet) { f.Accounts["u00"].Parent = "mail0-0" }, schema.RuleR01, "is a child node"},
		{"owner missing", func(f *schema.Fleet) { f.Accounts["u00"].Owner = "nobodyhere" }, schema.RuleR01, "owner nobodyhere names no reseller"},
		{"owner on another parent", func(f *schema.Fleet) { f.Accounts["u00"].Owner = "r1" }, schema.RuleR01, "is a reseller on web1, not on web0"},
		{"member node missing", func(f *schema.Fleet) { f.DNSClusters["web0"].Members["ns0-0"].Node = "ns9" }, schema.RuleR01, "node ns9 names no node"},
		{"child parent missing", func(f *schema.Fleet) { f.Nodes["mail0-0"].Parent = "web9" }, schema.RuleR01, "parent web9 names no node"},
		{"reserved user", func(f *schema.Fleet) { f.Accounts["cpanel"] = f.Accounts["u00"]; delete(f.Accounts, "u00") }, schema.RuleA01, "reserves"},
		{"test user", func(f *schema.Fleet) { f.Accounts["tester"] = f.Accounts["u00"]; delete(f.Accounts, "u00") }, schema.RuleA01, "test"},
		{"long user", func(f *schema.Fleet) { f.Accounts["abcdefghijklmnopq"] = f.Accounts["u00"]; delete(f.Accounts, "u00") }, schema.RuleA01, "16"},
		{"bad domain", func(f *schema.Fleet) { f.Accounts["u00"].Domain = "no_such" }, schema.RuleA02, "domain"},
		{"forwarder from another domain", func(f *schema.Fleet) {
			f.Accounts["u00"].Forwarders = []schema.Forwarder{{From: "sales@other.example", To: "a@example.org"}}
		}, schema.RuleA03, "not of the account's domain"},
		{"forwarder from a bad local part", func(f *schema.Fleet) {
			f.Accounts["u00"].Forwarders = []schema.Forwarder{{From: "sales+eu", To: "a@example.org"}}
		}, schema.RuleA03, "not a local part"},
		{"forwarder to a list", func(f *schema.Fleet) {
			f.Accounts["u00"].Forwarders = []schema.Forwarder{{From: "sales", To: "a@example.org,b@example.org"}}
		}, schema.RuleA03, "several destinations"},
		{"inline token", func(f *schema.Fleet) { f.Nodes["web0"].Credentials.Token = "tok" }, schema.RuleS01, "credentials.token"},
		{"inline tsig secret", func(f *schema.Fleet) {
			f.DNSClusters["web0"].Members["b"] = &schema.Member{Backend: "rfc2136", Host: "b.example.org", Address: "127.0.0.1:53", Role: schema.DNSRoleSync, TSIG: &schema.TSIG{Name: "k", Secret: "s"}}
		}, schema.RuleS01, "tsig.secret"},
		{"parent profile", func(f *schema.Fleet) { f.Nodes["web0"].Profile = schema.ProfileMailNode }, schema.RuleL01, "STANDARD"},
		{"child version", func(f *schema.Fleet) { f.Nodes["mail0-0"].Version = 110 }, schema.RuleL02, "version 110 differs"},
		{"child of a child", func(f *schema.Fleet) { f.Nodes["mail0-0"].Parent = "mail0-1" }, schema.RuleL03, "not a parent"},
		{"two mail children", func(f *schema.Fleet) { f.Accounts["u02"].Mail.ExtraNodes = []string{"mail0-0"} }, schema.RuleL04, "more than one child"},
		{"mail child of another parent", func(f *schema.Fleet) { f.Accounts["u02"].Mail.Node = "mail1-0" }, schema.RuleL05, "not of the account's parent"},
		{"mail on a DNS-only node", func(f *schema.Fleet) { f.Accounts["u02"].Mail.Node = "ns0-0" }, schema.RuleL05, "not a child"},
		{"child without mail service", func(f *schema.Fleet) { f.Nodes["mail0-1"].Services = []string{} }, schema.RuleL05, "does not take mail"},
		{"ipv6 distributed", func(f *schema.Fleet) { f.Accounts["u02"].IPv6 = true }, schema.RuleL06, "IPv6"},
		{"apitokens off", func(f *schema.Fleet) { f.Accounts["u02"].Features["apitokens"] = false }, schema.RuleL07, "apitokens"},
		{"autossl http only", func(f *schema.Fleet) { f.Accounts["u02"].AutoSSL.DCV = []string{"http"} }, schema.RuleL08, "DNS DCV"},
		{"pipe forwarder", func(f *schema.Fleet) {
			f.Accounts["u02"].Forwarders = []schema.Forwarder{{From: "t", To: " |/bin/x"}}
		}, schema.RuleL09, "pipes to a program"},
		{"bad alias", func(f *schema.Fleet) {
			f.Nodes["ns 1"] = &schema.Node{Role: schema.RoleDNSOnly, Host: "ns-x.example.net"}
		}, schema.RuleL10, "link alias"},
		{"lost child", func(f *schema.Fleet) { f.Nodes["mail0-1"].Lost = true }, schema.RuleL13, "marked lost"},
		{"child password kind", func(f *schema.Fleet) { f.Nodes["mail0-0"].PasswordStrength["sshkey"] = 50 }, schema.RuleL16, "sshkey"},
		{"cluster without members", func(f *schema.Fleet) { f.DNSClusters["web0"].Members = nil }, schema.RuleD01, "fewer than two servers"},
		{"cluster whose only member is its parent", func(f *schema.Fleet) {
			f.DNSClusters["web0"].Members = map[string]*schema.Member{"self": {Node: "web0", Role: schema.DNSRoleSync}}
		}, schema.RuleD01, "fewer than two servers"},
		{"cluster on a child", func(f *schema.Fleet) {
			f.DNSClusters["mail0-0"] = f.DNSClusters["web0"]
			delete(f.DNSClusters, "web0")
		}, schema.RuleD01, "belongs to a parent"},
		{"same host twice", func(f *schema.Fleet) {
			f.DNSClusters["web0"].Members["zz"] = &schema.Member{Backend: "rfc2136", Host: "ns0-0.example.net", Address: "127.0.0.1:53", Role: schema.DNSRoleSync}
		}, schema.RuleD02, "host ns0-0.example.net is also member ns0-0's host"},
		{"powerdns dnssec", func(f *schema.Fleet) {
			m := f.DNSClusters["web0"].Members["ns0-0"]
			m.Software, m.DNSSEC = "powerdns", true
		}, schema.RuleD03, "PowerDNS"},
		{"dnssec on clustered parent", func(f *schema.Fleet) { f.Accounts["u00"].DNSSEC = true }, schema.RuleD03, "DNSSEC is on"},
		{"domain twice", func(f *schema.Fleet) { f.Accounts["u01"].Domain = "u00.example" }, schema.RuleD05, "already declared"},
		{"reseller domain reused", func(f *schema.Fleet) { f.Accounts["u01"].Domain = f.Resellers["r1"].Domain }, schema.RuleD05, "already declared"},
		{"negative threshold", func(f *schema.Fleet) { f.DNSClusters["web0"].FailureThreshold.N = -1 }, schema.RuleD06, "failureThreshold -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fleetgen.Generate(fleetgen.Small)
			tt.break_(f)
			ds := schema.Check(f)
			// One problem, or one per account the broken object serves; never another rule.
			if len(ds) == 0 || !strings.Contains(ds[0].Message, tt.msg) {
				t.Fatalf("want %s problems, the first containing %q, got:\n%s", tt.rule, tt.msg, ds.Error())
			}
			for _, d := range ds {
				if d.Rule != tt.rule {
					t.Fatalf("want only %s problems, got:\n%s", tt.rule, ds.Error())
				}
			}
		})
	}
}

func TestCheckValidFleets(t *testing.T) {
	if ds := schema.Check(fleetgen.Generate(fleetgen.Small)); len(ds) > 0 {
		t.Fatalf("generated fleet has problems:\n%s", ds.Error())
	}
	if ds := schema.Check(nil); ds != nil {
		t.Fatalf("Check(nil) = %v", ds)
	}
	// A disabled cluster with no members is a way of saying "no cluster": not D01.
	f := fleetgen.Generate(fleetgen.Small)
	f.DNSClusters["web0"].Enabled, f.DNSClusters["web0"].Members = false, nil
	if ds := schema.Check(f); len(ds) > 0 {
		t.Fatalf("disabled empty cluster:\n%s", ds.Error())
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		f    *schema.Fleet
		want string
	}{
		{nil, "fleet OK: 0 nodes, 0 resellers, 0 accounts, 0 DNS clusters"},
		{&schema.Fleet{Nodes: map[string]*schema.Node{"a": {}}, Resellers: map[string]*schema.Reseller{"r": {}},
			Accounts: map[string]*schema.Account{"x": {}}, DNSClusters: map[string]*schema.DNSCluster{"a": {}}},
			"fleet OK: 1 node, 1 reseller, 1 account, 1 DNS cluster"},
		{fleetgen.Generate(fleetgen.Small), "fleet OK: 8 nodes, 2 resellers, 20 accounts, 2 DNS clusters"},
	}
	for _, tt := range tests {
		if got := schema.Summary(tt.f); got != tt.want {
			t.Errorf("Summary = %q, want %q", got, tt.want)
		}
	}
}

// TestLoadChunkedGeneratedFleet: a generated fleet cut into small chunks loads to the
// same fleet, positions included, as when parsed whole.
func TestLoadChunkedGeneratedFleet(t *testing.T) {
	path := t.TempDir() + "/fleet.yaml"
	cfg := fleetgen.Large(2000)
	if _, err := fleetgen.WriteFile(path, cfg); err != nil {
		t.Fatal(err)
	}
	whole, ds1 := schema.LoadChunked(path, 1<<30, 1<<30)
	chunked, ds2 := schema.LoadChunked(path, 0, 4096)
	if len(ds1)+len(ds2) > 0 {
		t.Fatalf("problems:\n%s\n%s", ds1.Error(), ds2.Error())
	}
	if !reflect.DeepEqual(whole, chunked) {
		t.Fatal("chunked load differs from whole load")
	}
}

// TestChunkedErrorsKeepTheirLines: in a big file cut into chunks, a syntax error or a
// rule broken deep in the file is reported at its line in the file.
func TestChunkedErrorsKeepTheirLines(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/fleet.yaml"
	if _, err := fleetgen.WriteFile(path, fleetgen.Large(3000)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	// The line with the domain of the last account but one, far into the file (a
	// block of its own or, for a small account, one flow line).
	const domain = "domain: u2998.example"
	target := -1
	for i := len(lines) - 1; i >= 0 && target < 0; i-- {
		if strings.Contains(lines[i], domain) {
			target = i
		}
	}
	if target < 0 {
		t.Fatal("account u2998 not found in the generated file")
	}
	tests := []struct {
		name, domain, rule string
	}{
		{"rule", "domain: U2998.example", schema.RuleA02},
		{"syntax", "domain: [u2998.example", schema.RuleLoad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken := append([]string(nil), lines...)
			broken[target] = strings.Replace(lines[target], domain, tt.domain, 1)
			p := dir + "/" + tt.name + ".yaml"
			if err := os.WriteFile(p, []byte(strings.Join(broken, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			_, ds := schema.LoadChunked(p, 0, 4096)
			if len(ds) == 0 || ds[0].Rule != tt.rule {
				t.Fatalf("want %s, got:\n%s", tt.rule, ds.Error())
			}
			// yaml.v3 reports an unclosed flow sequence where it gave up: at or after
			// the line that opened it.
			if ds[0].Pos.Line < target+1 || ds[0].Pos.Line > target+3 {
				t.Errorf("reported at line %d, the broken line is %d:\n%s", ds[0].Pos.Line, target+1, ds.Error())
			}
		})
	}
}

package planfile

import (
	"fmt"
	"testing"

	"github.com/tether-dev/tether/schema"
)

// benchFleet is an observed fleet of the plan benchmark's shape: n accounts (a third
// on a mail child, each with features) and a reseller per hundred, on 200 parents with
// two children and two DNS-only members each.
func benchFleet(n int) *schema.Fleet {
	f := &schema.Fleet{Nodes: map[string]*schema.Node{}, Accounts: map[string]*schema.Account{},
		Resellers: map[string]*schema.Reseller{}, DNSClusters: map[string]*schema.DNSCluster{}}
	for p := range 200 {
		web := fmt.Sprintf("web%03d", p)
		f.Nodes[web] = &schema.Node{Role: schema.RoleParent, Host: web + ".example.net", Version: 118, Profile: schema.ProfileStandard,
			PasswordStrength: map[string]int{"cpanel": 65, "list": 60, "virtual": 70}}
		cl := &schema.DNSCluster{Enabled: true, Members: map[string]*schema.Member{}}
		for c := range 2 {
			mail, ns := fmt.Sprintf("mail%03d-%d", p, c), fmt.Sprintf("ns%03d-%d", p, c)
			f.Nodes[mail] = &schema.Node{Role: schema.RoleChild, Parent: web, Host: mail + ".example.net", Version: 118,
				Profile: schema.ProfileMailNode, Services: []string{"mail"}, PasswordStrength: map[string]int{"list": 60, "virtual": 70}}
			f.Nodes[ns] = &schema.Node{Role: schema.RoleDNSOnly, Host: ns + ".example.net", Version: 118, Profile: schema.ProfileDNSNode}
			cl.Members[ns] = &schema.Member{Backend: "cpanel", Node: ns, Role: schema.DNSRoleSync}
		}
		f.DNSClusters[web] = cl
	}
	for i := range n {
		u := fmt.Sprintf("u%06d", i)
		a := &schema.Account{Parent: fmt.Sprintf("web%03d", i%200), Domain: u + ".example", Plan: "default",
			ContactEmail: "admin@" + u + ".example", Features: map[string]bool{"apitokens": true}}
		if i%3 == 0 {
			a.Mail = &schema.MailPlacement{Node: fmt.Sprintf("mail%03d-0", i%200)}
		}
		if i%100 == 0 {
			f.Resellers[u] = &schema.Reseller{Account: *a}
			continue
		}
		f.Accounts[u] = a
	}
	return f
}

// BenchmarkFingerprint100k fingerprints an observed fleet of 100k accounts on 1,000
// nodes, as every plan of that fleet does.
func BenchmarkFingerprint100k(b *testing.B) {
	f := benchFleet(100_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Fingerprint(f); err != nil {
			b.Fatal(err)
		}
	}
}

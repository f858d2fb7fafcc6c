// Package fleetgen generates synthetic fleets of any size, deterministically, for
// benchmarks, load tests and the sandbox. A generated fleet is valid: it passes every
// rule of schema.Check. It comes back both as a *schema.Fleet and as YAML text written
// the way an operator would write it, by the one fleet writer (internal/fleetcode).
package fleetgen

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tether-dev/tether/internal/fleetcode"
	"github.com/tether-dev/tether/schema"
)

// Config sizes a fleet. Zero fields take the defaults of Small.
type Config struct {
	Parents           int // parent (web) nodes
	ChildrenPerParent int // mail children linked to each parent
	DNSOnlyPerParent  int // DNS-only nodes in each parent's DNS cluster (0: no clusters)
	Resellers         int // spread over the parents
	Accounts          int // spread over the parents; one in three on a child
	Version           int // cPanel & WHM major version of every node
}

// Small is a fleet for quick tests: 2 parents, 2 children each, 1 DNS-only each.
var Small = Config{Parents: 2, ChildrenPerParent: 2, DNSOnlyPerParent: 1, Resellers: 2, Accounts: 20, Version: 118}

// Large returns a 1000-node fleet (200 parents, each with 2 mail children and 2
// DNS-only cluster members) with the given number of accounts and one reseller per
// 100 accounts: the shape of the 100k-account performance target.
func Large(accounts int) Config {
	return Config{Parents: 200, ChildrenPerParent: 2, DNSOnlyPerParent: 2, Resellers: max(1, accounts/100), Accounts: accounts, Version: 118}
}

func (c Config) withDefaults() Config {
	if c.Parents <= 0 {
		c.Parents = Small.Parents
	}
	if c.Version <= 0 {
		c.Version = Small.Version
	}
	c.ChildrenPerParent = max(0, c.ChildrenPerParent)
	c.DNSOnlyPerParent = max(0, c.DNSOnlyPerParent)
	c.Resellers = max(0, c.Resellers)
	c.Accounts = max(0, c.Accounts)
	return c
}

func width(n int) int { return len(strconv.Itoa(max(1, n-1))) }

// Names used by Generate, exposed so tests and the sandbox can find objects.
func ParentName(p, parents int) string { return fmt.Sprintf("web%0*d", width(parents), p) }
func ChildName(p, parents, k int) string {
	return fmt.Sprintf("mail%0*d-%d", width(parents), p, k)
}
func DNSOnlyName(p, parents, k int) string { return fmt.Sprintf("ns%0*d-%d", width(parents), p, k) }
func ResellerName(r, resellers int) string { return fmt.Sprintf("r%0*d", width(resellers), r) }
func AccountName(i, accounts int) string   { return fmt.Sprintf("u%0*d", width(accounts), i) }

// Generate builds the fleet: the same Config always gives the same fleet.
func Generate(cfg Config) *schema.Fleet {
	c := cfg.withDefaults()
	f := &schema.Fleet{
		Nodes:       make(map[string]*schema.Node, c.Parents*(1+c.ChildrenPerParent+c.DNSOnlyPerParent)),
		Resellers:   make(map[string]*schema.Reseller, c.Resellers),
		Accounts:    make(map[string]*schema.Account, c.Accounts),
		DNSClusters: map[string]*schema.DNSCluster{},
	}
	ip := 0
	nextIP := func() string {
		ip++
		return fmt.Sprintf("10.%d.%d.%d", ip/65536%256, ip/256%256, ip%256)
	}
	for p := 0; p < c.Parents; p++ {
		pn := ParentName(p, c.Parents)
		f.Nodes[pn] = &schema.Node{Role: schema.RoleParent, Host: pn + ".example.net", IPv4: nextIP(), Version: c.Version,
			Profile: schema.ProfileStandard, Credentials: &schema.Credentials{User: "root", TokenEnv: envName(pn)}}
		for k := 0; k < c.ChildrenPerParent; k++ {
			cn := ChildName(p, c.Parents, k)
			f.Nodes[cn] = &schema.Node{Role: schema.RoleChild, Parent: pn, Host: cn + ".example.net", IPv4: nextIP(), Version: c.Version,
				Profile: schema.ProfileMailNode, Services: []string{schema.ServiceMail},
				Credentials:      &schema.Credentials{User: "root", TokenEnv: envName(cn)},
				PasswordStrength: map[string]int{"virtual": 70, "list": 60}}
		}
		if c.DNSOnlyPerParent == 0 {
			continue
		}
		cl := &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{N: 10}, NotifyOnDisable: true, Members: map[string]*schema.Member{}}
		for k := 0; k < c.DNSOnlyPerParent; k++ {
			dn := DNSOnlyName(p, c.Parents, k)
			f.Nodes[dn] = &schema.Node{Role: schema.RoleDNSOnly, Host: dn + ".example.net", IPv4: nextIP(), Version: c.Version,
				Credentials: &schema.Credentials{User: "root", TokenEnv: envName(dn)}}
			role := schema.DNSRoleWriteOnly
			if k == 0 {
				role = schema.DNSRoleSync
			}
			cl.Members[dn] = &schema.Member{Node: dn, Role: role}
		}
		f.DNSClusters[pn] = cl
	}
	// Resellers: r lives on parent r % Parents; its mail on the parent.
	resellersOf := make([][]string, c.Parents)
	for r := 0; r < c.Resellers; r++ {
		rn := ResellerName(r, c.Resellers)
		p := r % c.Parents
		limit := 500
		f.Resellers[rn] = &schema.Reseller{
			Account: schema.Account{Parent: ParentName(p, c.Parents), Domain: rn + "-hosting.example", Plan: "reseller", ContactEmail: rn + "@example.org"},
			ACLs:    []string{"list-accts", "create-acct", "suspend-acct"},
			Limits:  &schema.ResellerLimits{Accounts: &limit},
		}
		resellersOf[p] = append(resellersOf[p], rn)
	}
	// Accounts: i lives on parent i % Parents; one in three has mail on a child, one in
	// four is owned by a reseller of its parent.
	for i := 0; i < c.Accounts; i++ {
		an := AccountName(i, c.Accounts)
		p := i % c.Parents
		a := &schema.Account{Parent: ParentName(p, c.Parents), Domain: an + ".example", Plan: "basic", ContactEmail: an + "@example.org"}
		if rs := resellersOf[p]; len(rs) > 0 && i%4 == 1 {
			a.Owner = rs[(i/c.Parents)%len(rs)]
		}
		if c.ChildrenPerParent > 0 && i%3 == 2 {
			a.Mail = &schema.MailPlacement{Node: ChildName(p, c.Parents, (i/c.Parents)%c.ChildrenPerParent)}
			a.Features = map[string]bool{"apitokens": true}
			a.AutoSSL = &schema.AutoSSL{DCV: []string{"dns", "http"}}
		}
		if i%5 == 0 {
			a.Forwarders = []schema.Forwarder{{From: "info", To: an + "@example.org"}}
		}
		f.Accounts[an] = a
	}
	return f
}

func envName(node string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_").Replace(node)) + "_WHM_TOKEN"
}

// WriteFile generates the fleet for cfg and writes it to path as one YAML file.
func WriteFile(path string, cfg Config) (*schema.Fleet, error) {
	f := Generate(cfg)
	if err := writeTo(path, f); err != nil {
		return nil, err
	}
	return f, nil
}

// WriteDir generates the fleet for cfg and writes it to dir split by parent, one file
// per parent (its nodes, resellers, accounts and DNS cluster) and fleet.yaml for what
// belongs to none (DNS-only nodes), the way a large fleet is kept in a folder and the
// way import splits one (fleetcode.SplitByParent).
func WriteDir(dir string, cfg Config) (*schema.Fleet, error) {
	f := Generate(cfg)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fleetgen: %w", err)
	}
	for stem, part := range fleetcode.SplitByParent(f) {
		if err := writeTo(filepath.Join(dir, stem+".yaml"), part); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func writeTo(path string, f *schema.Fleet) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("fleetgen: %w", err)
	}
	if err := WriteYAML(out, f); err != nil {
		out.Close()
		return fmt.Errorf("fleetgen: write %s: %w", path, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("fleetgen: write %s: %w", path, err)
	}
	return nil
}

// WriteYAML writes any fleet as YAML through the one fleet writer
// (fleetcode.YAML): the documented layout, names sorted, small objects in flow
// style, every field the model has; inline secrets are never written.
func WriteYAML(w io.Writer, f *schema.Fleet) error { return fleetcode.YAML(w, f, "", nil) }

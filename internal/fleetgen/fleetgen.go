// Package fleetgen generates synthetic fleets of any size, deterministically, for
// benchmarks, load tests and the sandbox. A generated fleet is valid: it passes every
// rule of schema.Check. It comes back both as a *schema.Fleet and as YAML text written
// the way an operator would write it.
package fleetgen

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

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
// per parent (its nodes, resellers, accounts and DNS cluster), the way a large fleet is
// kept in a folder.
func WriteDir(dir string, cfg Config) (*schema.Fleet, error) {
	f := Generate(cfg)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fleetgen: %w", err)
	}
	byParent := map[string]*schema.Fleet{}
	get := func(p string) *schema.Fleet {
		if byParent[p] == nil {
			byParent[p] = &schema.Fleet{Nodes: map[string]*schema.Node{}, Resellers: map[string]*schema.Reseller{},
				Accounts: map[string]*schema.Account{}, DNSClusters: map[string]*schema.DNSCluster{}}
		}
		return byParent[p]
	}
	owner := map[string]string{} // DNS-only node -> parent whose cluster it serves
	for p, cl := range f.DNSClusters {
		get(p).DNSClusters[p] = cl
		for _, m := range cl.Members {
			owner[m.Node] = p
		}
	}
	for name, n := range f.Nodes {
		switch {
		case n.Role == schema.RoleParent:
			get(name).Nodes[name] = n
		case n.Role == schema.RoleChild:
			get(n.Parent).Nodes[name] = n
		default:
			get(owner[name]).Nodes[name] = n
		}
	}
	for name, r := range f.Resellers {
		get(r.Parent).Resellers[name] = r
	}
	for name, a := range f.Accounts {
		get(a.Parent).Accounts[name] = a
	}
	for p, part := range byParent {
		file := "fleet.yaml"
		if p != "" {
			file = p + ".yaml"
		}
		if err := writeTo(filepath.Join(dir, file), part); err != nil {
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

// WriteYAML writes any fleet as YAML in the documented layout, names sorted, one
// object per block, short sub-objects in flow style. Inline secrets are never written.
func WriteYAML(w io.Writer, f *schema.Fleet) error {
	b := bufio.NewWriterSize(w, 1<<16)
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	if pol := f.Policy; pol != nil {
		p("policy:\n")
		p("  prune: %t\n", pol.Prune)
		if pol.MaxRemovePercent != nil {
			p("  maxRemovePercent: %d\n", *pol.MaxRemovePercent)
		}
		if pol.Drift != "" {
			p("  drift: %s\n", q(pol.Drift))
		}
		if pol.NotifyWebhook != "" {
			p("  notifyWebhook: %s\n", q(pol.NotifyWebhook))
		}
	}
	if len(f.Nodes) > 0 {
		p("nodes:\n")
		for _, name := range sorted(f.Nodes) {
			n := f.Nodes[name]
			p("  %s:\n    role: %s\n", q(name), q(n.Role))
			if n.Parent != "" {
				p("    parent: %s\n", q(n.Parent))
			}
			if n.Host != "" {
				p("    host: %s\n", q(n.Host))
			}
			if n.IPv4 != "" {
				p("    ipv4: %s\n", q(n.IPv4))
			}
			if n.IPv6 != "" {
				p("    ipv6: %s\n", q(n.IPv6))
			}
			if n.Version != 0 {
				p("    version: %d\n", n.Version)
			}
			if n.Profile != "" {
				p("    profile: %s\n", q(n.Profile))
			}
			if n.Services != nil {
				p("    services: %s\n", list(n.Services))
			}
			if n.Port != 0 {
				p("    port: %d\n", n.Port)
			}
			if n.Address != "" {
				p("    address: %s\n", q(n.Address))
			}
			if n.TLS != nil {
				var kv []string
				if n.TLS.CAFile != "" {
					kv = append(kv, "caFile: "+q(n.TLS.CAFile))
				}
				if n.TLS.Fingerprint != "" {
					kv = append(kv, "fingerprint: "+q(n.TLS.Fingerprint))
				}
				if n.TLS.Insecure {
					kv = append(kv, "insecure: true")
				}
				p("    tls: {%s}\n", strings.Join(kv, ", "))
			}
			if c := n.Credentials; c != nil {
				var kv []string
				for _, x := range [][2]string{{"user", c.User}, {"tokenEnv", c.TokenEnv}, {"tokenFile", c.TokenFile}} {
					if x[1] != "" {
						kv = append(kv, x[0]+": "+q(x[1]))
					}
				}
				p("    credentials: {%s}\n", strings.Join(kv, ", "))
			}
			if len(n.PasswordStrength) > 0 {
				var kv []string
				for _, k := range sorted(n.PasswordStrength) {
					kv = append(kv, fmt.Sprintf("%s: %d", k, n.PasswordStrength[k]))
				}
				p("    passwordStrength: {%s}\n", strings.Join(kv, ", "))
			}
			if n.Lost {
				p("    lost: true\n")
			}
		}
	}
	if len(f.Resellers) > 0 {
		p("resellers:\n")
		for _, name := range sorted(f.Resellers) {
			r := f.Resellers[name]
			p("  %s:\n", q(name))
			writeAccount(b, &r.Account)
			if r.ACLs != nil {
				p("    acls: %s\n", list(r.ACLs))
			}
			if r.Limits != nil && r.Limits.Accounts != nil {
				p("    limits: {accounts: %d}\n", *r.Limits.Accounts)
			}
		}
	}
	if len(f.Accounts) > 0 {
		p("accounts:\n")
		for _, name := range sorted(f.Accounts) {
			p("  %s:\n", q(name))
			writeAccount(b, f.Accounts[name])
		}
	}
	if len(f.DNSClusters) > 0 {
		p("dnsClusters:\n")
		for _, name := range sorted(f.DNSClusters) {
			cl := f.DNSClusters[name]
			p("  %s:\n    enabled: %t\n", q(name), cl.Enabled)
			switch {
			case cl.FailureThreshold.Never:
				p("    failureThreshold: never\n")
			case cl.FailureThreshold.N != 0:
				p("    failureThreshold: %d\n", cl.FailureThreshold.N)
			}
			if cl.NotifyOnDisable {
				p("    notifyOnDisable: true\n")
			}
			if len(cl.Members) > 0 {
				p("    members:\n")
			}
			for _, mn := range sorted(cl.Members) {
				m := cl.Members[mn]
				var kv []string
				add := func(k, v string) {
					if v != "" {
						kv = append(kv, k+": "+q(v))
					}
				}
				add("backend", m.Backend)
				add("node", m.Node)
				add("host", m.Host)
				add("address", m.Address)
				add("software", m.Software)
				add("role", m.Role)
				if m.DNSSEC {
					kv = append(kv, "dnssec: true")
				}
				if t := m.TSIG; t != nil {
					var tk []string
					for _, x := range [][2]string{{"name", t.Name}, {"algorithm", t.Algorithm}, {"secretEnv", t.SecretEnv}, {"secretFile", t.SecretFile}} {
						if x[1] != "" {
							tk = append(tk, x[0]+": "+q(x[1]))
						}
					}
					kv = append(kv, "tsig: {"+strings.Join(tk, ", ")+"}")
				}
				p("      %s: {%s}\n", q(mn), strings.Join(kv, ", "))
			}
		}
	}
	return b.Flush()
}

func writeAccount(b *bufio.Writer, a *schema.Account) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("    parent: %s\n    domain: %s\n", q(a.Parent), q(a.Domain))
	if a.Owner != "" {
		p("    owner: %s\n", q(a.Owner))
	}
	if a.Plan != "" {
		p("    plan: %s\n", q(a.Plan))
	}
	if a.ContactEmail != "" {
		p("    contactEmail: %s\n", q(a.ContactEmail))
	}
	if a.IPv6 {
		p("    ipv6: true\n")
	}
	if len(a.Features) > 0 {
		var kv []string
		for _, k := range sorted(a.Features) {
			kv = append(kv, fmt.Sprintf("%s: %t", q(k), a.Features[k]))
		}
		p("    features: {%s}\n", strings.Join(kv, ", "))
	}
	if a.Mail != nil && a.Mail.Node != "" {
		p("    mail: {node: %s}\n", q(a.Mail.Node))
	}
	if a.AutoSSL != nil {
		p("    autossl: {dcv: %s}\n", list(a.AutoSSL.DCV))
	}
	if len(a.Forwarders) > 0 {
		p("    forwarders:\n")
		for _, fw := range a.Forwarders {
			p("      - {from: %s, to: %s}\n", q(fw.From), q(fw.To))
		}
	}
	if a.Suspended {
		p("    suspended: true\n")
	}
	if a.Protect {
		p("    protect: true\n")
	}
	if a.DNSSEC {
		p("    dnssec: true\n")
	}
}

func sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var plain = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./@+-]*$`)

// q writes a string plain when YAML would read it back as the same string, quoted
// otherwise (YAML double quotes accept Go's escapes for the text we write).
func q(s string) string {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "":
		return strconv.Quote(s)
	}
	if plain.MatchString(s) && !strings.Contains(s, ": ") && !strings.Contains(s, " #") {
		return s
	}
	if isIPish(s) {
		return s
	}
	return strconv.Quote(s)
}

var ipish = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$`)

// isIPish: a dotted quad is a string in YAML (not a float), so it stays plain.
func isIPish(s string) bool { return ipish.MatchString(s) }

func list(xs []string) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = q(x)
	}
	return "[" + strings.Join(out, ", ") + "]"
}

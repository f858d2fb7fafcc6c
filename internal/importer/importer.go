// Package importer turns an observed fleet into fleet code an operator can adopt: the
// nodes they declared (parents with hosts and credentials) are kept as written and
// completed with what the servers report; everything else — linked children,
// resellers, accounts, the DNS cluster — comes from observation. Where something
// could not be read, a comment says so instead of a guess.
package importer

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/tether-dev/tether/internal/fleetcode"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// Result is an imported fleet and the comments to write with it.
type Result struct {
	Fleet    *schema.Fleet
	Comments fleetcode.Comments
	// Notes are things the operator must finish by hand, for the command's report.
	Notes []string
}

// Build merges the declared nodes with the observed fleet.
func Build(declared, observed *schema.Fleet) *Result {
	out := &schema.Fleet{
		Policy:      declared.Policy,
		Nodes:       map[string]*schema.Node{},
		Resellers:   map[string]*schema.Reseller{},
		Accounts:    map[string]*schema.Account{},
		DNSClusters: map[string]*schema.DNSCluster{},
	}
	r := &Result{Fleet: out, Comments: fleetcode.Comments{}}
	for name, n := range declared.Nodes {
		out.Nodes[name] = n.Clone()
	}
	for _, name := range slices.Sorted(maps.Keys(observed.Nodes)) {
		o := observed.Nodes[name]
		n, declaredNode := out.Nodes[name]
		if !declaredNode {
			n = &schema.Node{Role: o.Role, Parent: o.Parent, Host: o.Host}
			envName := strings.ToUpper(nonAlnum.ReplaceAllString(name, "_")) + "_WHM_TOKEN"
			n.Credentials = &schema.Credentials{User: "root", TokenEnv: envName}
			r.Comments[plan.NodeAddress(name)] = fmt.Sprintf("Linked to %s. Put a WHM API token for this child (ACL all) in $%s.", o.Parent, envName)
			r.Notes = append(r.Notes, fmt.Sprintf("node %s: set $%s to its WHM API token", name, envName))
			out.Nodes[name] = n
		}
		// What the servers report wins over what was declared: the import describes
		// the fleet as it is.
		if o.Version != 0 {
			n.Version = o.Version
		}
		if o.Profile != "" {
			n.Profile = o.Profile
		}
		if len(o.Services) > 0 {
			n.Services = append([]string(nil), o.Services...)
		}
		if len(o.PasswordStrength) > 0 {
			n.PasswordStrength = maps.Clone(o.PasswordStrength)
		}
		// A profile's optional roles as the server has them, so the imported fleet
		// states them (STANDARD has none: every role is on).
		if len(o.OptionalRoles) > 0 && o.Profile != schema.ProfileStandard {
			n.OptionalRoles = maps.Clone(o.OptionalRoles)
		}
		if o.Role != "" {
			n.Role = o.Role
		}
		if o.Parent != "" {
			n.Parent = o.Parent
		}
		if n.IPv4 == "" && o.IPv4 != "" {
			n.IPv4 = o.IPv4
		}
		if n.Role == schema.RoleChild && n.IPv4 == "" {
			r.Comments[plan.NodeAddress(name)] = joinComment(r.Comments[plan.NodeAddress(name)],
				"Its IPv4 address could not be read from the parent; add ipv4 for `tether dns verify`.")
		}
		if !declaredNode && n.Version == 0 {
			r.Comments[plan.NodeAddress(name)] = joinComment(r.Comments[plan.NodeAddress(name)], "Its version could not be read (no endpoint for it): set version.")
		}
	}
	for name, a := range observed.Accounts {
		out.Accounts[name] = cleanAccount(a)
	}
	for name, rs := range observed.Resellers {
		c := rs.Clone()
		c.Account = *cleanAccount(&rs.Account)
		out.Resellers[name] = c
		if rs.ACLs == nil {
			r.Comments[plan.ResellerAddress(name)] = "Its ACLs could not be read; add acls: to manage them."
		}
	}
	for parent, cl := range observed.DNSClusters {
		out.DNSClusters[parent] = importCluster(parent, cl, out, r)
	}
	return r
}

var nonAlnum = regexp.MustCompile(`[^A-Za-z0-9]+`)

// aliasRe is a valid node name (a WHM link alias).
var aliasRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,50}$`)

// importCluster names cPanel members after fleet nodes: an existing node with the
// member's host, else a new DNS-only node named from the host's first label.
func importCluster(parent string, cl *schema.DNSCluster, out *schema.Fleet, r *Result) *schema.DNSCluster {
	c := *cl
	c.Src = schema.Source{}
	c.Members = map[string]*schema.Member{}
	byHost := map[string]string{}
	for name, n := range out.Nodes {
		if n.Host != "" {
			byHost[strings.ToLower(n.Host)] = name
		}
	}
	for _, key := range slices.Sorted(maps.Keys(cl.Members)) {
		m := cl.Members[key].Clone()
		m.Disabled = false // observed health, not configuration
		m.Zones = nil
		name := key
		if m.OnNode() && m.Node == "" {
			host := strings.ToLower(key)
			node, ok := byHost[host]
			if !ok {
				node = strings.SplitN(host, ".", 2)[0]
				if !aliasRe.MatchString(node) || out.Nodes[node] != nil {
					node = "dns-" + nonAlnum.ReplaceAllString(host, "-")
				}
				env := strings.ToUpper(nonAlnum.ReplaceAllString(node, "_")) + "_WHM_TOKEN"
				out.Nodes[node] = &schema.Node{Role: schema.RoleDNSOnly, Host: host,
					Credentials: &schema.Credentials{User: "root", TokenEnv: env}}
				byHost[host] = node
				r.Comments[plan.NodeAddress(node)] = fmt.Sprintf("A member of %s's DNS cluster. Its version could not be read: set version, and put a WHM API token in $%s.", parent, env)
				r.Notes = append(r.Notes, fmt.Sprintf("node %s: set its version and $%s", node, env))
			}
			m.Node, name = node, node
		}
		if cl.Members[key].Disabled {
			r.Comments[plan.MemberAddress(parent, name)] = "Disabled on the server after too many failures; re-enable it with `tether dns enable " + name + "`."
		}
		c.Members[name] = m
	}
	return &c
}

// cleanAccount copies an observed account (schema's Clone) in the fleet's terms: the
// root owner and a mail placement on the parent are written as nothing.
func cleanAccount(a *schema.Account) *schema.Account {
	c := a.Clone()
	if c.Owner == "root" {
		c.Owner = ""
	}
	if c.Mail != nil && c.Mail.Node == "" && len(c.Mail.ExtraNodes) == 0 {
		c.Mail = nil
	}
	if c.Mail != nil && len(c.Mail.ExtraNodes) == 0 {
		c.Mail.ExtraNodes = nil
	}
	return c
}

func joinComment(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}

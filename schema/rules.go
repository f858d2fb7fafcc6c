package schema

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Check runs the rules of DESIGN.md's table that look across objects or at values the
// model holds (names, domains, references, linked-node and DNS-cluster rules) on a
// decoded fleet, whatever it was loaded from: YAML, CUE, or observed from servers.
// Types, enums and required fields are the loaders' job (TETHER-SCHEMA). Problems come
// back sorted, each at the field that is wrong when the fleet carries positions.
//
// Field paths used with Source.At are the YAML paths relative to the object:
// "mail.node", "mail.node[1]", "features.apitokens", "forwarders[0].to",
// "credentials.token", "tsig.secret", "passwordStrength.ftp", "autossl.dcv".
func Check(f *Fleet) Diagnostics {
	if f == nil {
		return nil
	}
	// The domain pass (every domain of the fleet in one map) and the per-object
	// passes read the fleet only and cost about the same on a large one (100k
	// accounts: ≈0.15 CPU-s each), so they run on two cores. Each has its own
	// checker; the diagnostics are joined in the order one checker would have found
	// them, then sorted, so the result is the same.
	var dc checker
	done := make(chan struct{})
	go func() {
		defer close(done)
		dc = checker{f: f}
		dc.domains()
	}()
	c := checker{f: f}
	c.nodes()
	c.accounts()
	c.clusters()
	<-done
	return append(c.ds, dc.ds...).Sort()
}

type checker struct {
	f  *Fleet
	ds Diagnostics
	// suggestions caches didYouMean by kind and name: a renamed node can break
	// thousands of references, each deserving the hint, none paying for it again.
	suggestions map[string]string
	candidates  map[string][]string // names of each kind, sorted, built on first use
}

// didYouMean returns the fix for a reference to an unknown name: the nearest name of
// that kind ("parent", "child", "node", "reseller") when one is close, else fallback.
func (c *checker) didYouMean(kind, name, fallback string) string {
	key := kind + "\x00" + name
	if s, ok := c.suggestions[key]; ok {
		return s
	}
	names, ok := c.candidates[kind]
	if !ok {
		if kind == "reseller" {
			names = slices.Sorted(maps.Keys(c.f.Resellers))
		} else {
			for _, n := range slices.Sorted(maps.Keys(c.f.Nodes)) {
				if role := c.f.Nodes[n].Role; kind == "node" || kind == "parent" && role == RoleParent || kind == "child" && role == RoleChild {
					names = append(names, n)
				}
			}
		}
		if c.candidates == nil {
			c.candidates = map[string][]string{}
		}
		c.candidates[kind] = names
	}
	fix := fallback
	if near := nearest(name, names); near != "" {
		fix = fmt.Sprintf("did you mean %s? otherwise %s", near, fallback)
	}
	if c.suggestions == nil {
		c.suggestions = map[string]string{}
	}
	c.suggestions[key] = fix
	return fix
}

func (c *checker) add(p Pos, rule, msg, fix string) { c.ds.Add(p, rule, msg, fix) }

func (c *checker) nodes() {
	for _, name := range slices.Sorted(maps.Keys(c.f.Nodes)) {
		n := c.f.Nodes[name]
		if n == nil {
			continue
		}
		obj := "node " + name
		if p := aliasProblem(name); p != "" {
			c.add(n.Src.Key, RuleL10, fmt.Sprintf("%s: the name %q %s; it is the WHM link alias", obj, short(name), p),
				"rename it with letters, digits, \"_\" or \"-\", at most 50 characters")
		}
		if n.Host != "" {
			if p := domainProblem(n.Host); p != "" {
				c.add(n.Src.At("host"), RuleA02, fmt.Sprintf("%s: host %q %s", obj, short(n.Host), p),
					"write the server's fully qualified host name (WHM links by host name, not IP)")
			}
		}
		if n.Credentials != nil && n.Credentials.Token != "" {
			c.add(firstValid(n.Credentials.Src.At("token"), n.Src.At("credentials.token")), RuleS01,
				obj+": credentials.token holds a WHM API token written in the file",
				"remove it, revoke the token, and reference it with tokenEnv: VAR or tokenFile: PATH")
		}
		if n.LinkCredentials != nil && n.LinkCredentials.Token != "" {
			c.add(firstValid(n.LinkCredentials.Src.At("token"), n.Src.At("linkCredentials.token")), RuleS01,
				obj+": linkCredentials.token holds a WHM API token written in the file",
				"remove it, revoke the token, and reference it with tokenEnv: VAR or tokenFile: PATH")
		}
		c.optionalRoles(name, n)
		switch n.Role {
		case RoleParent:
			if n.Profile != "" && n.Profile != ProfileStandard {
				c.add(n.Src.At("profile"), RuleL01, fmt.Sprintf("%s: a parent's profile is %s; a parent only uses STANDARD", obj, n.Profile),
					"set profile: STANDARD or remove the line")
			}
		case RoleChild:
			c.child(name, n)
		}
	}
}

// optionalRoles checks that each role named is optional in the node's profile
// (Profile.pm %_META): start_profile_activation refuses any other. Without a declared
// profile there is nothing to check against.
func (c *checker) optionalRoles(name string, n *Node) {
	if n.Profile == "" {
		return
	}
	allowed := OptionalRolesOf[n.Profile]
	for _, r := range slices.Sorted(maps.Keys(n.OptionalRoles)) {
		if !contains(allowed, r) {
			fix := "remove it: the " + n.Profile + " profile has no optional roles"
			if len(allowed) > 0 {
				fix = "the " + n.Profile + " profile's optional roles are " + strings.Join(allowed, ", ")
			}
			c.add(n.Src.At("optionalRoles."+r), RuleSchema, fmt.Sprintf("node %s: %s is not an optional role of the %s profile", name, r, n.Profile), fix)
		}
	}
}

func (c *checker) child(name string, n *Node) {
	obj := "node " + name
	if n.Parent != "" {
		p, ok := c.f.Nodes[n.Parent]
		switch {
		case !ok || p == nil:
			c.add(n.Src.At("parent"), RuleR01, fmt.Sprintf("%s: parent %s names no node of the fleet", obj, n.Parent),
				c.didYouMean("parent", n.Parent, "name a node declared under nodes: with role: parent"))
		case p.Role != RoleParent:
			c.add(n.Src.At("parent"), RuleL03, fmt.Sprintf("%s: parent %s is a %s node, not a parent; a child links to exactly one parent", obj, n.Parent, roleWord(p.Role)),
				"name a node with role: parent")
		case n.Version != 0 && p.Version != 0 && n.Version != p.Version:
			c.add(n.Src.At("version"), RuleL02, fmt.Sprintf("%s: version %d differs from its parent %s's version %d", obj, n.Version, n.Parent, p.Version),
				fmt.Sprintf("run the same cPanel & WHM major version on both: version: %d", p.Version))
		}
	}
	kinds := make([]string, 0, len(n.PasswordStrength))
	for k := range n.PasswordStrength {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		if !slices.Contains(MailChildPasswordKinds, k) {
			c.add(n.Src.At("passwordStrength."+k), RuleL16, fmt.Sprintf("%s: a mail child does not govern %q password strength", obj, k),
				"set it on the parent; a mail child governs only virtual and list")
		}
	}
}

func (c *checker) isParent(name string) bool {
	n := c.f.Nodes[name]
	return n != nil && n.Role == RoleParent
}

func roleWord(role string) string {
	switch role {
	case RoleChild:
		return "child"
	case RoleDNSOnly:
		return "DNS-only"
	case "":
		return "role-less"
	}
	return role
}

// objName names an account or reseller in messages; formatted only when a problem is
// reported, so a clean 100k-account fleet costs no string building.
type objName struct{ kind, name string }

func (o objName) String() string { return o.kind + " " + o.name }

// accounts checks accounts and resellers in map order: the result is sorted anyway,
// and sorting 100k names first would cost more than the checks.
func (c *checker) accounts() {
	for name, r := range c.f.Resellers {
		if r != nil {
			c.account(name, &r.Account, objName{"reseller", name})
		}
	}
	for name, a := range c.f.Accounts {
		if a != nil {
			c.account(name, a, objName{"account", name})
		}
	}
}

func (c *checker) account(name string, a *Account, obj objName) {
	if p := userNameProblem(name); p != "" {
		c.add(a.Src.Key, RuleA01, fmt.Sprintf("%s: the cPanel user name %q %s", obj, short(name), p),
			"use lowercase letters and digits, starting with a letter, at most 16 characters, not a reserved name")
	}
	if a.Domain != "" {
		if p := domainProblem(a.Domain); p != "" {
			c.add(a.Src.At("domain"), RuleA02, fmt.Sprintf("%s: domain %q %s", obj, short(a.Domain), p),
				"write the account's main domain, e.g. example.com")
		}
	}
	c.forwarders(a, obj)
	var parent *Node
	if a.Parent != "" {
		p, ok := c.f.Nodes[a.Parent]
		switch {
		case !ok || p == nil:
			c.add(a.Src.At("parent"), RuleR01, fmt.Sprintf("%s: parent %s names no node of the fleet", obj, a.Parent),
				c.didYouMean("parent", a.Parent, "name a node declared under nodes: with role: parent"))
		case p.Role != RoleParent:
			c.add(a.Src.At("parent"), RuleR01, fmt.Sprintf("%s: parent %s is a %s node; accounts live on a parent", obj, a.Parent, roleWord(p.Role)),
				"name a node with role: parent; mail goes to a child with mail: {node: CHILD}")
		default:
			parent = p
		}
	}
	if a.Owner != "" && a.Owner != "root" {
		r, ok := c.f.Resellers[a.Owner]
		switch {
		case !ok || r == nil:
			c.add(a.Src.At("owner"), RuleR01, fmt.Sprintf("%s: owner %s names no reseller of the fleet", obj, a.Owner),
				c.didYouMean("reseller", a.Owner, "name a reseller declared under resellers:, or remove owner: for root"))
		case a.Owner == name:
			c.add(a.Src.At("owner"), RuleR01, fmt.Sprintf("%s: a reseller cannot own itself", obj), "remove owner:")
		case parent != nil && r.Parent != "" && r.Parent != a.Parent:
			c.add(a.Src.At("owner"), RuleR01, fmt.Sprintf("%s: owner %s is a reseller on %s, not on %s", obj, a.Owner, r.Parent, a.Parent),
				"put the account on its reseller's parent, or change the owner")
		}
	}
	if a.Mail != nil {
		c.mail(a, obj)
	}
	if parent != nil && a.DNSSEC {
		if cl := c.f.DNSClusters[a.Parent]; cl != nil && cl.Enabled {
			c.add(a.Src.At("dnssec"), RuleD03, fmt.Sprintf("%s: DNSSEC is on but parent %s has a DNS cluster; cPanel does not support DNSSEC in DNS clusters", obj, a.Parent),
				"set dnssec: false, or disable the DNS cluster of "+a.Parent)
		}
	}
}

// mail checks where an account's mail lives and the rules for distributed accounts.
func (c *checker) mail(a *Account, obj objName) {
	m := a.Mail
	for i, extra := range m.ExtraNodes {
		c.add(a.Src.At(fmt.Sprintf("mail.node[%d]", i+1)), RuleL04, fmt.Sprintf("%s: mail names more than one child (%s and %s); one child per service", obj, m.Node, extra),
			"keep one child under mail.node")
	}
	if m.Node == "" {
		return
	}
	child, ok := c.f.Nodes[m.Node]
	distributed := false
	switch {
	case !ok || child == nil:
		c.add(a.Src.At("mail.node"), RuleR01, fmt.Sprintf("%s: mail node %s names no node of the fleet", obj, m.Node),
			c.didYouMean("child", m.Node, "name a child node declared under nodes:, or remove mail: to keep mail on the parent"))
	case child.Role != RoleChild:
		c.add(a.Src.At("mail.node"), RuleL05, fmt.Sprintf("%s: mail node %s is a %s node, not a child", obj, m.Node, roleWord(child.Role)),
			"name a child with services: [mail], or remove mail: to keep mail on the parent")
	case child.Parent != a.Parent && c.isParent(child.Parent):
		// (A child whose own parent is wrong is reported on the child, once.)
		c.add(a.Src.At("mail.node"), RuleL05, fmt.Sprintf("%s: mail node %s is a child of %s, not of the account's parent %s", obj, m.Node, child.Parent, a.Parent),
			"name a child linked to "+a.Parent)
	case child.Services != nil && !contains(child.Services, ServiceMail):
		c.add(a.Src.At("mail.node"), RuleL05, fmt.Sprintf("%s: mail node %s does not take mail; its services are [%s]", obj, m.Node, strings.Join(child.Services, ", ")),
			"add mail to the child's services, or name another child")
	default:
		distributed = true
	}
	if !distributed {
		return
	}
	if child.Lost {
		c.add(a.Src.At("mail.node"), RuleL13, fmt.Sprintf("%s: mail is on %s, which is marked lost", obj, m.Node),
			"move the account's mail back to the parent by removing mail:, or to another child; its data on the lost child is gone")
	}
	if a.IPv6 {
		c.add(a.Src.At("ipv6"), RuleL06, fmt.Sprintf("%s: IPv6 cannot be on for an account whose mail is on child %s", obj, m.Node),
			"set ipv6: false, or keep the mail on the parent")
	}
	if on, set := a.Features["apitokens"]; set && !on {
		c.add(a.Src.At("features.apitokens"), RuleL07, fmt.Sprintf("%s: the apitokens feature is off, but a distributed account needs it: the parent reaches the child with a token", obj),
			"set features.apitokens: true, or keep the mail on the parent")
	}
	if a.AutoSSL != nil && !contains(a.AutoSSL.DCV, "dns") {
		c.add(a.Src.At("autossl.dcv"), RuleL08, fmt.Sprintf("%s: AutoSSL on a distributed account needs DNS DCV", obj),
			"add dns to autossl.dcv, e.g. dcv: [dns, http]")
	}
	for i, fw := range a.Forwarders {
		if strings.HasPrefix(strings.TrimSpace(fw.To), "|") {
			c.add(a.Src.At(fmt.Sprintf("forwarders[%d].to", i)), RuleL09, fmt.Sprintf("%s: forwarder %s pipes to a program, which a distributed account does not support", obj, fw.From),
				"forward to an address instead, or keep the mail on the parent")
		}
	}
}

func (c *checker) clusters() {
	for _, key := range slices.Sorted(maps.Keys(c.f.DNSClusters)) {
		cl := c.f.DNSClusters[key]
		if cl == nil {
			continue
		}
		obj := "DNS cluster " + key
		p, ok := c.f.Nodes[key]
		switch {
		case !ok || p == nil:
			c.add(cl.Src.Key, RuleD01, fmt.Sprintf("%s: %s names no node; a DNS cluster is keyed by its parent, the web server", obj, key),
				"key the cluster by the name of a node with role: parent")
		case p.Role != RoleParent:
			c.add(cl.Src.Key, RuleD01, fmt.Sprintf("%s: %s is a %s node; a DNS cluster belongs to a parent, the web server", obj, key, roleWord(p.Role)),
				"key the cluster by the name of a node with role: parent")
		}
		servers := 1 // the parent itself
		for _, m := range cl.Members {
			if m != nil && !(m.OnNode() && m.Node == key) {
				servers++
			}
		}
		if cl.Enabled && servers < 2 {
			c.add(firstValid(cl.Src.At("members"), cl.Src.Key), RuleD01, fmt.Sprintf("%s has fewer than two servers: the parent and no other member", obj),
				"add at least one member, or set enabled: false")
		}
		if cl.FailureThreshold.N < 0 {
			c.add(cl.Src.At("failureThreshold"), RuleD06, fmt.Sprintf("%s: failureThreshold %d is not a whole number of at least 1", obj, cl.FailureThreshold.N),
				"write a whole number of failures, 1 or more, or never")
		}
		hosts := map[string]string{} // normalised host -> first member
		// In declaration order, so the second of two members is the one reported.
		mnames := slices.Sorted(maps.Keys(cl.Members))
		sort.SliceStable(mnames, func(i, j int) bool {
			a, b := cl.Members[mnames[i]], cl.Members[mnames[j]]
			return a != nil && b != nil && posLess(a.Src.Key, b.Src.Key, "", "")
		})
		for _, mname := range mnames {
			m := cl.Members[mname]
			if m == nil {
				continue
			}
			mobj := fmt.Sprintf("%s member %s", obj, mname)
			host := m.Host
			if b, ok := LookupMemberBackend(m.BackendName()); ok && b.OnNode && m.Node != "" {
				n, ok := c.f.Nodes[m.Node]
				if !ok || n == nil {
					fix := b.NodeFix
					if fix == "" {
						fix = "name a node declared under nodes:"
					}
					c.add(m.Src.At("node"), RuleR01, fmt.Sprintf("%s: node %s names no node of the fleet", mobj, m.Node),
						c.didYouMean("node", m.Node, fix))
				} else {
					host = n.Host
				}
			}
			if !m.OnNode() && m.Host != "" {
				if p := domainProblem(m.Host); p != "" {
					c.add(m.Src.At("host"), RuleA02, fmt.Sprintf("%s: host %q %s", mobj, short(m.Host), p), "write the nameserver's host name")
				}
			}
			if h := normHost(host); h != "" {
				if first, dup := hosts[h]; dup {
					p := m.Src.At("node")
					if m.Src.Has("host") {
						p = m.Src.At("host")
					}
					c.add(p, RuleD02, fmt.Sprintf("%s: host %s is also member %s's host", mobj, host, first),
						"keep one member per server; to replace a member, remove it and add the new one")
				} else {
					hosts[h] = mname
				}
			}
			if m.DNSSEC && m.Software == "powerdns" {
				c.add(m.Src.At("dnssec"), RuleD03, fmt.Sprintf("%s: a PowerDNS member must have DNSSEC disabled", mobj),
					"set dnssec: false")
			}
			if m.TSIG != nil && m.TSIG.Secret != "" {
				c.add(firstValid(m.TSIG.Src.At("secret"), m.Src.At("tsig.secret")), RuleS01, mobj+": tsig.secret holds a TSIG secret written in the file",
					"remove it, rotate the key, and reference it with secretEnv: VAR or secretFile: PATH")
			}
		}
	}
}

// domains reports a domain declared by two accounts or resellers (TETHER-D05), at
// every declaration after the first in file order.
func (c *checker) domains() {
	// Who declared a domain, named and placed only when another declares it too:
	// 100k accounts' names and positions would be made for nothing.
	type decl struct {
		obj objName
		a   *Account
	}
	first := make(map[string]decl, len(c.f.Accounts)+len(c.f.Resellers))
	var dups map[string][]decl
	note := func(domain string, x decl) {
		d := normHost(domain)
		if d == "" {
			return
		}
		if f, ok := first[d]; ok {
			if dups == nil {
				dups = map[string][]decl{}
			}
			if len(dups[d]) == 0 {
				dups[d] = append(dups[d], f)
			}
			dups[d] = append(dups[d], x)
			return
		}
		first[d] = x
	}
	for name, r := range c.f.Resellers {
		if r != nil {
			note(r.Domain, decl{obj: objName{"reseller", name}, a: &r.Account})
		}
	}
	for name, a := range c.f.Accounts {
		if a != nil {
			note(a.Domain, decl{obj: objName{"account", name}, a: a})
		}
	}
	for d, ds := range dups {
		at := func(x decl) Pos { return x.a.Src.At("domain") }
		sort.Slice(ds, func(i, j int) bool { return posLess(at(ds[i]), at(ds[j]), ds[i].obj.String(), ds[j].obj.String()) })
		p0 := at(ds[0])
		for _, x := range ds[1:] {
			where := p0.String()
			if p := at(x); p0.File == p.File && p0.Line > 0 {
				where = fmt.Sprintf("line %d", p0.Line)
			}
			c.add(at(x), RuleD05, fmt.Sprintf("%s: domain %s is already declared by %s at %s", x.obj, d, ds[0].obj, where),
				"declare each domain once; with write-only members two servers would fight over its zone")
		}
	}
}

func posLess(a, b Pos, ao, bo string) bool {
	if a.File != b.File {
		return a.File < b.File
	}
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	if a.Col != b.Col {
		return a.Col < b.Col
	}
	return ao < bo
}

func firstValid(ps ...Pos) Pos {
	for _, p := range ps {
		if p.IsValid() {
			return p
		}
	}
	return Pos{}
}

// Summary is the one line `tether validate` prints for a valid fleet, e.g.
// "fleet OK: 4 nodes, 1 reseller, 12 accounts, 1 DNS cluster".
func Summary(f *Fleet) string {
	if f == nil {
		f = &Fleet{}
	}
	return fmt.Sprintf("fleet OK: %s, %s, %s, %s",
		plural(len(f.Nodes), "node", "nodes"),
		plural(len(f.Resellers), "reseller", "resellers"),
		plural(len(f.Accounts), "account", "accounts"),
		plural(len(f.DNSClusters), "DNS cluster", "DNS clusters"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

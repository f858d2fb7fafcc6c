package schema

import (
	"fmt"
	"strings"

	"cuelang.org/go/cue"
)

// cueDecoder turns an evaluated, validated fleet into a Fleet, visiting every field
// once and recording positions as it goes. cue.Value.Decode gives no positions and is
// slower anyway (BenchmarkDecodeCUE10k: 0.47 s and 185 MB for this walk, 0.55 s and
// 250 MB for Decode, on a shared 2-core machine). Values that only the schema
// supplied (its defaults) are left at the Go zero value, which types.go defines to mean
// the same default, so a CUE fleet and the same fleet in YAML decode to equal Fleets.
type cueDecoder struct {
	idx labelIndex
	ds  Diagnostics
}

func decodeFleet(root cue.Value, idx labelIndex) (*Fleet, Diagnostics) {
	d := &cueDecoder{idx: idx}
	f := &Fleet{}
	d.each(root, func(name string, v cue.Value) {
		d.setPos(&f.Src, name, name, v)
		switch name {
		case "policy":
			f.Policy = d.policy(v)
		case "nodes":
			f.Nodes = decodeMap(d, v, name, d.node)
		case "resellers":
			f.Resellers = decodeMap(d, v, name, d.reseller)
		case "accounts":
			f.Accounts = decodeMap(d, v, name, d.account)
		case "dnsClusters":
			f.DNSClusters = decodeMap(d, v, name, d.cluster)
		}
	})
	for _, s := range []string{"nodes", "accounts", "resellers", "dnsClusters", "policy"} {
		if p, ok := f.Src.Lookup(s); ok {
			f.Src.Key = p
			break
		}
	}
	return f, d.ds
}

// each calls fn for every regular field of a struct, in order.
func (d *cueDecoder) each(v cue.Value, fn func(name string, v cue.Value)) {
	it, err := v.Fields()
	if err != nil {
		d.fail(v, "", err)
		return
	}
	for it.Next() {
		fn(it.Selector().Unquoted(), it.Value())
	}
}

// eachOf calls fn for each of fields that v has, in that order. For objects of a
// closed definition (an account, a reseller) it replaces each: cue.Value.Fields sorts
// a struct's fields topologically on every call, which was 80 % of decoding a 10k
// account fleet (BenchmarkDecodeCUE10k); a lookup by name per field of the type is a
// fraction of that. The names are the field table's (FleetFields), which a test holds
// equal to fleet.cue's definitions, so no field can be missed.
func (d *cueDecoder) eachOf(v cue.Value, fields []namedPath, fn func(name string, v cue.Value)) {
	for _, f := range fields {
		if fv := v.LookupPath(f.path); fv.Exists() {
			fn(f.name, fv)
		}
	}
}

// namedPath is a field name with its cue.Path, made once: building the path is an
// allocation per lookup otherwise, and an account is looked up field by field.
type namedPath struct {
	name string
	path cue.Path
}

// topFields are the fields of typ in the field table, without the nested ones
// ("mail.node"), plus those of the types it embeds.
func topFields(types ...string) []namedPath {
	var out []namedPath
	for _, typ := range types {
		for _, f := range FleetFields[typ] {
			if !strings.Contains(f.Name, ".") {
				out = append(out, namedPath{f.Name, cue.MakePath(cue.Str(f.Name))})
			}
		}
	}
	return out
}

var (
	cueAccountFields  = topFields("Account")
	cueResellerFields = topFields("Account", "Reseller")
)

// decodeMap decodes a section keyed by name; an empty section is a nil map, as in YAML.
func decodeMap[T any](d *cueDecoder, v cue.Value, section string, dec func(path string, v cue.Value) *T) map[string]*T {
	var m map[string]*T
	d.each(v, func(name string, ov cue.Value) {
		if m == nil {
			m = make(map[string]*T)
		}
		m[name] = dec(section+"."+name, ov)
	})
	return m
}

// setPos records where field was written, when the operator wrote it.
func (d *cueDecoder) setPos(src *Source, field, path string, v cue.Value) {
	if p, ok := d.writtenPos(path, v); ok {
		src.Set(field, p)
		return
	}
	// A struct or list from a template names the schema; its first element names the
	// template.
	switch v.IncompleteKind() {
	case cue.StructKind:
		if p, ok := leafPos(v); ok {
			src.Set(field, p)
		}
	case cue.ListKind:
		if it, err := v.List(); err == nil && it.Next() {
			if p, ok := operatorPos(it.Value().Pos()); ok {
				src.Set(field, p)
			}
		}
	}
}

// writtenPos is where the operator wrote the value at path: its label, else the
// value's own position when that is in the operator's files.
func (d *cueDecoder) writtenPos(path string, v cue.Value) (Pos, bool) {
	if p, ok := d.idx[path]; ok {
		return fromToken(p, ""), true
	}
	return operatorPos(v.Pos())
}

// eachIn records where the struct field was written, as setPos does, and calls fn
// for each of its fields: one pass over them, where setPos and each would make two
// (for a struct from a template, setPos looks for the first leaf among the fields).
func (d *cueDecoder) eachIn(src *Source, field, path string, v cue.Value, fn func(name string, v cue.Value)) {
	p, found := d.writtenPos(path, v)
	d.each(v, func(name string, fv cue.Value) {
		if !found {
			p, found = leafPos(fv)
		}
		fn(name, fv)
	})
	if found {
		src.Set(field, p)
	}
}

// key sets an object's key position: its label if written literally, else the first
// of its fields the operator wrote (for an object from a template: the template).
func (d *cueDecoder) key(src *Source, path string, order []string) {
	if p, ok := d.idx[path]; ok {
		src.Key = fromToken(p, "")
		return
	}
	for _, f := range order {
		if p, ok := src.Lookup(f); ok {
			src.Key = p
			return
		}
	}
}

func (d *cueDecoder) fail(v cue.Value, what string, err error) {
	p, _ := operatorPos(v.Pos())
	d.ds.Add(p, RuleSchema, fmt.Sprintf("%s: %v", what, err), "")
}

func (d *cueDecoder) str(v cue.Value, what string) string {
	s, err := v.String()
	if err != nil {
		d.fail(v, what, err)
	}
	return s
}

func (d *cueDecoder) boolean(v cue.Value, what string) bool {
	b, err := v.Bool()
	if err != nil {
		d.fail(v, what, err)
	}
	return b
}

func (d *cueDecoder) integer(v cue.Value, what string) int {
	n, err := v.Int64()
	if err != nil {
		d.fail(v, what, err)
	}
	return int(n)
}

func (d *cueDecoder) strings(v cue.Value, what string) []string {
	it, err := v.List()
	if err != nil {
		d.fail(v, what, err)
		return nil
	}
	// An empty list is not an absent one, as in the YAML decoder: services: [] is a
	// child that takes no service, acls: [] a reseller with every ACL removed.
	out := []string{}
	for it.Next() {
		out = append(out, d.str(it.Value(), what))
	}
	return out
}

// fromOperator reports whether the operator wrote v (rather than a schema default).
func fromOperator(v cue.Value) bool {
	_, ok := operatorPos(v.Pos())
	return ok
}

func (d *cueDecoder) policy(v cue.Value) *Policy {
	p := &Policy{}
	d.each(v, func(name string, fv cue.Value) {
		d.setPos(&p.Src, name, "policy."+name, fv)
		switch name {
		case "prune":
			p.Prune = d.boolean(fv, "policy.prune")
		case "maxRemovePercent":
			if fromOperator(fv) {
				n := d.integer(fv, "policy.maxRemovePercent")
				p.MaxRemovePercent = &n
			}
		case "drift":
			if fromOperator(fv) {
				p.Drift = d.str(fv, "policy.drift")
			}
		case "notifyWebhook":
			p.NotifyWebhook = d.str(fv, "policy.notifyWebhook")
		case "callTimeout", "changeTimeout":
			s := d.str(fv, "policy."+name)
			if msg := PolicyDurationProblem(s); msg != "" {
				d.fail(fv, "policy."+name, fmt.Errorf("%s (write a duration such as 30s, 5m or 1h)", msg))
			} else if name == "callTimeout" {
				p.CallTimeout = s
			} else {
				p.ChangeTimeout = s
			}
		case "callAttempts":
			n := d.integer(fv, "policy.callAttempts")
			p.CallAttempts = &n
		}
	})
	if pos, ok := d.idx["policy"]; ok {
		p.Src.Key = fromToken(pos, "")
	}
	return p
}

func (d *cueDecoder) node(path string, v cue.Value) *Node {
	n := &Node{}
	d.each(v, func(name string, fv cue.Value) {
		fp := path + "." + name
		d.setPos(&n.Src, name, fp, fv)
		switch name {
		case "role":
			n.Role = d.str(fv, fp)
		case "parent":
			n.Parent = d.str(fv, fp)
		case "host":
			n.Host = d.str(fv, fp)
		case "ipv4":
			n.IPv4 = d.str(fv, fp)
		case "ipv6":
			n.IPv6 = d.str(fv, fp)
		case "version":
			n.Version = d.integer(fv, fp)
		case "profile":
			n.Profile = d.str(fv, fp)
		case "services":
			n.Services = d.strings(fv, fp)
		case "port":
			if fromOperator(fv) {
				n.Port = d.integer(fv, fp)
			}
		case "address":
			n.Address = d.str(fv, fp)
		case "tls":
			n.TLS = &TLS{}
			d.each(fv, func(k string, tv cue.Value) {
				d.setPos(&n.Src, "tls."+k, fp+"."+k, tv)
				switch k {
				case "caFile":
					n.TLS.CAFile = d.str(tv, fp+"."+k)
				case "fingerprint":
					n.TLS.Fingerprint = d.str(tv, fp+"."+k)
				case "insecure":
					n.TLS.Insecure = d.boolean(tv, fp+"."+k)
				}
			})
		case "credentials":
			n.Credentials = d.credentials(fp, fv)
		case "linkCredentials":
			n.LinkCredentials = d.credentials(fp, fv)
		case "optionalRoles":
			n.OptionalRoles = make(map[string]bool)
			d.each(fv, func(k string, rv cue.Value) {
				d.setPos(&n.Src, "optionalRoles."+k, fp+"."+k, rv)
				n.OptionalRoles[k] = d.boolean(rv, fp+"."+k)
			})
		case "passwordStrength":
			n.PasswordStrength = make(map[string]int)
			d.each(fv, func(k string, pv cue.Value) {
				d.setPos(&n.Src, "passwordStrength."+k, fp+"."+k, pv)
				n.PasswordStrength[k] = d.integer(pv, fp+"."+k)
			})
		case "lost":
			n.Lost = d.boolean(fv, fp)
		}
	})
	d.key(&n.Src, path, []string{"role", "host", "parent"})
	return n
}

func (d *cueDecoder) credentials(path string, v cue.Value) *Credentials {
	c := &Credentials{}
	d.each(v, func(name string, fv cue.Value) {
		d.setPos(&c.Src, name, path+"."+name, fv)
		switch name {
		case "user":
			c.User = d.str(fv, path+".user")
		case "tokenEnv":
			c.TokenEnv = d.str(fv, path+".tokenEnv")
		case "tokenFile":
			c.TokenFile = d.str(fv, path+".tokenFile")
		}
	})
	d.key(&c.Src, path, []string{"user", "tokenEnv", "tokenFile"})
	return c
}

// accountField decodes one field shared by accounts and resellers; it reports whether
// the name was an account field.
func (d *cueDecoder) accountField(a *Account, path, name string, fv cue.Value) bool {
	fp := path + "." + name
	switch name {
	case "features", "mail", "autossl":
		// Their cases record the position along with their fields (eachIn).
	default:
		d.setPos(&a.Src, name, fp, fv)
	}
	switch name {
	case "parent":
		a.Parent = d.str(fv, fp)
	case "domain":
		a.Domain = d.str(fv, fp)
	case "owner":
		if fromOperator(fv) {
			a.Owner = d.str(fv, fp)
		}
	case "plan":
		a.Plan = d.str(fv, fp)
	case "contactEmail":
		a.ContactEmail = d.str(fv, fp)
	case "ipv6":
		a.IPv6 = d.boolean(fv, fp)
	case "ipv6Range":
		a.IPv6Range = d.str(fv, fp)
	case "features":
		a.Features = make(map[string]bool)
		d.eachIn(&a.Src, name, fp, fv, func(k string, bv cue.Value) {
			d.setPos(&a.Src, "features."+k, fp+"."+k, bv)
			a.Features[k] = d.boolean(bv, fp+"."+k)
		})
	case "mail":
		a.Mail = &MailPlacement{}
		d.eachIn(&a.Src, name, fp, fv, func(k string, mv cue.Value) {
			d.setPos(&a.Src, "mail."+k, fp+"."+k, mv)
			if k == "node" {
				a.Mail.Node = d.str(mv, fp+".node")
			}
		})
	case "autossl":
		a.AutoSSL = &AutoSSL{}
		d.eachIn(&a.Src, name, fp, fv, func(k string, sv cue.Value) {
			d.setPos(&a.Src, "autossl."+k, fp+"."+k, sv)
			if k == "dcv" {
				a.AutoSSL.DCV = d.strings(sv, fp+".dcv")
			}
		})
	case "forwarders":
		it, err := fv.List()
		if err != nil {
			d.fail(fv, fp, err)
			break
		}
		for i := 0; it.Next(); i++ {
			var fw Forwarder
			ip := fmt.Sprintf("forwarders[%d]", i)
			d.each(it.Value(), func(k string, wv cue.Value) {
				d.setPos(&a.Src, ip+"."+k, "", wv)
				switch k {
				case "from":
					fw.From = d.str(wv, fp+"."+k)
				case "to":
					fw.To = d.str(wv, fp+"."+k)
				}
			})
			a.Forwarders = append(a.Forwarders, fw)
		}
	case "suspended":
		a.Suspended = d.boolean(fv, fp)
	case "protect":
		a.Protect = d.boolean(fv, fp)
	case "dnssec":
		a.DNSSEC = d.boolean(fv, fp)
	default:
		return false
	}
	return true
}

func (d *cueDecoder) account(path string, v cue.Value) *Account {
	a := &Account{}
	d.eachOf(v, cueAccountFields, func(name string, fv cue.Value) { d.accountField(a, path, name, fv) })
	d.key(&a.Src, path, []string{"parent", "domain"})
	return a
}

func (d *cueDecoder) reseller(path string, v cue.Value) *Reseller {
	r := &Reseller{}
	d.eachOf(v, cueResellerFields, func(name string, fv cue.Value) {
		if d.accountField(&r.Account, path, name, fv) {
			return
		}
		fp := path + "." + name
		switch name {
		case "acls":
			r.ACLs = d.strings(fv, fp)
		case "limits":
			r.Limits = &ResellerLimits{}
			d.each(fv, func(k string, lv cue.Value) {
				d.setPos(&r.Src, "limits."+k, fp+"."+k, lv)
				if k == "accounts" {
					n := d.integer(lv, fp+"."+k)
					r.Limits.Accounts = &n
				}
			})
		}
	})
	d.key(&r.Src, path, []string{"parent", "domain"})
	return r
}

func (d *cueDecoder) cluster(path string, v cue.Value) *DNSCluster {
	c := &DNSCluster{}
	d.each(v, func(name string, fv cue.Value) {
		fp := path + "." + name
		d.setPos(&c.Src, name, fp, fv)
		switch name {
		case "enabled":
			c.Enabled = d.boolean(fv, fp)
		case "failureThreshold":
			if !fromOperator(fv) {
				break
			}
			if s, err := fv.String(); err == nil && s == "never" {
				c.FailureThreshold = Threshold{Never: true}
			} else {
				c.FailureThreshold = Threshold{N: d.integer(fv, fp)}
			}
		case "notifyOnDisable":
			c.NotifyOnDisable = d.boolean(fv, fp)
		case "members":
			c.Members = decodeMap(d, fv, fp, d.member)
		}
	})
	d.key(&c.Src, path, []string{"enabled", "members"})
	return c
}

func (d *cueDecoder) member(path string, v cue.Value) *Member {
	m := &Member{}
	set := map[string]bool{}
	d.each(v, func(name string, fv cue.Value) {
		fp := path + "." + name
		set[name] = true
		d.setPos(&m.Src, name, fp, fv)
		switch name {
		case "backend":
			if fromOperator(fv) {
				m.Backend = d.str(fv, fp)
			}
		case "node":
			m.Node = d.str(fv, fp)
		case "host":
			m.Host = d.str(fv, fp)
		case "address":
			m.Address = d.str(fv, fp)
		case "software":
			m.Software = d.str(fv, fp)
		case "role":
			m.Role = d.str(fv, fp)
		case "dnssec":
			m.DNSSEC = d.boolean(fv, fp)
		case "tsig":
			m.TSIG = d.tsig(fp, fv)
		}
	})
	d.key(&m.Src, path, []string{"node", "host", "role"})
	d.memberBackendFields(path, m, set)
	return m
}

// memberBackendFields holds the member against its backend's registered schema, as
// the YAML decoder does (MemberBackend.checkFields): fleet.cue knows only the fields
// every member may have. An unknown backend is fleet.cue's to refuse (#Backend).
func (d *cueDecoder) memberBackendFields(path string, m *Member, set map[string]bool) {
	b, known := LookupMemberBackend(m.BackendName())
	if !known {
		return
	}
	obj := memberObject(path)
	for _, pr := range b.checkFields(obj, func(f string) bool { return set[f] }) {
		at := m.Src.Key
		if p, ok := m.Src.Lookup(pr.Field); ok && !pr.Missing {
			at = p
		}
		d.ds.Add(at, RuleSchema, pr.Problem, pr.Fix)
	}
}

func (d *cueDecoder) tsig(path string, v cue.Value) *TSIG {
	t := &TSIG{}
	d.each(v, func(name string, fv cue.Value) {
		fp := path + "." + name
		d.setPos(&t.Src, name, fp, fv)
		switch name {
		case "name":
			t.Name = d.str(fv, fp)
		case "algorithm":
			if fromOperator(fv) {
				t.Algorithm = d.str(fv, fp)
			}
		case "secretEnv":
			t.SecretEnv = d.str(fv, fp)
		case "secretFile":
			t.SecretFile = d.str(fv, fp)
		}
	})
	d.key(&t.Src, path, []string{"name"})
	return t
}

// memberObject names a member as the YAML decoder does ("DNS cluster P member M")
// from its path, dnsClusters.P.members.M.
func memberObject(path string) string {
	cluster, member, _ := strings.Cut(path, ".members.")
	return "DNS cluster " + strings.TrimPrefix(cluster, "dnsClusters.") + " member " + member
}

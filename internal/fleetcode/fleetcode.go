// Package fleetcode writes a fleet as code a person can maintain: YAML or CUE with a
// stable order (sections, then names sorted, fields in the model's order), defaults
// left out, small objects on one line, and comments where something could not be
// read. Import uses it; secrets cannot reach it because the model holds only
// references to them.
package fleetcode

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// Comments maps an address (node.NAME, account.USER, reseller.USER, dns.PARENT.cluster,
// dns.PARENT.member.NAME, or a section name: "nodes") to a comment written above it.
type Comments map[string]string

// value is an ordered tree: JSON's object order is the model's field order, which is
// the order a person reads best (role before host before credentials).
type value struct {
	scalar any // string, json.Number, bool, nil
	keys   []string
	fields map[string]*value
	list   []*value
	kind   byte // 's' scalar, 'm' mapping, 'l' list
}

func ordered(v any) (*value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return readValue(dec)
}

func readValue(dec *json.Decoder) (*value, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			v := &value{kind: 'm', fields: map[string]*value{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				c, err := readValue(dec)
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, k)
				v.fields[k] = c
			}
			_, err := dec.Token()
			return v, err
		case '[':
			v := &value{kind: 'l'}
			for dec.More() {
				c, err := readValue(dec)
				if err != nil {
					return nil, err
				}
				v.list = append(v.list, c)
			}
			_, err := dec.Token()
			return v, err
		}
	}
	return &value{kind: 's', scalar: tok}, nil
}

// small objects and scalar lists read best on one line: {user: root, tokenEnv: X}.
func (v *value) flow() bool {
	switch v.kind {
	case 'l':
		for _, c := range v.list {
			if c.kind != 's' {
				return false
			}
		}
		return len(v.list) <= 8
	case 'm':
		if len(v.keys) > 4 {
			return false
		}
		for _, k := range v.keys {
			if v.fields[k].kind != 's' {
				return false
			}
		}
		return true
	}
	return false
}

type section struct {
	name  string
	addr  func(string) string // an object's address, which its comment is keyed by
	names []string
	obj   func(string) any
}

func sections(f *schema.Fleet) []section {
	var out []section
	add := func(name string, addr func(string) string, names []string, obj func(string) any) {
		if len(names) == 0 {
			return
		}
		sort.Strings(names)
		out = append(out, section{name, addr, names, obj})
	}
	add("nodes", plan.NodeAddress, slices.Sorted(maps.Keys(f.Nodes)), func(n string) any { return f.Nodes[n] })
	add("resellers", plan.ResellerAddress, slices.Sorted(maps.Keys(f.Resellers)), func(n string) any { return f.Resellers[n] })
	add("accounts", plan.AccountAddress, slices.Sorted(maps.Keys(f.Accounts)), func(n string) any { return f.Accounts[n] })
	add("dnsClusters", plan.ClusterAddress, slices.Sorted(maps.Keys(f.DNSClusters)), func(n string) any { return f.DNSClusters[n] })
	return out
}

// objectTree is the ordered tree of one object, with what the JSON form leaves out put
// back: an observed account with two Mail children (MailPlacement.ExtraNodes, json:"-")
// is written as it is, mail: {node: [a, b]}, the form the loader reports as
// TETHER-L04 at that line; dropping the second child would hide the debt.
func objectTree(obj any) (*value, error) {
	v, err := ordered(obj)
	if err != nil {
		return nil, err
	}
	var m *schema.MailPlacement
	switch o := obj.(type) {
	case *schema.Account:
		m = o.Mail
	case *schema.Reseller:
		m = o.Mail
	}
	if m == nil || len(m.ExtraNodes) == 0 {
		return v, nil
	}
	mv, ok := v.fields["mail"]
	if !ok || mv.kind != 'm' {
		// Mail with only extra nodes: JSON dropped the whole placement as empty.
		mv = &value{kind: 'm', fields: map[string]*value{}}
		v.keys = append(v.keys, "mail")
		v.fields["mail"] = mv
	}
	nodes := &value{kind: 'l'}
	for _, n := range append([]string{m.Node}, m.ExtraNodes...) {
		if n != "" {
			nodes.list = append(nodes.list, &value{kind: 's', scalar: n})
		}
	}
	if _, had := mv.fields["node"]; !had {
		mv.keys = append(mv.keys, "node")
	}
	mv.fields["node"] = nodes
	return v, nil
}

// YAML writes the fleet as YAML (yamlwrite.go): header as comment lines, then
// policy and the sections in order, names sorted, comments above what they are about.
func YAML(w io.Writer, f *schema.Fleet, header string, comments Comments) error {
	b := bufio.NewWriterSize(w, 1<<16)
	if strings.TrimSpace(header) != "" {
		writeYAMLComment(b, header, "")
		b.WriteString("\n")
	}
	if f.Policy != nil {
		v, err := ordered(f.Policy)
		if err != nil {
			return err
		}
		if len(v.keys) > 0 {
			writeYAMLComment(b, comments["policy"], "")
			b.WriteString("policy:")
			writeYAMLValue(b, v, "")
		}
	}
	for _, s := range sections(f) {
		writeYAMLComment(b, comments[s.name], "")
		b.WriteString(s.name + ":\n")
		for _, n := range s.names {
			v, err := objectTree(s.obj(n))
			if err != nil {
				return fmt.Errorf("%s: %w", s.addr(n), err)
			}
			addr := s.addr(n)
			if s.name == "dnsClusters" {
				memberComments(v, n, comments)
			}
			writeYAMLComment(b, comments[addr], "  ")
			b.WriteString("  " + yamlScalar(n) + ":")
			writeYAMLValue(b, v, "  ")
		}
	}
	return b.Flush()
}

// memberComments moves member comments onto the members inside a cluster's tree.
func memberComments(cluster *value, parent string, comments Comments) {
	if ms, ok := cluster.fields["members"]; ok && ms.kind == 'm' {
		for _, m := range ms.keys {
			if c := comments[plan.MemberAddress(parent, m)]; c != "" {
				ms.fields[m].comment(c)
			}
		}
	}
}

// comment is carried on a value by a pseudo-field; the writers print it above the key.
func (v *value) comment(c string) {
	if v.fields == nil {
		v.fields = map[string]*value{}
	}
	v.fields["\x00comment"] = &value{kind: 's', scalar: c}
}

func (v *value) commentText() string {
	if c, ok := v.fields["\x00comment"]; ok {
		return c.scalar.(string)
	}
	return ""
}

// CUE writes the fleet as CUE: the same structure, with the schema's package name.
func CUE(w io.Writer, f *schema.Fleet, header string, comments Comments) error {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(header), "\n") {
		if line != "" {
			b.WriteString("// " + line + "\n")
		}
	}
	b.WriteString("package fleet\n")
	if f.Policy != nil {
		v, err := ordered(f.Policy)
		if err != nil {
			return err
		}
		if len(v.keys) > 0 {
			b.WriteString("\n")
			writeCUEComment(&b, comments["policy"], "")
			b.WriteString("policy: ")
			writeCUE(&b, v, "")
			b.WriteString("\n")
		}
	}
	for _, s := range sections(f) {
		b.WriteString("\n")
		writeCUEComment(&b, comments[s.name], "")
		b.WriteString(s.name + ": {\n")
		for _, n := range s.names {
			v, err := objectTree(s.obj(n))
			if err != nil {
				return fmt.Errorf("%s: %w", s.addr(n), err)
			}
			addr := s.addr(n)
			if s.name == "dnsClusters" {
				memberComments(v, n, comments)
			}
			writeCUEComment(&b, comments[addr], "\t")
			b.WriteString("\t" + cueLabel(n) + ": ")
			writeCUE(&b, v, "\t")
			b.WriteString("\n")
		}
		b.WriteString("}\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeCUEComment(b *strings.Builder, c, indent string) {
	for _, line := range strings.Split(strings.TrimSpace(c), "\n") {
		if line != "" {
			b.WriteString(indent + "// " + line + "\n")
		}
	}
}

func writeCUE(b *strings.Builder, v *value, indent string) {
	switch v.kind {
	case 'm':
		if v.flow() {
			b.WriteString("{")
			for i, k := range v.keys {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(cueLabel(k) + ": ")
				writeCUE(b, v.fields[k], indent)
			}
			b.WriteString("}")
			return
		}
		b.WriteString("{\n")
		for _, k := range v.keys {
			c := v.fields[k]
			writeCUEComment(b, c.commentText(), indent+"\t")
			b.WriteString(indent + "\t" + cueLabel(k) + ": ")
			writeCUE(b, c, indent+"\t")
			b.WriteString("\n")
		}
		b.WriteString(indent + "}")
	case 'l':
		b.WriteString("[")
		for i, c := range v.list {
			if i > 0 {
				b.WriteString(", ")
			}
			writeCUE(b, c, indent)
		}
		b.WriteString("]")
	default:
		switch s := v.scalar.(type) {
		case string:
			b.WriteString(strconv.Quote(s))
		case json.Number:
			b.WriteString(s.String())
		case bool:
			b.WriteString(strconv.FormatBool(s))
		default:
			b.WriteString("null")
		}
	}
}

// cueLabel quotes a label unless it is a plain identifier.
func cueLabel(s string) string {
	ok := s != ""
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strconv.Quote(s)
}

// SplitByParent splits a fleet into one fleet per parent (the parent, its children,
// its accounts, resellers and DNS cluster) plus "fleet" for what belongs to no parent
// (DNS-only nodes, policy). Keys are file stems.
func SplitByParent(f *schema.Fleet) map[string]*schema.Fleet {
	out := map[string]*schema.Fleet{}
	get := func(stem string) *schema.Fleet {
		if p, ok := out[stem]; ok {
			return p
		}
		p := &schema.Fleet{Nodes: map[string]*schema.Node{}, Resellers: map[string]*schema.Reseller{},
			Accounts: map[string]*schema.Account{}, DNSClusters: map[string]*schema.DNSCluster{}}
		out[stem] = p
		return p
	}
	if f.Policy != nil {
		get("fleet").Policy = f.Policy
	}
	for n, node := range f.Nodes {
		switch {
		case node.Role == schema.RoleParent:
			get(n).Nodes[n] = node
		case node.Role == schema.RoleChild && node.Parent != "":
			get(node.Parent).Nodes[n] = node
		default:
			get("fleet").Nodes[n] = node
		}
	}
	for n, r := range f.Resellers {
		get(stemFor(r.Parent)).Resellers[n] = r
	}
	for n, a := range f.Accounts {
		get(stemFor(a.Parent)).Accounts[n] = a
	}
	for p, c := range f.DNSClusters {
		get(p).DNSClusters[p] = c
	}
	return out
}

func stemFor(parent string) string {
	if parent == "" {
		return "fleet"
	}
	return parent
}

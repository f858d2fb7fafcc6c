package schema

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	cueyaml "cuelang.org/go/encoding/yaml"
	"gopkg.in/yaml.v3"
)

// goTypes are the Go types of the table's types.
var goTypes = map[string]reflect.Type{
	"Fleet": reflect.TypeFor[Fleet](), "Policy": reflect.TypeFor[Policy](), "Node": reflect.TypeFor[Node](),
	"TLS": reflect.TypeFor[TLS](), "Credentials": reflect.TypeFor[Credentials](), "Account": reflect.TypeFor[Account](),
	"Forwarder": reflect.TypeFor[Forwarder](), "Reseller": reflect.TypeFor[Reseller](), "DNSCluster": reflect.TypeFor[DNSCluster](),
	"Member": reflect.TypeFor[Member](), "TSIG": reflect.TypeFor[TSIG](),
}

// observedOnly are fields of the model that providers fill and an operator never
// writes; inlineSecrets are the fields the loader keeps only to refuse (TETHER-S01).
var (
	observedOnly  = map[string]bool{"Member.disabled": true, "Member.zones": true}
	inlineSecrets = map[string]bool{"Credentials.token": true, "TSIG.secret": true}
)

func jsonNames(t reflect.Type, own bool) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && !own {
			out = append(out, jsonNames(f.Type, false)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// TestFieldTableMatchesGoAndCUE: the table names exactly the fields of the Go types
// (by json name) and of fleet.cue's definitions, nested inline mappings included.
func TestFieldTableMatchesGoAndCUE(t *testing.T) {
	ctx := cuecontext.New()
	schema := ctx.CompileBytes(FleetCUE(), cue.Filename(schemaFileName))
	if err := schema.Err(); err != nil {
		t.Fatal(err)
	}
	for typ, fields := range FleetFields {
		t.Run(typ, func(t *testing.T) {
			var table []string
			for _, f := range fieldsOf(typ) {
				if !strings.Contains(f.Name, ".") {
					table = append(table, f.Name)
				}
				if f.Doc == "" || f.Type == "" {
					t.Errorf("%s.%s has no type or description", typ, f.Name)
				}
			}
			var own []string
			for _, f := range fields {
				if !strings.Contains(f.Name, ".") {
					own = append(own, f.Name)
				}
			}
			var goNames []string
			for _, n := range jsonNames(goTypes[typ], typ == "Reseller") {
				if !observedOnly[typ+"."+n] {
					goNames = append(goNames, n)
				}
			}
			for n := range inlineSecrets {
				if p, ok := strings.CutPrefix(n, typ+"."); ok {
					goNames = append(goNames, p)
				}
			}
			if typ == "Reseller" {
				// The Go type embeds Account; its own fields are the table's own.
				if a, b := sorted(own), sorted(goNames); !slices.Equal(a, b) {
					t.Errorf("table %v, Go %v", a, b)
				}
			} else if a, b := sorted(table), sorted(goNames); !slices.Equal(a, b) {
				t.Errorf("table %v, Go %v", a, b)
			}
			def := schema.LookupPath(cue.MakePath(cue.Def("#" + typ)))
			if !def.Exists() {
				t.Fatalf("fleet.cue has no #%s", typ)
			}
			if a, b := sorted(table), cueFieldNames(t, def); !slices.Equal(a, b) {
				t.Errorf("table %v, fleet.cue #%s %v", a, typ, b)
			}
			// Inline mappings: mail.node in the table is #Account.mail.node in CUE.
			for _, f := range fieldsOf(typ) {
				if f.Type != "mapping" || typ == "Node" || f.Name == "features" {
					continue // Node's inline maps are kinds and roles, checked by the decoder's lists
				}
				var nested []string
				for _, g := range fieldsOf(typ) {
					if n, ok := strings.CutPrefix(g.Name, f.Name+"."); ok {
						nested = append(nested, n)
					}
				}
				if a, b := sorted(nested), cueFieldNames(t, def.LookupPath(cue.MakePath(cue.Str(f.Name).Optional()))); !slices.Equal(a, b) {
					t.Errorf("%s: table %v, fleet.cue %v", f.Name, a, b)
				}
			}
		})
	}
}

func sorted(s []string) []string { s = slices.Clone(s); sort.Strings(s); return s }

func cueFieldNames(t *testing.T, v cue.Value) []string {
	t.Helper()
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for it.Next() {
		if !it.Selector().IsDefinition() && !strings.HasPrefix(it.Selector().String(), "_") && it.Selector().LabelType() == cue.StringLabel {
			out = append(out, it.Selector().Unquoted())
		}
	}
	sort.Strings(out)
	return out
}

// emptyStringBase is a valid fleet with an object of every type, each field written,
// so a test can set any string field to "".
const emptyStringBase = `policy: {drift: warn, notifyWebhook: "https://hooks.example.net/t"}
nodes:
  web1:
    role: parent
    host: web1.example.net
    version: 118
    profile: STANDARD
  mail1:
    role: child
    parent: web1
    host: mail1.example.net
    ipv4: 192.0.2.20
    ipv6: "2001:db8::20"
    version: 118
    profile: MAILNODE
    address: "192.0.2.20:2087"
    tls: {caFile: ca.pem, fingerprint: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}
    credentials: {user: root, tokenEnv: MAIL1_TOKEN, tokenFile: mail1.token}
  ns1: {role: dnsonly, host: ns1.example.net, version: 118}
resellers:
  bob: {parent: web1, domain: bob.example, plan: reseller, contactEmail: bob@example.org, acls: [list-accts]}
accounts:
  alice:
    parent: web1
    domain: alice.example
    owner: bob
    plan: basic
    contactEmail: alice@example.org
    mail: {node: mail1}
    forwarders: [{from: sales, to: alice@example.org}]
dnsClusters:
  web1:
    enabled: true
    members:
      ns1: {node: ns1, role: sync}
      bind1:
        backend: rfc2136
        host: ns2.example.org
        address: "127.0.0.1:5300"
        software: bind
        role: write-only
        tsig: {name: tether, algorithm: hmac-sha256, secretEnv: NS2_TSIG_SECRET, secretFile: tsig.key}
`

// emptyStringAt says where in emptyStringBase each type's string fields are written.
var emptyStringAt = map[string][]string{
	"Policy": {"policy"}, "Node": {"nodes", "mail1"}, "TLS": {"nodes", "mail1", "tls"},
	"Credentials": {"nodes", "mail1", "credentials"}, "Account": {"accounts", "alice"},
	"Forwarder": {"accounts", "alice", "forwarders", "0"}, "Reseller": {"resellers", "bob"},
	"DNSCluster": {"dnsClusters", "web1"}, "Member": {"dnsClusters", "web1", "members", "bind1"},
	"TSIG": {"dnsClusters", "web1", "members", "bind1", "tsig"},
}

// TestEmptyStringsAsCUE: for every string field of the table, the YAML loader and
// the CUE schema give the same verdict on "", and it is the table's NonEmpty.
func TestEmptyStringsAsCUE(t *testing.T) {
	if _, ds := loadBytes([]byte(emptyStringBase), defaultChunking); len(ds) > 0 {
		t.Fatalf("the base fleet is not valid:\n%v", ds)
	}
	for typ, at := range emptyStringAt {
		for _, f := range FleetFields[typ] {
			if f.Type != "string" || inlineSecrets[typ+"."+f.Name] {
				continue
			}
			path := append(slices.Clone(at), strings.Split(f.Name, ".")...)
			if typ == "Member" && f.Name == "node" {
				path = []string{"dnsClusters", "web1", "members", "ns1", "node"}
			}
			t.Run(typ+"."+f.Name, func(t *testing.T) {
				var doc yaml.Node
				if err := yaml.Unmarshal([]byte(emptyStringBase), &doc); err != nil {
					t.Fatal(err)
				}
				setYAML(t, doc.Content[0], path)
				data, err := yaml.Marshal(&doc)
				if err != nil {
					t.Fatal(err)
				}
				_, gds := loadBytes(data, defaultChunking)
				file, err := cueyaml.Extract("fleet.yaml", data)
				if err != nil {
					t.Fatal(err)
				}
				_, cds := evalFleetFiles([]*ast.File{file})
				if (len(gds) > 0) != f.NonEmpty || (len(cds) > 0) != f.NonEmpty {
					t.Fatalf("%s: \"\" with NonEmpty=%v:\n--- YAML\n%v\n--- CUE\n%v", strings.Join(path, "."), f.NonEmpty, gds, cds)
				}
				if f.NonEmpty {
					rule := f.Rule
					if rule == "" {
						rule = RuleSchema
					}
					if gds[0].Rule != rule || !hasRule(cds, rule) {
						t.Errorf("want %s from both:\n--- YAML\n%v\n--- CUE\n%v", rule, gds, cds)
					}
				}
			})
		}
	}
}

// setYAML sets the value at path (mapping keys, list indexes) to "", adding the key
// when the base does not write it.
func setYAML(t *testing.T, n *yaml.Node, path []string) {
	t.Helper()
	for i, p := range path {
		last := i == len(path)-1
		switch n.Kind {
		case yaml.SequenceNode:
			var idx int
			fmt.Sscan(p, &idx)
			n = n.Content[idx]
			continue
		case yaml.MappingNode:
		default:
			t.Fatalf("path %v: %s is not a mapping", path, p)
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == p {
				next = n.Content[j+1]
			}
		}
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode}
			if last {
				next = &yaml.Node{Kind: yaml.ScalarNode}
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: p}, next)
		}
		if last {
			*next = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "", Style: yaml.DoubleQuotedStyle}
			return
		}
		n = next
	}
}

package schema

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestSourceAsMap holds a Source to the map it replaced: whatever is Set, in whatever
// order, files and number (the list, the move to a map past maxListed or at a second
// file, a field set twice, carved room from withRoom or none), Lookup, Has and At
// answer what a map[string]Pos with the same fallbacks would.
func TestSourceAsMap(t *testing.T) {
	paths := []string{"parent", "domain", "mail", "mail.node", "mail.node[1]", "forwarders", "forwarders[0]",
		"forwarders[0].to", "forwarders[1].from", "features", "features.apitokens", "autossl.dcv[0]", "tls.caFile", ""}
	files := []string{"a.yaml", "a.yaml", "a.yaml", "b.cue", ""}
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 3000 {
		key := Pos{File: files[r.IntN(len(files))], Line: r.IntN(9), Col: r.IntN(9)}
		var src Source
		switch round % 3 {
		case 0:
			src = Source{Key: key}
		case 1:
			src, _ = withRoom(key, r.IntN(20), nil)
		default:
			buf := make([]fieldPos, 0, 8)
			src, buf = withRoom(key, r.IntN(6), buf)
			_, _ = withRoom(key, 3, buf) // a neighbour carved next to it must not show
		}
		want := map[string]Pos{}
		n := r.IntN(4)
		if round%7 == 0 {
			n = r.IntN(3 * maxListed)
		}
		for i := range n {
			path := paths[r.IntN(len(paths))]
			if round%7 == 0 {
				path = fmt.Sprintf("features.f%d", r.IntN(2*maxListed))
			}
			p := Pos{File: files[r.IntN(len(files))], Line: i + 1, Col: r.IntN(80)}
			if r.IntN(4) > 0 {
				p.File = key.File // mostly the object's own file
			}
			src.Set(path, p)
			want[path] = p
		}
		probe := append(paths, "features.f0", "features.f17", "forwarders[0].from", "nope", "mail.nope")
		for _, path := range probe {
			got, ok := src.Lookup(path)
			w, wok := want[path]
			if got != w || ok != wok || src.Has(path) != wok {
				t.Fatalf("round %d: Lookup(%q) = %v, %v; the map says %v, %v", round, path, got, ok, w, wok)
			}
			if got, w := src.At(path), mapAt(want, key, path); got != w {
				t.Fatalf("round %d: At(%q) = %v; the map says %v", round, path, got, w)
			}
		}
	}
}

// mapAt is Source.At as it was over a map.
func mapAt(fields map[string]Pos, key Pos, field string) Pos {
	if p, ok := fields[field]; ok {
		return p
	}
	for field != "" {
		i := bytes.LastIndexAny([]byte(field), ".[")
		if i < 0 {
			break
		}
		field = field[:i]
		if p, ok := fields[field]; ok {
			return p
		}
	}
	return key
}

// TestFieldCountFitsTheFleetFormat: the room the decoder gives an object's positions
// is what its fields record when the object is written as the format expects, so a
// fleet's accounts, resellers and nodes fill their room exactly (none grows its list
// one field at a time, none leaves the slab holes).
func TestFieldCountFitsTheFleetFormat(t *testing.T) {
	const text = `nodes:
  web1:
    role: parent
    host: web1.example.net
    credentials: {user: root, tokenEnv: WEB1_TOKEN}
    tls: {insecure: true}
    passwordStrength: {list: 60, virtual: 70}
    optionalRoles: {SpamFilter: true}
  mail1: {role: child, parent: web1, host: mail1.example.net, services: [mail]}
resellers:
  r1:
    parent: web1
    domain: r1.example
    acls: [list-accts, create-acct]
    limits: {accounts: 5}
accounts:
  u1:
    parent: web1
    domain: u1.example
    owner: r1
    plan: basic
    contactEmail: u1@example.org
    features: {apitokens: true, cpanel-ssl: false}
    mail: {node: mail1}
    autossl:
      dcv: [dns, http]
    forwarders:
      - {from: info, to: u1@example.org}
      - {from: sales, to: u1@example.org}
  u2: {parent: web1, domain: u2.example}
`
	f, ds := loadYAMLText(t, text)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	check := func(what string, s Source) {
		if len(s.fields) == 0 || len(s.fields) != cap(s.fields) || s.byPath != nil {
			t.Errorf("%s: %d positions in room for %d (map: %v)", what, len(s.fields), cap(s.fields), s.byPath != nil)
		}
	}
	for name, a := range f.Accounts {
		check("account "+name, a.Src)
	}
	for name, r := range f.Resellers {
		check("reseller "+name, r.Src)
	}
	for name, n := range f.Nodes {
		check("node "+name, n.Src)
		if n.Credentials != nil {
			check("node "+name+" credentials", n.Credentials.Src)
		}
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("a: {b: [{c: 1, d: 2}, 3], e: 4}\nf: 5\n"), &n); err != nil {
		t.Fatal(err)
	}
	// Three levels: a, a.b, a.b[0], a.b[1], a.e, f; two: a, a.b, a.e, f.
	if got := fieldCount(n.Content[0], 3); got != 6 {
		t.Errorf("fieldCount, 3 levels = %d, want 6", got)
	}
	if got := fieldCount(n.Content[0], 2); got != 4 {
		t.Errorf("fieldCount, 2 levels = %d, want 4", got)
	}
}

func loadYAMLText(t *testing.T, text string) (*Fleet, Diagnostics) {
	t.Helper()
	return build([]yamlSource{{"fleet.yaml", []byte(text)}}, nil, nil, defaultChunking)
}

// TestIsEntryLine holds isEntryLine to the expression it replaced, on every string of
// up to five bytes from the bytes that matter to it.
func TestIsEntryLine(t *testing.T) {
	entryLine := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*:([ \t]|\r?$)`)
	alphabet := []byte("aZ0_.-: \t\r#\xc3/")
	var b []byte
	var walk func(n int)
	walk = func(n int) {
		if got, want := isEntryLine(b), entryLine.Match(b); got != want {
			t.Fatalf("isEntryLine(%q) = %t, the expression says %t", b, got, want)
		}
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			b = append(b, c)
			walk(n - 1)
			b = b[:len(b)-1]
		}
	}
	walk(5)
	for _, s := range []string{"u00001:", "u00001: {parent: web1}", "web-1.example_x:\r", "x:\r\n", "  u1:", "u1 :"} {
		if got, want := isEntryLine([]byte(s)), entryLine.MatchString(s); got != want {
			t.Errorf("isEntryLine(%q) = %t, the expression says %t", s, got, want)
		}
	}
}

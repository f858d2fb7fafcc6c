package schema

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/jsonschema"
	cueyaml "cuelang.org/go/encoding/yaml"
	"gopkg.in/yaml.v3"
)

// TestJSONSchemaGolden pins the generated JSON Schema: editors' completions depend on
// it, and a change in the generator (a cuelang.org/go upgrade) must be seen in review.
func TestJSONSchemaGolden(t *testing.T) {
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if m["$schema"] != "http://json-schema.org/draft-07/schema#" || m["$id"] != JSONSchemaID {
		t.Errorf("$schema %v, $id %v", m["$schema"], m["$id"])
	}
	// Draft-07 is what yaml-language-server implements: no keyword of later drafts.
	later := map[string]bool{"$defs": true, "prefixItems": true, "unevaluatedProperties": true,
		"unevaluatedItems": true, "$dynamicRef": true, "$dynamicAnchor": true, "$anchor": true,
		"dependentRequired": true, "dependentSchemas": true, "minContains": true,
		"maxContains": true, "$vocabulary": true, "$recursiveRef": true}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if later[k] {
					t.Errorf("%s: keyword %s is not draft-07", path, k)
				}
				if r, ok := x.(string); ok && k == "$ref" && !strings.HasPrefix(r, "#/definitions/") {
					t.Errorf("%s: $ref %s does not point into definitions", path, r)
				}
				walk(path+"/"+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s/%d", path, i), x)
			}
		}
	}
	walk("#", m)
	checkGolden(t, filepath.Join("testdata", "fleet.schema.json"), string(b))
}

// jsonSchemaValidator reads the generated JSON Schema back with CUE's own JSON Schema
// decoder, so that fleet files can be checked against it as an editor would (a second,
// independent reading of the schema: a fix-up that produced a schema rejecting valid
// fleets would show here).
func jsonSchemaValidator(t *testing.T) (*cue.Context, cue.Value) {
	t.Helper()
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	ctx := cuecontext.New()
	f, err := jsonschema.Extract(ctx.CompileBytes(b), &jsonschema.Config{})
	if err != nil {
		t.Fatalf("JSON Schema does not read back: %v", err)
	}
	v := ctx.BuildFile(f)
	if err := v.Err(); err != nil {
		t.Fatalf("JSON Schema as CUE: %v", err)
	}
	return ctx, v
}

func TestJSONSchemaValidatesFleetFiles(t *testing.T) {
	ctx, schemaV := jsonSchemaValidator(t)
	check := func(name string, src []byte) error {
		f, err := cueyaml.Extract(name, src)
		if err != nil {
			t.Fatal(err)
		}
		return schemaV.Unify(ctx.BuildFile(f)).Validate(cue.Concrete(true))
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if err := check("quickstart", read(filepath.Join("..", "examples", "quickstart", "fleet.yaml"))); err != nil {
		t.Errorf("quickstart rejected by the JSON Schema: %v", err)
	}
	// Problems one file shows: the JSON Schema must refuse each.
	bad := []struct{ name, yaml string }{
		{"unknown field", "accounts: {alice: {parent: web1, domain: alice.example, contactemial: a@b.example}}"},
		{"reseller unknown field", "resellers: {bob: {parent: web1, domain: bob.example, acl: [x]}}"},
		{"enum", "nodes: {web1: {role: master, host: web1.example.net}}"},
		{"wrong type", "nodes: {web1: {role: parent, host: web1.example.net, version: \"118\"}}"},
		{"missing host", "nodes: {web1: {role: parent}}"},
		{"password kind", "nodes: {web1: {role: parent, host: web1.example.net, passwordStrength: {smtp: 50}}}"},
		{"ipv4", "nodes: {web1: {role: parent, host: web1.example.net, ipv4: 192.0.2.300}}"},
		{"node name", "nodes: {\"mail.1\": {role: parent, host: web1.example.net}}"},
		{"domain", "accounts: {alice: {parent: web1, domain: alice}}"},
		{"threshold", "dnsClusters: {web1: {failureThreshold: 0}}"},
		{"inline token", "nodes: {web1: {role: parent, host: web1.example.net, credentials: {token: x}}}"},
		{"inline TSIG secret", "dnsClusters: {web1: {members: {b: {role: sync, tsig: {name: t, secret: x}}}}}"},
	}
	for _, tc := range bad {
		if err := check(tc.name, []byte(tc.yaml)); err == nil {
			t.Errorf("%s: accepted by the JSON Schema: %s", tc.name, tc.yaml)
		}
	}
	// User names are keys: the schema states them as propertyNames, which CUE's JSON
	// Schema decoder reads as a pattern that does not forbid other names (editors apply
	// it as the standard says), so the schema's structure is checked instead.
	var js struct {
		Properties map[string]struct {
			PropertyNames struct {
				Ref string `json:"$ref"`
			} `json:"propertyNames"`
		} `json:"properties"`
	}
	b, _ := JSONSchema()
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"accounts", "resellers"} {
		if got := js.Properties[s].PropertyNames.Ref; got != "#/definitions/UserName" {
			t.Errorf("%s: propertyNames $ref %q, want #/definitions/UserName", s, got)
		}
	}
	userName := schemaV.LookupPath(cue.ParsePath("#UserName"))
	for name, ok := range map[string]bool{"alice": true, "Alice": false, "nobody": false, "test1": false, "averyveryverylongname": false} {
		if err := userName.Unify(ctx.CompileString(strconv.Quote(name))).Validate(cue.Concrete(true)); (err == nil) != ok {
			t.Errorf("JSON Schema UserName on %q: valid=%v, want %v", name, err == nil, ok)
		}
	}

	// A reseller with every field: the $ref fix-up must let the account fields through.
	ok := "resellers: {bob: {parent: web1, domain: bob.example, owner: root, mail: {node: mail1}, acls: [list-accts], limits: {accounts: 5}}}"
	if err := check("reseller", []byte(ok)); err != nil {
		t.Errorf("reseller rejected: %v", err)
	}
}

// TestJSONSchemaHasEveryField keeps the generated schema complete: every field the Go
// model marshals must be a property of its definition (a comprehension in #Node once
// made the generator drop #Node entirely).
func TestJSONSchemaHasEveryField(t *testing.T) {
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Defs map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Node":        "role parent host ipv4 ipv6 version profile services port tls credentials passwordStrength lost",
		"Account":     "parent domain owner plan contactEmail ipv6 features mail autossl forwarders suspended protect dnssec",
		"Reseller":    "parent domain owner acls limits",
		"DNSCluster":  "enabled failureThreshold notifyOnDisable members",
		"Member":      "backend node host address software role dnssec tsig",
		"Credentials": "user tokenEnv tokenFile",
		"TSIG":        "name algorithm secretEnv secretFile",
		"Policy":      "prune maxRemovePercent drift notifyWebhook",
	}
	for def, fields := range want {
		for _, f := range strings.Fields(fields) {
			if _, ok := m.Defs[def].Properties[f]; !ok {
				t.Errorf("$defs.%s has no property %s", def, f)
			}
		}
	}
}

// TestJSONSchemaDescribesEveryField: every property of the fleet's types carries a
// description (from the field table), defaults where the table has one, and no
// description shows a CUE definition's name (editors would hover "#LinkAlias is...").
func TestJSONSchemaDescribesEveryField(t *testing.T) {
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	defs := m["definitions"].(map[string]any)
	var props func(path string, obj map[string]any)
	props = func(path string, obj map[string]any) {
		ps, _ := obj["properties"].(map[string]any)
		for name, p := range ps {
			pm, ok := p.(map[string]any)
			if !ok {
				t.Errorf("%s.%s is %v, not a schema that can carry a description", path, name, p)
				continue
			}
			if d, _ := pm["description"].(string); d == "" {
				t.Errorf("%s.%s has no description", path, name)
			}
			if _, inline := pm["properties"]; inline && !strings.HasPrefix(path, "Node") {
				props(path+"."+name, pm) // mail.node, limits.accounts; Node's are kinds and roles
			}
		}
	}
	props("Fleet", m)
	for typ := range FleetFields {
		if typ == "Fleet" {
			continue
		}
		d := defs[typ].(map[string]any)
		if d["title"] != typ {
			t.Errorf("%s: title %v", typ, d["title"])
		}
		props(typ, d)
	}
	if got := defs["DNSCluster"].(map[string]any)["properties"].(map[string]any)["failureThreshold"].(map[string]any)["default"]; got != 10.0 {
		t.Errorf("failureThreshold default %v, want 10", got)
	}
	cueName := regexp.MustCompile(`#[A-Z][A-Za-z]+`)
	for _, s := range regexp.MustCompile(`"(description|title)": "((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(string(b), -1) {
		if cueName.MatchString(s[2]) {
			t.Errorf("a %s names a CUE definition: %s", s[1], s[2])
		}
	}
}

// TestIPv6Pattern holds the JSON Schema's IPv6 pattern to the loader's check.
func TestIPv6Pattern(t *testing.T) {
	re := regexp.MustCompile(ipv6Pattern)
	for _, s := range []string{"2001:db8::10", "::1", "::", "fe80::1", "2001:db8:0:0:0:0:2:1", "1:2:3:4:5:6:7:8", "1::8",
		"1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "2001:db8::192.0.2.1", "192.0.2.1", "2001:db8:::1", "1:2:3:4:5:6:7:8:9",
		"12345::1", "g::1", "", ":", "1:2", "2001:db8::1::2"} {
		if got, want := re.MatchString(s), isIPv6(s); got != want {
			t.Errorf("%q: pattern %v, loader %v", s, got, want)
		}
	}
}

// TestJSONSchemaLoadsInAjv compiles the schema with ajv (strict mode, no
// ajv-formats) and validates the quickstart with it, when node and ajv are at hand
// (TETHER_AJV_DIR: a folder holding node_modules/ajv). Editors and CI tools use ajv.
func TestJSONSchemaLoadsInAjv(t *testing.T) {
	node, err := exec.LookPath("node")
	dir := os.Getenv("TETHER_AJV_DIR")
	if err != nil || dir == "" {
		t.Skip("node or TETHER_AJV_DIR (a folder with node_modules/ajv) not set")
	}
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	schemaFile := filepath.Join(tmp, "schema.json")
	if err := os.WriteFile(schemaFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	quick, err := os.ReadFile(filepath.Join("..", "examples", "quickstart", "fleet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(quick, &doc); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dataFile := filepath.Join(tmp, "fleet.json")
	if err := os.WriteFile(dataFile, js, 0o644); err != nil {
		t.Fatal(err)
	}
	script := `const Ajv = require("ajv"); const fs = require("fs");
const v = new Ajv({strict: true, allErrors: true}).compile(JSON.parse(fs.readFileSync(process.argv[1])));
if (!v(JSON.parse(fs.readFileSync(process.argv[2])))) { console.log(JSON.stringify(v.errors)); process.exit(1); }`
	cmd := exec.Command(node, "-e", script, schemaFile, dataFile)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ajv: %v\n%s", err, out)
	}
}

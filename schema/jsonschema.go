package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/jsonschema"
)

// JSONSchemaID is the $id of the generated schema. Editors do not fetch it; it names
// the schema in caches and error messages.
const JSONSchemaID = "https://tether.dev/schema/fleet.json"

// JSONSchema returns a JSON Schema (draft-07) of one fleet file, generated from #Fleet
// in the embedded fleet.cue by cuelang.org/go/encoding/jsonschema, then fixed up where
// the generator's output would be wrong or weaker than the CUE (see fixJSONSchema).
// The cross-object rules are not in it: JSON Schema sees one file at a time, and a
// fleet is a folder.
//
// Why draft-07: cuelang.org/go v0.17 only generates draft 2020-12, but
// yaml-language-server validates with vscode-json-languageservice, which implements
// draft-07 and only parts of 2019-09/2020-12 (redhat-developer/yaml-language-server
// issue 856, open; vscode-yaml warns "Draft 2020-12 schemas are not yet fully
// supported"). The generated schema uses no keyword that differs between the two
// drafts except $defs, so it is rewritten to draft-07 (definitions); a test keeps
// 2019+-only keywords out.
//
// To have yaml-language-server (VS Code's YAML extension, Neovim's yamlls, ...) complete
// and check fleet files as they are typed, save the output next to the fleet and point
// at it from the first line of each file:
//
//	tether schema --jsonschema > .tether/fleet.schema.json
//	# yaml-language-server: $schema=.tether/fleet.schema.json
//
// or map it to the files once in the editor's settings
// ("yaml.schemas": {".tether/fleet.schema.json": "fleet/*.yaml"}).
func JSONSchema() ([]byte, error) {
	ctx := cuecontext.New()
	v := ctx.CompileBytes(FleetCUE(), cue.Filename(schemaFileName))
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("compile embedded schema: %w", err)
	}
	def := v.LookupPath(cue.MakePath(cue.Def("#Fleet")))
	expr, err := jsonschema.Generate(def, nil)
	if err != nil {
		return nil, fmt.Errorf("generate JSON Schema from #Fleet: %w", err)
	}
	js := ctx.BuildExpr(expr)
	if err := js.Err(); err != nil {
		return nil, fmt.Errorf("build JSON Schema: %w", err)
	}
	var m map[string]any
	if err := js.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode JSON Schema: %w", err)
	}
	if err := fixJSONSchema(m); err != nil {
		return nil, fmt.Errorf("fix up JSON Schema: %w", err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // descriptions say "->", not "\u003e"
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encode JSON Schema: %w", err)
	}
	return out.Bytes(), nil
}

const ipv4Pattern = `^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$`

// fixJSONSchema corrects what the generator gets wrong or leaves out, each for a
// reason the CUE schema cannot carry:
//
//   - #Reseller embeds #Account. The generator writes {$ref: Account, properties:
//     {acls, limits}, additionalProperties: false}, which rejects every reseller:
//     additionalProperties does not see the properties behind $ref, and Account's
//     own additionalProperties rejects acls. The Account properties are copied in.
//   - accounts and resellers are keyed by cPanel user name; the generator cannot turn
//     #UserName (a conjunction of patterns) into a key pattern, so it is added as
//     propertyNames.
//   - ipv4/ipv6 use CUE's net.IPv4/net.IPv6 validators, which the generator leaves
//     as `true` (anything); they become strings of format ipv4/ipv6 (and IPv4 a
//     pattern).
//   - draft-07 for editors (see JSONSchema): $schema, and $defs renamed definitions
//     with every $ref rewritten.
//   - $id, so the schema has a name.
func fixJSONSchema(m map[string]any) error {
	defs, ok := m["$defs"].(map[string]any)
	if !ok {
		return fmt.Errorf("no $defs")
	}
	account, ok1 := defs["Account"].(map[string]any)
	reseller, ok2 := defs["Reseller"].(map[string]any)
	if !ok1 || !ok2 {
		return fmt.Errorf("no Account or Reseller definition")
	}
	aprops, ok1 := account["properties"].(map[string]any)
	rprops, ok2 := reseller["properties"].(map[string]any)
	if !ok1 || !ok2 {
		return fmt.Errorf("Account or Reseller without properties")
	}
	for k, p := range aprops {
		if _, dup := rprops[k]; !dup {
			rprops[k] = p
		}
	}
	delete(reseller, "$ref")
	if req, ok := account["required"]; ok {
		reseller["required"] = req
	}
	if _, ok := defs["UserName"]; !ok {
		return fmt.Errorf("no UserName definition")
	}
	props, ok := m["properties"].(map[string]any)
	if !ok {
		return fmt.Errorf("no top-level properties")
	}
	for _, section := range []string{"accounts", "resellers"} {
		s, ok := props[section].(map[string]any)
		if !ok {
			return fmt.Errorf("no %s property", section)
		}
		s["propertyNames"] = map[string]any{"$ref": "#/$defs/UserName"} // rewritten below
	}
	ip := map[string]map[string]any{
		// format is an annotation in draft 2020-12 unless a validator opts in, so IPv4
		// also gets the pattern of a dotted quad (no leading zeros, as netip parses).
		"IPv4": {"type": "string", "format": "ipv4", "pattern": ipv4Pattern},
		"IPv6": {"type": "string", "format": "ipv6"},
	}
	for def, repl := range ip {
		if v, ok := defs[def]; !ok || v != true {
			return fmt.Errorf("$defs.%s is %v, expected the generator's `true`", def, v)
		}
		defs[def] = repl
	}
	m["$id"] = JSONSchemaID
	m["$schema"] = "http://json-schema.org/draft-07/schema#"
	m["definitions"] = defs
	delete(m, "$defs")
	rewriteRefs(m)
	return nil
}

// rewriteRefs points every "#/$defs/X" reference at "#/definitions/X".
func rewriteRefs(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				v[k] = strings.Replace(s, "#/$defs/", "#/definitions/", 1)
				continue
			}
			rewriteRefs(x)
		}
	case []any:
		for _, x := range v {
			rewriteRefs(x)
		}
	}
}

package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"

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

// ipv6Pattern is an IPv6 address in any of its text forms (RFC 4291 section 2.2),
// without a zone; the embedded-IPv4 forms end in a dotted quad.
const ipv6Pattern = `^(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:(:[0-9a-fA-F]{1,4}){1,6}|:((:[0-9a-fA-F]{1,4}){1,7}|:)|([0-9a-fA-F]{1,4}:){6}` + dottedQuad + `|([0-9a-fA-F]{1,4}:){1,5}:` + dottedQuad + `|::([fF]{4}(:0{1,4})?:)?` + dottedQuad + `)$`

const dottedQuad = `((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])`

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
//     as `true` (anything); they become strings with a pattern (not a format, so
//     ajv loads the schema without ajv-formats).
//   - every field gets the description, and the default where there is one, of the
//     field table (fields.go); the definitions' own descriptions drop the CUE names
//     ("#LinkAlias is a node name" reads "A node name") and each gets a title, so
//     editors show words, not definitions (annotate).
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
		// Patterns, not format: ipv4/ipv6 formats need a plugin in ajv (ajv-formats)
		// and are annotations only in draft 2020-12; a pattern validates everywhere.
		// format is an annotation in draft 2020-12 unless a validator opts in, so IPv4
		// also gets the pattern of a dotted quad (no leading zeros, as netip parses).
		"IPv4": {"type": "string", "pattern": ipv4Pattern},
		"IPv6": {"type": "string", "pattern": ipv6Pattern},
	}
	for def, repl := range ip {
		if v, ok := defs[def]; !ok || v != true {
			return fmt.Errorf("$defs.%s is %v, expected the generator's `true`", def, v)
		}
		defs[def] = repl
	}
	if err := annotate(m, defs); err != nil {
		return err
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

// annotate writes the field table into the schema: on each table type's definition
// (and the fleet's top level) a title, and on each property its description and
// default. Definitions the table does not describe (value types such as LinkAlias)
// keep CUE's comment, with the CUE name taken out.
func annotate(m, defs map[string]any) error {
	for typ := range FleetFields {
		target := m
		if typ != "Fleet" {
			d, ok := defs[typ].(map[string]any)
			if !ok {
				return fmt.Errorf("no definition %s for the field table's type", typ)
			}
			target = d
			target["title"] = typ
		}
		for _, f := range fieldsOf(typ) {
			if f.Rule == RuleS01 {
				// An inline secret: fleet.cue declares it only to refuse it, which the
				// generator writes as the schema false. {"not": {}} refuses the same and
				// carries the advice an editor shows.
				if props, ok := target["properties"].(map[string]any); ok && props[f.Name] == false {
					props[f.Name] = map[string]any{"not": map[string]any{}, "description": f.Doc}
				}
				continue
			}
			p, err := property(target, f.Name)
			if err != nil {
				return fmt.Errorf("%s: %w", typ, err)
			}
			p["description"] = f.Doc
			if f.Default != "" {
				var v any
				if err := json.Unmarshal([]byte(f.Default), &v); err != nil {
					return fmt.Errorf("%s.%s: default %s: %w", typ, f.Name, f.Default, err)
				}
				p["default"] = v
			}
		}
	}
	for name, d := range defs {
		dm, ok := d.(map[string]any)
		if !ok {
			continue
		}
		if _, titled := dm["title"]; !titled {
			dm["title"] = words(name)
		}
		if desc, ok := dm["description"].(string); ok {
			dm["description"] = plainDescription(desc)
		}
	}
	stringNots(m)
	return nil
}

// property finds the schema of a (dotted) property of an object schema.
func property(obj map[string]any, name string) (map[string]any, error) {
	first, rest, nested := strings.Cut(name, ".")
	props, ok := obj["properties"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: no properties", name)
	}
	p, ok := props[first].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("no property %s", first)
	}
	if nested {
		return property(p, rest)
	}
	return p, nil
}

// cueName is a CUE definition's name at the start of its comment: "#Domain is a".
var cueName = regexp.MustCompile(`^#[A-Za-z]+ is (an?|the) `)

// plainDescription takes CUE's names out of a definition's comment and joins its
// lines: "#LinkAlias is a node name; ..." reads "A node name; ...".
func plainDescription(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if m := cueName.FindStringSubmatch(s); m != nil {
		article := strings.ToUpper(m[1][:1]) + m[1][1:]
		s = article + " " + s[len(m[0]):]
	}
	return s
}

// words spells a definition's name as words: LinkAlias is "link alias".
func words(name string) string {
	var b strings.Builder
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) && !unicode.IsUpper(rune(name[i-1])) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	if s := b.String(); s != strings.ToUpper(s) {
		return strings.ToLower(s)
	}
	return b.String()
}

// stringNots gives a pattern under "not" the type it applies to, when a sibling of
// the same allOf already requires a string: ajv's strict mode asks for it, and it
// does not change what validates.
func stringNots(v any) {
	switch v := v.(type) {
	case map[string]any:
		if all, ok := v["allOf"].([]any); ok {
			str := false
			for _, s := range all {
				if sm, ok := s.(map[string]any); ok && sm["type"] == "string" {
					str = true
				}
			}
			for _, s := range all {
				if sm, ok := s.(map[string]any); ok && str {
					if not, ok := sm["not"].(map[string]any); ok && not["pattern"] != nil && not["type"] == nil {
						not["type"] = "string"
					}
				}
			}
		}
		for _, x := range v {
			stringNots(x)
		}
	case []any:
		for _, x := range v {
			stringNots(x)
		}
	}
}

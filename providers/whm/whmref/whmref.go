// Package whmref reads the WHM API 1 reference as data (testdata/whm/reference: the
// documented response fields of each function, from cPanel's official reference) and
// checks answers and decoders against it. Tests use it: the sandbox's conformance
// test holds every answer of the sandbox against the reference, and the provider's
// test holds every field it decodes against it, so neither can drift from a real
// server without a test saying so.
package whmref

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Field is one documented response field.
type Field struct {
	Function string
	// Path is dotted as documented; array items are children of the array
	// (data.acct.child_nodes.alias).
	Path string
	// Type is object, array, string, integer or any.
	Type     string
	Enum     []string
	Nullable bool
}

// Table is the reference: function → path → field.
type Table struct {
	fns map[string]map[string]*Field
}

// Dir is the reference folder relative to a package two levels below the module
// root (internal/sandbox, providers/whm).
const Dir = "../../testdata/whm/reference"

// Load reads responses.tsv and responses-added.tsv from dir.
func Load(dir string) (*Table, error) {
	t := &Table{fns: map[string]map[string]*Field{}}
	for _, name := range []string{"responses.tsv", "responses-added.tsv"} {
		if err := t.read(filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Table) read(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue // header
		}
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 5 {
			return fmt.Errorf("%s:%d: %d columns, want at least 5", path, line, len(cols))
		}
		fd := &Field{Function: cols[0], Path: cols[1], Type: cols[2], Nullable: cols[4] == "yes"}
		if cols[3] != "" {
			fd.Enum = strings.Split(cols[3], ",")
		}
		switch fd.Type {
		case "object", "array", "string", "integer", "any":
		default:
			return fmt.Errorf("%s:%d: unknown type %q", path, line, fd.Type)
		}
		if t.fns[fd.Function] == nil {
			t.fns[fd.Function] = map[string]*Field{}
		}
		t.fns[fd.Function][fd.Path] = fd
	}
	return sc.Err()
}

// Has reports whether the reference documents fn's response.
func (t *Table) Has(fn string) bool { return t.fns[fn] != nil }

// Functions lists the documented functions, sorted.
func (t *Table) Functions() []string {
	out := make([]string, 0, len(t.fns))
	for fn := range t.fns {
		out = append(out, fn)
	}
	sort.Strings(out)
	return out
}

// Field returns the documented field at path.
func (t *Table) Field(fn, path string) (*Field, bool) {
	f, ok := t.fns[fn][path]
	return f, ok
}

// children lists the documented direct children of path ("" = the top level).
func (t *Table) children(fn, path string) []string {
	var out []string
	prefix := path + "."
	if path == "" {
		prefix = ""
	}
	for p := range t.fns[fn] {
		rest, ok := strings.CutPrefix(p, prefix)
		if ok && rest != "" && !strings.Contains(rest, ".") {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Exceptions are what a caller knowingly allows, each for a reason it records:
// documented fields an answer may lack (MayLack) and fields the reference does not
// document but cPanel's source writes (Extra). Either may be nil.
type Exceptions struct {
	MayLack func(fn, path string) bool
	Extra   func(fn, path string) bool
	// NoPage names functions the reference has no page for (listresellers,
	// unsetupreseller): their answers are not checked, rather than failed.
	NoPage func(fn string) bool
}

func (x Exceptions) mayLack(fn, p string) bool { return x.MayLack != nil && x.MayLack(fn, p) }
func (x Exceptions) extra(fn, p string) bool   { return x.Extra != nil && x.Extra(fn, p) }

// Check holds one whole answer of fn (a JSON body) against the reference and returns
// what differs: fields the reference does not document, documented fields of the
// wrong type or outside their enum, null where the reference does not allow it, and
// documented fields missing (unless the exceptions allow them). A failed answer
// (metadata.result 0) is checked only for its metadata: the pages document
// successes. batch's results are each checked against their own function.
func (t *Table) Check(fn string, body []byte, x Exceptions) []string {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return []string{fmt.Sprintf("%s: not JSON: %v", fn, err)}
	}
	var probs []string
	t.checkEnvelope(fn, v, x, &probs)
	return probs
}

func (t *Table) checkEnvelope(fn string, v any, x Exceptions, probs *[]string) {
	top, ok := v.(map[string]any)
	if !ok {
		*probs = append(*probs, fmt.Sprintf("%s: the answer is not a JSON object", fn))
		return
	}
	if !t.Has(fn) {
		if x.NoPage != nil && x.NoPage(fn) {
			return
		}
		*probs = append(*probs, fmt.Sprintf("%s: the reference documents no response for this function", fn))
		return
	}
	failed := false
	if m, ok := top["metadata"].(map[string]any); ok {
		failed = fmt.Sprint(m["result"]) == "0"
	}
	for k, val := range top {
		if failed && k != "metadata" {
			continue
		}
		t.check(fn, k, val, x, probs)
	}
	for _, c := range t.children(fn, "") {
		if _, ok := top[c]; !ok && !x.mayLack(fn, c) && !(failed && c == "data") {
			*probs = append(*probs, fmt.Sprintf("%s: documented field %s is missing", fn, c))
		}
	}
}

func (t *Table) check(fn, path string, v any, x Exceptions, probs *[]string) {
	fd, ok := t.Field(fn, path)
	if !ok {
		if !x.extra(fn, path) {
			*probs = append(*probs, fmt.Sprintf("%s: field %s is not documented", fn, path))
		}
		return
	}
	if v == nil {
		if !fd.Nullable && fd.Type != "any" {
			*probs = append(*probs, fmt.Sprintf("%s: %s is null; the reference does not allow null", fn, path))
		}
		return
	}
	bad := func(want string) {
		*probs = append(*probs, fmt.Sprintf("%s: %s is %s, the reference says %s", fn, path, jsonKind(v), want))
	}
	switch fd.Type {
	case "any":
		return
	case "string":
		s, ok := v.(string)
		if !ok {
			bad("string")
			return
		}
		t.enum(fd, s, probs)
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			bad("integer")
			return
		}
		if _, err := n.Int64(); err != nil {
			bad("integer")
			return
		}
		t.enum(fd, n.String(), probs)
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			bad("object")
			return
		}
		t.checkObject(fn, path, m, x, probs)
	case "array":
		a, ok := v.([]any)
		if !ok {
			bad("array")
			return
		}
		if fn == "batch" && path == "data.result" {
			for _, e := range a {
				inner := ""
				if m, ok := e.(map[string]any); ok {
					if md, ok := m["metadata"].(map[string]any); ok {
						inner, _ = md["command"].(string)
					}
				}
				t.checkEnvelope(inner, e, x, probs)
			}
			return
		}
		if len(t.children(fn, path)) == 0 {
			return // an array of scalars (ipv6, enabled_services)
		}
		for _, e := range a {
			m, ok := e.(map[string]any)
			if !ok {
				*probs = append(*probs, fmt.Sprintf("%s: an item of %s is %s, the reference says object", fn, path, jsonKind(e)))
				continue
			}
			t.checkObject(fn, path, m, x, probs)
		}
	}
}

// checkObject checks an object's keys. An object the reference documents without
// children (worker_capabilities, system_settings, cpuser) is free-form.
func (t *Table) checkObject(fn, path string, m map[string]any, x Exceptions, probs *[]string) {
	kids := t.children(fn, path)
	if len(kids) == 0 {
		return
	}
	for k, val := range m {
		t.check(fn, path+"."+k, val, x, probs)
	}
	for _, c := range kids {
		if _, ok := m[c[len(path)+1:]]; !ok && !x.mayLack(fn, c) {
			*probs = append(*probs, fmt.Sprintf("%s: documented field %s is missing", fn, c))
		}
	}
}

func (t *Table) enum(fd *Field, s string, probs *[]string) {
	if len(fd.Enum) > 0 && !slices.Contains(fd.Enum, s) {
		*probs = append(*probs, fmt.Sprintf("%s: %s is %q, not one of the documented values %s", fd.Function, fd.Path, s, strings.Join(fd.Enum, ", ")))
	}
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("a string (%q)", x)
	case json.Number:
		return "a number (" + x.String() + ")"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// CheckType holds a Go type the provider decodes fn's data into against the
// reference: every json-tagged field must be documented under data (or under path
// when the type decodes a part of it). Types that decode leniently (FlexInt,
// FlexString, …) or raw JSON are accepted for any documented type; a struct or slice
// of structs must meet an object or an array of objects.
func (t *Table) CheckType(fn, path string, typ reflect.Type) []string {
	var probs []string
	t.checkType(fn, path, typ, &probs, map[reflect.Type]bool{})
	return probs
}

var rawMessage = reflect.TypeOf(json.RawMessage(nil))

func (t *Table) checkType(fn, path string, typ reflect.Type, probs *[]string, seen map[reflect.Type]bool) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	fd, documented := t.Field(fn, path)
	if !documented {
		*probs = append(*probs, fmt.Sprintf("%s: the provider decodes %s, which the reference does not document", fn, path))
		return
	}
	if typ == rawMessage || typ.Kind() == reflect.Interface || fd.Type == "any" {
		return
	}
	if implementsUnmarshaler(typ) {
		// A lenient scalar (FlexInt, FlexString, FlexBool) reads a string or a
		// number, whichever a server sends; it cannot read an object or an array.
		if fd.Type == "object" || fd.Type == "array" {
			*probs = append(*probs, fmt.Sprintf("%s: the provider decodes %s as a scalar, the reference says %s", fn, path, fd.Type))
		}
		return
	}
	switch typ.Kind() {
	case reflect.Struct:
		if fd.Type != "object" && !(fd.Type == "array" && len(t.children(fn, path)) > 0) {
			*probs = append(*probs, fmt.Sprintf("%s: the provider decodes %s as an object, the reference says %s", fn, path, fd.Type))
			return
		}
		if seen[typ] {
			return
		}
		seen[typ] = true
		defer delete(seen, typ)
		for i := 0; i < typ.NumField(); i++ {
			sf := typ.Field(i)
			if !sf.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			t.checkType(fn, path+"."+name, sf.Type, probs, seen)
		}
	case reflect.Slice, reflect.Array:
		if fd.Type != "array" {
			*probs = append(*probs, fmt.Sprintf("%s: the provider decodes %s as an array, the reference says %s", fn, path, fd.Type))
			return
		}
		el := typ.Elem()
		for el.Kind() == reflect.Pointer {
			el = el.Elem()
		}
		if el.Kind() == reflect.Struct && !implementsUnmarshaler(el) {
			if len(t.children(fn, path)) == 0 {
				*probs = append(*probs, fmt.Sprintf("%s: the provider decodes items of %s as objects, the reference documents no fields for them", fn, path))
				return
			}
			t.checkType(fn, path, el, probs, seen)
		}
	case reflect.Map:
		if fd.Type != "object" {
			*probs = append(*probs, fmt.Sprintf("%s: the provider decodes %s as an object, the reference says %s", fn, path, fd.Type))
			return
		}
		// A map reads whatever keys the object has: each documented child must fit
		// the map's value type; free-form objects accept anything.
		for _, c := range t.children(fn, path) {
			t.checkType(fn, c, typ.Elem(), probs, seen)
		}
	case reflect.String:
		if fd.Type != "string" {
			*probs = append(*probs, fmt.Sprintf("%s: the provider decodes %s as a string, the reference says %s", fn, path, fd.Type))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		if fd.Type != "integer" {
			*probs = append(*probs, fmt.Sprintf("%s: the provider decodes %s as a number, the reference says %s", fn, path, fd.Type))
		}
	case reflect.Bool:
		*probs = append(*probs, fmt.Sprintf("%s: the provider decodes %s as a JSON boolean, the reference says %s", fn, path, fd.Type))
	}
}

var unmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

func implementsUnmarshaler(t reflect.Type) bool {
	return t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler)
}

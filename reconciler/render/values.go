package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tether-dev/tether/reconciler/plan"
)

// leaf is one scalar of a value, named by its path ("mail.node", "forwarders[0].to").
type leaf struct {
	path, value string
}

// flatten lists the leaves of a plan value in the order its JSON form declares them.
// Going through JSON means renderers show exactly what a saved plan holds: fields
// tagged `json:"-"` (secrets, positions) cannot appear. Arrays of scalars stay one
// leaf (`["dns","http"]`), which reads better than one line per element.
func flatten(v any) []leaf {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil || bytes.Equal(b, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []leaf
	if err := walk(dec, "", &out); err != nil {
		return []leaf{{path: "(value)", value: fmt.Sprintf("unreadable: %v", err)}}
	}
	return out
}

func walk(dec *json.Decoder, path string, out *[]leaf) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := kt.(string)
				if err := walk(dec, join(path, key), out); err != nil {
					return err
				}
			}
			_, err = dec.Token() // '}'
			return err
		case '[':
			var raw []json.RawMessage
			for dec.More() {
				var m json.RawMessage
				if err := dec.Decode(&m); err != nil {
					return err
				}
				raw = append(raw, m)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return err
			}
			return walkArray(path, raw, out)
		}
	case string:
		q, _ := json.Marshal(t)
		*out = append(*out, leaf{path, string(q)})
	case nil:
		*out = append(*out, leaf{path, "null"})
	default:
		*out = append(*out, leaf{path, fmt.Sprint(t)})
	}
	return nil
}

func walkArray(path string, raw []json.RawMessage, out *[]leaf) error {
	scalars := true
	for _, m := range raw {
		if t := bytes.TrimSpace(m); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			scalars = false
		}
	}
	if scalars {
		parts := make([]string, len(raw))
		for i, m := range raw {
			parts[i] = string(bytes.TrimSpace(m))
		}
		*out = append(*out, leaf{path, "[" + strings.Join(parts, ", ") + "]"})
		return nil
	}
	for i, m := range raw {
		dec := json.NewDecoder(bytes.NewReader(m))
		dec.UseNumber()
		if err := walk(dec, fmt.Sprintf("%s[%d]", path, i), out); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// under reports whether path is field or inside it.
func under(path, field string) bool {
	return path == field || strings.HasPrefix(path, field+".") || strings.HasPrefix(path, field+"[")
}

// fieldChange is one line of an update: a path with its value before and after;
// "" means absent.
type fieldChange struct {
	path, before, after string
}

// fieldChanges lists what an update changes, field by field, in the order the
// change names its fields. A field that is an object (features) shows only the keys
// the fleet declares, as only those are managed; a scalar shows before → after even
// when one side is absent (an owner back to root).
func fieldChanges(c *plan.Change) []fieldChange {
	before, after := flatten(c.Before), flatten(c.After)
	bmap := make(map[string]string, len(before))
	for _, l := range before {
		bmap[l.path] = l.value
	}
	var out []fieldChange
	for _, f := range c.Fields {
		switch f {
		// Fields that name an operation rather than a value of the model.
		case "privileges":
			out = append(out, fieldChange{f, `"none"`, `"reseller"`})
			continue
		case "zones":
			out = append(out, fieldChange{"zones out of step", bmap["zones.outOfStep"], "[]"})
			continue
		}
		var inside []leaf
		scalar := true
		for _, l := range after {
			if under(l.path, f) {
				inside = append(inside, l)
				if l.path != f {
					scalar = false
				}
			}
		}
		if scalar {
			b, a := bmap[f], ""
			if len(inside) == 1 {
				a = inside[0].value
			}
			if b != a {
				out = append(out, fieldChange{f, implicit(f, b, a), implicit(f, a, b)})
			}
			continue
		}
		for _, l := range inside {
			if bmap[l.path] != l.value {
				out = append(out, fieldChange{l.path, bmap[l.path], l.value})
			}
		}
	}
	return out
}

// implicit names a value the JSON form leaves out because it is the default: false
// beside a true, root for an owner.
func implicit(field, v, other string) string {
	switch {
	case v != "":
		return v
	case field == "owner":
		return `"root"`
	case other == "true":
		return "false"
	}
	return v
}

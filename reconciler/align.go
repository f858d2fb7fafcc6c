package reconciler

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/tether-dev/tether/reconciler/plan"
)

// alignValues gives each change's before and after the same set of fields, so a plain
// diff of the two shows only what the plan changes. A field one side lacks that no
// change of the address names is one the plan does not manage there: something only
// the fleet says (credentials, a TSIG key reference, a member's software) or only a
// server reports (a member's zones). It is copied across, into a copy of the value,
// so each side shows it and the two agree on it. Fields the plan changes are left as
// they are, present on one side or not.
func alignValues(changes []*plan.Change) {
	named := map[string][]string{}
	for _, c := range changes {
		named[c.Address] = append(named[c.Address], c.Fields...)
	}
	for _, c := range changes {
		if c.Before == nil || c.After == nil {
			continue
		}
		bm, am := jsonFields(c.Before), jsonFields(c.After)
		if bm == nil || am == nil {
			continue
		}
		toBefore, toAfter := map[string]json.RawMessage{}, map[string]json.RawMessage{}
		for k, v := range am {
			if _, ok := bm[k]; !ok && !namedField(k, named[c.Address]) {
				toBefore[k] = v
			}
		}
		for k, v := range bm {
			if _, ok := am[k]; !ok && !namedField(k, named[c.Address]) {
				toAfter[k] = v
			}
		}
		c.Before = withFields(c.Before, toBefore)
		c.After = withFields(c.After, toAfter)
	}
}

func jsonFields(v any) map[string]json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// namedField reports whether the top-level key k is, or holds, one of the fields.
func namedField(k string, fields []string) bool {
	for _, f := range fields {
		if f == k || strings.HasPrefix(f, k+".") || strings.HasPrefix(f, k+"[") {
			return true
		}
	}
	return false
}

// withFields returns a copy of the struct v points to with the named JSON fields set
// from raw; v itself (often the desired fleet's own object) is never written. Fields
// are found by their JSON names, through embedded structs; a value that does not
// decode leaves the field as it was.
func withFields(v any, raw map[string]json.RawMessage) any {
	if len(raw) == 0 {
		return v
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return v
	}
	cp := reflect.New(rv.Elem().Type())
	cp.Elem().Set(rv.Elem())
	for name, val := range raw {
		f := fieldByJSONName(cp.Elem(), name)
		if !f.IsValid() || !f.CanSet() {
			continue
		}
		fresh := reflect.New(f.Type())
		if json.Unmarshal(val, fresh.Interface()) == nil {
			f.Set(fresh.Elem())
		}
	}
	return cp.Interface()
}

func fieldByJSONName(v reflect.Value, name string) reflect.Value {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if sf.Anonymous && tag == "" && sf.Type.Kind() == reflect.Struct {
			if f := fieldByJSONName(v.Field(i), name); f.IsValid() {
				return f
			}
			continue
		}
		if tag == name || (tag == "" && sf.Name == name) {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

package schema

import (
	"reflect"
	"testing"
)

// secretFields are cleared by every copy; Src (positions) is too.
var secretFields = map[string]bool{"Credentials.Token": true, "TSIG.Secret": true}

// fill sets every field of v to a non-zero value, recursively: strings, numbers and
// booleans, pointers, slices and maps of two elements.
func fill(v reflect.Value, depth int) {
	if depth > 6 {
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x" + v.Type().Name())
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range []string{"a", "b"} {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, depth+1)
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	}
}

// compare walks an original and its copy: equal values but for positions and inline
// secrets (which must be empty in the copy), and no pointer, slice or map shared.
func compare(t *testing.T, path string, o, c reflect.Value) {
	t.Helper()
	switch o.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		if o.IsNil() != c.IsNil() {
			t.Errorf("%s: nil %t in the original, %t in the copy", path, o.IsNil(), c.IsNil())
			return
		}
		if o.IsNil() {
			return
		}
		if o.Pointer() == c.Pointer() {
			t.Errorf("%s: the copy shares it with the original", path)
		}
	}
	switch o.Kind() {
	case reflect.Pointer:
		compare(t, path, o.Elem(), c.Elem())
	case reflect.Slice:
		if o.Len() != c.Len() {
			t.Errorf("%s: %d elements, copy %d", path, o.Len(), c.Len())
			return
		}
		for i := range o.Len() {
			compare(t, path+"[]", o.Index(i), c.Index(i))
		}
	case reflect.Map:
		if o.Len() != c.Len() {
			t.Errorf("%s: %d entries, copy %d", path, o.Len(), c.Len())
			return
		}
		for _, k := range o.MapKeys() {
			compare(t, path+"[k]", o.MapIndex(k), c.MapIndex(k))
		}
	case reflect.Struct:
		typ := o.Type()
		for i := range o.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			name := typ.Name() + "." + f.Name
			if f.Type == reflect.TypeOf(Source{}) || secretFields[name] {
				if !c.Field(i).IsZero() {
					t.Errorf("%s.%s: kept in the copy", path, f.Name)
				}
				continue
			}
			compare(t, path+"."+f.Name, o.Field(i), c.Field(i))
		}
	default:
		if !reflect.DeepEqual(o.Interface(), c.Interface()) {
			t.Errorf("%s: %v, copy %v", path, o.Interface(), c.Interface())
		}
	}
}

// Every field of every object type, present now or added later, is copied whole,
// shares nothing, and loses only positions and inline secrets.
func TestCloneCopiesEveryField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		orig  any
		clone func(any) any
	}{
		{"Node", &Node{}, func(v any) any { return v.(*Node).Clone() }},
		{"Account", &Account{}, func(v any) any { return v.(*Account).Clone() }},
		{"Reseller", &Reseller{}, func(v any) any { return v.(*Reseller).Clone() }},
		{"DNSCluster", &DNSCluster{}, func(v any) any { return v.(*DNSCluster).Clone() }},
		{"Member", &Member{}, func(v any) any { return v.(*Member).Clone() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fill(reflect.ValueOf(tc.orig).Elem(), 0)
			c := tc.clone(tc.orig)
			compare(t, tc.name, reflect.ValueOf(tc.orig), reflect.ValueOf(c))
		})
	}
	var nilNode *Node
	if nilNode.Clone() != nil {
		t.Error("a nil node copies to non-nil")
	}
}

package planfile

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tether-dev/tether/schema"
)

// fillEvery sets every exported field reachable from v (through pointers, slices of
// one element and maps of one entry) to a value that is not empty, so json.Marshal
// writes each: a field added to Account shows in Marshal's bytes.
func fillEvery(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillEvery(v.Elem(), s)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillEvery(v.Field(i), s)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillEvery(v.Index(0), s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillEvery(k, s)
		fillEvery(e, s)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(7)
	}
}

// TestAppendAccountJSONIsMarshal: appendAccountJSON writes json.Marshal's bytes for
// every field of Account (filled by reflection, so a new field fails here until it is
// written), for empty and partly set accounts, and for strings encoding/json escapes.
func TestAppendAccountJSONIsMarshal(t *testing.T) {
	strs := []string{"", "plain", "a<b>&c", `q"uo\te`, "tab\there\nnl\r\b\f\x01\x1f\x7f", "é ü 例", "\u2028\u2029", "bad\xff\xfeutf8", "\xc3", "emoji 😀", "/slash"}
	var accts []*schema.Account
	for _, s := range strs {
		a := &schema.Account{}
		fillEvery(reflect.ValueOf(a).Elem(), s)
		accts = append(accts, a)
	}
	full := &schema.Account{}
	fillEvery(reflect.ValueOf(full).Elem(), "x")
	if !full.Src.Key.IsValid() {
		t.Fatal("fillEvery did not reach Src: the walk is wrong")
	}
	accts = append(accts,
		nil,
		&schema.Account{},
		&schema.Account{Parent: "web1", Domain: "a.test"},
		&schema.Account{Parent: "web1", Domain: "a.test", Features: map[string]bool{"z": true, "a": false, "m<": true, "é": false}},
		&schema.Account{Parent: "web1", Mail: &schema.MailPlacement{ExtraNodes: []string{"m2"}}, AutoSSL: &schema.AutoSSL{}},
		&schema.Account{Parent: "web1", Features: map[string]bool{}, Forwarders: []schema.Forwarder{}, AutoSSL: &schema.AutoSSL{DCV: []string{"dns", "http"}}},
		&schema.Account{Forwarders: []schema.Forwarder{{From: "a", To: "|/bin/x"}, {}}, IPv6: true, Suspended: true, Protect: false, DNSSEC: true},
	)
	for i, a := range accts {
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendAccountJSON([]byte("prefix"), a); string(got) != "prefix"+string(want) {
			t.Errorf("account %d:\ngot  %s\nwant prefix%s", i, got, want)
		}
	}
}

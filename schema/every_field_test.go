package schema

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/ast"
	cueyaml "cuelang.org/go/encoding/yaml"
)

// everyFieldFleet is the fixture that sets every field of the format at least once.
const everyFieldFleet = "../testdata/valid/every-field/fleet.yaml"

// setFields lists, as TYPE.FIELD in the table's names (FleetFields), the fields set
// somewhere in v: the json tag of each non-zero field, nested inline mappings dotted
// (Account's mail.node), an embedded struct counted as its own type.
func setFields(v reflect.Value, typ, prefix string, out map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			setFields(v.Elem(), typ, prefix, out)
		}
		return
	case reflect.Map:
		for _, k := range v.MapKeys() {
			setFields(v.MapIndex(k), typ, prefix, out)
		}
		return
	case reflect.Slice:
		for i := range v.Len() {
			setFields(v.Index(i), typ, prefix, out)
		}
		return
	case reflect.Struct:
	default:
		return
	}
	t := v.Type()
	if _, known := FleetFields[t.Name()]; known && prefix == "" {
		typ = t.Name()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous {
			setFields(v.Field(i), f.Type.Name(), "", out)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || v.Field(i).IsZero() {
			continue
		}
		out[typ+"."+prefix+name] = true
		inner := f.Type
		for inner.Kind() == reflect.Pointer {
			inner = inner.Elem()
		}
		if _, own := FleetFields[inner.Name()]; !own && inner.Kind() == reflect.Struct {
			setFields(v.Field(i), typ, prefix+name+".", out)
		} else {
			setFields(v.Field(i), typ, "", out)
		}
	}
}

// The fixture sets every field of the table (but inline secrets, which are refused),
// and the YAML and CUE decoders read it to the same fleet: a field one decoder drops
// or reads differently, or a new field the fixture lacks, fails here.
func TestEveryFieldBothDecoders(t *testing.T) {
	data, err := os.ReadFile(everyFieldFleet)
	if err != nil {
		t.Fatal(err)
	}
	fy, yds := loadBytes(data, defaultChunking)
	if len(yds) > 0 {
		t.Fatalf("YAML:\n%v", yds)
	}
	file, err := cueyaml.Extract("fleet.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	fc, cds := evalFleetFiles([]*ast.File{file})
	if len(cds) > 0 {
		t.Fatalf("CUE:\n%v", cds)
	}
	set := map[string]bool{}
	setFields(reflect.ValueOf(fy), "Fleet", "", set)
	var missing []string
	for typ, fields := range FleetFields {
		for _, f := range fields {
			if !set[typ+"."+f.Name] && !inlineSecrets[typ+"."+f.Name] {
				missing = append(missing, typ+"."+f.Name)
			}
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("%s does not set %v: add them, so both decoders, the writer and the copies are held to them", everyFieldFleet, missing)
	}
	jy, _ := json.MarshalIndent(fy, "", " ")
	jc, _ := json.MarshalIndent(fc, "", " ")
	if string(jy) != string(jc) {
		t.Errorf("YAML and CUE read the fixture differently:\n--- YAML\n%s\n--- CUE\n%s", jy, jc)
	}
}

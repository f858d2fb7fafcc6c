package whmref

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const sample = "function\tfield\ttype\tenum\tnullable\texample\n" +
	"f\tdata\tobject\t\t\t\n" +
	"f\tdata.n\tinteger\t0,1\t\t\n" +
	"f\tdata.s\tstring\t\tyes\t\n" +
	"f\tdata.list\tarray\t\t\t\n" +
	"f\tdata.list.name\tstring\t\t\t\n" +
	"f\tdata.free\tobject\t\t\t\n" +
	"f\tmetadata\tobject\t\t\t\n" +
	"f\tmetadata.result\tinteger\t0,1\t\t\n"

func sampleTable(t *testing.T) *Table {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "responses.tsv"), []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "responses-added.tsv"), []byte("function\tfield\ttype\tenum\tnullable\texample\tsource\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestCheck(t *testing.T) {
	tab := sampleTable(t)
	cases := []struct {
		name, body string
		want       []string // substrings, one per problem; none means conforming
	}{
		{"conforming", `{"metadata":{"result":1},"data":{"n":1,"s":null,"list":[{"name":"a"}],"free":{"x":{"y":1}}}}`, nil},
		{"string for integer", `{"metadata":{"result":1},"data":{"n":"1","s":"x","list":[],"free":{}}}`, []string{`data.n is a string ("1")`}},
		{"outside enum", `{"metadata":{"result":1},"data":{"n":2,"s":"x","list":[],"free":{}}}`, []string{`not one of the documented values 0, 1`}},
		{"null not allowed", `{"metadata":{"result":1},"data":{"n":null,"s":"x","list":[],"free":{}}}`, []string{"data.n is null"}},
		{"undocumented and missing", `{"metadata":{"result":1},"data":{"n":0,"s":"x","list":[{"nom":"a"}],"free":{},"extra":1}}`,
			[]string{"data.extra is not documented", "data.list.nom is not documented", "data.list.name is missing"}},
		{"failure checks metadata only", `{"metadata":{"result":0},"data":{"type":"X"}}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tab.Check("f", []byte(tc.body), Exceptions{})
			if len(got) != len(tc.want) {
				t.Fatalf("problems %q, want %d like %q", got, len(tc.want), tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.Join(got, "\n"), w) {
					t.Errorf("problems %q lack %q", got, w)
				}
			}
		})
	}
	if got := tab.Check("f", []byte(`{"metadata":{"result":1},"data":{"n":0,"s":"x","list":[]}}`), Exceptions{MayLack: func(fn, p string) bool { return p == "data.free" }}); len(got) != 0 {
		t.Errorf("MayLack ignored: %q", got)
	}
	if got := tab.Check("nopage", []byte(`{"metadata":{}}`), Exceptions{}); len(got) != 1 {
		t.Errorf("a function without a page: %q", got)
	}
}

func TestCheckType(t *testing.T) {
	tab := sampleTable(t)
	type item struct {
		Name string `json:"name"`
	}
	good := reflect.TypeOf(struct {
		N    int            `json:"n"`
		S    *string        `json:"s"`
		List []item         `json:"list"`
		Free map[string]any `json:"free"`
	}{})
	if p := tab.CheckType("f", "data", good); len(p) != 0 {
		t.Errorf("good type: %q", p)
	}
	bad := reflect.TypeOf(struct {
		N     string `json:"n"`
		Other int    `json:"other"`
	}{})
	if p := tab.CheckType("f", "data", bad); len(p) != 2 {
		t.Errorf("bad type: %q, want 2 problems", p)
	}
}

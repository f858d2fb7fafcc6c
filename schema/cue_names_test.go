package schema

import (
	"sort"
	"strconv"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
)

// schemaValue compiles the embedded schema alone.
func schemaValue(t *testing.T) (*cue.Context, cue.Value) {
	t.Helper()
	ctx := cuecontext.New()
	v := ctx.CompileBytes(FleetCUE(), cue.Filename(schemaFileName))
	if err := v.Err(); err != nil {
		t.Fatal(err)
	}
	return ctx, v
}

// TestReservedUserNamesInStep: the CUE schema and the Go checks refuse the same names.
func TestReservedUserNamesInStep(t *testing.T) {
	_, v := schemaValue(t)
	var cueNames []string
	if err := v.LookupPath(cue.ParsePath("#ReservedUserNames")).Decode(&cueNames); err != nil {
		t.Fatal(err)
	}
	var goNames []string
	for n := range reservedUsers {
		goNames = append(goNames, n)
	}
	sort.Strings(cueNames)
	sort.Strings(goNames)
	if strings.Join(cueNames, " ") != strings.Join(goNames, " ") {
		t.Errorf("reserved user names differ:\nCUE: %v\nGo:  %v", cueNames, goNames)
	}
}

// TestNamePatternsInStep runs the CUE patterns for user names (A01), domains (A02) and
// link aliases (L10) and the Go checks over the same names, edge cases included, and
// demands the same verdict on each.
func TestNamePatternsInStep(t *testing.T) {
	ctx, v := schemaValue(t)
	long := func(n int, c string) string { return strings.Repeat(c, n) }
	tests := []struct {
		def   string
		goOK  func(string) bool
		names []string
	}{
		{"#UserName", func(s string) bool { return userNameProblem(s) == "" }, []string{
			"alice", "a", "a1", "bob2026", long(16, "a"), long(17, "a"), "", "Alice", "1abc",
			"a_b", "a-b", "a.b", "root", "nobody", "cpanel", "cpanelx", "test", "testing",
			"tester1", "atest", "www", "wwww", "é", "alice ",
		}},
		{"#Domain", func(s string) bool { return domainProblem(s) == "" }, []string{
			"example.com", "alice.example", "a.b.c.example", "Example.COM", "example.com.",
			"xn--bcher-kva.example", "alice", "", ".example", "example..com", "-a.example",
			"a-.example", "a_b.example", "192.0.2.1", "1.example", "example.123",
			long(63, "a") + ".example", long(64, "a") + ".example",
			long(60, "a") + "." + long(60, "b") + "." + long(60, "c") + "." + long(60, "d") + ".example",
			"a b.example", "é.example",
			// 253 and 254 characters, with and without the trailing dot.
			long(63, "a") + "." + long(63, "b") + "." + long(63, "c") + "." + long(61, "d"),
			long(63, "a") + "." + long(63, "b") + "." + long(63, "c") + "." + long(61, "d") + ".",
			long(63, "a") + "." + long(63, "b") + "." + long(63, "c") + "." + long(62, "d"),
		}},
		{"#LinkAlias", func(s string) bool { return aliasProblem(s) == "" }, []string{
			"mail1", "Mail_1", "a-b", long(50, "x"), long(51, "x"), "", "mail.1", "mail 1", "é",
		}},
	}
	for _, tt := range tests {
		def := v.LookupPath(cue.ParsePath(tt.def))
		for _, name := range tt.names {
			cueOK := def.Unify(ctx.CompileString(strconv.Quote(name))).Validate(cue.Concrete(true)) == nil
			if goOK := tt.goOK(name); cueOK != goOK {
				t.Errorf("%s %q: CUE valid=%v, Go valid=%v", tt.def, name, cueOK, goOK)
			}
		}
	}
}

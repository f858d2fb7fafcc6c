package whm

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestCallsAreOfficial reads the provider's source: every Client.Call names its
// function with a string literal, and every such function is in the official list
// (testdata/whm/functions.tsv, copied verbatim from the spec's function list). The
// parameters are checked at run time: the sandbox tests and the recorded-response server validate
// every request they see against the same list. The DNS cluster screens are the
// listed exceptions (ClusterCGIs): WHM has no API function for them.
func TestCallsAreOfficial(t *testing.T) {
	fns, err := officialFunctions()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, dir := range []string{".", "whmapi"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	fset := token.NewFileSet()
	seen := map[string]bool{}
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				sel, ok := x.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Call" || len(x.Args) != 5 {
					return true
				}
				name, ok := literal(x.Args[2])
				if !ok {
					// whmapi.Client.Call itself forwards its parameter, and ReadBatch's
					// fallback a BatchRead's Function (named literally, checked below);
					// everything else must name the function literally.
					id, isID := x.Args[2].(*ast.Ident)
					sel, isSel := x.Args[2].(*ast.SelectorExpr)
					forwarded := isID && id.Name == "function" || isSel && sel.Sel.Name == "Function"
					if !forwarded || !strings.HasPrefix(path, "whmapi") {
						t.Errorf("%s: Call with a non-literal function name", fset.Position(x.Pos()))
					}
					return true
				}
				seen[name] = true
			case *ast.CompositeLit:
				// BatchCommand{Function: "..."}
				for _, e := range x.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Function" {
						if name, ok := literal(kv.Value); ok {
							seen[name] = true
						}
					}
				}
			}
			return true
		})
	}
	if len(seen) < 20 {
		t.Fatalf("found only %d functions in the source: %v", len(seen), seen)
	}
	var names []string
	for name := range seen {
		names = append(names, name)
		if _, ok := fns[name]; !ok {
			t.Errorf("the provider calls %s, which is not in the official function list", name)
		}
	}
	sort.Strings(names)
	t.Logf("functions called: %s; screens: %s", strings.Join(names, ", "), strings.Join(ClusterCGIs, ", "))
}

func literal(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

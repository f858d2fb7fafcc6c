package layers

import (
	"errors"
	"fmt"
	"go/build"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// module is the module path (go.mod), with the slash that starts a package path.
const module = "github.com/tether-dev/tether/"

// rank orders the top-level folders: a package may import its own folder and the
// folders ranked below it, never above.
var rank = map[string]int{"schema": 0, "reconciler": 1, "providers": 2, "internal": 3, "cmd": 4}

type pkg struct {
	ImportPath string
	Imports    []string // direct, tests excluded
	Deps       []string // the module's packages it depends on, transitively
}

// list reads every package of the module as `go list -deps` would see it, tests
// excluded (test helpers such as the sandbox may be used by any folder's tests). It
// reads the files itself (go/build) rather than running go list, so the test cache
// sees them: a new import re-runs the test.
func list(t *testing.T) []pkg {
	t.Helper()
	const root = "../.."
	byPath := map[string]*pkg{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		bp, err := build.ImportDir(path, 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		ip := module + filepath.ToSlash(rel)
		byPath[ip] = &pkg{ImportPath: ip, Imports: bp.Imports}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(byPath) < 10 {
		t.Fatalf("found only %d packages", len(byPath))
	}
	var deps func(p *pkg, seen map[string]bool)
	deps = func(p *pkg, seen map[string]bool) {
		for _, imp := range p.Imports {
			if q, ok := byPath[imp]; ok && !seen[imp] {
				seen[imp] = true
				deps(q, seen)
			}
		}
	}
	out := make([]pkg, 0, len(byPath))
	for _, p := range byPath {
		seen := map[string]bool{}
		deps(p, seen)
		for d := range seen {
			p.Deps = append(p.Deps, d)
		}
		sort.Strings(p.Deps)
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ImportPath < out[j].ImportPath })
	return out
}

// split gives a package's path inside the module as its top-level folder and the
// rest ("providers/whm/whmapi" → "providers", "whm/whmapi"); ok is false outside
// the module.
func split(path string) (top, rest string, ok bool) {
	p, ok := strings.CutPrefix(path, module)
	if !ok {
		return "", "", false
	}
	top, rest, _ = strings.Cut(p, "/")
	return top, rest, true
}

func TestImportsFlowDownward(t *testing.T) {
	for _, p := range list(t) {
		from, fromRest, _ := split(p.ImportPath)
		fromRank, known := rank[from]
		if !known {
			t.Errorf("%s: top-level folder %q has no place in the layering", p.ImportPath, from)
			continue
		}
		for _, imp := range p.Imports {
			to, toRest, ours := split(imp)
			if !ours {
				continue
			}
			if rank[to] > fromRank {
				t.Errorf("%s imports %s: %s may not import %s (upward)", p.ImportPath, imp, from, to)
			}
			if from == "providers" && to == "providers" {
				fp, _, _ := strings.Cut(fromRest, "/")
				tp, _, _ := strings.Cut(toRest, "/")
				// The registry's own package (providers) and providers/all (which
				// imports every provider to register it) are not providers.
				if fp != "" && fp != "all" && tp != "" && tp != fp {
					t.Errorf("%s imports %s: a provider imports another provider (pass what it needs in through an interface in package providers)", p.ImportPath, imp)
				}
			}
		}
	}
}

// TestPlannerDoesNoIO checks the planner's whole dependency tree, not only its direct
// imports: nothing of ours that talks to servers, to Tether's state or to the
// network (providers, internal). Third-party libraries are not judged: CUE's loader
// links net/http without the planner calling it.
func TestPlannerDoesNoIO(t *testing.T) {
	for _, p := range list(t) {
		if top, _, _ := split(p.ImportPath); top != "reconciler" && top != "schema" {
			continue
		}
		for _, d := range p.Deps {
			if to, _, ours := split(d); ours && to != "schema" && to != "reconciler" {
				t.Errorf("%s depends on %s: the planner imports only schema and itself", p.ImportPath, d)
			}
		}
	}
}

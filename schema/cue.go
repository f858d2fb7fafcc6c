package schema

import (
	"bytes"
	_ "embed"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cuebuild "cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// fleetCUE is the reference fleet schema. Everything else (the JSON Schema, the
// verdicts on CUE fleets) is derived from it; the Go checks are kept in step by test.
//
//go:embed fleet.cue
var fleetCUE []byte

// FleetCUE returns the CUE schema, for tools that want to show or vendor it: the
// embedded fleet.cue with what the registered member backends add (backendsCUEText).
func FleetCUE() []byte { return append(bytes.Clone(fleetCUE), backendsCUEText()...) }

// schemaFileName is how positions inside the embedded schema are named. It cannot
// clash with an operator's file: it is not a path the loader is ever given.
const schemaFileName = "tether:schema/fleet.cue"

// schemaPackage is the package the schema declares; operator files without a package
// clause join it, files with one make the schema join theirs.
const schemaPackage = "fleet"

// loadCUE evaluates the *.cue files of one folder as a single CUE instance, unified with
// the embedded fleet schema, and decodes it into a Fleet whose Src positions point into
// the operator's files. A fleet that does not evaluate cleanly yields no Fleet, only
// diagnostics: the cross-object rules in Go would otherwise run on a half-decoded value.
// No network and no module registry are involved: imports may only name CUE's standard
// library.
func loadCUE(files []string) (*Fleet, Diagnostics) {
	asts, ds := parseCUEFiles(files)
	if len(ds) > 0 {
		return nil, ds.Sort()
	}
	all, ds := withSchema(asts)
	if len(ds) > 0 {
		return nil, ds.Sort()
	}
	// In a folder that mixes YAML and CUE, the CUE files hold only part of the fleet:
	// their references to objects in the YAML files would look broken. The
	// cross-object rules are then left to the Go checks, which Load runs on the
	// merged fleet.
	return evalCUE(all, !besideYAML(files))
}

// besideYAML reports whether a YAML fleet file sits in the folder of one of files.
func besideYAML(files []string) bool {
	seen := map[string]bool{}
	for _, f := range files {
		dir := filepath.Dir(f)
		if seen[dir] {
			continue
		}
		seen[dir] = true
		for _, pat := range []string{"*.yaml", "*.yml"} {
			if m, _ := filepath.Glob(filepath.Join(dir, pat)); len(m) > 0 {
				return true
			}
		}
	}
	return false
}

// evalFleetFiles evaluates operator files already parsed (from CUE, or from YAML
// through cuelang.org/go/encoding/yaml, which keeps the YAML positions) with the
// schema. It is the one place a fleet meets the CUE schema.
func evalFleetFiles(asts []*ast.File) (*Fleet, Diagnostics) {
	all, ds := withSchema(asts)
	if len(ds) > 0 {
		return nil, ds.Sort()
	}
	return evalCUE(all, true)
}

// parseCUEFiles reads each file through readFleetFile (the one reader of fleet files:
// regular files in the fleet folder, bounded, text), parses it, and checks that the
// files agree on their package.
func parseCUEFiles(files []string) ([]*ast.File, Diagnostics) {
	var ds Diagnostics
	asts := make([]*ast.File, 0, len(files)+1)
	pkg := ""
	var pkgPos Pos
	for _, name := range files {
		src, d := readFleetFile(name)
		if d != nil {
			ds = append(ds, *d)
			continue
		}
		f, err := parser.ParseFile(name, src)
		if err != nil {
			for _, e := range errors.Errors(err) {
				ds.Add(fromToken(e.Position(), name), RuleLoad, "CUE syntax: "+cueMessage(e), "")
			}
			continue
		}
		ds = append(ds, externAttributes(f, name)...)
		for spec := range f.ImportSpecs() {
			path, err := strconv.Unquote(spec.Path.Value)
			if err != nil || strings.Contains(strings.Split(path, "/")[0], ".") {
				ds.Add(fromToken(spec.Pos(), name), RuleLoad,
					fmt.Sprintf("import %s: a fleet may import only CUE's standard library", spec.Path.Value),
					"no modules and no registry: put shared definitions in a .cue file of the fleet folder")
			}
		}
		if p := f.PackageName(); p != "" {
			switch {
			case pkg == "":
				pkg, pkgPos = p, fromToken(packagePos(f), name)
			case p != pkg:
				ds.Add(fromToken(packagePos(f), name), RuleLoad,
					fmt.Sprintf("package %s differs from package %s declared at %s", p, pkg, pkgPos),
					"every .cue file of a fleet folder must declare the same package, or none")
			}
		}
		asts = append(asts, f)
	}
	if len(ds) > 0 {
		return nil, ds
	}
	return asts, nil
}

// withSchema puts the operator's files and the schema in one package, the schema first
// so that where a value has several sources the operator's come last and
// cue.Value.Pos() names them.
func withSchema(asts []*ast.File) ([]*ast.File, Diagnostics) {
	return withSchemaText(asts, FleetCUE())
}

// withSchemaText is withSchema with the schema's text given: the whole FleetCUE, or
// the lean one (cue_lean.go).
func withSchemaText(asts []*ast.File, schemaText []byte) ([]*ast.File, Diagnostics) {
	var ds Diagnostics
	pkg := ""
	for _, f := range asts {
		if p := f.PackageName(); p != "" {
			pkg = p
			break
		}
	}
	if pkg == "" {
		pkg = schemaPackage
	}
	sf, err := parser.ParseFile(schemaFileName, schemaText)
	if err != nil {
		// The schema is embedded and tested; this is a build defect, reported, not a panic.
		ds.Add(Pos{File: schemaFileName}, RuleLoad, "embedded schema: "+err.Error(), "")
		return nil, ds
	}
	setPackage(sf, pkg)
	for _, f := range asts {
		setPackage(f, pkg)
	}
	return append([]*ast.File{sf}, asts...), nil
}

// externAttributes refuses @extern and @embed: CUE's embedding reads files itself,
// around readFleetFile (no folder check, no size cap, no regular-file check), and
// without a module it fails with no position at all. A fleet writes its values out.
func externAttributes(f *ast.File, name string) Diagnostics {
	var ds Diagnostics
	ast.Walk(f, func(n ast.Node) bool {
		a, ok := n.(*ast.Attribute)
		if !ok {
			return true
		}
		if key, _ := a.Split(); key == "embed" || key == "extern" {
			ds.Add(fromToken(a.Pos(), name), RuleLoad,
				fmt.Sprintf("@%s: a fleet may not embed files", key),
				"write the values into the fleet's own .cue or .yaml files")
		}
		return true
	}, nil)
	return ds
}

// packagePos is where a file's package clause is, for a diagnostic about it.
func packagePos(f *ast.File) token.Pos {
	for _, d := range f.Decls {
		if p, ok := d.(*ast.Package); ok {
			return p.Pos()
		}
	}
	return f.Pos()
}

// setPackage makes f declare package name, adding a clause to a file that has none.
func setPackage(f *ast.File, name string) {
	for _, d := range f.Decls {
		if p, ok := d.(*ast.Package); ok {
			p.Name = ast.NewIdent(name)
			return
		}
	}
	decls := make([]ast.Decl, 0, len(f.Decls)+1)
	// A comment group attached before the clause would move; files keep their
	// comments where they are, the clause goes in front.
	decls = append(decls, &ast.Package{Name: ast.NewIdent(name)})
	f.Decls = append(decls, f.Decls...)
}

// evalCUEUnbounded builds the instance, reports every error, and decodes a clean result. The
// cross-object rules (_tetherRules) are checked when cross is set and the objects
// themselves are valid.
func evalCUEUnbounded(files []*ast.File, cross bool) (*Fleet, Diagnostics) {
	ctx := cuecontext.New()
	inst := cuebuild.NewContext().NewInstance("", nil)
	for _, f := range files {
		if err := inst.AddSyntax(f); err != nil {
			return nil, Diagnostics{{Pos: fromToken(f.Pos(), f.Filename), Rule: RuleLoad, Message: "CUE: " + cueMessage(err)}}
		}
	}
	idx := indexLabels(files[1:])
	fallback := files[len(files)-1].Filename
	defer pauseGCForCUE()() // no collection while the graph lives (gctune.go)
	v := ctx.BuildInstance(inst)
	ds := topLevelFields(v, idx, fallback)
	if notAMapping(v) {
		// Not a fleet at all (a YAML list document, a bare value): one clear line
		// instead of a conflict that would print the whole schema.
		ds.Add(fromToken(files[len(files)-1].Pos(), files[len(files)-1].Filename), RuleSchema,
			"the fleet is not a mapping", "a fleet file maps policy, nodes, resellers, accounts and dnsClusters")
		return nil, ds.Sort()
	}
	// A clean fleet is validated in one walk, as cue vet does. Only when that finds a
	// problem are the sections validated one by one, and the cross-object rules
	// (_tetherRules) reported only if the sections are clean: the rules read the
	// sections, and over sections with errors or missing values they would report
	// noise (a reference to a parent that is not written yet is not a reference to a
	// missing node). Without cross the whole is not validated (the rules are left to
	// the Go checks); the sections are.
	var whole error
	if cross {
		whole = v.Validate(cue.Concrete(true))
	}
	if !cross || whole != nil {
		for _, section := range []string{"policy", "nodes", "resellers", "accounts", "dnsClusters"} {
			sv := v.LookupPath(cue.MakePath(cue.Str(section)))
			if !sv.Exists() {
				continue
			}
			if err := sv.Validate(cue.Concrete(true)); err != nil {
				ds = append(ds, cueDiagnostics(v, err, idx, fallback)...)
			}
		}
		if len(ds) == 0 && whole != nil {
			ds = append(ds, cueDiagnostics(v, whole, idx, fallback)...)
		}
	}
	if len(ds) > 0 {
		return nil, ds.Sort()
	}
	f, dds := decodeFleet(v, idx)
	if len(dds) > 0 {
		return nil, dds.Sort()
	}
	return f, nil
}

// topLevelFields reports regular top-level fields the fleet does not have. The schema
// closes #Fleet, but embedding it in one file of a package does not close the fields
// other files add at the top, so the root is checked here.
func topLevelFields(v cue.Value, idx labelIndex, fallback string) Diagnostics {
	var ds Diagnostics
	it, err := v.Fields()
	if err != nil {
		return nil // reported by Validate
	}
	for it.Next() {
		name := it.Selector().Unquoted()
		switch {
		case name == "policy" || name == "nodes" || name == "resellers" || name == "accounts" || name == "dnsClusters":
			continue
		case strings.HasPrefix(name, "x-"):
			continue // extension fields (fleet.cue)
		}
		p := idx.pos(name)
		if !p.IsValid() {
			p, _ = operatorPos(it.Value().Pos())
		}
		if !p.IsValid() {
			p = Pos{File: fallback}
		}
		ds.Add(p, RuleSchema, fmt.Sprintf("unknown top-level field %q", name),
			"a fleet has policy, nodes, resellers, accounts and dnsClusters; name helpers _hidden or #Definition, or x-... for YAML anchors")
	}
	return ds
}

// notAMapping reports whether the operator's files are something other than a struct
// (a YAML list document, a bare value): the conflict with the schema has no path.
func notAMapping(v cue.Value) bool {
	for _, e := range errors.Errors(v.Err()) {
		format, _ := e.Msg()
		if len(e.Path()) == 0 && strings.Contains(format, "mismatched types") {
			return true
		}
	}
	return false
}

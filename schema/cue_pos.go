package schema

import (
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// labelIndex maps a path of static labels ("accounts.alice.mail") to the position of
// its label in the operator's files. CUE's Value.Pos() names the first conjunct of a
// struct, which for a fleet object is the schema's pattern constraint, so object keys
// are found in the syntax instead. Leaves get their position from Value.Pos(), which
// does name the operator's value (for a value from a template or a table, that
// template's or row's position).
type labelIndex map[string]token.Pos

// indexLabels walks the operator's files. Labels produced by comprehensions have no
// static name and are not indexed; their objects fall back to a leaf's position.
func indexLabels(files []*ast.File) labelIndex {
	idx := make(labelIndex, 64)
	for _, f := range files {
		idx.walkDecls("", f.Decls)
	}
	return idx
}

func (idx labelIndex) walkDecls(prefix string, decls []ast.Decl) {
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.Field:
			name, _, err := ast.LabelName(d.Label)
			if err != nil || name == "" || strings.HasPrefix(name, "_") || strings.HasPrefix(name, "#") {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			if _, ok := idx[key]; !ok {
				idx[key] = d.Label.Pos()
			}
			idx.walkExpr(key, d.Value)
		case *ast.EmbedDecl:
			idx.walkExpr(prefix, d.Expr)
		}
	}
}

func (idx labelIndex) walkExpr(prefix string, e ast.Expr) {
	switch e := e.(type) {
	case *ast.StructLit:
		idx.walkDecls(prefix, e.Elts)
	case *ast.BinaryExpr:
		if e.Op == token.AND {
			idx.walkExpr(prefix, e.X)
			idx.walkExpr(prefix, e.Y)
		}
	case *ast.ParenExpr:
		idx.walkExpr(prefix, e.X)
	}
}

// pos returns the position of a label path, or of its nearest indexed ancestor.
func (idx labelIndex) pos(path string) Pos {
	for path != "" {
		if p, ok := idx[path]; ok {
			return fromToken(p, "")
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return Pos{}
}

// operatorPos converts a CUE position, refusing positions inside the embedded schema:
// a value that only the schema gave (a default) has no place in the operator's files.
func operatorPos(p token.Pos) (Pos, bool) {
	if !p.IsValid() || p.Filename() == schemaFileName {
		return Pos{}, false
	}
	return fromToken(p, ""), true
}

// fromToken converts a CUE position; file names the file when the position has none.
func fromToken(p token.Pos, file string) Pos {
	if !p.IsValid() {
		return Pos{File: file}
	}
	pp := p.Position()
	if pp.Filename != "" {
		file = pp.Filename
	}
	return Pos{File: file, Line: pp.Line, Col: pp.Column}
}

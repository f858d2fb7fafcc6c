package schema

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
)

// The lean schema is fleet.cue without the per-account rules, which are most of what
// evaluating a large CUE fleet costs beyond its data and which the Go checks (Check)
// enforce on every fleet as well: a fleet the lean schema and Check both find clean
// is one the whole schema finds clean, and decodes to the same Fleet (the lean schema
// keeps every definition, default and constraint on the data's shape). Fleet.cue marks
// the lines it leaves out: from a line `// lean:omit` to the next `// lean:end`.
// buildFleet (load.go) uses it first and falls back to the whole schema for a fleet
// with any problem, so diagnostics are always the whole schema's.
const (
	leanOmitMarker = "// lean:omit"
	leanEndMarker  = "// lean:end"
)

// leanSchema is the embedded fleet.cue with the marked lines blanked, made once.
// Blank lines rather than none: a position in the schema names the same line in both.
var leanSchema = sync.OnceValues(func() ([]byte, error) { return leanText(fleetCUE) })

// leanText blanks the lines from each leanOmitMarker to the next leanEndMarker,
// both included; markers that do not pair are an error (a build defect a test finds).
func leanText(src []byte) ([]byte, error) {
	out := make([]byte, 0, len(src))
	omitFrom := 0 // line of the open marker, 0 when none is open
	line := 0
	for rest := src; len(rest) > 0; {
		l := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l = rest[:i+1]
		}
		rest = rest[len(l):]
		line++
		t := string(bytes.TrimSpace(l))
		switch {
		case strings.HasPrefix(t, leanOmitMarker):
			if omitFrom != 0 {
				return nil, fmt.Errorf("fleet.cue:%d: %s inside the one opened at line %d", line, leanOmitMarker, omitFrom)
			}
			omitFrom = line
		case strings.HasPrefix(t, leanEndMarker):
			if omitFrom == 0 {
				return nil, fmt.Errorf("fleet.cue:%d: %s without %s", line, leanEndMarker, leanOmitMarker)
			}
			omitFrom = 0
			out = append(out, '\n')
			continue
		}
		if omitFrom != 0 {
			if bytes.HasSuffix(l, []byte("\n")) {
				out = append(out, '\n')
			}
			continue
		}
		out = append(out, l...)
	}
	if omitFrom != 0 {
		return nil, fmt.Errorf("fleet.cue:%d: %s without %s", omitFrom, leanOmitMarker, leanEndMarker)
	}
	return out, nil
}

// leanFleetCUE is FleetCUE's lean counterpart: the lean fleet.cue with what the
// registered member backends add.
func leanFleetCUE() ([]byte, error) {
	text, err := leanSchema()
	if err != nil {
		return nil, err
	}
	return append(bytes.Clone(text), backendsCUEText()...), nil
}

// schemaHiddenLabels are the hidden fields fleet.cue declares (_user, _l06,
// _tetherRules, ...). The operator's files share the schema's package, so they can
// declare or refer to these too: a file that names one may depend on the rules the
// lean schema leaves out (unify _tetherRules with something, read an _l06), and is
// evaluated with the whole schema only. (`let` names are the file's own and are not
// counted.)
var schemaHiddenLabels = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{}
	f, err := parser.ParseFile(schemaFileName, fleetCUE)
	if err != nil {
		return names // withSchema reports it
	}
	ast.Walk(f, func(n ast.Node) bool {
		if fd, ok := n.(*ast.Field); ok {
			if id, ok := fd.Label.(*ast.Ident); ok && strings.HasPrefix(id.Name, "_") && id.Name != "_" {
				names[id.Name] = true
			}
		}
		return true
	}, nil)
	return names
})

// namesSchemaHidden reports whether any of files uses an identifier that is one of
// the schema's hidden fields, as a label or a reference.
func namesSchemaHidden(files []*ast.File) bool {
	hidden := schemaHiddenLabels()
	found := false
	for _, f := range files {
		ast.Walk(f, func(n ast.Node) bool {
			if found {
				return false
			}
			if id, ok := n.(*ast.Ident); ok && hidden[id.Name] {
				found = true
			}
			return !found
		}, nil)
		if found {
			return true
		}
	}
	return false
}

// leanOmittedAs are the rules Check reports a violation of an omitted rule as (each
// omitted rule, and where Check reaches it):
//
//   - L06..L09 on an account whose mail.node is set: Check reports L06..L09 when the
//     account is distributed (mail on an existing child of the right parent that
//     takes mail), else R01 or L05 for the mail node (checker.mail).
//   - A03: A03 (checker.forwarders, the same tests on the same trimmed, lowered text).
//   - R01 parent/owner/mail, L05, L13, D03 of accounts and resellers: the same rule,
//     or R01/L05 when what it needs is missing (an unknown parent, a mail node that
//     is not a usable child).
//
// A fleet whose only problems in Check are other rules (D05, D02, D01's count, ...)
// broke no omitted rule, so the whole schema would find it clean as the lean one did
// and its diagnostics are Check's: it is not evaluated again. Were this list short
// of a rule, such a fleet would still be refused, with Check's diagnostics rather
// than the schema's; TestLeanLoadSameAsFull and FuzzCUELeanSameAsFull compare them.
var leanOmittedAs = map[string]bool{
	RuleA03: true, RuleR01: true, RuleL05: true, RuleL06: true, RuleL07: true,
	RuleL08: true, RuleL09: true, RuleL13: true, RuleD03: true,
}

// leanVerdict says what a lean evaluation tells the loader.
type leanVerdict int

const (
	// leanEvaluated: the files were evaluated with the lean schema; the result stands
	// if Check finds the fleet clean too, else the whole schema is to be used.
	leanEvaluated leanVerdict = iota
	// leanStopped: a bound on the evaluation ($TETHER_CUE_TIMEOUT, $TETHER_CUE_MEMORY)
	// stopped it, and the diagnostic saying so stands: the whole schema does the
	// same work and more.
	leanStopped
	// leanSkipped: nothing evaluated; the whole schema is to be used (the files name
	// the schema's hidden fields, or could not be read or parsed).
	leanSkipped
)

// loadCUELean is loadCUE with the lean schema, for a fleet expected to be valid.
// Its diagnostics are never shown unless the verdict is leanStopped: any problem
// sends the loader to loadCUE, whose diagnostics name every rule.
func loadCUELean(files []string) (*Fleet, Diagnostics, leanVerdict) {
	asts, ds := parseCUEFiles(files)
	if len(ds) > 0 || namesSchemaHidden(asts) {
		return nil, nil, leanSkipped
	}
	text, err := leanFleetCUE()
	if err != nil {
		return nil, nil, leanSkipped
	}
	all, ds := withSchemaText(asts, text)
	if len(ds) > 0 {
		return nil, nil, leanSkipped
	}
	f, ds, stopped := evalCUEStopped(all, !besideYAML(files))
	if stopped {
		return nil, ds, leanStopped
	}
	return f, ds, leanEvaluated
}

// anyRule reports whether one of ds breaks one of rules.
func (ds Diagnostics) anyRule(rules map[string]bool) bool {
	for _, d := range ds {
		if rules[d.Rule] {
			return true
		}
	}
	return false
}

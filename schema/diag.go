package schema

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in an operator's file. Line and Col are 1-based; zero means unknown.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"column"`
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return "-"
	case p.Line == 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// IsValid reports whether the position names a place in a file.
func (p Pos) IsValid() bool { return p.File != "" }

// Source records where an object and its fields were declared, so a rule can point at
// the offending field rather than at the object.
type Source struct {
	// Key is the position of the object's key (or of the section for a Fleet).
	Key Pos
	// Fields maps a field path relative to the object ("mail.node", "forwarders[1].to",
	// "features.apitokens") to the position of its value.
	Fields map[string]Pos
}

// At returns the position of a field, falling back to the object's key, so a
// diagnostic always has the best position available.
func (s Source) At(field string) Pos {
	if p, ok := s.Fields[field]; ok {
		return p
	}
	// A parent path is the next best thing: "mail" for "mail.node".
	for field != "" {
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
		if p, ok := s.Fields[field]; ok {
			return p
		}
	}
	return s.Key
}

// Set records the position of a field.
func (s *Source) Set(field string, p Pos) {
	if s.Fields == nil {
		s.Fields = make(map[string]Pos, 8)
	}
	s.Fields[field] = p
}

// Diagnostic is one problem in a fleet, with the rule it breaks and how to fix it.
type Diagnostic struct {
	Pos     Pos    `json:"pos"`
	Rule    string `json:"rule"` // TETHER-SCHEMA, TETHER-R01, ...
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// String renders FILE:LINE:COL: RULE: message (fix).
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.Pos.String())
	b.WriteString(": ")
	b.WriteString(d.Rule)
	b.WriteString(": ")
	b.WriteString(d.Message)
	if d.Fix != "" {
		b.WriteString(" (")
		b.WriteString(d.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// Diagnostics is every problem found, reported together.
type Diagnostics []Diagnostic

// Add appends a diagnostic.
func (ds *Diagnostics) Add(p Pos, rule, msg, fix string) {
	*ds = append(*ds, Diagnostic{Pos: p, Rule: rule, Message: msg, Fix: fix})
}

// Sort orders by file, line, column, rule and message, and drops exact duplicates,
// so output is stable whatever order the checks ran in.
func (ds Diagnostics) Sort() Diagnostics {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Message < b.Message
	})
	out := ds[:0]
	for i, d := range ds {
		if i > 0 && d == ds[i-1] {
			continue
		}
		out = append(out, d)
	}
	return out
}

// Error makes Diagnostics usable as an error: one line per problem.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Rule ids. They are a contract: scripts and editors match on them.
const (
	RuleSchema = "TETHER-SCHEMA"
	RuleR01    = "TETHER-R01"
	RuleA01    = "TETHER-A01"
	RuleA02    = "TETHER-A02"
	RuleA03    = "TETHER-A03" // a forwarder cPanel refuses or keeps otherwise than written
	RuleS01    = "TETHER-S01"
	RuleL01    = "TETHER-L01"
	RuleL02    = "TETHER-L02"
	RuleL03    = "TETHER-L03"
	RuleL04    = "TETHER-L04"
	RuleL05    = "TETHER-L05"
	RuleL06    = "TETHER-L06"
	RuleL07    = "TETHER-L07"
	RuleL08    = "TETHER-L08"
	RuleL09    = "TETHER-L09"
	RuleL10    = "TETHER-L10"
	RuleL13    = "TETHER-L13"
	RuleL16    = "TETHER-L16"
	RuleD01    = "TETHER-D01"
	RuleD02    = "TETHER-D02"
	RuleD03    = "TETHER-D03"
	RuleD05    = "TETHER-D05"
	RuleD06    = "TETHER-D06"
	// RuleLoad is for files that cannot be read or parsed at all (missing path,
	// binary file, broken YAML, a CUE file that does not evaluate).
	RuleLoad = "TETHER-LOAD"
)

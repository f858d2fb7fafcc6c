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
	// The positions of the fields, by path relative to the object ("mail.node",
	// "forwarders[1].to", "features.apitokens"), set with Set and read with At,
	// Lookup and Has. An object's few fields in one file are a list (file, then
	// line and column each): a map per object was the YAML decoder's largest
	// allocation at 100k accounts (≈70 MB), and positions are read only for a
	// diagnostic or the few fields the plan asks about. A long list, or a field in
	// another file than the first (a CUE template's), moves them all to byPath.
	file   string
	fields []fieldPos
	byPath map[string]Pos
}

// fieldPos is the position of one field in its Source's file.
type fieldPos struct {
	path      string
	line, col int32
}

// maxListed is the most fields a Source keeps as a list: At scans it, so an object
// with thousands of fields (features, forwarders) gets a map instead.
const maxListed = 48

// At returns the position of a field, falling back to the object's key, so a
// diagnostic always has the best position available.
func (s Source) At(field string) Pos {
	if p, ok := s.Lookup(field); ok {
		return p
	}
	// A parent path is the next best thing: "mail" for "mail.node".
	for field != "" {
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
		if p, ok := s.Lookup(field); ok {
			return p
		}
	}
	return s.Key
}

// Lookup returns the position recorded for exactly this field path, if any.
func (s Source) Lookup(field string) (Pos, bool) {
	if s.byPath != nil {
		p, ok := s.byPath[field]
		return p, ok
	}
	// From the end: a field set twice is where it was set last, as in a map.
	for i := len(s.fields) - 1; i >= 0; i-- {
		if f := &s.fields[i]; f.path == field {
			return Pos{File: s.file, Line: int(f.line), Col: int(f.col)}, true
		}
	}
	return Pos{}, false
}

// Has reports whether the fleet wrote the field (its position was recorded).
func (s Source) Has(field string) bool {
	_, ok := s.Lookup(field)
	return ok
}

// Set records the position of a field.
func (s *Source) Set(field string, p Pos) {
	if s.byPath == nil && len(s.fields) < maxListed && (len(s.fields) == 0 || p.File == s.file) &&
		p.Line == int(int32(p.Line)) && p.Col == int(int32(p.Col)) {
		s.file = p.File
		if s.fields == nil {
			// A Source the YAML decoder did not give room (CUE's, one built in
			// code): room for an object's usual few at once, not by doubling.
			s.fields = make([]fieldPos, 0, 8)
		}
		s.fields = append(s.fields, fieldPos{field, int32(p.Line), int32(p.Col)})
		return
	}
	if s.byPath == nil {
		s.byPath = make(map[string]Pos, 2*len(s.fields)+1)
		for _, f := range s.fields {
			s.byPath[f.path] = Pos{File: s.file, Line: int(f.line), Col: int(f.col)}
		}
		s.file, s.fields = "", nil
	}
	s.byPath[field] = p
}

// withRoom returns a Source at key whose list of fields has room for n of them in
// buf (the decoder's slab), so an object's positions are not grown one by one; it
// returns what is left of buf.
func withRoom(key Pos, n int, buf []fieldPos) (Source, []fieldPos) {
	if n <= 0 || n > maxListed {
		return Source{Key: key}, buf
	}
	if cap(buf)-len(buf) < n {
		buf = make([]fieldPos, 0, max(fieldSlab, n))
	}
	l := len(buf)
	return Source{Key: key, fields: buf[l : l : l+n]}, buf[:l+n]
}

// fieldSlab is how many field positions the decoder allocates at a time: about 400
// accounts' worth.
const fieldSlab = 4096

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

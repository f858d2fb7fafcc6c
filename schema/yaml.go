package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/tether-dev/tether/schema/fastyaml"
)

// A YAML fleet file is parsed to yaml.Node (linear time) and walked by hand, never
// decoded into Go maps: yaml.v3's map decoding checks duplicate keys in quadratic time
// (100k accounts: 185 s). Big files are additionally cut into chunks at the top-level
// entries of their sections, and the chunks are parsed and decoded in parallel, each
// with the line offset that keeps every position exact. Any chunk that does not parse on
// its own sends the whole file back through a single parse, so syntax errors are always
// reported as the operator's file has them.

// chunking says when and how finely files are cut. Tests force tiny chunks on small
// fixtures and compare the result with the whole-file parse.
type chunking struct {
	// minBytes is the file size from which a file is cut into chunks.
	minBytes int
	// targetBytes is the approximate size of one chunk: big enough that the per-chunk
	// overhead vanishes, small enough that the yaml.Node trees alive at once (one per
	// worker) stay a few megabytes.
	targetBytes int
}

var defaultChunking = chunking{minBytes: 256 << 10, targetBytes: 256 << 10}

// chunk is a piece of a YAML file that parses on its own: runs of the file's lines,
// each mapped back to where it is in the file.
type chunk struct {
	file string
	text []byte
	// spans map the chunk's lines to the file's; none means the whole file.
	spans []lineSpan
	// cont marks a chunk that continues a section begun in an earlier chunk: the
	// first section key in it is a copy of that section's header line, already
	// counted once.
	cont bool

	// What suffix needs to rebuild the rest of the file from this chunk on: the file,
	// where this chunk's own text starts in it (and at which line), the copied header
	// line of a continued section, and the prelude it was given (none for the prelude's
	// own chunks).
	data         []byte
	start, line0 int
	hdr          []byte
	hdrLine      int
	prelude      []byte
	preludeSpans []lineSpan
}

// suffix is one chunk holding the file from c's start to its end, with the context
// c had (the prelude, a continued section's header). decodeYAML parses it when c fails:
// every chunk before c parsed on its own, so the whole file's parser reaches c's start
// in the state a fresh chunk starts in, and the error the whole file has is the one
// the suffix has -- found without parsing (or holding the tree of) the file before c.
func (c *chunk) suffix() chunk {
	if c.spans == nil {
		return *c // the whole file already
	}
	var text []byte
	var spans []lineSpan
	text = append(text, c.prelude...)
	spans = append(spans, c.preludeSpans...)
	lines := bytes.Count(c.prelude, []byte{'\n'})
	if c.cont {
		text = append(append(text, c.hdr...), '\n')
		spans = append(spans, lineSpan{lines + 1, 1, c.hdrLine})
		lines++
	}
	text = append(text, c.data[c.start:]...)
	spans = append(spans, lineSpan{lines + 1, endless, c.line0})
	return chunk{file: c.file, text: text, spans: spans, cont: c.cont, line0: c.line0}
}

// lineSpan maps n lines of a chunk, from chunk line from (1-based), to the file's
// lines starting at fileLine.
type lineSpan struct{ from, n, fileLine int }

// fileLine maps a line number the parser reports in the chunk to the file's.
func (c *chunk) fileLine(l int) int {
	for _, s := range c.spans {
		if l >= s.from && l < s.from+s.n {
			return s.fileLine + l - s.from
		}
	}
	if len(c.spans) > 0 { // past the end: the last line break
		last := c.spans[len(c.spans)-1]
		return last.fileLine + l - last.from
	}
	return l
}

// endless is the length of a span that runs to the end of its chunk.
const endless = 1 << 30

// splitSection matches a top-level section whose entries may be cut apart: the key
// alone on its line (a block mapping follows), optionally with a comment.
var splitSection = regexp.MustCompile(`^(nodes|resellers|accounts|dnsClusters):[ \t]*(#.*)?\r?$`)

// isEntryLine matches the first line of a section entry: a plain name and a colon,
// as `^[A-Za-z0-9_][A-Za-z0-9_.-]*:([ \t]|\r?$)` does (TestIsEntryLine holds them
// equal; the expression on each of 100k accounts' first lines took ≈0.03 CPU-s).
func isEntryLine(b []byte) bool {
	i := 0
	for i < len(b) && nameByte[b[i]] {
		i++
	}
	if i == 0 || b[0] == '.' || b[0] == '-' || i == len(b) || b[i] != ':' {
		return false
	}
	rest := b[i+1:]
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || len(rest) == 1 && rest[0] == '\r'
}

// nameByte holds the bytes of an entry's plain name: [A-Za-z0-9_.-].
var nameByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
	}
	return t
}()

// safeTopLine matches the only column-0 lines a chunked file may have: plain keys.
// Anything else (document markers, directives, flow collections, complex keys,
// anchors, quoted keys) is rare in a fleet file and parsed whole, the safe way.
var safeTopLine = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*:([ \t].*)?\r?$`)

// splitYAML cuts data into chunks. It returns a single chunk whenever the file is
// small or has any construct for which cutting at line starts could be unsafe.
func splitYAML(file string, data []byte, ch chunking) []chunk {
	whole := []chunk{{file: file, text: data}}
	if len(data) < ch.minBytes {
		return whole
	}
	// Line starts, once, so chunks can be cut at byte offsets without copying lines.
	type line struct{ start, end int }
	lines := make([]line, 0, bytes.Count(data, []byte{'\n'})+1)
	for off := 0; off < len(data); {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			lines = append(lines, line{off, len(data)})
			break
		}
		lines = append(lines, line{off, off + i})
		off += i + 1
	}
	text := func(l line) []byte { return data[l.start:l.end] }
	// upTo is the end of line i with its newline: a block scalar's last line keeps the
	// line break it has in the whole file.
	upTo := func(i int) int { return min(lines[i].end+1, len(data)) }
	indentOf := func(b []byte) int {
		n := 0
		for n < len(b) && b[n] == ' ' {
			n++
		}
		return n
	}
	blank := func(b []byte) bool {
		i := 0
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r') {
			i++
		}
		return i == len(b) || b[i] == '#'
	}

	// Segments: one per top-level key.
	type segment struct{ first, last int } // line indexes, inclusive
	var segs []segment
	for i, l := range lines {
		b := text(l)
		if len(b) == 0 || b[0] == ' ' || b[0] == '#' || (b[0] == '\r' && len(b) == 1) {
			continue
		}
		if !safeTopLine.Match(b) {
			return whole
		}
		if len(segs) > 0 {
			segs[len(segs)-1].last = i - 1
		}
		segs = append(segs, segment{first: i, last: len(lines) - 1})
	}
	if len(segs) == 0 {
		return whole
	}
	var out []chunk
	// Lines before the first key (comments) belong to the first chunk.
	segs[0].first = 0

	// Top-level "x-" keys holding anchors (x-defaults: &defaults {...}) form a prelude
	// that every other chunk starts with, so merges and aliases into it resolve in
	// any chunk; their lines map back to the prelude's place in the file.
	var prelude []byte
	var preludeSpans []lineSpan
	isPrelude := make([]bool, len(segs))
	for si, s := range segs {
		hdr := s.first
		for hdr <= s.last && !isTopKey(text(lines[hdr])) {
			hdr++
		}
		seg := data[lines[s.first].start:upTo(s.last)]
		if hdr <= s.last && bytes.HasPrefix(text(lines[hdr]), []byte("x-")) && bytes.IndexByte(seg, '&') >= 0 {
			isPrelude[si] = true
			preludeSpans = append(preludeSpans, lineSpan{from: bytes.Count(prelude, []byte{'\n'}) + 1, n: s.last - s.first + 1, fileLine: s.first + 1})
			prelude = append(prelude, seg...)
			if len(prelude) > 0 && prelude[len(prelude)-1] != '\n' {
				prelude = append(prelude, '\n')
			}
		}
	}
	preludeLines := bytes.Count(prelude, []byte{'\n'})
	// A prelude must come first, and its anchors must not be defined again elsewhere:
	// an alias refers to the latest definition before it, which for a chunk's alias
	// would be the prelude's copy, not a redefinition earlier in the file, and an
	// alias before a prelude placed late would resolve where the whole file has no
	// anchor at all. Such files are parsed whole.
	if len(prelude) > 0 {
		seenBody := false
		for si := range segs {
			if !isPrelude[si] {
				seenBody = true
			} else if seenBody {
				return whole
			}
		}
		defined := map[string]bool{}
		for _, m := range anchorDef.FindAllSubmatch(prelude, -1) {
			defined[string(m[1])] = true
		}
		for si, sg := range segs {
			if isPrelude[si] {
				continue
			}
			for _, m := range anchorDef.FindAllSubmatch(data[lines[sg.first].start:upTo(sg.last)], -1) {
				if defined[string(m[1])] {
					return whole
				}
			}
		}
	}
	// emit adds a chunk of body text whose spans are given without the prelude. The
	// body's own text starts at byte start (line line0) of the file; hdr is the copied
	// header line of a continued section.
	emit := func(body []byte, spans []lineSpan, cont, own bool, start, line0 int, hdr []byte, hdrLine int) {
		c := chunk{file: file, text: body, spans: spans, cont: cont, data: data, start: start, line0: line0, hdr: hdr, hdrLine: hdrLine}
		if len(prelude) == 0 || own {
			out = append(out, c)
			return
		}
		t := make([]byte, 0, len(prelude)+len(body))
		t = append(append(t, prelude...), body...)
		all := append([]lineSpan(nil), preludeSpans...)
		for _, sp := range spans {
			sp.from += preludeLines
			all = append(all, sp)
		}
		c.text, c.spans, c.prelude, c.preludeSpans = t, all, prelude, preludeSpans
		out = append(out, c)
	}
	for si, s := range segs {
		hdr := s.first
		for hdr < s.last && blank(text(lines[hdr])) {
			hdr++
		}
		if si == 0 {
			// The first segment's header is its first non-comment line.
			hdr = s.first
			for hdr <= s.last && (len(text(lines[hdr])) == 0 || text(lines[hdr])[0] == '#' || text(lines[hdr])[0] == ' ' || text(lines[hdr])[0] == '\r') {
				hdr++
			}
		}
		segBytes := lines[s.last].end - lines[s.first].start
		hdrText := text(lines[hdr])
		if segBytes < ch.targetBytes || !splitSection.Match(hdrText) {
			emit(data[lines[s.first].start:upTo(s.last)], []lineSpan{{1, endless, s.first + 1}}, false, isPrelude[si], lines[s.first].start, s.first+1, nil, 0)
			continue
		}
		// Entries start at the indentation of the first content line after the header;
		// no content line may be less indented, and none at that indentation may start
		// a sequence item or a complex key.
		entryIndent := -1
		var starts []int
		ok := true
		for i := hdr + 1; i <= s.last; i++ {
			b := text(lines[i])
			if blank(b) {
				continue
			}
			in := indentOf(b)
			if in < len(b) && b[in] == '\t' {
				ok = false
				break
			}
			if entryIndent < 0 {
				entryIndent = in
			}
			if in < entryIndent {
				ok = false
				break
			}
			if in == entryIndent {
				// Every line at the entries' indentation must open an entry with a plain
				// name; anything else (a multi-line scalar, a quoted or complex key, a
				// sequence) keeps the section whole.
				if !isEntryLine(b[in:]) {
					ok = false
					break
				}
				starts = append(starts, i)
			}
		}
		if !ok || entryIndent <= 0 || len(starts) < 2 {
			emit(data[lines[s.first].start:upTo(s.last)], []lineSpan{{1, endless, s.first + 1}}, false, false, lines[s.first].start, s.first+1, nil, 0)
			continue
		}
		// Group entries into chunks of about chunkTargetBytes.
		from := s.first // first line of the current chunk
		first := true
		for k := 0; k < len(starts); k++ {
			end := s.last
			if k+1 < len(starts) {
				end = starts[k+1] - 1
			}
			if k+1 < len(starts) && lines[end].end-lines[from].start < ch.targetBytes {
				continue
			}
			if first {
				emit(data[lines[from].start:upTo(end)], []lineSpan{{1, endless, from + 1}}, false, false, lines[from].start, from+1, nil, 0)
				first = false
			} else {
				body := data[lines[from].start:upTo(end)]
				t := make([]byte, 0, len(hdrText)+1+len(body))
				t = append(append(append(t, hdrText...), '\n'), body...)
				emit(t, []lineSpan{{1, 1, hdr + 1}, {2, endless, from + 1}}, true, false, lines[from].start, from+1, hdrText, hdr+1)
			}
			from = end + 1
		}
	}
	return out
}

// anchorDef finds anchor definitions ("&name"). It also matches an & inside a
// scalar ("a&b"), which can only make a file be parsed whole, never cut wrongly.
var anchorDef = regexp.MustCompile(`&([^\s,\[\]{}]+)`)

// isTopKey: a line that starts a top-level key (not blank, indented or a comment).
func isTopKey(b []byte) bool {
	return len(b) > 0 && b[0] != ' ' && b[0] != '#' && b[0] != '\r' && b[0] != '\t'
}

// parseYAML parses one chunk to a yaml.Node document. A nil node with no diagnostic
// means an empty document. A chunk written in the plain subset of YAML fleet files
// use is parsed by fastyaml into the tree yaml.v3 would build (a third of the CPU);
// any other chunk, and so every chunk with an error, is parsed by yaml.v3, whose
// errors and positions the diagnostics are made of. fp is the fast parser to use (nil:
// one of its own); the tree it builds lives until fp's next parse.
func parseYAML(c chunk, fp *fastyaml.Parser) (doc *yaml.Node, ds Diagnostics) {
	if fp == nil {
		fp = new(fastyaml.Parser)
	}
	if doc, ok := fp.Parse(c.text); ok {
		return doc, nil
	}
	defer func() {
		// yaml.v3 has panicked on hostile input before; a fleet file must never crash Tether.
		if r := recover(); r != nil {
			doc = nil
			ds = Diagnostics{{Pos: Pos{File: c.file}, Rule: RuleLoad,
				Message: fmt.Sprintf("the YAML parser failed on this file: %v", r),
				Fix:     "check the file is a YAML fleet"}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(c.text))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, Diagnostics{yamlError(c, err)}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, Diagnostics{yamlError(c, err)}
	default:
		// A document node starts where its "---" is.
		p := Pos{File: c.file, Line: c.fileLine(next.Line), Col: next.Column}
		return nil, Diagnostics{{Pos: p, Rule: RuleLoad,
			Message: "the file holds more than one YAML document; a fleet file is one mapping",
			Fix:     "remove the \"---\" separator or move each document to its own file in the fleet folder"}}
	}
	return &n, nil
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

var yamlAnchorErr = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

// parserProblems are the messages of libyaml's parser (not its scanner). yaml.v3
// reports a parser error's line 0-based (the scanner's 1-based), so these get one
// added; with a context ("while parsing a flow sequence") the line is where that
// construct began, which is where the operator should look.
var parserProblems = []string{
	"did not find expected", "found duplicate %", "found incompatible YAML document",
	"found undefined tag handle",
}

// yamlError turns a yaml.v3 error into a diagnostic. yaml.v3 reports a line but no
// column, so the column is 1 (the start of that line).
func yamlError(c chunk, err error) Diagnostic {
	msg := err.Error()
	p := Pos{File: c.file}
	switch m := yamlLineErr.FindStringSubmatch(msg); {
	case m != nil:
		n, _ := strconv.Atoi(m[1])
		msg = m[2]
		for _, pp := range parserProblems {
			if strings.HasPrefix(msg, pp) {
				n++
				break
			}
		}
		// At the end of the input the parser is on the line after the last one.
		last := bytes.Count(c.text, []byte{'\n'})
		if len(c.text) > 0 && c.text[len(c.text)-1] != '\n' {
			last++
		}
		n = max(1, min(n, last))
		p.Line, p.Col = c.fileLine(n), 1
	case yamlAnchorErr.MatchString(msg):
		// yaml.v3 gives no line for an alias to an unknown anchor: find the alias.
		name := yamlAnchorErr.FindStringSubmatch(msg)[1]
		if i := bytes.Index(c.text, []byte("*"+name)); i >= 0 {
			p = offsetPos(c.file, c.text, i)
			p.Line = c.fileLine(p.Line)
		}
		return Diagnostic{Pos: p, Rule: RuleLoad, Message: "invalid YAML: " + msg[len("yaml: "):],
			Fix: fmt.Sprintf("define the anchor (&%s) before the alias, in the same file", short(name))}
	default:
		for _, pp := range parserProblems {
			if strings.Contains(msg, pp) {
				p.Line, p.Col = c.fileLine(1), 1 // a parser error on the first line
				break
			}
		}
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return Diagnostic{Pos: p, Rule: RuleLoad, Message: "invalid YAML: " + msg,
		Fix: "fix the syntax at this line"}
}

// checkText refuses content that is not text before a parser sees it: NUL
// bytes (a binary file) and invalid UTF-8, each at its line and column.
func checkText(file string, data []byte) Diagnostics {
	if len(data) >= 2 && (data[0] == 0xFE && data[1] == 0xFF || data[0] == 0xFF && data[1] == 0xFE) {
		return Diagnostics{{Pos: Pos{File: file, Line: 1, Col: 1}, Rule: RuleLoad,
			Message: "the file is UTF-16; fleet files are UTF-8",
			Fix:     "save the file as UTF-8"}}
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return Diagnostics{{Pos: offsetPos(file, data, i), Rule: RuleLoad,
			Message: "binary file: it holds a NUL byte, a fleet file is " + textKind(file) + " text",
			Fix:     "point Tether at the fleet's YAML or CUE files"}}
	}
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			i += size
		}
		return Diagnostics{{Pos: offsetPos(file, data, i), Rule: RuleLoad,
			Message: fmt.Sprintf("the file is not valid UTF-8 (byte 0x%02x)", data[i]),
			Fix:     "save the file as UTF-8"}}
	}
	return nil
}

// textKind names the language of a fleet file, for messages.
func textKind(file string) string {
	if strings.HasSuffix(file, ".cue") {
		return "CUE"
	}
	return "YAML"
}

// offsetPos converts a byte offset to a 1-based line and column (in characters).
func offsetPos(file string, data []byte, off int) Pos {
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	ls := bytes.LastIndexByte(data[:off], '\n') + 1
	return Pos{File: file, Line: line, Col: 1 + utf8.RuneCount(data[ls:off])}
}

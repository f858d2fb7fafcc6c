// Package fastyaml parses the plain subset of YAML that fleet files are written in
// into the same *yaml.Node tree gopkg.in/yaml.v3 builds, several times faster, and
// declines everything else.
//
// yaml.v3 runs libyaml's scanner, parser and event machinery for every byte and
// allocates each token, event and node on its own; for a 100k-account fleet that is
// most of the load's CPU. A fleet file uses a small part of YAML: block mappings and
// sequences, one-line flow collections, one-line plain and quoted scalars, comments.
// Parse reads exactly that part straight into nodes (allocated in slabs, values
// sliced from one copy of the text) and returns ok=false the moment it meets anything
// else (anchors, aliases, tags, block scalars, multi-line scalars or flow collections,
// tabs, CR, directives, document markers, complex keys, empty values, unusual escapes,
// control or non-BMP characters, a BOM...), so that the caller parses the text with
// yaml.v3 and every error, with its position, stays yaml.v3's.
//
// What the tree holds: Kind, Style, Tag, Value, Line, Column and Content exactly as
// yaml.v3's (TestSameTree and FuzzSameTree compare them). Comments are not kept
// (HeadComment, LineComment and FootComment stay empty): the fleet decoder does not
// read them.
package fastyaml

import (
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Tags of the nodes, as yaml.v3 spells them.
const (
	mapTag   = "!!map"
	seqTag   = "!!seq"
	strTag   = "!!str"
	mergeTag = "!!merge"
)

// maxDepth bounds the nesting the parser follows (fleet files nest a few levels);
// deeper documents go to yaml.v3, which has its own limit and error.
const maxDepth = 64

// maxKey is the longest key, in bytes, the parser accepts: libyaml refuses a simple
// key longer than 1024 characters, and a byte count is never below the character
// count, so anything near the limit is left to yaml.v3.
const maxKey = 1000

// declined unwinds the parser from any depth when the text leaves the subset.
type declined struct{}

// Parse parses text into a yaml.v3 document node when the text is in the subset, and
// returns ok=false otherwise (also for an empty document: yaml.v3 reports none at all).
func Parse(text []byte) (doc *yaml.Node, ok bool) {
	return new(Parser).Parse(text)
}

// A Parser parses texts one after another into trees carved from the same memory: a
// tree is valid until the next Parse. Loading a big fleet parses it in chunks whose
// trees are dropped once decoded, and reusing their nodes spares the collector
// almost all the load's allocations (a node is 152 bytes, about 20 per byte of text).
type Parser struct {
	nodes [][]yaml.Node  // slabs the nodes are carved from
	ptrs  [][]*yaml.Node // slabs the Content slices are carved from
	stack []*yaml.Node   // children of the collections being parsed
	// tags remembers what yaml.v3's resolver said of plain scalars it was asked
	// about: a fleet's keys starting with its hint letters ("from", "to", "owner",
	// "features") come back in every entry, and each question allocates.
	tags map[string]string
}

// maxTags bounds the resolver's memory of a Parser (unique values, such as
// addresses, are asked once and need not be remembered).
const maxTags = 4096

// nodeSlab and ptrSlab are the sizes of the slabs: a chunk of a fleet file needs a
// few hundred of each.
const (
	nodeSlab = 256
	ptrSlab  = 4096
)

// Parse is the package's Parse, reusing the memory of the tree it returned last.
func (ps *Parser) Parse(text []byte) (doc *yaml.Node, ok bool) {
	ascii, valid := checkChars(text)
	if !valid {
		return nil, false
	}
	p := &parser{src: string(text), ascii: ascii, line: 1, ps: ps, stack: ps.stack[:0]}
	defer func() {
		ps.stack = p.stack
		if r := recover(); r != nil {
			if _, is := r.(declined); !is {
				panic(r)
			}
			doc, ok = nil, false
		}
	}()
	return p.document(), true
}

// checkChars accepts only the characters the parser handles the way libyaml does:
// printable ASCII and line feeds, and printable BMP characters beyond ASCII that are
// neither line breaks (NEL, LS, PS) nor a byte order mark. It also says whether the
// text is all ASCII, where a column is a byte count.
func checkChars(b []byte) (ascii, ok bool) {
	ascii = true
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\n') || c == 0x7f {
				return false, false
			}
			i++
			continue
		}
		ascii = false
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError || r < 0xa0 || r > 0xfffd || (r >= 0xd800 && r < 0xe000) ||
			r == 0x2028 || r == 0x2029 || r == 0xfeff {
			return false, false
		}
		i += size
	}
	return ascii, true
}

type parser struct {
	src   string
	ascii bool
	pos   int // the next byte to read
	line  int // the line of pos, 1-based
	lbeg  int // where that line starts
	// indent is the indentation (in spaces) of the content line nextLine stopped at;
	// eof says there was none left.
	indent int
	eof    bool
	depth  int

	ps    *Parser
	nodes []yaml.Node  // what is left of the current node slab
	nslab int          // the next of ps.nodes to use
	ptrs  []*yaml.Node // what is left of the current pointer slab
	pslab int          // the next of ps.ptrs to use
	stack []*yaml.Node // children of the collections being parsed
}

func decline() { panic(declined{}) }

// column is the 1-based column of byte offset off on the current line, in characters
// as libyaml counts them.
func (p *parser) column(off int) int {
	if p.ascii {
		return off - p.lbeg + 1
	}
	return utf8.RuneCountInString(p.src[p.lbeg:off]) + 1
}

func (p *parser) node(kind yaml.Kind, style yaml.Style, tag, value string, off int) *yaml.Node {
	if len(p.nodes) == 0 {
		if p.nslab == len(p.ps.nodes) {
			p.ps.nodes = append(p.ps.nodes, make([]yaml.Node, nodeSlab))
		}
		p.nodes = p.ps.nodes[p.nslab]
		p.nslab++
	}
	n := &p.nodes[0]
	p.nodes = p.nodes[1:]
	// Every field is set: the node may be one of an earlier tree.
	*n = yaml.Node{Kind: kind, Style: style, Tag: tag, Value: value, Line: p.line, Column: p.column(off)}
	return n
}

// content moves the children pushed since base into a slice of their own.
func (p *parser) content(base int) []*yaml.Node {
	kids := p.stack[base:]
	if len(kids) == 0 {
		return nil // yaml.v3 leaves an empty collection's Content nil
	}
	var c []*yaml.Node
	switch {
	case len(kids) > ptrSlab:
		c = make([]*yaml.Node, len(kids))
	default:
		if len(p.ptrs) < len(kids) {
			if p.pslab == len(p.ps.ptrs) {
				p.ps.ptrs = append(p.ps.ptrs, make([]*yaml.Node, ptrSlab))
			}
			p.ptrs = p.ps.ptrs[p.pslab]
			p.pslab++
		}
		c = p.ptrs[:len(kids):len(kids)]
		p.ptrs = p.ptrs[len(kids):]
	}
	copy(c, kids)
	clear(kids)
	p.stack = p.stack[:base]
	return c
}

func (p *parser) enter() {
	if p.depth++; p.depth > maxDepth {
		decline()
	}
}

// document parses the one block mapping at column 1 that a fleet file is.
func (p *parser) document() *yaml.Node {
	p.nextLine()
	if p.eof || p.indent != 0 {
		decline()
	}
	// yaml.v3's document starts where its first token does.
	doc := p.node(yaml.DocumentNode, 0, "", "", p.pos)
	root := p.blockMapping(0)
	if !p.eof {
		decline() // a line less indented than column 1 cannot exist; anything else is not ours
	}
	doc.Content = []*yaml.Node{root}
	return doc
}

// nextLine moves to the start of the next line holding content, skipping blank lines
// and comment lines, and sets indent (or eof). pos must be at a line start.
func (p *parser) nextLine() {
	for p.pos < len(p.src) {
		p.lbeg = p.pos
		i := p.pos
		for i < len(p.src) && p.src[i] == ' ' {
			i++
		}
		if i == len(p.src) {
			p.pos = i
			break
		}
		if c := p.src[i]; c != '\n' && c != '#' {
			p.indent = i - p.pos
			p.pos = i
			return
		}
		nl := strings.IndexByte(p.src[i:], '\n')
		if nl < 0 {
			p.pos = len(p.src)
			break
		}
		p.pos = i + nl + 1
		p.line++
	}
	p.eof = true
}

// endLine finishes the current line after a value: only spaces and a comment may
// follow it. Then it moves to the next content line.
func (p *parser) endLine() {
	i := p.pos
	for i < len(p.src) && p.src[i] == ' ' {
		i++
	}
	if i < len(p.src) {
		switch p.src[i] {
		case '\n':
		case '#':
			if p.src[i-1] != ' ' {
				decline() // "#" right after a token: libyaml's comment rules, not ours
			}
			nl := strings.IndexByte(p.src[i:], '\n')
			if nl < 0 {
				i = len(p.src)
			} else {
				i += nl
			}
		default:
			decline()
		}
	}
	if i < len(p.src) { // at the line feed
		i++
		p.line++
	}
	p.pos = i
	p.nextLine()
}

// blockMapping parses a block mapping whose first key starts at pos, at indentation
// col; it returns at the first content line indented less than col (or at the end).
func (p *parser) blockMapping(col int) *yaml.Node {
	p.enter()
	m := p.node(yaml.MappingNode, 0, mapTag, "", p.pos)
	base := len(p.stack)
	for {
		p.stack = append(p.stack, p.key(false))
		p.skipSpaces()
		var v *yaml.Node
		if p.atLineEnd() {
			p.endLine()
			switch {
			case p.eof || p.indent < col:
				decline() // an empty value: a null whose position libyaml places its own way
			case p.indent == col:
				if !p.atEntry() {
					decline()
				}
				v = p.blockSequence(col, true)
			default:
				v = p.blockNode(p.indent)
			}
		} else {
			v = p.inline(col)
		}
		p.stack = append(p.stack, v)
		if p.eof || p.indent < col {
			break
		}
		if p.indent > col {
			decline()
		}
	}
	m.Content = p.content(base)
	p.depth--
	return m
}

// blockNode parses the block collection that starts at pos, at indentation col, on a
// line of its own.
func (p *parser) blockNode(col int) *yaml.Node {
	if p.atEntry() {
		return p.blockSequence(col, false)
	}
	return p.blockMapping(col)
}

// atEntry says whether pos is at a sequence entry ("- ").
func (p *parser) atEntry() bool {
	return p.pos+1 < len(p.src) && p.src[p.pos] == '-' && p.src[p.pos+1] == ' '
}

// blockSequence parses the entries ("- ") at indentation col. An indentless sequence
// (a mapping's value at the mapping's own indentation) ends at the next key.
func (p *parser) blockSequence(col int, indentless bool) *yaml.Node {
	p.enter()
	s := p.node(yaml.SequenceNode, 0, seqTag, "", p.pos)
	base := len(p.stack)
	for {
		p.pos++ // the "-"
		p.skipSpaces()
		if p.atLineEnd() || p.atEntry() {
			decline() // an entry on the following lines, or a sequence in a sequence
		}
		var item *yaml.Node
		start := p.pos
		if c := p.src[p.pos]; c != '{' && c != '[' {
			// A scalar followed by ": " starts a mapping at its column (the line
			// up to it is "- " and spaces: bytes are columns).
			p.scan(false)
			isKey := p.colon()
			p.pos = start
			if isKey {
				item = p.blockMapping(start - p.lbeg)
			}
		}
		if item == nil {
			item = p.inline(col)
		}
		p.stack = append(p.stack, item)
		if p.eof || p.indent < col {
			break
		}
		if p.indent > col {
			decline()
		}
		if !p.atEntry() {
			if indentless {
				break
			}
			decline()
		}
	}
	s.Content = p.content(base)
	p.depth--
	return s
}

// inline parses a value that starts on the current line, in a block collection at
// indentation col, and moves to the next content line.
func (p *parser) inline(col int) *yaml.Node {
	var v *yaml.Node
	switch p.src[p.pos] {
	case '{':
		v = p.flowMapping()
	case '[':
		v = p.flowSequence()
	default:
		v = p.scalar(false)
		if p.pos < len(p.src) && p.src[p.pos] == ':' {
			decline() // "a: b: c"
		}
	}
	p.endLine()
	// A plain scalar continues on a following line indented more than its collection,
	// and any other value followed by such a line is an error: both are yaml.v3's.
	if !p.eof && p.indent > col {
		decline()
	}
	return v
}

func (p *parser) skipSpaces() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

// atLineEnd says whether only a comment (after at least one space) or nothing is left
// on the line; pos is after spaces.
func (p *parser) atLineEnd() bool {
	if p.pos == len(p.src) || p.src[p.pos] == '\n' {
		return true
	}
	return p.src[p.pos] == '#' && p.src[p.pos-1] == ' '
}

// colon consumes the ":" after a block key; it must be followed by a space or the
// end of the line.
func (p *parser) colon() bool {
	if p.pos < len(p.src) && p.src[p.pos] == ':' &&
		(p.pos+1 == len(p.src) || p.src[p.pos+1] == ' ' || p.src[p.pos+1] == '\n') {
		p.pos++
		return true
	}
	return false
}

// plainStart says whether a plain scalar may start at i in the subset: libyaml's rule
// (no indicator; "-" only before a non-blank), narrowed to what is surely not a
// document marker or a construct the parser does not take.
func (p *parser) plainStart(i int) bool {
	c := p.src[i]
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= utf8.RuneSelf:
		return true
	case c == '_', c == '/', c == '~', c == '$', c == '(', c == ')', c == '=', c == '+', c == '<', c == ';', c == '^', c == '\\':
		return true
	case c == '-' || c == '.':
		// "-5", ".5": never at a line start, where "---" and "..." mark documents.
		if i == p.lbeg || i+1 >= len(p.src) {
			return false
		}
		d := p.src[i+1]
		return d >= '0' && d <= '9' || d >= 'a' && d <= 'z' || d >= 'A' && d <= 'Z' || (c == '-' && d == '.')
	}
	return false
}

// scalar scans a one-line plain or quoted scalar at pos, in a block (flow=false) or
// flow context, and leaves pos after it (before the blanks that end a plain one).
func (p *parser) scalar(flow bool) *yaml.Node {
	start := p.pos
	style, value := p.scan(flow)
	tag := strTag
	if style == 0 {
		tag = p.ps.resolve(value)
	}
	return p.node(yaml.ScalarNode, style, tag, value, start)
}

// scan reads the scalar at pos and returns its style and value.
func (p *parser) scan(flow bool) (yaml.Style, string) {
	start := p.pos
	if start >= len(p.src) {
		decline()
	}
	switch p.src[start] {
	case '\'':
		return yaml.SingleQuotedStyle, p.singleQuoted()
	case '"':
		return yaml.DoubleQuotedStyle, p.doubleQuoted()
	}
	if !p.plainStart(start) {
		decline()
	}
	return 0, p.src[start:p.plainEnd(flow)]
}

// key scans a key and the ": " (or ":" at the line end) after it; a key libyaml
// might find too long is left to it.
func (p *parser) key(flow bool) *yaml.Node {
	start := p.pos
	k := p.scalar(flow)
	if p.pos-start > maxKey || !p.colon() {
		decline()
	}
	return k
}

// plainEnd scans a plain scalar's characters from pos as libyaml's scanner does on one
// line, and returns where its value ends; pos is left there too. The scalar ends at a
// ":" before a blank, at " #", at the line end and, in a flow, at ",[]{}".
func (p *parser) plainEnd(flow bool) int {
	i := p.pos
	end := i
	for {
		// Non-blank characters.
		for i < len(p.src) && p.src[i] != ' ' && p.src[i] != '\n' {
			c := p.src[i]
			if c == ':' && (i+1 == len(p.src) || p.src[i+1] == ' ' || p.src[i+1] == '\n') {
				p.pos = end
				return end
			}
			if flow {
				switch c {
				case ',', '[', ']', '{', '}':
					p.pos = end
					return end
				case '?':
					decline()
				}
			}
			i++
			end = i
		}
		// Blanks: the scalar goes on unless a comment or the line's end follows.
		j := i
		for j < len(p.src) && p.src[j] == ' ' {
			j++
		}
		if j == len(p.src) || p.src[j] == '\n' || p.src[j] == '#' {
			if flow {
				decline() // a flow running onto the next line, or a comment in it
			}
			p.pos = end
			return end
		}
		i = j
	}
}

// singleQuoted scans a one-line single-quoted scalar (two quotes stand for one) and returns its
// value; pos is left after the closing quote.
func (p *parser) singleQuoted() string {
	i := p.pos + 1
	var b []byte // only when the value has '' in it
	from := i
	for {
		if i >= len(p.src) || p.src[i] == '\n' {
			decline()
		}
		if p.src[i] == '\'' {
			if i+1 < len(p.src) && p.src[i+1] == '\'' {
				b = append(b, p.src[from:i+1]...)
				i += 2
				from = i
				continue
			}
			break
		}
		i++
	}
	p.pos = i + 1
	if b == nil {
		return p.src[from:i]
	}
	return string(append(b, p.src[from:i]...))
}

// doubleQuoted scans a one-line double-quoted scalar and returns its value; pos is
// left after the closing quote. Of the escapes only \\, \", \n and \t are taken.
func (p *parser) doubleQuoted() string {
	i := p.pos + 1
	var b []byte
	from := i
	for {
		if i >= len(p.src) || p.src[i] == '\n' {
			decline()
		}
		c := p.src[i]
		if c == '"' {
			break
		}
		if c == '\\' {
			if i+1 >= len(p.src) {
				decline()
			}
			var r byte
			switch p.src[i+1] {
			case '\\':
				r = '\\'
			case '"':
				r = '"'
			case 'n':
				r = '\n'
			case 't':
				r = '\t'
			default:
				decline()
			}
			b = append(append(b, p.src[from:i]...), r)
			i += 2
			from = i
			continue
		}
		i++
	}
	p.pos = i + 1
	if b == nil {
		return p.src[from:i]
	}
	return string(append(b, p.src[from:i]...))
}

// flowMapping parses a one-line {key: value, ...} at pos.
func (p *parser) flowMapping() *yaml.Node {
	p.enter()
	m := p.node(yaml.MappingNode, yaml.FlowStyle, mapTag, "", p.pos)
	base := len(p.stack)
	p.pos++
	p.skipSpaces()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		p.depth--
		return m
	}
	for {
		// Without ": " right after the key (a key alone, a complex key, JSON's
		// "a":b) key declines.
		k := p.key(true)
		p.skipSpaces()
		p.stack = append(p.stack, k, p.flowValue())
		if p.flowNext('}') {
			break
		}
	}
	m.Content = p.content(base)
	p.depth--
	return m
}

// flowSequence parses a one-line [item, ...] at pos.
func (p *parser) flowSequence() *yaml.Node {
	p.enter()
	s := p.node(yaml.SequenceNode, yaml.FlowStyle, seqTag, "", p.pos)
	base := len(p.stack)
	p.pos++
	p.skipSpaces()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		p.depth--
		return s
	}
	for {
		p.stack = append(p.stack, p.flowValue())
		if p.pos < len(p.src) && p.src[p.pos] == ':' {
			decline() // a single-pair mapping in the sequence
		}
		if p.flowNext(']') {
			break
		}
	}
	s.Content = p.content(base)
	p.depth--
	return s
}

// flowValue parses a value in a flow collection: a scalar or a nested collection.
func (p *parser) flowValue() *yaml.Node {
	if p.pos >= len(p.src) {
		decline()
	}
	switch p.src[p.pos] {
	case '{':
		return p.flowMapping()
	case '[':
		return p.flowSequence()
	}
	return p.scalar(true)
}

// flowNext consumes what follows a flow entry: ", " and more entries (false), or the
// closing bracket (true). A trailing comma, an empty entry or the line's end declines.
func (p *parser) flowNext(closing byte) bool {
	p.skipSpaces()
	if p.pos >= len(p.src) {
		decline()
	}
	switch p.src[p.pos] {
	case closing:
		p.pos++
		return true
	case ',':
		p.pos++
		p.skipSpaces()
		if p.pos >= len(p.src) || p.src[p.pos] == closing || p.src[p.pos] == ',' {
			decline()
		}
		return false
	}
	decline()
	return false
}

// resolve gives a plain scalar the tag yaml.v3 gives it. A value whose first byte
// yaml.v3's resolver has no hint for is a string; "<<" is a merge key (yaml.v3's
// parser decides that one itself); everything else is asked of yaml.v3's own resolver
// through Node.ShortTag, so numbers, booleans, nulls and timestamps are exactly its.
func resolve(value string) string {
	if value == "<<" {
		return mergeTag
	}
	if value != "" && !hinted[value[0]] {
		return strTag
	}
	if isDecimal(value) {
		return "!!int"
	}
	n := yaml.Node{Kind: yaml.ScalarNode, Value: value}
	return n.ShortTag()
}

// resolve is the package's resolve, remembering the answers of yaml.v3's resolver.
func (ps *Parser) resolve(value string) string {
	if value == "<<" || (value != "" && !hinted[value[0]]) || isDecimal(value) {
		return resolve(value)
	}
	if tag, ok := ps.tags[value]; ok {
		return tag
	}
	tag := resolve(value)
	if ps.tags == nil {
		ps.tags = map[string]string{}
	}
	if len(ps.tags) < maxTags {
		ps.tags[value] = tag
	}
	return tag
}

// hinted are the first bytes for which yaml.v3's resolver looks further than "a
// string" (its resolveTable): signs, digits, ".", and the first letters of the words
// it knows (true, false, null, ~). TestResolveHints checks every byte against it.
var hinted = func() (h [256]bool) {
	for _, c := range "+-0123456789.yYnNtTfFoO~" {
		h[c] = true
	}
	return h
}()

// isDecimal: a small decimal integer without a leading zero (which yaml.v3 reads as
// octal, or as a float when it is not valid octal) is an int; the commonest number
// in a fleet file, answered without the resolver's allocations.
func isDecimal(s string) bool {
	if len(s) == 0 || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

package fleetcode

import (
	"bufio"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

// The YAML writer streams the ordered tree as text, block style with two-space
// indents and small objects in flow style (value.flow), the layout an operator
// writes. It builds no YAML node tree: a 100k-account fleet is written in one pass
// (fleetgen and import both use it; it is the only fleet writer).

// writeYAMLComment writes c as # lines at indent.
func writeYAMLComment(b *bufio.Writer, c, indent string) {
	for _, line := range strings.Split(strings.TrimSpace(c), "\n") {
		if line = strings.TrimRight(line, " \t"); line != "" {
			b.WriteString(indent + "# " + line + "\n")
		} else if strings.TrimSpace(c) != "" {
			b.WriteString(indent + "#\n")
		}
	}
}

// writeYAMLEntry writes "key: value" at indent, the value in flow style when it is
// small, else as a nested block.
func writeYAMLEntry(b *bufio.Writer, key string, v *value, indent string) {
	writeYAMLComment(b, v.commentText(), indent)
	b.WriteString(indent + yamlScalar(key) + ":")
	writeYAMLValue(b, v, indent)
}

// writeYAMLValue writes what follows "key:" (or "-"): a flow value on the same line,
// or a block on the next lines, indented.
func writeYAMLValue(b *bufio.Writer, v *value, indent string) {
	if v.kind == 's' || v.flow() {
		b.WriteString(" ")
		writeYAMLFlow(b, v)
		b.WriteString("\n")
		return
	}
	b.WriteString("\n")
	writeYAMLBlock(b, v, indent+"  ")
}

// writeYAMLBlock writes a mapping or list in block style at indent.
func writeYAMLBlock(b *bufio.Writer, v *value, indent string) {
	switch v.kind {
	case 'm':
		for _, k := range v.keys {
			writeYAMLEntry(b, k, v.fields[k], indent)
		}
	case 'l':
		for _, c := range v.list {
			if c.kind == 's' || c.flow() {
				b.WriteString(indent + "- ")
				writeYAMLFlow(b, c)
				b.WriteString("\n")
				continue
			}
			// A block mapping or list as an item: its first line follows "- ", the
			// rest aligns under it.
			var sub strings.Builder
			w := bufio.NewWriter(&sub)
			writeYAMLBlock(w, c, indent+"  ")
			_ = w.Flush()
			b.WriteString(indent + "- " + strings.TrimPrefix(sub.String(), indent+"  "))
		}
	}
}

// writeYAMLFlow writes v on one line: {a: b}, [a, b] or a scalar.
func writeYAMLFlow(b *bufio.Writer, v *value) {
	switch v.kind {
	case 'm':
		b.WriteString("{")
		for i, k := range v.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(yamlScalar(k) + ": ")
			writeYAMLFlow(b, v.fields[k])
		}
		b.WriteString("}")
	case 'l':
		b.WriteString("[")
		for i, c := range v.list {
			if i > 0 {
				b.WriteString(", ")
			}
			writeYAMLFlow(b, c)
		}
		b.WriteString("]")
	default:
		switch s := v.scalar.(type) {
		case string:
			b.WriteString(yamlScalar(s))
		case json.Number:
			b.WriteString(s.String())
		case bool:
			b.WriteString(strconv.FormatBool(s))
		default:
			b.WriteString("null")
		}
	}
}

var (
	// plainYAML: text YAML reads back as the same string when written unquoted, in
	// block and in flow context (no indicator, no ": ", no " #", no flow punctuation).
	plainYAML = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./@+-]*$`)
	// dotted quads and HOST:PORT of them are strings to YAML (not numbers), so they
	// stay plain as an operator writes them.
	ipishYAML = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(:[0-9]+)?$`)
)

// yamlScalar writes a string plain when YAML reads it back as the same string,
// double-quoted otherwise (YAML's double quotes take Go's escapes for this text).
func yamlScalar(s string) string {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "":
		return strconv.Quote(s)
	}
	if plainYAML.MatchString(s) || ipishYAML.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

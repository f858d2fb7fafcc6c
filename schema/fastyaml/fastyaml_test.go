package fastyaml_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tether-dev/tether/internal/fleetgen"
	"github.com/tether-dev/tether/schema/fastyaml"
)

// reference parses text as schema's loader does with yaml.v3: one document, or an
// error (a panic counts as one).
func reference(text []byte) (doc *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml.v3 panicked: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(text))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		return nil, err
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("more than one document (%v)", err)
	}
	return &n, nil
}

// diff compares the fields of two trees that anything reads (schema's decoder reads
// Kind, Tag, Value, Line, Column, Content and Alias) plus Style and Anchor; comments
// are not compared (the fast path drops them). It returns "" when they agree.
func diff(got, want *yaml.Node, path string) string {
	switch {
	case got == nil && want == nil:
		return ""
	case got == nil || want == nil:
		return fmt.Sprintf("%s: got %v, want %v", path, got, want)
	}
	if got.Kind != want.Kind || got.Style != want.Style || got.Tag != want.Tag || got.Value != want.Value ||
		got.Anchor != want.Anchor || got.Line != want.Line || got.Column != want.Column || (got.Alias == nil) != (want.Alias == nil) {
		return fmt.Sprintf("%s: got {kind %d style %d tag %q value %q anchor %q at %d:%d}, want {kind %d style %d tag %q value %q anchor %q at %d:%d}",
			path, got.Kind, got.Style, got.Tag, got.Value, got.Anchor, got.Line, got.Column,
			want.Kind, want.Style, want.Tag, want.Value, want.Anchor, want.Line, want.Column)
	}
	if len(got.Content) != len(want.Content) {
		return fmt.Sprintf("%s (%d:%d): %d children, want %d", path, want.Line, want.Column, len(got.Content), len(want.Content))
	}
	for i := range got.Content {
		if d := diff(got.Content[i], want.Content[i], fmt.Sprintf("%s/%d", path, i)); d != "" {
			return d
		}
	}
	return ""
}

// check says what the fast path did with text: "" when it declined or built yaml.v3's
// tree, a description of the difference otherwise. A nil ps is a parser of its own;
// tests that parse many texts share one, so trees are built in reused memory.
func check(ps *fastyaml.Parser, text []byte) (fast bool, problem string) {
	if ps == nil {
		ps = new(fastyaml.Parser)
	}
	got, ok := ps.Parse(text)
	if !ok {
		return false, ""
	}
	want, err := reference(text)
	if err != nil {
		return true, fmt.Sprintf("the fast path took text yaml.v3 refuses (%v)", err)
	}
	return true, diff(got, want, "doc")
}

// repoYAML is every YAML file of the repository: the fixtures, the examples, the
// commands' test data.
func repoYAML(t testing.TB) map[string][]byte {
	files := map[string][]byte{}
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files[path] = data
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found %d YAML files: the walk is broken", len(files))
	}
	return files
}

// TestSameTree: for every YAML file of the repository and generated fleets, the fast
// path builds yaml.v3's tree or declines; it must not decline the generator's fleets,
// nor most of the fixtures (they are written the way operators write fleets).
func TestSameTree(t *testing.T) {
	fastCount := 0
	files := repoYAML(t)
	ps := new(fastyaml.Parser)
	for path, data := range files {
		fast, problem := check(ps, data)
		if problem != "" {
			t.Errorf("%s: %s", path, problem)
		}
		if fast {
			fastCount++
		}
	}
	t.Logf("fast path taken for %d of %d repository files", fastCount, len(files))
	if fastCount < len(files)/2 {
		t.Errorf("fast path taken for only %d of %d repository files", fastCount, len(files))
	}
	for _, accounts := range []int{1, 10, 300, 2000} {
		cfg := fleetgen.Large(accounts)
		var buf bytes.Buffer
		if err := fleetgen.WriteYAML(&buf, fleetgen.Generate(cfg)); err != nil {
			t.Fatal(err)
		}
		fast, problem := check(ps, buf.Bytes())
		if problem != "" {
			t.Errorf("fleetgen %d accounts: %s", accounts, problem)
		}
		if !fast {
			t.Errorf("fleetgen %d accounts: the fast path declined the generator's fleet", accounts)
		}
	}
}

// TestCases pins the subset's edges: each text either takes the fast path and gives
// yaml.v3's tree, or is declined (left to yaml.v3).
func TestCases(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		fast       bool
	}{
		{"block mapping", "a: b\nc: d\n", true},
		{"nested", "a:\n  b: c\n  d:\n    e: f\ng: h\n", true},
		{"no final newline", "a:\n  b: c", true},
		{"comments and blanks", "# head\n\na: b # line\n\n  # indented comment\n# col 1\nc:   # after key\n  d: e\n\n", true},
		{"spaces-only lines", "a:\n   \n  b: c\n  \nd: e\n", true},
		{"trailing spaces", "a: b   \nc:   \n  d: e  \n", true},
		{"block sequence", "a:\n  - x\n  - y\n", true},
		{"indentless sequence", "a:\n- x\n- y\nb: c\n", true},
		{"compact mappings", "a:\n  - x: 1\n    y: 2\n  -   z: 3\n      w: [1, 2]\n", true},
		{"flow", "a: {b: c, d: [e, f, {g: h}], i: []}\nj: {}\n", true},
		{"flow spaces", "a: {  b:   c d ,  e: f  }\n", true},
		{"flow plain with colons", "a: {b: 2001:db8::1, c: a:b}\n", true},
		{"quoted", "'a': \"b\"\nc: 'it''s'\nd: \"x \\\"y\\\" \\\\ \\n \\t\"\ne: ''\nf: \"\"\n", true},
		{"quoted in flow", "a: {'b': \"c, d\", e: ['f]', \"g}\"]}\n", true},
		{"scalars", "a: b c  d\nb: x#y\nc: x:y\nd: a,b]\ne: -1\nf: .5\ng: <<\nh: ~\ni: (x)\n", true},
		{"tags of plain scalars", "a: [true, True, TRUE, tRue, false, yes, no, on, off, y, n, Y, N, null, Null, NULL, ~, nULL]\n" +
			"b: [0, 1, 12, 012, 09, 0x1f, 0o17, 0b101, -0b1, 1_000, +1, -1, 1e3, 1.5, .5, -.5, 1., .inf, -.Inf, +.INF, .nan, .NaN]\n" +
			"c: [2001-12-14, 2001-12-14t21:59:43.10-05:00, 2002-12-14 21:59:43.10 -5, 1:20, 190:20:30, 10.0.0.2, 99999999999999999999, 123456789012345678, 1234567890123456789]\n", true},
		{"merge key", "a:\n  <<: {b: c}\n  d: e\n", true},
		{"non-ASCII", "é: ü\nf:\n  ñame: {ß: 日本}\n  g: 'ö'\n", true},
		{"keys with spaces", "a b: c\n", true},
		{"duplicate keys", "a: 1\na: 2\n", true},
		{"dash starts", "a:\n  -x: -y\n  -1: 2\n", true},
		{"deep", strings.Repeat("a:\n", 1) + "  b:\n    c:\n      d:\n        - e: {f: [g]}\n", true},

		{"empty", "", false},
		{"comment only", "# x\n", false},
		{"root sequence", "- a\n", false},
		{"root scalar", "a\n", false},
		{"root flow", "{a: b}\n", false},
		{"indented root", "  a: b\n", false},
		{"empty value", "a:\nb: c\n", false},
		{"empty value at end", "a: b\nc:", false},
		{"empty value in flow", "a: {b: }\n", false},
		{"key alone in flow", "a: {b}\n", false},
		{"anchor", "a: &x b\nc: *x\n", false},
		{"alias", "a: *x\n", false},
		{"tag", "a: !!str 1\n", false},
		{"literal", "a: |\n  x\n", false},
		{"folded", "a: >\n  x\n", false},
		{"multi-line plain", "a: b\n  c\n", false},
		{"multi-line plain in sequence", "a:\n  - b\n    c\n", false},
		{"multi-line quoted", "a: 'b\n  c'\n", false},
		{"multi-line flow", "a: [b,\n  c]\n", false},
		{"tab", "a:\tb\n", false},
		{"CRLF", "a: b\r\n", false},
		{"directive", "%YAML 1.2\n---\na: b\n", false},
		{"document start", "---\na: b\n", false},
		{"two documents", "a: b\n---\nc: d\n", false},
		{"document end", "a: b\n...\n", false},
		{"complex key", "? a\n: b\n", false},
		{"flow key", "[a]: b\n", false},
		{"BOM", "\ufeffa: b\n", false},
		{"control character", "a: b\x01\n", false},
		{"NEL", "a: b\u0085c\n", false},
		{"unknown escape", "a: \"\\q\"\n", false},
		{"unicode escape", "a: \"\\u00e9\"\n", false},
		{"mapping in value", "a: b: c\n", false},
		{"bad indentation", "a:\n    b: c\n  d: e\n", false},
		{"over-indented key", "a: b\n  c: d\n", false},
		{"sequence then key", "a:\n  - b\n  c: d\n", false},
		{"nested sequence", "a:\n  - - b\n", false},
		{"entry on next line", "a:\n  -\n    b: c\n", false},
		{"comment in flow", "a: [b # c\n  ]\n", false},
		{"comment glued to flow", "a: [b]#c\n", false},
		{"trailing comma", "a: [b, ]\n", false},
		{"pair in flow sequence", "a: [b: c]\n", false},
		{"question mark in flow", "a: {b?c: d}\n", false},
		{"spaced colon", "a : b\n", false},
		{"JSON colon", "a: {\"b\":c}\n", false},
		{"long key", strings.Repeat("k", 1100) + ": v\n", false},
		{"reserved", "a: @b\n", false},
		{"percent", "a: %b\n", false},
		{"emoji", "a: \U0001F600\n", false},
		{"deep flow", "a: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fast, problem := check(nil, []byte(tc.text))
			if problem != "" {
				t.Fatal(problem)
			}
			if fast != tc.fast {
				t.Fatalf("fast path taken: %v, want %v", fast, tc.fast)
			}
		})
	}
}

// TestResolveHints: a plain scalar's tag is yaml.v3's for every first byte, with
// continuations that make each of yaml.v3's resolver branches answer something other
// than a string (so a byte the fast path wrongly takes for "a string" shows).
func TestResolveHints(t *testing.T) {
	suffixes := []string{"", "1", "0", "_1", ".5", "e3", "x1f", "rue", "RUE", "alse", "ull", "ULL",
		".inf", ".nan", "inf", "nan", "001-12-14", "b1", "o7", "12"}
	for c := 0x21; c < 0x7f; c++ {
		for _, s := range suffixes {
			text := fmt.Sprintf("k: %c%s\n", c, s)
			if _, problem := check(nil, []byte(text)); problem != "" {
				t.Errorf("%q: %s", text, problem)
			}
		}
	}
}

// FuzzSameTree: on any input the fast path declines or builds exactly yaml.v3's tree;
// it never panics and never accepts what yaml.v3 refuses.
func FuzzSameTree(f *testing.F) {
	for _, data := range repoYAML(f) {
		f.Add(data)
	}
	// What FuzzLoadYAML found in schema's loader.
	corpus, _ := filepath.Glob("../testdata/fuzz/FuzzLoadYAML/*")
	for _, file := range corpus {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if q, ok := strings.CutPrefix(line, "[]byte("); ok {
				if s, err := strconv.Unquote(strings.TrimSuffix(q, ")")); err == nil {
					f.Add([]byte(s))
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := fleetgen.WriteYAML(&buf, fleetgen.Generate(fleetgen.Large(20))); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("a:\n- {b: c, d: [e, 'f']}\n-   g: \"h\" # i\n    j: k\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, problem := check(nil, data); problem != "" {
			t.Fatalf("%s\ninput: %q", problem, data)
		}
	})
}

// tokens are the pieces FuzzSameTreeTokens builds texts from: the subset's own syntax
// and what sits just outside it, so that most inputs are near-fleet YAML rather than
// noise the fast path declines at its first byte.
var tokens = []string{
	"a", "b c", "key", "x:y", ": ", ":", "\n", "\n", "\n  ", "\n    ", "  ", " ", "- ", "-",
	"{", "}", "[", "]", ", ", ",", "#c", " # c", "'q'", "'it''s'", "\"d\"", "\"e\\\"\\n\"",
	"1", "012", "09", "-1", ".5", "1e3", "0x1f", "true", "yes", "~", "null", "<<", "2001-12-14",
	"é", "日本", "&x ", "*x", "!!str ", "|", ">", "?", "---", "...", "\t", "\r\n", "%", "@",
	"''", "\"\"", "10.0.0.2", "u@example.org", "a b: c",
}

// FuzzSameTreeTokens: FuzzSameTree over texts assembled from tokens, one byte of
// input choosing one token.
func FuzzSameTreeTokens(f *testing.F) {
	f.Add([]byte{2, 4, 0, 6, 16, 2, 4, 3, 20, 17})
	f.Add([]byte{0, 5, 8, 12, 1, 6, 8, 12, 26, 6})
	f.Fuzz(func(t *testing.T, data []byte) {
		var b strings.Builder
		for _, c := range data {
			b.WriteString(tokens[int(c)%len(tokens)])
		}
		text := []byte(b.String())
		if _, problem := check(nil, text); problem != "" {
			t.Fatalf("%s\ninput: %q", problem, text)
		}
	})
}

package fleetcode

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Every string the writer emits, plain or quoted, in block or flow context, as a key
// or a value, reads back through YAML as the same string.
func TestYAMLScalarsReadBack(t *testing.T) {
	for _, s := range []string{
		"", "plain", "web1.example.net", "192.0.2.10", "127.0.0.1:5300", "[::1]:53", "true", "No", "null", "~", "118", "1e3", "0x1F",
		"a: b", "a #b", "#x", "-x", "- x", "x,y", "{a}", "[a]", "a\nb", `q"uote`, "tab\there", "café", "*alias", "&anchor", "!tag",
		"%d", "@at", "`tick`", "a:b", "trailing ", " leading", "=", "<<", "?", "|", ">", "'single'",
	} {
		tree := &value{kind: 'm', keys: []string{s}, fields: map[string]*value{s: {kind: 's', scalar: s}}}
		list := &value{kind: 'l', list: []*value{{kind: 's', scalar: s}, {kind: 's', scalar: s}}}
		for _, c := range []struct {
			name string
			v    *value
		}{{"flow", &value{kind: 'm', keys: []string{"x", "l"}, fields: map[string]*value{"x": tree, "l": list}}},
			{"block", &value{kind: 'm', keys: []string{"x", "a", "b", "c", "d"}, fields: map[string]*value{"x": tree, "a": list, "b": tree, "c": tree, "d": tree}}}} {
			var sb strings.Builder
			w := bufio.NewWriter(&sb)
			writeYAMLBlock(w, c.v, "")
			_ = w.Flush()
			var got map[string]any
			if err := yaml.Unmarshal([]byte(sb.String()), &got); err != nil {
				t.Errorf("%q (%s): %v\n%s", s, c.name, err, sb.String())
				continue
			}
			x, _ := got["x"].(map[string]any)
			if v, ok := x[s].(string); !ok || v != s {
				b, _ := json.Marshal(got)
				t.Errorf("%q (%s) read back as %s\n%s", s, c.name, b, sb.String())
			}
		}
	}
}

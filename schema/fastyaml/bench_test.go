package fastyaml_test

import (
	"bytes"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tether-dev/tether/internal/fleetgen"
	"github.com/tether-dev/tether/schema/fastyaml"
)

// BenchmarkParse100k parses fleetgen's 100k-account fleet (15 MB) whole, on one core,
// into a yaml.Node tree: with yaml.v3 (the anchor) and with the fast path. schema
// parses the same text in chunks on every core; this is the per-byte cost of each.
func BenchmarkParse100k(b *testing.B) {
	var buf bytes.Buffer
	if err := fleetgen.WriteYAML(&buf, fleetgen.Generate(fleetgen.Large(100_000))); err != nil {
		b.Fatal(err)
	}
	text := buf.Bytes()
	b.Run("yamlv3", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var n yaml.Node
			if err := yaml.Unmarshal(text, &n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, ok := fastyaml.Parse(text); !ok {
				b.Fatal("the fast path declined fleetgen's fleet")
			}
		}
	})
}

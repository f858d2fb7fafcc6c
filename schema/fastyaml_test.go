package schema_test

import (
	"bytes"
	"testing"

	"github.com/tether-dev/tether/internal/fleetgen"
	"github.com/tether-dev/tether/schema"
)

// TestFleetgenTakesFastPath: every chunk Load cuts a generated fleet into is parsed
// by the fast YAML path (schema/fastyaml), with the default chunks and with one entry
// a chunk (continued sections start with a copied header line). fastyaml's own tests
// show the trees are yaml.v3's.
func TestFleetgenTakesFastPath(t *testing.T) {
	var buf bytes.Buffer
	if err := fleetgen.WriteYAML(&buf, fleetgen.Generate(fleetgen.Large(3000))); err != nil {
		t.Fatal(err)
	}
	for _, tiny := range []bool{false, true} {
		fast, total := schema.FastChunks(buf.Bytes(), tiny)
		if total < 2 || fast != total {
			t.Errorf("tiny chunks %v: %d of %d chunks took the fast path, want all (and more than one)", tiny, fast, total)
		}
	}
}

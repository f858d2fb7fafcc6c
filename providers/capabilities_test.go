package providers_test

import (
	"testing"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

// Every example fleet asks only what the registered providers declare.
func TestCheckExamples(t *testing.T) {
	for _, dir := range []string{"../examples/quickstart", "../examples/cue", "../testdata/valid/rfc2136-member"} {
		f, ds, err := schema.Load(dir)
		if err != nil || len(ds) > 0 {
			t.Fatalf("%s: %v %v", dir, err, ds)
		}
		if ds := providers.Check(f); len(ds) > 0 {
			t.Errorf("%s: %v", dir, ds)
		}
	}
}

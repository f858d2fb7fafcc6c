package providers_test

import (
	"testing"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler"
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

// The planner consults capabilities by the names it knows; the fleet provider's
// declared set reaches it whole through FleetCapabilities.
func TestPlannerCapabilities(t *testing.T) {
	if string(providers.CanObserveResellerACLs) != reconciler.CapObserveResellerACLs {
		t.Errorf("providers says %q, the planner %q", providers.CanObserveResellerACLs, reconciler.CapObserveResellerACLs)
	}
	spec, ok := providers.Lookup(providers.FleetProvider())
	if !ok {
		t.Fatal("no fleet provider registered")
	}
	got := providers.FleetCapabilities()
	for c, on := range spec.Capabilities {
		if got[string(c)] != on {
			t.Errorf("capability %s: FleetCapabilities says %t, %s declares %t", c, got[string(c)], spec.Name, on)
		}
	}
	if len(got) == 0 {
		t.Error("FleetCapabilities is empty")
	}
}

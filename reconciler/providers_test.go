package reconciler

import (
	"github.com/tether-dev/tether/providers"
	_ "github.com/tether-dev/tether/providers/all"
)

// withProviders completes o with what the registered providers give the planner, as
// every caller of Diff does: the fleet provider, its declared capabilities (unless
// the test sets them) and the member backends' planners.
func withProviders(o DiffOptions) DiffOptions {
	o.Fleet = providers.FleetProvider()
	o.Members = providers.MemberPlanners()
	if o.FleetCapabilities == nil {
		o.FleetCapabilities = providers.FleetCapabilities()
	}
	return o
}

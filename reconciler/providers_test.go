package reconciler

import (
	"github.com/tether-dev/tether/providers"
	_ "github.com/tether-dev/tether/providers/all"
)

// withProviders completes o with what the registered providers give the planner, as
// every caller of Diff does: the fleet provider and the member backends' planners.
func withProviders(o DiffOptions) DiffOptions {
	o.Fleet = providers.FleetProvider()
	o.Members = providers.MemberPlanners()
	return o
}

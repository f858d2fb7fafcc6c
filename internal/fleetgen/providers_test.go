package fleetgen_test

// The fleets these tests load have DNS members: the member backends register from
// their providers, as in every program that loads fleets.
import _ "github.com/tether-dev/tether/providers/all"

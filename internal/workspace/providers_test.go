package workspace

// The fleets these tests use have DNS members: the member backends register from
// their providers, as in every program that loads fleets.
import _ "github.com/tether-dev/tether/providers/all"

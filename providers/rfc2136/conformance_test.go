package rfc2136

import (
	"strings"
	"testing"

	"github.com/tether-dev/tether/internal/bindtest"
	"github.com/tether-dev/tether/providers/providertest"
	"github.com/tether-dev/tether/schema"
)

// TestConformance runs the provider conformance suite against real BIND: a sync and
// a write-only member, each its own named.
func TestConformance(t *testing.T) {
	zones := []string{"alice.example", "bob.example"}
	r := newRig(t, zones, schema.Threshold{}, NewMemStore())
	for _, z := range zones {
		r.source.set("web1", z, accountZone(t, z, parentIP, parentIP))
	}
	providertest.Run(t, providertest.Harness{
		Provider: r.p,
		Desired:  r.fleet,
		Snapshot: func(t *testing.T) string {
			var b strings.Builder
			for _, n := range []*bindtest.Named{r.sync, r.wo} {
				for _, z := range zones {
					b.WriteString(n.Addr + " " + z + "\n" + rrStrings(axfr(t, n, z)) + "\n")
				}
			}
			return b.String()
		},
	})
}

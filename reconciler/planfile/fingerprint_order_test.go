package planfile

import (
	"testing"

	"github.com/tether-dev/tether/schema"
)

// TestFingerprintIsDigestOfObjects: the fleet's fingerprint, made beside the object
// map from the objects sorted by address, is the digest of that map's lines in
// address order, whatever the fleet's size (one stretch of work or many).
func TestFingerprintIsDigestOfObjects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fleet *schema.Fleet
	}{
		{"nil", nil},
		{"empty", &schema.Fleet{}},
		{"small", benchFleet(30)},
		{"many stretches", benchFleet(5_000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs, err := Fingerprint(tc.fleet)
			if err != nil {
				t.Fatal(err)
			}
			if want := digestObjects(obs.Objects); obs.Fingerprint != want {
				t.Errorf("fingerprint %s, digest of its objects %s", obs.Fingerprint, want)
			}
			if tc.fleet != nil {
				n := len(tc.fleet.Nodes) + len(tc.fleet.Accounts) + len(tc.fleet.Resellers)
				for _, c := range tc.fleet.DNSClusters {
					n += 1 + len(c.Members)
				}
				if len(obs.Objects) != n {
					t.Errorf("%d objects digested, the fleet has %d", len(obs.Objects), n)
				}
			}
		})
	}
}

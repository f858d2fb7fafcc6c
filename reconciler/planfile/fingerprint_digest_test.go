package planfile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// TestFingerprintDigestsAreMarshal: each object's digest is the SHA-256 of its
// json.Marshal, as plans saved by earlier versions computed it, so a saved plan
// still checks against the fleet it was made from.
func TestFingerprintDigestsAreMarshal(t *testing.T) {
	f := benchFleet(300)
	// Strings encoding/json escapes, and an HTML character it escapes by default.
	f.Accounts["u000001"].ContactEmail = "a<b>&\"c\"@\u2028.example"
	obs, err := Fingerprint(f)
	if err != nil {
		t.Fatal(err)
	}
	digest := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:])
	}
	for _, tc := range []struct {
		addr string
		v    any
	}{
		{plan.AccountAddress("u000001"), f.Accounts["u000001"]},
		{plan.AccountAddress("u000002"), f.Accounts["u000002"]},
		{plan.ResellerAddress("u000000"), f.Resellers["u000000"]},
		{plan.NodeAddress("web001"), f.Nodes["web001"]},
		{plan.NodeAddress("mail001-1"), f.Nodes["mail001-1"]},
		{plan.MemberAddress("web001", "ns001-0"), f.DNSClusters["web001"].Members["ns001-0"]},
		{plan.ClusterAddress("web001"), schema.DNSCluster{Enabled: true}},
	} {
		if got, want := obs.Objects[tc.addr], digest(tc.v); got != want {
			t.Errorf("%s: digest %s, want %s (json.Marshal's)", tc.addr, got, want)
		}
	}
}

package reconciler

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/tether-dev/tether/reconciler/render"
	"github.com/tether-dev/tether/schema"
)

// FuzzDiff feeds Diff, CheckSafety and every render arbitrary pairs of fleets (nil
// entries, dangling references, children of children, members without hosts): they
// must never panic, and every plan must keep its invariants. `go test` runs the
// seeds; `go test -fuzz FuzzDiff ./reconciler/` explores.
func FuzzDiff(f *testing.F) {
	seeds := [][2]string{
		{`{}`, `{}`},
		{`{"nodes":{"web1":{"role":"parent"},"mail1":{"role":"child","parent":"web1"}},"accounts":{"a":{"parent":"web1","domain":"a.example","mail":{"node":"mail1"}}}}`,
			`{"nodes":{"web1":{"role":"parent"}},"accounts":{"a":{"parent":"web1","domain":"a.example","mail":{"node":"mail9"}},"b":null}}`},
		{`{"policy":{"prune":true},"nodes":{"web1":{"role":"parent"},"x":null},"resellers":{"r":{"parent":"web1","domain":"r.example","acls":[]}},"accounts":{"a":null}}`,
			`{"nodes":{"web1":{"role":"parent"},"c":{"role":"child","parent":"c"}},"resellers":{"r":null,"s":{"parent":"web1","owner":"s"}},"accounts":{"a":{"parent":"web1","owner":"r"}}}`},
		{`{"nodes":{"web1":{"role":"parent"}},"dnsClusters":{"web1":{"enabled":true,"failureThreshold":"never","members":{"m":null,"n":{"role":"sync"},"o":{"backend":"rfc2136","host":"o.","role":"write-only"}}}}}`,
			`{"nodes":{"web1":{"role":"parent"}},"dnsClusters":{"web1":{"enabled":false,"failureThreshold":0,"members":{"n":{"host":"N.","role":"standalone","disabled":true},"o.example":{"role":"sync","zones":{"needsResync":true,"outOfStep":["z"]}}}},"web9":null}}`},
	}
	seeds = append(seeds, [2]string{
		`{"nodes":{"c":{"role":"child"},"d":{"role":"child","parent":"c"}},"accounts":{"a":{"parent":""},"b":{"parent":"c"}},"resellers":{"r":{"parent":"zz"}}}`, `{}`})
	for _, s := range seeds {
		f.Add(s[0], s[1], "web1", true)
	}
	f.Fuzz(func(t *testing.T, desiredJSON, observedJSON, failed string, prune bool) {
		var desired, observed schema.Fleet
		if json.Unmarshal([]byte(desiredJSON), &desired) != nil || json.Unmarshal([]byte(observedJSON), &observed) != nil {
			return
		}
		inv := map[string]bool{}
		for user := range observed.Accounts {
			inv["account."+user] = true
		}
		for name := range observed.Nodes {
			inv["node."+name] = true
		}
		if prune && desired.Policy == nil {
			desired.Policy = &schema.Policy{Prune: true}
		}
		p := Diff(&desired, &observed, withProviders(DiffOptions{Inventory: inv, FailedScopes: map[string]bool{failed: true}}))
		checkPlanInvariants(t, p)
		_ = CheckSafety(p, &desired, &observed, SafetyOptions{})
		if err := render.Text(io.Discard, p, render.TextOptions{Color: true}); err != nil {
			t.Fatal(err)
		}
		if err := render.Markdown(io.Discard, p, render.MarkdownOptions{MaxBytes: 2000}); err != nil {
			t.Fatal(err)
		}
		var js bytes.Buffer
		if err := render.JSON(&js, p); err != nil {
			t.Fatal(err)
		}
		var back json.RawMessage
		if err := json.Unmarshal(js.Bytes(), &back); err != nil {
			t.Fatalf("the JSON render is not JSON: %v", err)
		}
	})
}

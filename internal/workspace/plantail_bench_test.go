package workspace

import (
	"fmt"
	"testing"

	"github.com/tether-dev/tether/internal/cputime"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/planfile"
	"github.com/tether-dev/tether/schema"
)

// BenchmarkPlanTail100k is what MakePlan runs after the observe of a 100k plan with
// nothing to change: the diff, and the observed fingerprint beside it. On two cores
// the sandbox is idle then, so its wall is the plan's last stretch; it reports the
// process's CPU per op too.
func BenchmarkPlanTail100k(b *testing.B) {
	desired := &schema.Fleet{Nodes: map[string]*schema.Node{}, Accounts: make(map[string]*schema.Account, 100_000)}
	observed := &schema.Fleet{Nodes: map[string]*schema.Node{}, Accounts: make(map[string]*schema.Account, 100_000)}
	for p := range 200 {
		parent := fmt.Sprintf("web%03d", p)
		n := &schema.Node{Role: schema.RoleParent, Host: parent + ".example.net", Version: 118, Profile: schema.ProfileStandard}
		desired.Nodes[parent], observed.Nodes[parent] = n, n
		for c := range 2 {
			child := fmt.Sprintf("mail%03d-%d", p, c)
			n := &schema.Node{Role: schema.RoleChild, Parent: parent, Version: 118, Services: []string{"mail"}}
			desired.Nodes[child], observed.Nodes[child] = n, n
		}
	}
	for i := range 100_000 {
		user := fmt.Sprintf("u%07d", i)
		a := &schema.Account{
			Parent: fmt.Sprintf("web%03d", i%200), Domain: user + ".example", Plan: "basic",
			ContactEmail: user + "@example.org", Features: map[string]bool{"apitokens": true},
		}
		if i%3 == 0 {
			a.Mail = &schema.MailPlacement{Node: fmt.Sprintf("mail%03d-%d", i%200, i%2)}
		}
		if i%5 == 0 {
			a.Forwarders = []schema.Forwarder{{From: "info", To: user + "@example.org"}}
		}
		o := *a
		desired.Accounts[user], observed.Accounts[user] = a, &o
	}
	opts := PlanOptions()
	b.ReportAllocs()
	b.ResetTimer()
	start := cputime.Self()
	for b.Loop() {
		done := make(chan error, 1)
		go func() {
			_, err := planfile.Fingerprint(observed)
			done <- err
		}()
		p := reconciler.Diff(desired, observed, opts)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if len(p.Changes) != 0 {
			b.Fatalf("%d changes, want none", len(p.Changes))
		}
	}
	b.ReportMetric(float64(cputime.Self()-start)/float64(b.N), "cpu-ns/op")
}

package reconciler

import (
	"fmt"
	"testing"

	"github.com/tether-dev/tether/internal/cputime"
	"github.com/tether-dev/tether/schema"
)

// bigFleets builds a fleet of n accounts over 10 parents with 2 mail children each,
// and an observed copy where about 1% differ: contact emails changed, accounts
// missing (to create), mail moved, and extra accounts on the servers (unmanaged).
func bigFleets(n int) (desired, observed *schema.Fleet) { return bigFleetsDiffering(n, true) }

// bigFleetsDiffering is bigFleets; without differ the servers hold exactly the
// fleet (a plan with nothing to change, as the 100k benchmark's).
func bigFleetsDiffering(n int, differ bool) (desired, observed *schema.Fleet) {
	desired = &schema.Fleet{Nodes: map[string]*schema.Node{}, Accounts: make(map[string]*schema.Account, n)}
	observed = &schema.Fleet{Nodes: map[string]*schema.Node{}, Accounts: make(map[string]*schema.Account, n)}
	for p := range 10 {
		parent := fmt.Sprintf("web%d", p)
		desired.Nodes[parent] = &schema.Node{Role: schema.RoleParent, Host: parent + ".example.net", Version: 118, Profile: schema.ProfileStandard}
		observed.Nodes[parent] = &schema.Node{Role: schema.RoleParent, Host: parent + ".example.net", Version: 118, Profile: schema.ProfileStandard}
		for c := range 2 {
			child := fmt.Sprintf("mail%d-%d", p, c)
			desired.Nodes[child] = &schema.Node{Role: schema.RoleChild, Parent: parent, Version: 118, Services: []string{"mail"}}
			observed.Nodes[child] = &schema.Node{Role: schema.RoleChild, Parent: parent, Version: 118, Services: []string{"mail"}}
		}
	}
	for i := range n {
		user := fmt.Sprintf("u%07d", i)
		parent := fmt.Sprintf("web%d", i%10)
		a := &schema.Account{
			Parent: parent, Domain: user + ".example", Plan: "basic",
			ContactEmail: user + "@example.org", Features: map[string]bool{"apitokens": true},
		}
		if i%3 == 0 {
			a.Mail = &schema.MailPlacement{Node: fmt.Sprintf("mail%d-%d", i%10, i%2)}
		}
		// One in five manages a forwarder, as in the 100k benchmark's fleet; the
		// servers hold it as written.
		if i%5 == 0 {
			a.Forwarders = []schema.Forwarder{{From: "info", To: user + "@example.org"}}
		}
		desired.Accounts[user] = a
		o := *a
		if a.Forwarders != nil {
			o.Forwarders = []schema.Forwarder{{From: "info", To: user + "@example.org"}}
		}
		k := i % 400
		if !differ {
			k = 0
		}
		switch k {
		case 1: // contact email changed behind Tether's back
			o.ContactEmail = "old-" + a.ContactEmail
		case 2: // not created yet
			continue
		case 3: // mail on the other child
			o.Mail = &schema.MailPlacement{Node: fmt.Sprintf("mail%d-%d", i%10, (i+1)%2)}
		case 4: // an account nobody declared
			observed.Accounts["x"+user] = &schema.Account{Parent: parent, Domain: "x" + user + ".example"}
		}
		observed.Accounts[user] = &o
	}
	return desired, observed
}

func BenchmarkDiff100k(b *testing.B) {
	desired, observed := bigFleets(100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p := Diff(desired, observed, withProviders(DiffOptions{}))
		if len(p.Changes) == 0 {
			b.Fatal("no changes found")
		}
	}
}

// BenchmarkDiff100kNoChanges is the diff of the 100k plan with nothing to change.
// Besides the wall time it reports the process's CPU time per diff (the collector's
// included), which a loaded machine does not inflate as it does the wall time.
func BenchmarkDiff100kNoChanges(b *testing.B) {
	desired, observed := bigFleetsDiffering(100_000, false)
	b.ReportAllocs()
	b.ResetTimer()
	start := cputime.Self()
	for b.Loop() {
		p := Diff(desired, observed, withProviders(DiffOptions{}))
		if len(p.Changes) != 0 {
			b.Fatalf("%d changes, want none", len(p.Changes))
		}
	}
	b.ReportMetric(float64(cputime.Self()-start)/float64(b.N), "cpu-ns/op")
}

// TestDiff100kFindsEveryDifference keeps the benchmark honest: the plan of the big
// fleet holds exactly the differences that were made.
func TestDiff100kFindsEveryDifference(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100k-account fleet")
	}
	desired, observed := bigFleets(100_000)
	p := Diff(desired, observed, withProviders(DiffOptions{}))
	// 250 of each kind of difference per 100k accounts.
	if p.Summary.Create != 250 || p.Summary.Change != 500 || p.Summary.Unmanaged != 250 || p.Summary.Remove != 0 {
		t.Errorf("summary %+v, want 250 to create, 500 to change, 250 unmanaged", p.Summary)
	}
}

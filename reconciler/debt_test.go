package reconciler

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tether-dev/tether/schema"
)

// TestLiveDebtSaysEachInNameOrder: over a fleet where every kind of account debt
// occurs (a signed zone on a clustered parent, dnssec the fleet writes otherwise,
// IPv6, apitokens off or a pipe on a distributed account) beside accounts with none,
// each account's warning is said, and the warnings come in account-name order, as
// when every account was visited in that order.
func TestLiveDebtSaysEachInNameOrder(t *testing.T) {
	b := newFleet().parent("web1").child("mail1", "web1")
	o := newFleet().parent("web1").child("mail1", "web1")
	o.f.DNSClusters = map[string]*schema.DNSCluster{"web1": {Enabled: true}}
	want := map[string]string{} // user → what its warning says
	for i := range 60 {
		// Names whose map order is not their sorted order.
		user := fmt.Sprintf("u%02d", (i*37)%60)
		mail := ""
		if i%5 >= 2 {
			mail = "mail1"
		}
		b.account(user, "web1", mail)
		o.account(user, "web1", mail)
		da, oa := b.f.Accounts[user], o.f.Accounts[user]
		da.Features, oa.Features = map[string]bool{"apitokens": true}, map[string]bool{"apitokens": true}
		switch i % 5 {
		case 0:
			oa.DNSSEC = true
			want[user] = "is signed with DNSSEC"
		case 1:
			da.DNSSEC = true
			da.Src.Set("dnssec", schema.Pos{File: "fleet.yaml", Line: 1, Col: 1})
			want[user] = "Tether checks DNSSEC"
		case 2:
			oa.IPv6 = true
			want[user] = "IPv6 is on while its mail"
		case 3:
			oa.Features["apitokens"] = false
			want[user] = "apitokens feature is off"
		case 4:
			if i%10 == 4 {
				oa.Forwarders = []schema.Forwarder{{From: "info", To: "|/usr/bin/x"}}
				want[user] = "pipe to a program"
			}
		}
	}
	p := Diff(b.f, o.f, DiffOptions{})
	var order []string
	for _, w := range p.Warnings {
		for user, what := range want {
			if strings.Contains(w, "account "+user+" ") || strings.Contains(w, "account "+user+":") {
				if !strings.Contains(w, what) {
					t.Errorf("%s: warning %q does not say %q", user, w, what)
				}
				order = append(order, user)
			}
		}
	}
	if len(order) != len(want) {
		t.Errorf("%d account warnings for %d accounts with debt:\n%s", len(order), len(want), strings.Join(p.Warnings, "\n"))
	}
	if !slices.IsSorted(order) {
		t.Errorf("warnings not in account-name order: %v", order)
	}
}

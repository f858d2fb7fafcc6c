package whm

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// TestObserveCallsDoNotGrowPerAccount: a parent's accounts cost a fixed handful of
// calls plus one features call per FeatureBatch users and one forwarders batch per
// FeatureBatch distributed accounts, never one per account — counted by the sandbox
// serving it (sandbox.Calls), at two sizes.
func TestObserveCallsDoNotGrowPerAccount(t *testing.T) {
	const batch = 50 // FeatureBatch, small so a few hundred accounts span several
	fixedAt := map[int]int{}
	for _, n := range []int{150, 450} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := startSandbox(t, sandboxFleet())
			f.p.opts.FeatureBatch = batch
			ctx := context.Background()
			if err := f.p.Apply(ctx, &plan.Change{Address: "node.mail1", Action: plan.Link, After: sandboxFleet().Nodes["mail1"], Target: "web1"}); err != nil {
				t.Fatal(err)
			}
			// Every third account on mail1, every fiftieth a reseller with a limit of 20,
			// every second suspended: made through the API, one batch per kind.
			var create, resell, suspend []whmapi.BatchCommand
			distributed := 0
			for i := range n {
				u := fmt.Sprintf("user%05d", i)
				q := url.Values{"username": {u}, "domain": {u + ".example"}}
				if i%3 == 0 {
					q.Set("mail_node_alias", "mail1")
					distributed++
				}
				create = append(create, whmapi.BatchCommand{Function: "createacct", Params: q})
				if i%50 == 0 {
					resell = append(resell, whmapi.BatchCommand{Function: "setupreseller", Params: url.Values{"user": {u}}},
						whmapi.BatchCommand{Function: "setresellerlimits", Params: url.Values{"user": {u}, "enable_account_limit": {"1"}, "account_limit": {"20"}}})
				}
				if i%2 == 1 {
					suspend = append(suspend, whmapi.BatchCommand{Function: "suspendacct", Params: url.Values{"user": {u}}})
				}
			}
			c, err := f.p.client("web1")
			if err != nil {
				t.Fatal(err)
			}
			for _, cmds := range [][]whmapi.BatchCommand{create, resell, suspend} {
				_, errs, err := c.Batch(ctx, cmds)
				if err == nil {
					err = errors.Join(errs...)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := f.sb.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			before := f.mark()
			got, err := f.p.Observe(ctx, "web1", nil)
			if err != nil {
				t.Fatal(err)
			}
			calls := len(f.callsSince(before))
			// One batch of version, profile, strengths, links, listaccts and
			// listresellers, the acctcounts batch, the cluster status page, each
			// child's batch: a fixed handful; then the features of every user,
			// FeatureBatch users a call and featureCallsPerBatch calls a request (one
			// call goes alone), and the forwarders of every distributed account,
			// FeatureBatch at a time.
			featureCalls := (n + batch - 1) / batch
			if featureCalls > 1 {
				featureCalls = (featureCalls + featureCallsPerBatch - 1) / featureCallsPerBatch
			}
			perBatch := featureCalls + (distributed+batch-1)/batch
			t.Logf("%d accounts: %d calls (%d per batch of users)", n, calls, perBatch)
			fixed := calls - perBatch
			fixedAt[n] = fixed
			if fixed < 3 || fixed > 12 {
				t.Errorf("%d calls for %d accounts: %d besides the %d batched ones, want a fixed handful", calls, n, fixed, perBatch)
			}
			if len(got.Resellers) != (n+49)/50 || got.Resellers["user00050"] == nil || got.Resellers["user00050"].Limits == nil ||
				got.Resellers["user00050"].Limits.Accounts == nil || *got.Resellers["user00050"].Limits.Accounts != 20 {
				t.Errorf("%d resellers; user00050 = %+v", len(got.Resellers), got.Resellers["user00050"])
			}
			if a := got.Accounts["user00003"]; a == nil || a.MailNode() != "mail1" || !a.Suspended || !a.Features["apitokens"] {
				t.Errorf("user00003 = %+v", a)
			}
		})
	}
	if fixedAt[150] != fixedAt[450] {
		t.Errorf("calls besides the batched ones: %d for 150 accounts, %d for 450: they grow with the accounts", fixedAt[150], fixedAt[450])
	}
}

// BenchmarkObserveSandbox10k observes a sandbox parent holding 10,000 accounts (a
// third on a linked child), created through the API before the timer starts.
// TETHER_BENCH_N changes the count. It runs only with -bench.
func BenchmarkObserveSandbox10k(b *testing.B) {
	n := 10000
	if s := os.Getenv("TETHER_BENCH_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	f := startSandbox(b, sandboxFleet())
	f.p.log = quiet
	ctx := context.Background()
	if err := f.p.Apply(ctx, &plan.Change{Address: "node.mail1", Action: plan.Link, After: sandboxFleet().Nodes["mail1"], Target: "web1"}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			mail := ""
			if i%3 == 0 {
				mail = "mail1"
			}
			u := fmt.Sprintf("u%05d", i)
			return f.p.Apply(gctx, &plan.Change{Address: "account." + u, Action: plan.Create, After: acct(u+".example", mail, nil), Target: "web1"})
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	b.Logf("created %d accounts in %s", n, time.Since(start).Round(time.Millisecond))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		got, err := f.p.Observe(ctx, "web1", f.desired)
		if err != nil {
			b.Fatal(err)
		}
		if len(got.Accounts) != n {
			b.Fatalf("%d accounts observed", len(got.Accounts))
		}
	}
}

// BenchmarkObserveParentOfBigFleet observes one parent holding 100 accounts under two
// desired fleets: its own 100 accounts (the anchor) and the same parent inside a fleet
// of 100,000 accounts on 1,000 parents. Each parent's observe must cost in proportion
// to its own accounts, so the two sub-benchmarks should be within noise of each other
// (before, every parent walked the whole fleet's accounts for their features).
func BenchmarkObserveParentOfBigFleet(b *testing.B) {
	const own, total, parents = 100, 100_000, 1000
	f := startSandbox(b, zoneFleet())
	p := f.p
	p.log = quiet
	cmds := make([]whmapi.BatchCommand, own)
	for i := range own {
		u := fmt.Sprintf("user%05d", i)
		cmds[i] = whmapi.BatchCommand{Function: "createacct", Params: url.Values{"username": {u}, "domain": {u + ".example"}}}
	}
	c, err := p.client("web1")
	if err != nil {
		b.Fatal(err)
	}
	if _, errs, err := c.Batch(context.Background(), cmds); err != nil || errors.Join(errs...) != nil {
		b.Fatal(err, errors.Join(errs...))
	}
	fleet := func(n int) *schema.Fleet {
		f := &schema.Fleet{Nodes: map[string]*schema.Node{}, Accounts: map[string]*schema.Account{}}
		for i := range parents {
			name := fmt.Sprintf("web%d", i+1)
			f.Nodes[name] = &schema.Node{Role: schema.RoleParent, Host: name + ".example.net"}
		}
		for i := range n {
			u, node := fmt.Sprintf("user%05d", i), "web1"
			if i >= own {
				u, node = fmt.Sprintf("other%06d", i), fmt.Sprintf("web%d", 2+i%(parents-1))
			}
			f.Accounts[u] = &schema.Account{Parent: node, Domain: u + ".example", Features: map[string]bool{"apitokens": true, "wp-toolkit": i%2 == 0}}
		}
		return f
	}
	for _, tc := range []struct {
		name    string
		desired *schema.Fleet
	}{{"fleet=own100", fleet(own)}, {"fleet=100k", fleet(total)}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				got, err := p.Observe(ctx, "web1", tc.desired)
				if err != nil {
					b.Fatal(err)
				}
				if len(got.Accounts)+len(got.Resellers) != own {
					b.Fatalf("%d accounts", len(got.Accounts)+len(got.Resellers))
				}
			}
		})
	}
}

// TestObserveOneRequestPerNode: a node that is not a parent (a linked child, a child
// not linked yet, a DNS-only node) is read in one request, the batch of its version,
// profile and password strengths, on one connection (one TLS handshake, counted by
// the sandbox); a parent's own settings and listings are one batch too.
func TestObserveOneRequestPerNode(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	ctx := context.Background()
	if err := f.p.Apply(ctx, &plan.Change{Address: "node.mail1", Action: plan.Link, After: sandboxFleet().Nodes["mail1"], Target: "web1"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := f.p.Apply(ctx, &plan.Change{Address: "account." + u, Action: plan.Create, After: acct(u+".example", "mail1", nil), Target: "web1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.sb.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	nodes := []string{"web1", "mail1", "mail2", "ns1"}
	conns := map[string]int64{}
	for _, n := range nodes {
		c, err := f.p.client(n)
		if err != nil {
			t.Fatal(err)
		}
		c.CloseIdleConnections() // as a new plan finds them
		conns[n] = f.sb.Traffic(n).Connections
	}
	const node = "batch:version+get_current_profile+getminimumpasswordstrengths"
	for _, tc := range []struct {
		scope string
		want  []string // requests, in any order
	}{
		{"ns1", []string{node}},
		// mail1 linked, mail2 declared but not linked: one batch each.
		{"web1", []string{
			node + "+list_linked_server_nodes+listaccts+listresellers", cgiClusterStatus + ":" + cgiClusterStatus,
			node, node, "get_users_features_settings:get_users_features_settings",
			"batch:uapi_cpanel Email::list_forwarders+uapi_cpanel Email::list_forwarders",
		}},
	} {
		before := f.mark()
		if _, err := f.p.Observe(ctx, tc.scope, f.desired); err != nil {
			t.Fatal(err)
		}
		got := f.callsSince(before)
		slices.Sort(got)
		slices.Sort(tc.want)
		if !slices.Equal(got, tc.want) {
			t.Errorf("observe %s made requests\n%v\nwant\n%v", tc.scope, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
	for _, n := range nodes {
		got := f.sb.Traffic(n).Connections - conns[n]
		t.Logf("%s: %d connection(s)", n, got)
		if n != "web1" && got != 1 {
			t.Errorf("%s: %d connections for its one request, want 1", n, got)
		}
	}
}

// TestObserveBatchRefused: a server that refuses batch itself is read call by call,
// with the same result; a read failing inside the batch names what it read.
func TestObserveBatchRefused(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	ctx := context.Background()
	want := f.observe(t)
	f.refuse(t, "web1", map[string]sandbox.Refusal{"batch": {Reason: "batch is not allowed"}})
	before := f.mark()
	got, err := f.p.Observe(ctx, "web1", f.desired)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Nodes["web1"], want.Nodes["web1"]) || len(got.Accounts) != len(want.Accounts) {
		t.Errorf("observed with batch refused: %+v, want %+v", got.Nodes["web1"], want.Nodes["web1"])
	}
	calls := f.callsSince(before)
	for _, fn := range []string{"version", "get_current_profile", "getminimumpasswordstrengths", "list_linked_server_nodes", "listaccts", "listresellers"} {
		if !slices.Contains(calls, fn+":"+fn) {
			t.Errorf("%s not called on its own after batch was refused: %v", fn, calls)
		}
	}

	f.refuse(t, "web1", map[string]sandbox.Refusal{"get_current_profile": {Reason: "The profile cannot be read."}})
	_, err = f.p.Observe(ctx, "web1", f.desired)
	if err == nil || !strings.Contains(err.Error(), "parent web1: profile:") || !strings.Contains(err.Error(), "The profile cannot be read.") {
		t.Errorf("err = %v, want the profile read named with the server's reason", err)
	}
}

// TestObserveFeaturesInOneBatch: a parent's several get_users_features_settings calls
// go in one batch request, with the same features read as call by call, which is
// how a server that refuses batch is read.
func TestObserveFeaturesInOneBatch(t *testing.T) {
	f := startSandbox(t, sandboxFleet())
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := f.p.Apply(ctx, &plan.Change{Address: "account." + u, Action: plan.Create, After: acct(u+".example", "", nil), Target: "web1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.sb.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	f.p.opts.FeatureBatch = 1 // a call per user
	features := func(got *schema.Fleet) map[string]map[string]bool {
		m := map[string]map[string]bool{}
		for u, a := range got.Accounts {
			m[u] = a.Features
		}
		return m
	}
	const batch, call = "batch:get_users_features_settings+get_users_features_settings+get_users_features_settings",
		"get_users_features_settings:get_users_features_settings"
	for _, tc := range []struct {
		name     string
		refuse   bool
		requests []string // those that read features, in order
	}{
		{"one batch", false, []string{batch}},
		// The refused batch, then the calls.
		{"batch refused", true, []string{batch, call, call, call}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.refuse {
				f.refuse(t, "web1", map[string]sandbox.Refusal{"batch": {Reason: "batch is not allowed"}})
				defer f.refuse(t, "web1", nil)
			}
			before := f.mark()
			got, err := f.p.Observe(ctx, "web1", f.desired)
			if err != nil {
				t.Fatal(err)
			}
			var reqs []string
			for _, c := range f.callsSince(before) {
				if strings.Contains(c, "get_users_features_settings") {
					reqs = append(reqs, c)
				}
			}
			if !slices.Equal(reqs, tc.requests) {
				t.Errorf("features read with\n%s\nwant\n%s", strings.Join(reqs, "\n"), strings.Join(tc.requests, "\n"))
			}
			want := map[string]map[string]bool{"alice": {"apitokens": true}, "bob": {"apitokens": true}, "carol": {"apitokens": true}}
			if g := features(got); !reflect.DeepEqual(g, want) {
				t.Errorf("features %v, want %v", g, want)
			}
		})
	}
}

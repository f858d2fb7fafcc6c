package whm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tether-dev/tether/internal/sandbox/dnscluster"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// bigParent serves a parent with n accounts (every third on mail1, every fiftieth a
// reseller), answering the calls Observe makes with bodies built once.
func bigParent(tb testing.TB, n int) (*httptest.Server, *int) {
	tb.Helper()
	accts := make([]map[string]any, n)
	var resellers []string
	for i := range n {
		u := fmt.Sprintf("user%05d", i)
		cn := []any{}
		if i%3 == 0 {
			cn = append(cn, map[string]any{"workload": "Mail", "alias": "mail1"})
		}
		owner := "root"
		if i%50 == 0 {
			resellers = append(resellers, u)
		} else if i%7 == 0 {
			owner = fmt.Sprintf("user%05d", i/50*50)
		}
		accts[i] = map[string]any{"user": u, "domain": u + ".example", "owner": owner, "plan": "default", "email": u + "@example.org",
			"suspended": fmt.Sprint(i % 2), "ipv6": []any{}, "child_nodes": cn, "ip": "192.0.2.10", "theme": "jupiter", "disklimit": "unlimited"}
	}
	env := func(fn string, data any) []byte {
		b, err := json.Marshal(map[string]any{"data": data, "metadata": map[string]any{"command": fn, "version": 1, "result": 1, "reason": "OK"}})
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	static := map[string][]byte{
		"version":                     env("version", map[string]any{"version": "11.118.0.5"}),
		"get_current_profile":         env("get_current_profile", map[string]any{"code": "STANDARD"}),
		"getminimumpasswordstrengths": env("getminimumpasswordstrengths", map[string]any{"default": 65, "virtual": "60"}),
		"list_linked_server_nodes": env("list_linked_server_nodes", map[string]any{"payload": []any{
			map[string]any{"alias": "mail1", "hostname": "mail1.example.net", "version": "11.118.0.5", "worker_capabilities": map[string]any{"Mail": map[string]any{}}}}}),
		"listaccts":     env("listaccts", map[string]any{"acct": accts}),
		"listresellers": env("listresellers", map[string]any{"reseller": resellers}),
	}
	calls := new(int)
	// Answers that depend on the query are built once per query, so the benchmark
	// measures the client more than the fake server.
	var mu sync.Mutex
	cache := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*calls++
		cached, hit := cache[r.URL.RawQuery+r.URL.Path]
		mu.Unlock()
		fn := strings.TrimPrefix(r.URL.Path, "/json-api/")
		if b, ok := static[fn]; ok {
			w.Write(b)
			return
		}
		if hit {
			w.Write(cached)
			return
		}
		rec, orig := httptest.NewRecorder(), w
		defer func() {
			mu.Lock()
			cache[r.URL.RawQuery+r.URL.Path] = rec.Body.Bytes()
			mu.Unlock()
			orig.Write(rec.Body.Bytes())
		}()
		w = rec
		q := r.URL.Query()
		switch fn {
		case "batch":
			var res []any
			for _, c := range q["command"] {
				if strings.HasPrefix(c, "uapi_cpanel?") {
					// A distributed account's forwarders: none (the shape of the
					// reference's uapi_cpanel and Email::list_forwarders pages).
					res = append(res, map[string]any{"data": map[string]any{"uapi": map[string]any{"data": []any{}, "errors": nil, "messages": nil,
						"metadata": map[string]any{"transformed": 1}, "status": 1, "warnings": nil}},
						"metadata": map[string]any{"command": "uapi_cpanel", "version": 1, "result": 1, "reason": "OK"}})
					continue
				}
				u := strings.TrimPrefix(c, "acctcounts?user=")
				res = append(res, map[string]any{"data": map[string]any{"reseller": map[string]any{"user": u, "limit": "20"}},
					"metadata": map[string]any{"command": "acctcounts", "version": 1, "result": 1, "reason": "OK"}})
			}
			w.Write(env("batch", map[string]any{"result": res}))
		case "get_users_features_settings":
			var out []any
			for _, u := range q["user"] {
				out = append(out, map[string]any{"user": u, "feature": q.Get("feature"), "feature_list": "default", "feature_list_setting": "1", "cpuser_setting": nil})
			}
			w.Write(env(fn, map[string]any{"users_features_settings": out}))
		case cgiClusterStatus:
			w.Write([]byte(dnscluster.RenderStatus(dnscluster.DefaultConfig(), nil, "root")))
		default:
			http.NotFound(w, r)
		}
	}))
	tb.Cleanup(srv.Close)
	return srv, calls
}

// BenchmarkObserve10k observes a parent with 10,000 accounts over loopback HTTP.
func BenchmarkObserve10k(b *testing.B) {
	srv, calls := bigParent(b, 10000)
	p, err := New(providers.Config{Endpoints: map[string]providers.Endpoint{"web1": {URL: srv.URL, User: "root", Token: "bench-token-0123456789"}}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	desired := &schema.Fleet{Nodes: map[string]*schema.Node{"web1": {Role: schema.RoleParent, Host: "web1.example.net"}}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f, err := p.Observe(ctx, "web1", desired)
		if err != nil {
			b.Fatal(err)
		}
		if len(f.Accounts)+len(f.Resellers) != 10000 {
			b.Fatalf("%d accounts, %d resellers", len(f.Accounts), len(f.Resellers))
		}
	}
	b.ReportMetric(float64(*calls)/float64(b.N), "calls/op")
}

// TestObserveCallsDoNotGrowPerAccount: 10k accounts cost a fixed handful of calls plus
// one features call per FeatureBatch users, never one per account.
func TestObserveCallsDoNotGrowPerAccount(t *testing.T) {
	srv, calls := bigParent(t, 10000)
	p, _ := New(providers.Config{Endpoints: map[string]providers.Endpoint{"web1": {URL: srv.URL, User: "root", Token: "bench-token-0123456789"}}}, Options{})
	f, err := p.Observe(context.Background(), "web1", nil)
	if err != nil {
		t.Fatal(err)
	}
	// version, profile, strengths, links, listaccts, listresellers, batch, status,
	// 10000/200 = 50 feature calls, and the forwarders of the 3,334 distributed
	// accounts (TETHER-L09 on the servers) in batches of 200: 17.
	if *calls != 8+50+17 {
		t.Errorf("%d calls for 10k accounts, want 75", *calls)
	}
	if len(f.Resellers) != 200 || f.Resellers["user00050"].Limits.Accounts == nil || *f.Resellers["user00050"].Limits.Accounts != 20 {
		t.Errorf("%d resellers; user00050 = %+v", len(f.Resellers), f.Resellers["user00050"])
	}
	if a := f.Accounts["user00003"]; a == nil || a.MailNode() != "mail1" || !a.Suspended || !a.Features["apitokens"] {
		t.Errorf("user00003 = %+v", a)
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
	srv, _ := bigParent(b, own)
	p, err := New(providers.Config{Endpoints: map[string]providers.Endpoint{"web1": {URL: srv.URL, User: "root", Token: "bench-token-0123456789"}}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	p.log = quiet
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

package workspace_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tether-dev/tether/internal/etcdtest"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/shard"
	"github.com/tether-dev/tether/internal/workspace"
	"github.com/tether-dev/tether/schema"
)

// smallFleet is n parents with one account each.
func smallFleet(n int) string {
	var b strings.Builder
	b.WriteString("nodes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  p%04d:\n    role: parent\n    host: p%04d.example.net\n    version: 118\n    credentials: {user: root, tokenEnv: P%04d_TOKEN}\n", i, i, i)
	}
	b.WriteString("accounts:\n")
	for i := range n {
		fmt.Fprintf(&b, "  u%04d:\n    parent: p%04d\n    domain: u%04d.example\n    plan: basic\n    contactEmail: u%04d@example.org\n", i, i, i, i)
	}
	return b.String()
}

// etcdRequests is the number of gRPC requests etcd has handled, from its /metrics.
func etcdRequests(tb testing.TB, endpoint string) float64 {
	tb.Helper()
	resp, err := http.Get("http://" + endpoint + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		// Unary calls (Range, Txn, Put, LeaseGrant…) count once each; a stream (Watch,
		// LeaseKeepAlive) counts when it ends, its messages under grpc_server_msg_received.
		if strings.HasPrefix(line, "grpc_server_msg_received_total{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

type benchReplica struct {
	id     string
	client *clientv3.Client
	rep    *shard.Replica
	d      *workspace.Daemon
}

// BenchmarkReplicas1000 is 1,000 small parents on the sandbox divided by three
// replicas on one real etcd: how long until every parent is owned, the first apply,
// a steady reconcile and its etcd requests, and how long the two others take to own
// a killed replica's parents (its client closed without revoking its lease, as
// SIGKILL leaves it). It prints the takeover time.
//
//	go test -run '^$' -bench Replicas1000 -benchtime 1x ./internal/workspace
func BenchmarkReplicas1000(b *testing.B) {
	n := 1000
	if v := os.Getenv("TETHER_BENCH_PARENTS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	const ttl = 5 * time.Second
	// A thousand servers, each a listener in the sandbox and a few connections in
	// each daemon, pass the usual soft limit of 1,024 descriptors; package os has
	// raised the soft limit to the hard one at start since Go 1.19, so nothing to do.
	for range b.N {
		srv := etcdtest.Start(b)
		dir := b.TempDir()
		fleetDir := filepath.Join(dir, "fleet")
		os.MkdirAll(fleetDir, 0o755)
		if err := os.WriteFile(filepath.Join(fleetDir, "fleet.yaml"), []byte(smallFleet(n)), 0o644); err != nil {
			b.Fatal(err)
		}
		fleet, ds, err := schema.Load(fleetDir)
		if err != nil || len(ds) > 0 {
			b.Fatalf("fleet: %v %v", err, ds)
		}
		sb := filepath.Join(dir, "sandbox")
		t0 := time.Now()
		sbx, err := sandbox.Start(context.Background(), sandbox.Options{StateDir: sb, Fleet: fleet, PlainHTTP: true,
			TaskDelay: 5 * time.Millisecond, FlushInterval: 200 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		defer sbx.Close()
		sandbox.WritePID(sb)
		b.Logf("sandbox with %d nodes up in %s", n, time.Since(t0).Round(time.Millisecond))
		stateURL := fmt.Sprintf("etcd://%s/tether?ttl=%d", srv.Endpoint, int(ttl/time.Second))
		units := workspace.Units(fleet)

		// Three replicas, each with its own etcd client, as three processes would be.
		var reps []*benchReplica
		start := time.Now()
		for _, id := range []string{"r1", "r2", "r3"} {
			c, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				b.Fatal(err)
			}
			rep, err := shard.Join(context.Background(), shard.Options{Client: c, Prefix: "tether", ID: id, TTL: ttl})
			if err != nil {
				b.Fatal(err)
			}
			d := workspace.NewDaemon(workspace.DaemonOptions{Path: "fleet", Sandbox: true, SandboxState: sb, StateURL: stateURL,
				StateDir: filepath.Join(dir, id), Replica: rep,
				Session: func(o *session.Options) { o.SandboxOptions.TaskDelay = 5 * time.Millisecond }})
			defer d.Close()
			reps = append(reps, &benchReplica{id: id, client: c, rep: rep, d: d})
		}
		var wg sync.WaitGroup
		for _, r := range reps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := r.rep.Sync(context.Background(), units); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		obs := reps[0].client
		waitAll := func(live map[string]bool, d time.Duration) {
			deadline := time.Now().Add(d)
			for {
				a, err := shard.Read(context.Background(), obs, "tether")
				if err != nil {
					b.Fatal(err)
				}
				ok := len(a.Owners) == len(units)
				for _, o := range a.Owners {
					ok = ok && live[o]
				}
				if ok {
					return
				}
				if time.Now().After(deadline) {
					b.Fatalf("not every parent owned by %v within %s", live, d)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		waitAll(map[string]bool{"r1": true, "r2": true, "r3": true}, time.Minute)
		owned := time.Since(start)

		reconcileAll := func(rs []*benchReplica) time.Duration {
			s := time.Now()
			var wg sync.WaitGroup
			for _, r := range rs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out, err := r.d.Reconcile(context.Background(), fleetDir, "bench", true)
					if err != nil || out.Failed > 0 || len(out.Problems) > 0 {
						b.Errorf("%s: %v (failed %d, problems %v)", r.id, err, out.Failed, out.Problems)
					}
				}()
			}
			wg.Wait()
			return time.Since(s)
		}
		before := etcdRequests(b, srv.Endpoint)
		fds := func(stage string) {
			if es, err := os.ReadDir("/proc/self/fd"); err == nil {
				b.Logf("%s: %d open descriptors", stage, len(es))
			}
		}
		fds("before the first apply")
		first := reconcileAll(reps)
		fds("after the first apply")
		perChange := (etcdRequests(b, srv.Endpoint) - before) / float64(n)
		before = etcdRequests(b, srv.Endpoint)
		steady := reconcileAll(reps)
		perReconcile := (etcdRequests(b, srv.Endpoint) - before) / float64(len(reps))

		// Sessions are reopened by the next reconcile; closing them here keeps the
		// process under its descriptor limit while the anchor connects to every server.
		for _, r := range reps {
			r.d.Close()
		}
		// The anchor, in the same run: one daemon on a folder store reconciling the
		// whole converged fleet, as before replicas.
		one := workspace.NewDaemon(workspace.DaemonOptions{Path: "fleet", Sandbox: true, SandboxState: sb,
			StateDir: filepath.Join(dir, "one"), StateURL: filepath.Join(dir, "one-state"),
			Session: func(o *session.Options) { o.SandboxOptions.TaskDelay = 5 * time.Millisecond }})
		defer one.Close()
		s1 := time.Now()
		if out, err := one.Reconcile(context.Background(), fleetDir, "bench", true); err != nil || out.Changes > 0 {
			b.Fatalf("one daemon: %v, %d changes", err, out.Changes)
		}
		single := time.Since(s1)
		fds("after the one-daemon anchor")
		one.Close()
		fds("after closing it")

		// r3 dies: its client goes, its lease is left to expire.
		victim := reps[2]
		lost := len(victim.rep.Owned())
		kill := time.Now()
		victim.client.Close()
		victim.d.Close() // its connections to the servers die with it too
		waitAll(map[string]bool{"r1": true, "r2": true}, 4*ttl)
		takeover := time.Since(kill)
		fds("after the takeover")
		after := reconcileAll(reps[:2])
		fds("after the survivors' reconcile")

		for _, r := range reps[:2] {
			r.rep.Close()
			r.client.Close()
		}
		b.ReportMetric(owned.Seconds(), "s-all-owned")
		b.ReportMetric(first.Seconds(), "s-first-apply")
		b.ReportMetric(steady.Seconds(), "s-steady-reconcile")
		b.ReportMetric(perReconcile, "etcd-req/reconcile")
		b.ReportMetric(perReconcile/float64(n/3), "etcd-req/parent")
		b.ReportMetric(takeover.Seconds(), "s-takeover")
		b.ReportMetric(perChange, "etcd-req/change")
		b.ReportMetric(single.Seconds(), "s-one-daemon-reconcile")
		fmt.Printf("replicas: %d parents, 3 replicas, TTL %s: all owned %s; first apply %s (%.1f etcd requests per change); steady reconcile %s (one daemon, whole fleet, same run: %s, ratio %.2f), %.0f etcd requests per replica reconcile (%.2f per owned parent); killed replica's %d parents owned again after %s (takeover/TTL %.2f); survivors' reconcile %s\n",
			n, ttl, owned.Round(time.Millisecond), first.Round(time.Millisecond), perChange, steady.Round(time.Millisecond), single.Round(time.Millisecond), steady.Seconds()/single.Seconds(),
			perReconcile, perReconcile/float64(n/3), lost, takeover.Round(time.Millisecond), takeover.Seconds()/ttl.Seconds(), after.Round(time.Millisecond))
	}
}

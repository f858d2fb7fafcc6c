package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

// benchFleet is a sandbox of parents with accounts spread evenly over them, made once
// per benchmark run: the nodes-only fleet an operator starts an import from, and the
// sandbox state folder holding the accounts.
type benchFleet struct {
	dir, nodes, state string
	parents, accounts int
}

// newBenchFleet writes a fleet of parents (nodes only) and creates accounts on the
// sandbox through its WHM API (createacct, 32 at once), then closes the sandbox so
// the command under test opens the state as a user's later run would.
// TETHER_BENCH_N changes the account count (default 10,000).
func newBenchFleet(b *testing.B, parents int) *benchFleet {
	b.Helper()
	accounts := 10000
	if s := os.Getenv("TETHER_BENCH_N"); s != "" {
		accounts, _ = strconv.Atoi(s)
	}
	dir := b.TempDir()
	bf := &benchFleet{dir: dir, nodes: filepath.Join(dir, "nodes"), state: filepath.Join(dir, "sandbox"), parents: parents, accounts: accounts}
	var y strings.Builder
	y.WriteString("nodes:\n")
	for p := range parents {
		name := fmt.Sprintf("web%02d", p)
		fmt.Fprintf(&y, "  %s:\n    role: parent\n    host: %s.example.net\n    ipv4: 192.0.2.%d\n    version: 118\n    profile: STANDARD\n    credentials: {user: root, tokenEnv: %s_WHM_TOKEN}\n",
			name, name, 10+p, strings.ToUpper(name))
	}
	if err := os.MkdirAll(bf.nodes, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bf.nodes, "nodes.yaml"), []byte(y.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	fleet, ds, err := schema.Load(bf.nodes)
	if err != nil || len(ds) > 0 {
		b.Fatalf("nodes fleet: %v %v", err, ds)
	}
	sb, err := sandbox.Start(context.Background(), sandbox.Options{StateDir: bf.state, Fleet: fleet, FlushInterval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	all := sb.Endpoints()
	eps := all.Nodes
	client := all.HTTPClient(0)
	var g errgroup.Group
	g.SetLimit(32)
	for i := range accounts {
		parent := fmt.Sprintf("web%02d", i%parents)
		ep := eps[parent]
		user := fmt.Sprintf("u%06d", i)
		g.Go(func() error {
			form := url.Values{"api.version": {"1"}, "username": {user}, "domain": {user + ".example"}, "contactemail": {"ops@example.org"}}
			req, err := http.NewRequest(http.MethodPost, ep.WHM+"/json-api/createacct", strings.NewReader(form.Encode()))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "whm "+ep.User+":"+ep.Token)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if !bytes.Contains(body.Bytes(), []byte(`"result":1`)) {
				return fmt.Errorf("createacct %s on %s: %s", user, parent, body.String())
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	client.CloseIdleConnections()
	if err := sb.Close(); err != nil {
		b.Fatal(err)
	}
	return bf
}

// runBench runs one tether command in-process and fails the benchmark on exit codes
// other than want.
func runBench(b *testing.B, want int, args ...string) result {
	b.Helper()
	root := newRoot(testCLI())
	root.SetArgs(normaliseFlags(root, args))
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	r := result{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		r.code = 1
		if ee, ok := err.(exitError); ok {
			r.code = ee.code
		}
	}
	if r.code != want {
		b.Fatalf("tether %s: exit %d, want %d (err %v)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, err, tail(r.stdout), tail(r.stderr))
	}
	return r
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// heapPeak samples the Go heap (objects and what the runtime keeps for them) while
// fn runs and returns the highest value seen and the value before fn, in MB. The
// sandbox runs in the same process, so this is Tether and the simulated servers
// together; the difference is what the command added.
func heapPeak(fn func()) (peakMB, beforeMB float64) {
	read := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64() + s[1].Value.Uint64()
	}
	runtime.GC()
	before := read()
	var peak atomic.Uint64
	peak.Store(before)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v := read(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	if v := read(); v > peak.Load() {
		peak.Store(v)
	}
	return float64(peak.Load()) / (1 << 20), float64(before) / (1 << 20)
}

// BenchmarkImportSandbox10k imports a sandbox holding 10,000 accounts across 10
// parents with `tether import --sandbox` (observe every parent, build the fleet,
// write YAML split by parent, validate it), then plans the imported fleet against
// the same sandbox with `tether plan --sandbox`, which must report no changes. It
// reports each command's time and heap peak. Runs only with -bench.
func BenchmarkImportSandbox10k(b *testing.B) {
	bf := newBenchFleet(b, 10)
	b.ResetTimer()
	for i := range b.N {
		out := filepath.Join(bf.dir, fmt.Sprintf("imported%d", i))
		var r result
		start := time.Now()
		peak, before := heapPeak(func() {
			r = runBench(b, 0, "import", bf.nodes, "--sandbox", "--sandbox-state", bf.state, "--out", out, "--split-by", "parent")
		})
		el := time.Since(start)
		want := fmt.Sprintf("%d accounts", bf.accounts)
		if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "The imported fleet is valid") {
			b.Fatalf("import: want %q and a valid fleet:\n%s", want, tail(r.stdout))
		}
		if os.Getenv("TETHER_BENCH_VERBOSE") != "" {
			b.Logf("import:\n%s\n%s", tail(r.stdout), tail(r.stderr))
		}
		b.ReportMetric(el.Seconds(), "s/import")
		// The command's own figure: observe, build and write, without the sandbox's
		// start and the closing validate.
		if _, rest, ok := strings.Cut(r.stdout, " DNS cluster"); ok {
			if _, rest, ok = strings.Cut(rest, " in "); ok {
				if d, err := time.ParseDuration(strings.Fields(rest)[0]); err == nil {
					b.ReportMetric(d.Seconds(), "s/read+write")
				}
			}
		}
		b.ReportMetric(peak, "import-peak-heap-MB")
		b.ReportMetric(before, "heap-before-MB")
		b.ReportMetric(float64(el.Microseconds())/float64(bf.accounts), "µs/account")

		start = time.Now()
		peak, _ = heapPeak(func() {
			r = runBench(b, 0, "plan", "--detailed-exitcode", out, "--sandbox", "--sandbox-state", bf.state)
		})
		if !strings.Contains(r.stdout, "No changes.") {
			b.Fatalf("plan of the imported fleet:\n%s", tail(r.stdout))
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/plan")
		b.ReportMetric(peak, "plan-peak-heap-MB")
	}
}

// BenchmarkObserveSandbox10Parents observes 10 sandbox parents holding 10,000
// accounts between them (TETHER_BENCH_N) with engine.Observe at the default
// parallelism, through the session plan and import open: the sandbox's own start is
// outside the timer, so this is the WHM reads, their decoding and the merge. It
// reports the time and the heap peak (the in-process sandbox included).
func BenchmarkObserveSandbox10Parents(b *testing.B) {
	bf := newBenchFleet(b, 10)
	declared, ds, err := schema.Load(bf.nodes)
	if err != nil || len(ds) > 0 {
		b.Fatalf("%v %v", err, ds)
	}
	sess, err := session.Open(context.Background(), declared, session.Options{FleetPath: bf.nodes, Sandbox: true, SandboxState: bf.state})
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	var provs []providers.Provider
	for _, name := range providers.Names() {
		provs = append(provs, sess.Providers[name])
	}
	b.ResetTimer()
	for range b.N {
		var observed *schema.Fleet
		var errs []error
		start := time.Now()
		peak, before := heapPeak(func() {
			observed, errs = engine.Observe(context.Background(), provs, declared, engine.DefaultApplyParallelism)
		})
		el := time.Since(start)
		if len(errs) > 0 || len(observed.Accounts) != bf.accounts {
			b.Fatalf("observed %d accounts, errors %v", len(observed.Accounts), errs)
		}
		b.ReportMetric(el.Seconds(), "s/observe")
		b.ReportMetric(peak, "peak-heap-MB")
		b.ReportMetric(before, "heap-before-MB")
		b.ReportMetric(float64(el.Microseconds())/float64(bf.accounts), "µs/account")
	}
}

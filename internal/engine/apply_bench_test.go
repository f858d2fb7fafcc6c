package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/cputime"
	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/etcdtest"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm"
	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// BenchmarkApplySandbox10kCreates applies 10,000 account creations to one sandbox
// parent that adds 20 ms to every WHM call, at parallelism 64, and reports the time
// against the ideal 10,000 × 20 ms ÷ 64 = 3.125 s (one call per creation: createacct
// and its read back in one batch). The calls are counted twice, by the client (every
// call the provider made) and by the server (every batch it served, so a retried
// request would count), and the ideal is taken from the larger: x-ideal-for-calls
// compares with calls × 20 ms ÷ 64. The sandbox runs in this process, on the same
// cores: cpu-µs/change is this process's CPU (Tether's and the sandbox's), the figure
// that does not move with the machine's load; conns and peak-in-flight say whether
// the calls reused their connections and whether par of them reached the server at
// once. The sandbox flushes its state every 10 s, as scripts/bench's does (a
// whole-server write that grows with its accounts: a real WHM spends no CPU of the
// machine Tether runs on). TETHER_BENCH_N changes the count. It runs only with -bench.
func BenchmarkApplySandbox10kCreates(b *testing.B) {
	n := 10000
	if s := os.Getenv("TETHER_BENCH_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	const latency = 20 * time.Millisecond
	const par = 64
	fleet := &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1": {Role: schema.RoleParent, Host: "web1.example.net", Version: 118, Profile: schema.ProfileStandard},
	}}
	sb, err := sandbox.Start(context.Background(), sandbox.Options{StateDir: b.TempDir(), Fleet: fleet,
		Faults: map[string]sandbox.Faults{"web1": {Latency: latency}}, FlushInterval: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	ep := sb.Endpoints().Nodes["web1"]
	var calls atomic.Int64
	prov, err := whm.New(providers.Config{Endpoints: map[string]providers.Endpoint{
		"web1": ep.ProviderEndpoint(),
	}}, whm.Options{Client: whmapi.Options{OnCall: func(string, url.Values) { calls.Add(1) }}})
	if err != nil {
		b.Fatal(err)
	}
	provs := map[string]providers.Provider{"whm": prov}
	creations := func(prefix string, count int) *plan.Plan {
		p := &plan.Plan{FormatVersion: plan.FormatVersion}
		for i := range count {
			user := fmt.Sprintf("%s%d", prefix, i)
			p.Changes = append(p.Changes, &plan.Change{
				ID: "account." + user + "/create", Address: "account." + user, Action: plan.Create,
				Provider: "whm", Target: "web1",
				After: &schema.Account{Parent: "web1", Domain: user + ".example", ContactEmail: "ops@example.org"},
			})
		}
		return p
	}

	b.ResetTimer()
	var start time.Time
	for i := range b.N {
		p := creations(fmt.Sprintf("b%dx", i), n)
		calls.Store(0)
		served0 := sb.Calls("web1")["batch"]
		conns0 := sb.Traffic("web1").Connections
		// The ends of the run, from the engine's events: how long the engine took to
		// start its first change (the plan's graph, its order), how many changes
		// started within a call's time of the first (par if all start at once), and
		// how long the first par and the last par completions took (one call's time,
		// ideally, each).
		var startedFirst int
		done := make([]time.Time, 0, n)
		var firstStart, lastStart time.Time
		events := func(ev engine.Event) {
			switch ev.Kind {
			case engine.EventStart:
				lastStart = time.Now()
				if firstStart.IsZero() {
					firstStart = lastStart
				}
				if lastStart.Sub(firstStart) < latency {
					startedFirst++
				}
			case engine.EventDone:
				done = append(done, time.Now())
			}
		}
		cpu0 := cputime.Self()
		start = time.Now()
		res, err := engine.Apply(context.Background(), p, provs, engine.ApplyOptions{Parallelism: par, PerTarget: par, Events: events})
		if err != nil {
			b.Fatal(err)
		}
		if res.Done != n {
			b.Fatalf("%d of %d done", res.Done, n)
		}
		el := time.Since(start)
		cpu := cputime.Self() - cpu0
		made := max(calls.Load(), int64(sb.Calls("web1")["batch"]-served0))
		ideal := time.Duration(n) * latency / par
		forCalls := time.Duration(made) * latency / par
		b.ReportMetric(el.Seconds(), "s/apply")
		b.ReportMetric(ideal.Seconds(), "s-ideal")
		b.ReportMetric(float64(n)/el.Seconds(), "changes/s")
		b.ReportMetric(float64(made)/float64(n), "calls/change")
		b.ReportMetric(el.Seconds()/forCalls.Seconds(), "x-ideal-for-calls")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/change")
		b.ReportMetric(float64(firstStart.Sub(start).Milliseconds()), "ms-to-first-start")
		b.ReportMetric(float64(startedFirst), "started-first-call")
		b.ReportMetric(float64(done[min(par, n)-1].Sub(start).Milliseconds()), "ms-first-par-done")
		b.ReportMetric(float64(done[n-1].Sub(done[max(n-par, 0)]).Milliseconds()), "ms-last-par-done")
		b.ReportMetric(float64(done[n-1].Sub(lastStart).Milliseconds()), "ms-last-start-to-end")
		tr := sb.Traffic("web1")
		b.ReportMetric(float64(tr.Connections-conns0), "conns")
		b.ReportMetric(float64(tr.PeakInFlight["/json-api/batch"]), "peak-in-flight")
	}
}

// sleeper is a provider whose every change takes a fixed time, like a server with
// that latency and infinite capacity: what is left is the engine's own cost.
type sleeper struct{ d time.Duration }

func (s sleeper) Name() string                         { return "whm" }
func (s sleeper) Capabilities() providers.Capabilities { return nil }
func (s sleeper) Scopes(*schema.Fleet) []string        { return nil }
func (s sleeper) Observe(context.Context, string, *schema.Fleet) (*schema.Fleet, error) {
	return nil, nil
}
func (s sleeper) Apply(context.Context, *plan.Change) error { time.Sleep(s.d); return nil }

// BenchmarkApplyEngine10k runs 10,000 creations of 20 ms each at parallelism 64, with
// the folder state recording the journal and the inventory: the ideal is 3.125 s.
func BenchmarkApplyEngine10k(b *testing.B) {
	const n, latency, par = 10000, 20 * time.Millisecond, 64
	p := &plan.Plan{FormatVersion: plan.FormatVersion, Source: plan.Source{Path: "/bench"}}
	for i := range n {
		user := fmt.Sprintf("u%d", i)
		p.Changes = append(p.Changes, &plan.Change{ID: "account." + user + "/create", Address: "account." + user,
			Action: plan.Create, Provider: "whm", Target: "web1", Parent: "web1"})
	}
	provs := map[string]providers.Provider{"whm": sleeper{latency}}
	b.ResetTimer()
	for range b.N {
		st, err := state.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := engine.Apply(context.Background(), p, provs, engine.ApplyOptions{
			Parallelism: par, PerTarget: par, State: stateFor(st), Locks: []string{"web1"}})
		if err != nil || res.Done != n {
			b.Fatalf("%v, %d done", err, res.Done)
		}
		el := time.Since(start)
		b.ReportMetric(el.Seconds(), "s/apply")
		b.ReportMetric(el.Seconds()/(time.Duration(n)*latency/par).Seconds(), "x-ideal")
		st.Close()
	}
}

func stateFor(st *state.Folder) state.Store {
	if os.Getenv("TETHER_BENCH_NOSTATE") != "" {
		return nil
	}
	return st
}

// BenchmarkApplyEngine100kFlat applies 100,000 creations of 1 ms each at parallelism
// 64 with the state recording every step and the inventory, on no state (the
// anchor), the folder store and a real etcd, and compares the last 10,000 changes
// with the first 10,000: throughput (last/first, 1.0 is flat, the target ≥ 0.8) and,
// since wall time on a shared machine moves with the load, CPU per change
// (cpu-last/first: the process's CPU, etcd's own included; 1.0 is flat, ≤ 1.25 is the
// same target). The state's costs must grow with the changes, not with what it
// already holds. TETHER_BENCH_N changes the count (the window stays a tenth, at most
// 10,000).
func BenchmarkApplyEngine100kFlat(b *testing.B) {
	n := 100_000
	if s := os.Getenv("TETHER_BENCH_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	window := min(10_000, n/10)
	const latency, par = time.Millisecond, 64
	p := &plan.Plan{FormatVersion: plan.FormatVersion, Source: plan.Source{Path: "/bench"}}
	for i := range n {
		user := fmt.Sprintf("u%06d", i)
		target := fmt.Sprintf("web%03d", i%200)
		p.Changes = append(p.Changes, &plan.Change{ID: "account." + user + "/create", Address: "account." + user,
			Action: plan.Create, Provider: "whm", Target: target, Parent: target})
	}
	// TETHER_BENCH_LOCKS locks fewer of the 200 parents (the etcd store compares
	// every lock held in each write; over 128 it checks the rest one round trip
	// before).
	nLocks := 200
	if s := os.Getenv("TETHER_BENCH_LOCKS"); s != "" {
		nLocks, _ = strconv.Atoi(s)
	}
	locks := make([]string, 0, nLocks)
	for i := range nLocks {
		locks = append(locks, fmt.Sprintf("web%03d", i))
	}
	stores := []struct {
		name string
		// open returns the store and the CPU time of any server process behind it.
		open func(b *testing.B) (state.Store, func() time.Duration)
	}{
		{"state=none", func(*testing.B) (state.Store, func() time.Duration) { return nil, nil }},
		{"state=folder", func(b *testing.B) (state.Store, func() time.Duration) {
			st, err := state.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return st, nil
		}},
		{"state=etcd", func(b *testing.B) (state.Store, func() time.Duration) {
			srv := etcdtest.Start(b)
			st, err := state.OpenURL(context.Background(), "etcd://"+srv.Endpoint+"/bench")
			if err != nil {
				b.Fatal(err)
			}
			return st, func() time.Duration { return procCPU(srv.PID()) }
		}},
	}
	for _, sc := range stores {
		b.Run(sc.name, func(b *testing.B) {
			for range b.N {
				st, server := sc.open(b)
				cpu := func() time.Duration {
					d := cputime.Self()
					if server != nil {
						d += server()
					}
					return d
				}
				done := make([]time.Time, 0, n)
				var cpuAt [4]time.Duration // at the 1st, window-th, (n-window+1)-th and n-th completion
				opts := engine.ApplyOptions{Parallelism: par, PerTarget: par, Events: func(ev engine.Event) {
					if ev.Kind != engine.EventDone {
						return
					}
					done = append(done, time.Now())
					switch len(done) {
					case 1:
						cpuAt[0] = cpu()
					case window:
						cpuAt[1] = cpu()
					case n - window + 1:
						cpuAt[2] = cpu()
					case n:
						cpuAt[3] = cpu()
					}
				}}
				if st != nil {
					opts.State, opts.Locks, opts.LockWait = st, locks, 10*time.Second
				}
				start := time.Now()
				res, err := engine.Apply(context.Background(), p, map[string]providers.Provider{"whm": sleeper{latency}}, opts)
				if err != nil {
					b.Fatal(err)
				}
				if res.Done != n {
					b.Fatalf("%d of %d done", res.Done, n)
				}
				el := time.Since(start)
				if st != nil {
					st.Close()
				}
				// Each window is timed from its first completion to its last, so the
				// locks and the journal's start are not counted against the first.
				first := float64(window-1) / done[window-1].Sub(done[0]).Seconds()
				last := float64(window-1) / done[n-1].Sub(done[n-window]).Seconds()
				cpuFirst := float64((cpuAt[1] - cpuAt[0]).Microseconds()) / float64(window-1)
				cpuLast := float64((cpuAt[3] - cpuAt[2]).Microseconds()) / float64(window-1)
				b.ReportMetric(el.Seconds(), "s/apply")
				b.ReportMetric(float64(n)/el.Seconds(), "changes/s")
				b.ReportMetric(first, "first-changes/s")
				b.ReportMetric(last, "last-changes/s")
				b.ReportMetric(last/first, "last/first")
				b.ReportMetric(cpuFirst, "first-cpu-µs/change")
				b.ReportMetric(cpuLast, "last-cpu-µs/change")
				b.ReportMetric(cpuLast/cpuFirst, "cpu-last/first")
			}
		})
	}
}

// procCPU is the CPU time process pid has used, from /proc (Linux; 0 elsewhere).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// BenchmarkApplyEngineUnevenParents applies 100,000 creations of 10 ms each (a
// provider that sleeps, no state: the engine's order is what is measured) at
// parallelism 64 and the default per-node bound of 4, on 200 parents of uneven size:
// ten hold half the changes (5,000 each), 190 share the rest (about 263 each). No
// order can beat the bound max(changes ÷ 64, 5,000 ÷ 4) × 10 ms (x-bound is the
// apply's time over it); one that gives every parent the same pace finishes the small
// ones first and leaves the ten large ones to drain at 4 each, 40 of the 64 slots.
// Windows are the first and the last tenth of the completions (at most 10,000), as
// in BenchmarkApplyEngine100kFlat; last/first is their throughputs' ratio (1.0 is
// flat, the target ≥ 0.8). TETHER_BENCH_N changes the count.
func BenchmarkApplyEngineUnevenParents(b *testing.B) {
	n := 100_000
	if s := os.Getenv("TETHER_BENCH_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	window := min(10_000, n/10)
	const latency, par, parents, large = 10 * time.Millisecond, 64, 200, 10
	p := &plan.Plan{FormatVersion: plan.FormatVersion, Source: plan.Source{Path: "/bench"}}
	perParent := make([]int, parents)
	for i := range n {
		// Of every 20 changes, 10 go to the ten large parents, one each, and 10 to the
		// next of the 190 small ones in turn.
		k := i % 20
		if k >= large {
			k = large + (i/20*(20-large)+k-large)%(parents-large)
		}
		perParent[k]++
		user := fmt.Sprintf("u%06d", i)
		target := fmt.Sprintf("web%03d", k)
		p.Changes = append(p.Changes, &plan.Change{ID: "account." + user + "/create", Address: "account." + user,
			Action: plan.Create, Provider: "whm", Target: target, Parent: target})
	}
	bound := time.Duration(max(n/par, slices.Max(perParent)/engine.DefaultPerTarget)) * latency
	for range b.N {
		done := make([]time.Time, 0, n)
		start := time.Now()
		res, err := engine.Apply(context.Background(), p, map[string]providers.Provider{"whm": sleeper{latency}},
			engine.ApplyOptions{Parallelism: par, Events: func(ev engine.Event) {
				if ev.Kind == engine.EventDone {
					done = append(done, time.Now())
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		if res.Done != n {
			b.Fatalf("%d of %d done", res.Done, n)
		}
		el := time.Since(start)
		first := float64(window-1) / done[window-1].Sub(done[0]).Seconds()
		last := float64(window-1) / done[n-1].Sub(done[n-window]).Seconds()
		b.ReportMetric(el.Seconds(), "s/apply")
		b.ReportMetric(el.Seconds()/bound.Seconds(), "x-bound")
		b.ReportMetric(first, "first-changes/s")
		b.ReportMetric(last, "last-changes/s")
		b.ReportMetric(last/first, "last/first")
	}
}

package rfc2136

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/bindtest"
	"github.com/tether-dev/tether/internal/cputime"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

// BenchmarkDNSPushVsNsupdate pushes the same change of 1,000 zones (every address of
// every zone moves) to a real named, first with BIND's own nsupdate (the anchor: one
// process reading a script, one UPDATE per zone, as an operator would script it),
// then with Tether's write-only push. Both send the same operations, one message per
// zone: the script is written from the operations Tether computes. Each Tether row
// reports NAME-zones/s and NAME-x-nsupdate: the anchor's time over its own, the
// median over the rounds (-benchtime Nx runs N rounds). Contenders: nsupdate (the
// anchor), nsupdate4 (four nsupdate processes, each a quarter of the zones),
// p1-conn-per-update (Tether, one zone at a time, a new TCP connection per UPDATE),
// p1 (one zone at a time over reused connections), p4 (four zones at once), and
// p1-udp, p4-udp (the same, each UPDATE over UDP when it fits, TCP otherwise).
// Each contender also reports NAME-named-us/zone, named's CPU time over its pushes
// per zone (from /proc, 10 ms ticks), and NAME-client-us/zone, the sender's (the
// nsupdate processes', or this whole test process's for Tether): on two cores the
// server's CPU per UPDATE is what bounds every contender. NAME-lost-runs counts the
// nsupdate pushes run again because one UPDATE got no answer (see runNsupdates' caller).
// Last, the same zones pushed again must send no UPDATE.
//
//	go test -run XXX -bench DNSPushVsNsupdate -benchtime 5x ./providers/rfc2136
func BenchmarkDNSPushVsNsupdate(b *testing.B) {
	const zones = 1000
	nsupdate := bindtest.Require(b, "nsupdate")
	served := make(map[string]string, zones)
	for z := range benchZones(b, zones, 0) {
		served[z] = preparedZone(z)
	}
	// named as deployed: a worker per CPU (its default), not the one worker tests use.
	n := bindtest.Start(b, served, bindtest.Options{StartTimeout: 120 * time.Second, Workers: runtime.NumCPU()})
	k, err := NewKey(n.KeyName, n.Algorithm, n.Secret)
	if err != nil {
		b.Fatal(err)
	}
	tgt := Target{Parent: "web1", Name: "bench", Addr: n.Addr, Role: schema.DNSRoleWriteOnly, Key: k}
	// mem holds what the member was last sent, whoever sent it: each run pushes
	// generation gen+1 over gen, so every run has the same work to do.
	mem := NewMemStore()
	gen := 0
	eng := &Engine{Transport: DNSTransport{}, Memory: mem}
	want := benchZones(b, zones, gen)
	if _, err := eng.Push(context.Background(), tgt, want, true); err != nil {
		b.Fatal(err)
	}
	// next prepares the following generation: the zones and the operations a
	// write-only push sends for them.
	next := func(b *testing.B) (map[string][]dns.RR, map[string][]Op) {
		want := benchZones(b, zones, gen+1)
		ops := make(map[string][]Op, zones)
		for z, rrs := range want {
			v, ok := mem.Get(tgt.ID(), trimDot(z))
			p, ok2 := decodePushed(v)
			if !ok || !ok2 {
				b.Fatalf("zone %s: nothing remembered", z)
			}
			ops[z] = writeOnlyOps(z, &p, rrs)
		}
		return want, ops
	}
	// skip remembers want without checking it, after a push that may have left a
	// zone behind: the next generation replaces every RRset pushed, so it catches
	// up whatever the server holds.
	skip := func(want map[string][]dns.RR) {
		gen++
		for z, rrs := range want {
			if err := eng.remember(tgt, z, rrs, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	// done checks the push landed (one zone read back, outside the timer) and
	// remembers it for the next generation.
	done := func(b *testing.B, want map[string][]dns.RR) {
		gen++
		ip := fmt.Sprintf("192.0.2.%d", 1+gen%250)
		if got := queryA(b, n.Addr, "mail.z0999.example."); len(got) != 1 || got[0] != ip {
			b.Fatalf("after the push mail.z0999.example. A = %v, want %s", got, ip)
		}
		for z, rrs := range want {
			if err := eng.remember(tgt, z, rrs, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	type contender struct {
		name   string
		procs  int // nsupdate processes; 0 for Tether
		par    int
		pooled bool
		udp    bool
		took   []time.Duration
		// named's CPU and the client's (nsupdate's processes, or this test process
		// for Tether) over each push: what each UPDATE cost the server and its sender.
		named, client time.Duration
		// lost counts the pushes run again because nsupdate lost an UPDATE.
		lost int
		// workers is named's worker threads over the pushes (see namedWorkers);
		// csw the client's context switches (each a sleep and a wakeup or a
		// preemption); rw Tether's read and write system calls and gcs its
		// collections (this process's, so the Tether rows only).
		workers      workerTimes
		csw, rw, gcs int64
	}
	cs := []*contender{
		{name: "nsupdate", procs: 1},
		{name: "nsupdate4", procs: 4},
		{name: "p1-conn-per-update", par: 1},
		{name: "p1", par: 1, pooled: true},
		{name: "p4", par: 4, pooled: true},
		{name: "p1-udp", par: 1, pooled: true, udp: true},
		{name: "p4-udp", par: 4, pooled: true, udp: true},
	}
	cs = onlyContenders(b, cs, func(c *contender) string { return c.name })
	conns := NewConns()
	defer conns.Close()
	push := func(b *testing.B, c *contender) time.Duration {
		want, ops := next(b)
		var took time.Duration
		namedBefore := namedCPU(b, n)
		wBefore := namedWorkers(b, n)
		stop := sampleStates(b, n, &c.workers)
		if c.procs > 0 {
			var cpu time.Duration
			var csw int64
			var err error
			for {
				took, cpu, csw, err = runNsupdates(nsupdate, nsupdateScripts(n, ops, c.procs))
				if err == nil {
					break
				}
				// nsupdate now and then gets no answer to one UPDATE over UDP (named
				// never logs it; session 13 saw one in a few thousand) and goes on
				// after its 3 s timeout: that push measured the timeout, not the
				// server. It is run again, with the next generation so the work is
				// the same; the lost ones are counted.
				if !errors.Is(err, errNsupdateTimedOut) || c.lost >= maxLost {
					b.Fatal(err)
				}
				c.lost++
				b.Logf("%s: %v; pushed again", c.name, err)
				skip(want)
				want, ops = next(b)
				namedBefore = namedCPU(b, n)
				wBefore = namedWorkers(b, n)
			}
			stop()
			c.named += namedCPU(b, n) - namedBefore
			c.workers.add(namedWorkers(b, n), wBefore, took)
			c.client += cpu
			c.csw += csw
		} else {
			tr := DNSTransport{UDP: c.udp}
			if c.pooled {
				tr.Conns = conns
			}
			e := &Engine{Transport: tr, Memory: mem, Parallel: c.par}
			cswBefore, rwBefore, gcBefore := selfCounts(b)
			cpuBefore := cputime.Self()
			start := time.Now()
			res, err := e.Push(context.Background(), tgt, want, false)
			took = time.Since(start)
			c.client += cputime.Self() - cpuBefore
			stop()
			c.named += namedCPU(b, n) - namedBefore
			c.workers.add(namedWorkers(b, n), wBefore, took)
			csw, rw, gcs := selfCounts(b)
			c.csw += csw - cswBefore
			c.rw += rw - rwBefore
			c.gcs += gcs - gcBefore
			if err != nil {
				b.Fatal(err)
			}
			if res.Updates != zones {
				b.Fatalf("%s: %d UPDATEs for %d changed zones", c.name, res.Updates, zones)
			}
		}
		done(b, want)
		return took
	}
	// Contenders take turns within each round, so a change in the machine's load
	// falls on all of them alike; the ratios are medians over the rounds.
	for b.Loop() {
		for _, c := range cs {
			c.took = append(c.took, push(b, c))
		}
	}
	b.StopTimer()
	anchor := cs[0]
	for _, c := range cs {
		var total time.Duration
		ratios := make([]float64, len(c.took))
		for i, d := range c.took {
			total += d
			ratios[i] = anchor.took[i].Seconds() / d.Seconds()
		}
		b.ReportMetric(float64(zones*len(c.took))/total.Seconds(), c.name+"-zones/s")
		if c != anchor {
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], c.name+"-x-nsupdate")
		}
		if c.procs > 0 {
			b.ReportMetric(float64(c.lost), c.name+"-lost-runs")
		}
		pushed := float64(zones * len(c.took))
		b.ReportMetric(float64(c.named.Microseconds())/pushed, c.name+"-named-us/zone")
		b.ReportMetric(float64(c.client.Microseconds())/pushed, c.name+"-client-us/zone")
		c.workers.report(b, c.name, pushed)
		b.ReportMetric(float64(c.csw)/pushed, c.name+"-client-csw/zone")
		if c.procs == 0 {
			b.ReportMetric(float64(c.rw)/pushed, c.name+"-client-rw-syscalls/zone")
			b.ReportMetric(float64(c.gcs), c.name+"-client-gcs")
		}
	}
	// Nothing changed: no UPDATE at all.
	count := &countingTransport{Transport: DNSTransport{Conns: conns}}
	e := &Engine{Transport: count, Memory: mem, Parallel: 4}
	if _, err := e.Push(context.Background(), tgt, benchZones(b, zones, gen), false); err != nil {
		b.Fatal(err)
	}
	if u := count.updates.Load(); u != 0 {
		b.Fatalf("%d UPDATEs sent for zones that did not change", u)
	}
}

// onlyContenders keeps the anchor (the first) and the contenders named in
// TETHER_DNS_PUSH_ONLY (comma-separated), all of them when it is unset: a
// diagnostic run (strace, perf on named) then sees one client's traffic beside the
// anchor's instead of seven kinds mixed.
func onlyContenders[C any](b *testing.B, cs []C, name func(C) string) []C {
	only := os.Getenv("TETHER_DNS_PUSH_ONLY")
	if only == "" {
		return cs
	}
	keep := strings.Split(only, ",")
	out := cs[:1]
	for _, c := range cs[1:] {
		if slices.Contains(keep, name(c)) {
			out = append(out, c)
		}
	}
	if len(out) == 1 && !slices.Contains(keep, name(cs[0])) {
		b.Fatalf("TETHER_DNS_PUSH_ONLY=%q names no contender", only)
	}
	return out
}

// nsupdateScripts writes the operations as nsupdate scripts, one send per zone, the
// zones dealt round-robin into procs scripts.
func nsupdateScripts(n *bindtest.Named, ops map[string][]Op, procs int) []string {
	bufs := make([]strings.Builder, procs)
	for i := range bufs {
		fmt.Fprintf(&bufs[i], "server 127.0.0.1 %d\nkey %s:%s %s\n", n.Port, strings.TrimSuffix(n.Algorithm, "."), n.KeyName, n.Secret)
	}
	zs := slices.Sorted(maps.Keys(ops))
	for i, z := range zs {
		w := &bufs[i%procs]
		fmt.Fprintf(w, "zone %s\n", dns.Fqdn(z))
		for _, op := range ops[z] {
			switch op.Kind {
			case OpDelRRset:
				fmt.Fprintf(w, "update delete %s %s\n", op.RR.Header().Name, dns.TypeToString[op.RR.Header().Rrtype])
			case OpDel:
				fmt.Fprintf(w, "update delete %s\n", op.RR.String())
			case OpAdd:
				fmt.Fprintf(w, "update add %s\n", op.RR.String())
			}
		}
		w.WriteString("send\n")
	}
	out := make([]string, procs)
	for i := range bufs {
		out[i] = bufs[i].String()
	}
	return out
}

// errNsupdateTimedOut is an nsupdate run that got no answer to an UPDATE.
var errNsupdateTimedOut = errors.New("nsupdate timed out")

// maxLost bounds the anchor's pushes run again in one benchmark: more than that is
// a server not answering, not a lost datagram.
const maxLost = 3

// runNsupdates runs one nsupdate process per script, all at once, and returns the
// time until the last ended, the CPU time they used together and their context
// switches.
func runNsupdates(bin string, scripts []string) (time.Duration, time.Duration, int64, error) {
	errs := make([]error, len(scripts))
	cpus := make([]time.Duration, len(scripts))
	csws := make([]int64, len(scripts))
	var wg sync.WaitGroup
	start := time.Now()
	for i, s := range scripts {
		wg.Go(func() { cpus[i], csws[i], errs[i] = runNsupdate(bin, s) })
	}
	wg.Wait()
	took := time.Since(start)
	var cpu time.Duration
	var csw int64
	for i, c := range cpus {
		cpu += c
		csw += csws[i]
	}
	return took, cpu, csw, errors.Join(errs...)
}

// runNsupdate runs one nsupdate process on script and returns the CPU time it used
// and its context switches.
func runNsupdate(bin, script string) (time.Duration, int64, error) {
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if strings.Contains(out.String(), "failed: timed out") {
			return 0, 0, fmt.Errorf("%w: %v: %s", errNsupdateTimedOut, err, strings.TrimSpace(out.String()))
		}
		return 0, 0, fmt.Errorf("nsupdate: %v: %s", err, out.String())
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), processSwitches(cmd.ProcessState), nil
}

// workerTimes is what named's worker threads (isc-net-0000 up to -n: in 9.18
// they run the zones' tasks, so each UPDATE with its journal's fsyncs, and the
// sockets; the isc-net threads after them take offloaded work and sat idle
// here) did
// over a contender's pushes: time on a CPU, time runnable but waiting for one,
// and the pushes' wall time times the workers; the rest of that was spent
// blocked (in fsync or waiting for work). With TETHER_DNS_NAMED_STATES=1 their
// states are also sampled (see sampleStates).
type workerTimes struct {
	cpu, waiting, wall time.Duration
	// byTID is each worker's CPU: the busiest one's share of the sum tells
	// whether one thread carried more (its zones, or the TCP connections it
	// accepted) while the other waited.
	byTID map[int]time.Duration
	// states counts the samples by state letter: 'R', 'S', 'D'.
	states map[byte]int
}

func (w *workerTimes) add(after, before workerTimes, took time.Duration) {
	w.cpu += after.cpu - before.cpu
	w.waiting += after.waiting - before.waiting
	if w.byTID == nil {
		w.byTID = map[int]time.Duration{}
	}
	for tid, c := range after.byTID {
		w.byTID[tid] += c - before.byTID[tid]
	}
	// after.wall holds the worker count (namedWorkers).
	w.wall += took * after.wall
}

// report writes the workers' shares of their wall time: on a CPU, waiting for
// one, and blocked; with samples, the shares asleep (S) and in disk waits (D).
func (w *workerTimes) report(b *testing.B, name string, pushed float64) {
	if w.wall <= 0 {
		return
	}
	wall := float64(w.wall)
	b.ReportMetric(float64(w.cpu)/wall, name+"-named-workers-cpu-share")
	b.ReportMetric(float64(w.waiting)/wall, name+"-named-workers-runq-share")
	b.ReportMetric(float64(w.waiting.Microseconds())/pushed, name+"-named-runq-us/zone")
	if w.cpu > 0 {
		b.ReportMetric(float64(slices.Max(slices.Collect(maps.Values(w.byTID))))/float64(w.cpu), name+"-named-busiest-worker-share")
	}
	total := 0
	for _, k := range w.states {
		total += k
	}
	if total > 0 {
		b.ReportMetric(float64(w.states['D'])/float64(total), name+"-named-workers-D-share")
		b.ReportMetric(float64(w.states['S'])/float64(total), name+"-named-workers-S-share")
	}
}

// namedWorkers sums the scheduler times of named's worker threads; wall holds
// how many there are.
func namedWorkers(b *testing.B, n *bindtest.Named) workerTimes {
	ths, err := n.Threads()
	if err != nil {
		b.Fatal(err)
	}
	w := workerTimes{byTID: map[int]time.Duration{}}
	for _, th := range ths {
		if isWorker(th.Name) {
			w.byTID[th.TID] = th.CPU
			w.cpu += th.CPU
			w.waiting += th.Waiting
			w.wall++
		}
	}
	return w
}

// isWorker tells named's worker threads by name: isc-net-0000 … isc-net-NNNN
// below the -n the benchmark gives (runtime.NumCPU()).
func isWorker(name string) bool {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "isc-net-"))
	return err == nil && strings.HasPrefix(name, "isc-net-") && i < runtime.NumCPU()
}

// sampleStates, with TETHER_DNS_NAMED_STATES=1, reads the state of each of
// named's worker threads every millisecond until the returned stop is called,
// counting them into w: a diagnostic (it costs CPU on the machine it measures),
// off by default. It tells a worker blocked in an fsync (D) from one with
// nothing to do (S), which schedstat's times do not.
func sampleStates(b *testing.B, n *bindtest.Named, w *workerTimes) (stop func()) {
	if os.Getenv("TETHER_DNS_NAMED_STATES") != "1" {
		return func() {}
	}
	ths, err := n.Threads()
	if err != nil {
		b.Fatal(err)
	}
	var tids []int
	for _, th := range ths {
		if isWorker(th.Name) {
			tids = append(tids, th.TID)
		}
	}
	if w.states == nil {
		w.states = map[byte]int{}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			for _, tid := range tids {
				if st, err := n.ThreadState(tid); err == nil {
					mu.Lock()
					w.states[st]++
					mu.Unlock()
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// selfCounts is this process's context switches (voluntary and not), read and
// write system calls (/proc/self/io's syscr and syscw; 0 without /proc) and
// completed GC cycles so far.
func selfCounts(b *testing.B) (csw, rw, gcs int64) {
	io, _ := os.ReadFile("/proc/self/io")
	for line := range strings.Lines(string(io)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		if k == "syscr" || k == "syscw" {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			rw += x
		}
	}
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return selfSwitches(b), rw, int64(s[0].Value.Uint64())
}

// namedCPU is named's CPU time so far.
func namedCPU(b *testing.B, n *bindtest.Named) time.Duration {
	cpu, err := n.CPU()
	if err != nil {
		b.Fatal(err)
	}
	return cpu
}

// BenchmarkObserveSyncMember1000 observes (as plan does) a sync member serving 1,000
// zones that are in step: one AXFR per zone, the zones read ZoneParallel at once
// (par=4) against one at a time (par=1, the anchor and the code before). x-one-at-a-
// time is the anchor's time over this one's, median of the rounds.
//
//	go test -run XXX -bench ObserveSyncMember1000 -benchtime 3x ./providers/rfc2136
func BenchmarkObserveSyncMember1000(b *testing.B) {
	const zones = 1000
	want := benchZones(b, zones, 1)
	served := make(map[string]string, zones)
	src := &staticSource{}
	for z, rrs := range want {
		var text strings.Builder
		text.WriteString("$ORIGIN " + dns.Fqdn(z) + "\n")
		for _, rr := range rrs {
			text.WriteString(rr.String() + "\n")
		}
		served[z] = text.String()
		src.set("web1", z, rrs)
	}
	n := bindtest.Start(b, served, bindtest.Options{StartTimeout: 120 * time.Second, Workers: runtime.NumCPU()})
	fleet := testFleet(schema.Threshold{}, map[string]*schema.Member{"bind1": member(schema.DNSRoleSync, n.Addr, "TSIG")})
	observe := func(b *testing.B, par int) time.Duration {
		store := NewMemStore()
		// A member Tether has applied once (joined): a new one is planned, not read.
		if _, err := store.UpdateHealth("web1/bind1", func(h *Health) { h.Joined = time.Now() }); err != nil {
			b.Fatal(err)
		}
		p, err := New(providers.Config{Secrets: secretsFrom(map[string]string{"TSIG": n.Secret})},
			Options{Store: store, Source: src, ZoneParallel: par})
		if err != nil {
			b.Fatal(err)
		}
		p.Scopes(fleet)
		start := time.Now()
		obs, err := p.Observe(context.Background(), "web1/bind1", fleet)
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if zs := obs.DNSClusters["web1"].Members["bind1"].Zones; len(zs.OutOfStep) != 0 || len(zs.Digests) != zones {
			b.Fatalf("%d zones read, %d out of step (%v)", len(zs.Digests), len(zs.OutOfStep), listSome(zs.OutOfStep))
		}
		return took
	}
	var ratios []float64
	var took4 time.Duration
	for b.Loop() {
		one := observe(b, 1)
		four := observe(b, ZoneParallel)
		took4 += four
		ratios = append(ratios, one.Seconds()/four.Seconds())
	}
	b.StopTimer()
	slices.Sort(ratios)
	b.ReportMetric(took4.Seconds()/float64(len(ratios)), "par4-s")
	b.ReportMetric(ratios[len(ratios)/2], "x-one-at-a-time")
}

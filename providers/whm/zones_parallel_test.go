package whm

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/sandbox"
)

// slowZones starts a sandbox parent holding n accounts (so n zones) whose every
// request then takes delay (the sandbox's latency fault).
func slowZones(tb testing.TB, n int, delay time.Duration) *sbFixture {
	tb.Helper()
	f := startSandbox(tb, zoneFleet())
	domains := make([]string, n)
	for i := range n {
		domains[i] = fmt.Sprintf("z%04d.example", i)
	}
	f.createAccounts(tb, "web1", domains...)
	if err := f.sb.SetFaults("web1", sandbox.Faults{Latency: delay}); err != nil {
		tb.Fatal(err)
	}
	return f
}

// The zones of a parent are read zoneExportBatch to an export_zone_files call, the
// calls in parallel, never more than zoneReadParallel at once on the node, over
// reused connections, and every zone arrives whole. The server counts both
// (sandbox.Traffic): the client's transport is the one judged.
func TestZonesReadInBulkUnderBound(t *testing.T) {
	const n = zoneExportBatch*(zoneReadParallel+4) + 7 // more calls than may run at once
	f := slowZones(t, n, 5*time.Millisecond)
	before := f.sb.Traffic("web1").Connections
	zones, err := f.p.Zones(context.Background(), "web1")
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != n {
		t.Fatalf("%d zones, want %d", len(zones), n)
	}
	if got := rrStrings(zones["z0007.example"]); !strings.Contains(got, "z0007.example.\t14400\tIN\tA\t192.0.2.10") {
		t.Errorf("z0007.example:\n%s", got)
	}
	tr := f.sb.Traffic("web1")
	if pk := tr.PeakInFlight["/json-api/export_zone_files"]; pk > zoneReadParallel || pk < 2 {
		t.Errorf("peak %d export_zone_files calls at once, want 2..%d", pk, zoneReadParallel)
	}
	if pk := tr.PeakInFlight["/json-api/parse_dns_zone"]; pk != 0 {
		t.Errorf("%d parse_dns_zone calls at once: zones are read in bulk", pk)
	}
	// About one connection per parallel read: net/http may dial while a connection
	// is on its way back to the pool, hence the slack, but not one per call.
	if c := tr.Connections - before; c > 2*zoneReadParallel {
		t.Errorf("%d connections for %d calls, want at most %d (reused)", c, n/zoneExportBatch+2, 2*zoneReadParallel)
	}
}

// BenchmarkZones1000At20ms reads 1,000 zones from a parent answering each call in
// 20 ms (the rfc2136 plan case). x-sequential is the time against the 20 s
// the reads took one parse_dns_zone at a time; x-one-call against one 20 ms call.
func BenchmarkZones1000At20ms(b *testing.B) {
	const n, delay = 1000, 20 * time.Millisecond
	f := slowZones(b, n, delay)
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		zones, err := f.p.Zones(context.Background(), "web1")
		total += time.Since(start)
		if err != nil || len(zones) != n {
			b.Fatalf("%d zones: %v", len(zones), err)
		}
	}
	per := total / time.Duration(b.N)
	b.ReportMetric(per.Seconds(), "s/read")
	b.ReportMetric(per.Seconds()/(n*delay).Seconds(), "x-sequential")
	b.ReportMetric(per.Seconds()/delay.Seconds(), "x-one-call")
}

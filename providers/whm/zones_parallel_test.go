package whm

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-dev/tether/providers"
)

// slowZones serves n zones through whmHandler, each export_zone_files call taking
// delay, and counts the calls in flight at once (peak), the calls, and the
// connections opened.
func slowZones(tb testing.TB, n int, delay time.Duration) (srv *httptest.Server, peak, calls, conns *atomic.Int64) {
	tb.Helper()
	zones := make(map[string]string, n)
	for i := range n {
		d := fmt.Sprintf("z%04d.example", i)
		zones[d] = "$TTL 14400\n" + d + ". 86400 IN SOA ns1.example.net. hostmaster." + d + ". 2026112301 3600 1800 1209600 86400\n" +
			d + ". 14400 IN A " + fmt.Sprintf("192.0.2.%d", i%250+1) + "\n"
	}
	h := whmHandler("zone-token", zones)
	peak, calls, conns = new(atomic.Int64), new(atomic.Int64), new(atomic.Int64)
	var inflight atomic.Int64
	var mu sync.Mutex
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/json-api/export_zone_files" {
			calls.Add(1)
			now := inflight.Add(1)
			defer inflight.Add(-1)
			mu.Lock()
			if now > peak.Load() {
				peak.Store(now)
			}
			mu.Unlock()
			time.Sleep(delay)
		}
		h.ServeHTTP(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv, peak, calls, conns
}

// The zones of a parent are read zoneExportBatch to a call, the calls in parallel,
// never more than zoneReadParallel at once on the node, over reused connections, and
// every zone arrives whole.
func TestZonesReadInBulkUnderBound(t *testing.T) {
	const n = zoneExportBatch*(zoneReadParallel+4) + 7 // more calls than the bound lets run at once
	srv, peak, calls, conns := slowZones(t, n, 5*time.Millisecond)
	p, err := New(providers.Config{Endpoints: map[string]providers.Endpoint{"web1": {URL: srv.URL, User: "root", Token: "zone-token"}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	zones, err := p.Zones(context.Background(), "web1")
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != n {
		t.Fatalf("%d zones, want %d", len(zones), n)
	}
	if got := rrStrings(zones["z0007.example"]); !strings.Contains(got, "z0007.example.\t14400\tIN\tA\t192.0.2.8") {
		t.Errorf("z0007.example:\n%s", got)
	}
	if want := int64((n + zoneExportBatch - 1) / zoneExportBatch); calls.Load() != want {
		t.Errorf("%d export_zone_files calls for %d zones, want %d", calls.Load(), n, want)
	}
	if pk := peak.Load(); pk > zoneReadParallel {
		t.Errorf("peak %d export_zone_files calls at once, want at most %d", pk, zoneReadParallel)
	}
	// About one connection per parallel read: net/http may dial while a connection
	// is on its way back to the pool, hence the slack, but not one per call.
	if c := conns.Load(); c > 2*zoneReadParallel {
		t.Errorf("%d connections for %d calls, want at most %d (reused)", c, calls.Load()+1, 2*zoneReadParallel)
	}
}

// BenchmarkZones1000At20ms reads 1,000 zones from a parent answering each call in
// 20 ms (the rfc2136 plan case). x-sequential is the time against the 20 s
// the reads took one parse_dns_zone at a time; x-one-call against a single 20 ms call.
func BenchmarkZones1000At20ms(b *testing.B) {
	const n, delay = 1000, 20 * time.Millisecond
	srv, _, _, _ := slowZones(b, n, delay)
	p, err := New(providers.Config{Endpoints: map[string]providers.Endpoint{"web1": {URL: srv.URL, User: "root", Token: "zone-token"}}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		zones, err := p.Zones(context.Background(), "web1")
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

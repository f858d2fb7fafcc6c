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

// slowZones serves n zones through whmHandler, each parse_dns_zone taking delay, and
// counts the calls in flight at once (peak) and the connections opened.
func slowZones(tb testing.TB, n int, delay time.Duration) (srv *httptest.Server, peak, conns *atomic.Int64) {
	tb.Helper()
	zones := make(map[string][]map[string]any, n)
	for i := range n {
		d := fmt.Sprintf("z%04d.example", i)
		zones[d] = []map[string]any{
			record(1, d+".", 86400, "SOA", "ns1.example.net.", "hostmaster."+d+".", "2026112301", "3600", "1800", "1209600", "86400"),
			record(2, d+".", 14400, "A", fmt.Sprintf("192.0.2.%d", i%250+1)),
		}
	}
	h := whmHandler("zone-token", zones)
	peak, conns = new(atomic.Int64), new(atomic.Int64)
	var inflight atomic.Int64
	var mu sync.Mutex
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/json-api/parse_dns_zone" {
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
	return srv, peak, conns
}

// The zones of a parent are read in parallel, never more than zoneReadParallel at
// once on the node, over reused connections, and every zone arrives whole.
func TestZonesReadInParallelUnderBound(t *testing.T) {
	const n = 300
	srv, peak, conns := slowZones(t, n, 5*time.Millisecond)
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
	if pk := peak.Load(); pk > zoneReadParallel || pk < 2 {
		t.Errorf("peak %d parse_dns_zone calls at once, want 2..%d", pk, zoneReadParallel)
	}
	// About one connection per parallel read: net/http may dial while a connection
	// is on its way back to the pool, hence the slack, but not one per call.
	if c := conns.Load(); c > 2*zoneReadParallel {
		t.Errorf("%d connections for %d calls, want at most %d (reused)", c, n+1, 2*zoneReadParallel)
	}
}

// BenchmarkZones1000At20ms reads 1,000 zones from a parent answering each call in
// 20 ms (the rfc2136 plan case). x-sequential is the time against the 20 s the
// reads took one by one; x-ideal against 1,000 × 20 ms ÷ zoneReadParallel.
func BenchmarkZones1000At20ms(b *testing.B) {
	const n, delay = 1000, 20 * time.Millisecond
	srv, _, _ := slowZones(b, n, delay)
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
	b.ReportMetric(per.Seconds()/(n*delay/zoneReadParallel).Seconds(), "x-ideal")
}

package rfc2136

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/bindtest"
	"github.com/tether-dev/tether/schema"
)

// benchZones builds n zones of 10 records each (SOA aside, never pushed); gen changes every address,
// so each run has real work to push.
func benchZones(b *testing.B, n, gen int) map[string][]dns.RR {
	out := make(map[string][]dns.RR, n)
	ip := fmt.Sprintf("192.0.2.%d", 1+gen%250)
	for i := 0; i < n; i++ {
		d := fmt.Sprintf("z%04d.example.", i)
		out[d[:len(d)-1]] = mustRRs(b,
			d+" 86400 IN SOA ns1.example.net. hostmaster."+d+" 1 3600 600 86400 300",
			d+" 86400 IN NS ns1.example.net.",
			d+" 86400 IN NS ns2.example.net.",
			d+" 14400 IN A "+ip,
			"www."+d+" 14400 IN CNAME "+d,
			"mail."+d+" 14400 IN A "+ip,
			"webmail."+d+" 14400 IN A "+ip,
			"ftp."+d+" 14400 IN A "+ip,
			"cpanel."+d+" 14400 IN A "+ip,
			d+" 14400 IN MX 0 mail."+d,
			d+` 14400 IN TXT "v=spf1 +a +mx ip4:`+ip+` ~all"`,
		)
	}
	return out
}

// BenchmarkPushToBIND pushes 1,000 zones of 10 records to a real named, the zones
// created empty (SOA and NS) in named.conf at start, as RFC 2136 requires.
func BenchmarkPushToBIND(b *testing.B) {
	const zones = 1000
	served := make(map[string]string, zones)
	for z := range benchZones(b, zones, 0) {
		served[z] = preparedZone(z)
	}
	start := time.Now()
	n := bindtest.Start(b, served, bindtest.Options{StartTimeout: 120 * time.Second})
	b.Logf("named loaded %d zones in %s", zones, time.Since(start).Round(time.Millisecond))
	k, err := NewKey(n.KeyName, n.Algorithm, n.Secret)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		role     string
		parallel int
		// state: what was pushed and every command's outcome go to Tether's folder
		// state, as the command line runs it (one health read per command, one write
		// of the member's pushed digests per run).
		state bool
	}{{schema.DNSRoleWriteOnly, 1, false}, {schema.DNSRoleSync, 1, false}, {schema.DNSRoleWriteOnly, 4, false}, {schema.DNSRoleSync, 4, false},
		{schema.DNSRoleWriteOnly, 1, true}, {schema.DNSRoleSync, 1, true}} {
		role := bc.role
		name := fmt.Sprintf("%s/parallel=%d", role, bc.parallel)
		if bc.state {
			name += "/state=folder"
		}
		b.Run(name, func(b *testing.B) {
			eng := &Engine{Transport: DNSTransport{Timeout: 10 * time.Second, Conns: NewConns()}, Memory: NewMemStore(), Parallel: bc.parallel}
			tgt := Target{Parent: "web1", Name: "bench", Addr: n.Addr, Role: role, Key: k}
			var mem *batchMemory
			if bc.state {
				st := fileStore(b, b.TempDir())
				tr := &Tracker{Store: st}
				eng.OnCommand = func(t Target, err error) error { return tr.Record(context.Background(), t, nil, "", err) }
				mem = &batchMemory{Memory: st}
				eng.Memory = mem
			}
			b.ReportAllocs()
			var pushed int
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				want := benchZones(b, zones, i+1)
				b.StartTimer()
				res, err := eng.Push(context.Background(), tgt, want, false)
				if err != nil {
					b.Fatal(err)
				}
				if mem != nil {
					if err := mem.flush(); err != nil {
						b.Fatal(err)
					}
					mem.loaded = nil // the next run reads the state again, as a new apply would
				}
				for _, z := range res.Zones {
					if z.Updates > 0 {
						pushed++
					}
				}
			}
			b.ReportMetric(float64(pushed)/b.Elapsed().Seconds(), "zones/s")
		})
	}
}

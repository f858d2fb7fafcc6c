package rfc2136

import (
	"context"
	"testing"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/schema"
)

// signingTransport does what the real transport does to an UPDATE short of the
// network: it signs and packs the message and answers NOERROR, signed. It isolates Tether's
// own CPU per zone (ops, messages, TSIG, memory) from the server's.
type signingTransport struct{}

func (signingTransport) Exchange(_ context.Context, m *dns.Msg, _ string, key *Key) (*dns.Msg, error) {
	key.sign(m)
	_, mac, err := dns.TsigGenerate(m, key.secret, "", false)
	if err != nil {
		return nil, err
	}
	// The answer is signed as a server signs it, then read and verified as the real
	// transport reads it.
	a := new(dns.Msg)
	a.SetReply(m)
	a.Question = nil
	a.Ns = nil
	a.SetTsig(key.Name, key.Algorithm, 300, now().Unix())
	wire, _, err := dns.TsigGenerate(a, key.secret, mac, false)
	if err != nil {
		return nil, err
	}
	r := new(dns.Msg)
	if err := r.Unpack(wire); err != nil {
		return nil, err
	}
	if err := dns.TsigVerify(wire, key.secret, mac, false); err != nil {
		return nil, err
	}
	return r, nil
}

func (signingTransport) Transfer(context.Context, string, string, *Key) ([]dns.RR, error) {
	return nil, nil
}

// BenchmarkPushCPU is the Tether side of BenchmarkDNSPushVsNsupdate without the
// server: the same 1,000 zones pushed write-only, every address moving each time,
// one zone at a time. ns/zone is the CPU a zone costs Tether; profile it with
//
//	go test -run XXX -bench PushCPU -cpuprofile cpu.out ./providers/rfc2136
func BenchmarkPushCPU(b *testing.B) {
	const zones = 1000
	k, err := NewKey("tether.", "hmac-sha256", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0")
	if err != nil {
		b.Fatal(err)
	}
	tgt := Target{Parent: "web1", Name: "bench", Addr: "192.0.2.53:53", Role: schema.DNSRoleWriteOnly, Key: k}
	gens := []map[string][]dns.RR{benchZones(b, zones, 0), benchZones(b, zones, 1)}
	e := &Engine{Transport: signingTransport{}, Memory: NewMemStore(), Parallel: 1}
	if _, err := e.Push(context.Background(), tgt, gens[0], true); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		res, err := e.Push(context.Background(), tgt, gens[i%2], false)
		if err != nil {
			b.Fatal(err)
		}
		if res.Updates != zones {
			b.Fatalf("%d UPDATEs for %d changed zones", res.Updates, zones)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*zones), "ns/zone")
}

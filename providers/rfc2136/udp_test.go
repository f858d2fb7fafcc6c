package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/bindtest"
)

// txtUpdate builds an UPDATE of zone adding n TXT records of 40 bytes each.
func txtUpdate(t *testing.T, zone string, n int) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	for i := range n {
		m.Insert(mustRRs(t, fmt.Sprintf(`txt%d.%s. 300 IN TXT "%040d"`, i, zone, i)))
	}
	return m
}

// Over UDP against a real BIND: an UPDATE that fits goes over UDP, signed, and its
// signed answer verifies (RFC 8945 5.3); one too big once signed goes over TCP; a
// SOA query goes over UDP; a key the server does not know is refused as such. Which
// way each message went is what named counted (its statistics channel).
func TestBINDUpdateOverUDP(t *testing.T) {
	n := bindtest.Start(t, map[string]string{"alice.example": preparedZone("alice.example")}, bindtest.Options{Stats: true})
	k, err := NewKey(n.KeyName, n.Algorithm, n.Secret)
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := NewKey("stranger", "hmac-sha256", fakeSecret)
	if err != nil {
		t.Fatal(err)
	}
	soa := new(dns.Msg)
	soa.SetQuestion("alice.example.", dns.TypeSOA)
	tr := DNSTransport{Timeout: 3 * time.Second, Conns: NewConns(), UDP: true}
	tgt := Target{Name: "bind1", Addr: n.Addr, Key: k}
	for _, tc := range []struct {
		name     string
		msg      *dns.Msg
		key      *Key
		overTCP  bool
		wantKind error // nil: accepted
	}{
		{"small UPDATE", txtUpdate(t, "alice.example", 3), k, false, nil},
		{"UPDATE over 1232 bytes signed", txtUpdate(t, "alice.example", 30), k, true, nil},
		{"SOA query", soa, k, false, nil},
		{"unknown key", txtUpdate(t, "alice.example", 1), wrong, false, ErrTSIGRefused},
	} {
		before, err := n.Counters()
		if err != nil {
			t.Fatal(err)
		}
		r, err := tr.Exchange(context.Background(), tc.msg, n.Addr, tc.key)
		after, cerr := n.Counters()
		if cerr != nil {
			t.Fatal(cerr)
		}
		d := after.Sub(before)
		// Over UDP a slow answer (a loaded machine) may have the datagram sent again.
		tcp, udp := d.NSStats["ReqTCP"], d.NSStats["Requestv4"]-d.NSStats["ReqTCP"]
		if (tc.overTCP && (tcp != 1 || udp != 0)) || (!tc.overTCP && (tcp != 0 || udp < 1)) {
			t.Errorf("%s: named saw %d requests over UDP, %d over TCP; want over TCP: %v", tc.name, udp, tcp, tc.overTCP)
		}
		if tc.msg.Opcode != dns.OpcodeUpdate {
			if err != nil || r.Rcode != dns.RcodeSuccess || r.IsTsig() == nil {
				t.Errorf("%s: %v, %v (want a signed answer)", tc.name, err, r)
			}
			continue
		}
		tg := tgt
		tg.Key = tc.key
		ce := classifyUpdate(tg, "alice.example.", r, err)
		switch {
		case tc.wantKind == nil && ce != nil:
			t.Errorf("%s: %v", tc.name, ce)
		case tc.wantKind != nil && (ce == nil || !errors.Is(ce, tc.wantKind)):
			t.Errorf("%s: %v, want %v", tc.name, ce, tc.wantKind)
		}
	}
	if got := queryTXT(t, n.Addr, "txt29.alice.example."); got != 1 {
		t.Errorf("the UPDATE sent over TCP left %d TXT records at txt29, want 1", got)
	}
}

func queryTXT(t *testing.T, addr, name string) int {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	return len(r.Answer)
}

// udpFake is a UDP and TCP miekg server on one loopback port: handleUDP answers the
// datagrams (nil: no answer), TCP always answers success, signed.
type udpFake struct {
	addr       string
	udp, tcp   atomic.Int64
	handleUDP  func(w dns.ResponseWriter, r *dns.Msg, n int64)
	tsigSecret map[string]string
}

func startUDPFake(t *testing.T, handleUDP func(w dns.ResponseWriter, r *dns.Msg, n int64)) *udpFake {
	t.Helper()
	f := &udpFake{handleUDP: handleUDP, tsigSecret: map[string]string{"tether.": fakeSecret}}
	var pc net.PacketConn
	var l net.Listener
	for range 10 {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no loopback port free for both UDP and TCP")
	}
	f.addr = pc.LocalAddr().String()
	accept := func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }
	for _, srv := range []*dns.Server{
		{PacketConn: pc, TsigSecret: f.tsigSecret, MsgAcceptFunc: accept, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			f.handleUDP(w, r, f.udp.Add(1))
		})},
		{Listener: l, TsigSecret: f.tsigSecret, MsgAcceptFunc: accept, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			f.tcp.Add(1)
			reply(w, r, dns.RcodeSuccess)
		})},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return f
}

// The ways a UDP exchange ends, against a fake server: a truncated answer is asked
// again over TCP (RFC 7766 5); a lost datagram is sent again and the second answer
// taken; a server that never answers over UDP is a timeout within the exchange's
// timeout, after at most udpAttempts tries; an answer signed with another secret fails
// verification.
func TestUDPExchangeFallbacksAndRetries(t *testing.T) {
	const timeout = 600 * time.Millisecond
	for _, tc := range []struct {
		name   string
		handle func(w dns.ResponseWriter, r *dns.Msg, n int64)
		// datagrams received: at least minUDP (a try's wait can run out on a
		// loaded machine before its answer is read, so a datagram may be sent again,
		// at most udpAttempts in all); TCP messages: exactly tcp.
		minUDP, tcp int64
		wantErr     func(error) bool
	}{
		{"answered", func(w dns.ResponseWriter, r *dns.Msg, _ int64) { reply(w, r, dns.RcodeSuccess) }, 1, 0, nil},
		{"truncated: TCP", func(w dns.ResponseWriter, r *dns.Msg, _ int64) {
			m := new(dns.Msg)
			m.SetRcode(r, dns.RcodeSuccess)
			m.Truncated = true
			_ = w.WriteMsg(m)
		}, 1, 1, nil},
		{"first datagram lost", func(w dns.ResponseWriter, r *dns.Msg, n int64) {
			if n > 1 {
				reply(w, r, dns.RcodeSuccess)
			}
		}, 2, 0, nil},
		{"never answered", func(dns.ResponseWriter, *dns.Msg, int64) {}, 1, 0, isTimeout},
		{"answer signed with another secret", func(w dns.ResponseWriter, r *dns.Msg, _ int64) {
			m := new(dns.Msg)
			m.SetRcode(r, dns.RcodeSuccess)
			m.SetTsig("tether.", dns.HmacSHA256, 300, time.Now().Unix())
			wire, _, err := dns.TsigGenerate(m, "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC1vdGhlcg==", r.IsTsig().MAC, false)
			if err == nil {
				_, _ = w.Write(wire)
			}
		}, 1, 0, isTSIGError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startUDPFake(t, tc.handle)
			k, err := NewKey("tether", "hmac-sha256", fakeSecret)
			if err != nil {
				t.Fatal(err)
			}
			tr := DNSTransport{Timeout: timeout, Conns: NewConns(), UDP: true}
			r, err := tr.Exchange(context.Background(), txtUpdate(t, "alice.example", 1), f.addr, k)
			if tc.wantErr == nil && (err != nil || r.Rcode != dns.RcodeSuccess) {
				t.Fatalf("%v, %v", err, r)
			}
			if tc.wantErr != nil && (err == nil || !tc.wantErr(err)) {
				t.Fatalf("err = %v", err)
			}
			if u := f.udp.Load(); u < tc.minUDP || u > udpAttempts || f.tcp.Load() != tc.tcp {
				t.Errorf("%d datagrams, %d TCP messages; want %d to %d, %d", u, f.tcp.Load(), tc.minUDP, udpAttempts, tc.tcp)
			}
		})
	}
}

// Serials pipelines signed SOA queries over one TCP connection to a real BIND: each
// served zone comes back with the serial a plain query sees; a zone not served, or
// every zone under a key the server does not know, is left out, not an error.
func TestBINDSerialsPipelined(t *testing.T) {
	zones := []string{"alice.example", "bob.example", "carol.example"}
	served := map[string]string{}
	for _, z := range zones {
		served[z] = preparedZone(z)
	}
	n := bindtest.Start(t, served, bindtest.Options{Stats: true})
	k, err := NewKey(n.KeyName, n.Algorithm, n.Secret)
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := NewKey("stranger", "hmac-sha256", fakeSecret)
	if err != nil {
		t.Fatal(err)
	}
	ask := []string{"alice.example.", "bob.example.", "carol.example.", "missing.example."}
	for _, tc := range []struct {
		name string
		key  *Key
		want []string
	}{
		{"our key", k, zones},
		{"unknown key", wrong, nil},
	} {
		before, err := n.Counters()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DNSTransport{Timeout: 3 * time.Second}.Serials(context.Background(), ask, n.Addr, tc.key)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		after, err := n.Counters()
		if err != nil {
			t.Fatal(err)
		}
		// (A query under an unknown key is refused before named counts its type.)
		if d := after.Sub(before); d.NSStats["ReqTCP"] != int64(len(ask)) {
			t.Errorf("%s: named saw %d requests over TCP, want %d", tc.name, d.NSStats["ReqTCP"], len(ask))
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want serials of %v", tc.name, got, tc.want)
		}
		for _, z := range tc.want {
			s, err := n.Serial(z)
			if err != nil {
				t.Fatal(err)
			}
			if got[z+"."] != s {
				t.Errorf("%s: %s serial %d, a plain query says %d", tc.name, z, got[z+"."], s)
			}
		}
	}
}

// A member that takes the queries and never answers: Serials gives up after
// serialIdle without an answer, not after the whole exchange timeout, so the
// transfers that follow (which report the member) are not delayed by a second one.
func TestSerialsGiveUpOnSilence(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	k, err := NewKey("tether", "hmac-sha256", fakeSecret)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := DNSTransport{Timeout: time.Minute}.Serials(context.Background(), []string{"alice.example."}, l.Addr().String(), k)
	if !isTimeout(err) || len(got) != 0 {
		t.Fatalf("%v, %v; want a timeout and no serial", got, err)
	}
	if waited := time.Since(start); waited >= time.Minute {
		t.Fatalf("waited %s: the whole timeout", waited)
	}
}

package rfc2136

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/bindtest"
	"github.com/tether-dev/tether/internal/dnszone"
	"github.com/tether-dev/tether/internal/dnszone/nameserver"
	"github.com/tether-dev/tether/schema"
)

// pushZones builds n account zones (z0.pool.example …) at address ip.
func pushZones(t *testing.T, n int, ip string) map[string][]dns.RR {
	out := map[string][]dns.RR{}
	for i := range n {
		z := fmt.Sprintf("z%d.pool.example", i)
		out[z] = accountZone(t, z, ip, ip)
	}
	return out
}

// TestPooledUpdatesOnBIND: every UPDATE of a push, one zone at a time, goes over one
// TCP connection, each signed on its own and each reply verified (RFC 8945 5.3); four
// zones at once use at most four connections. named applies all of them.
func TestPooledUpdatesOnBIND(t *testing.T) {
	zones := pushZones(t, 12, parentIP)
	served := map[string]string{}
	for z := range zones {
		served[z] = preparedZone(z)
	}
	n := bindtest.Start(t, served, bindtest.Options{})
	k, err := NewKey(n.KeyName, n.Algorithm, n.Secret)
	if err != nil {
		t.Fatal(err)
	}
	tgt := Target{Parent: "web1", Name: "bind", Addr: n.Addr, Role: schema.DNSRoleWriteOnly, Key: k}
	for _, tc := range []struct {
		parallel   int
		ip         string
		maxConns   int64
		wantOpened int64
	}{{1, parentIP, 1, 1}, {4, childIP, 4, 1}} {
		conns := NewConns()
		t.Cleanup(conns.Close)
		e := &Engine{Transport: DNSTransport{Timeout: 5 * time.Second, Conns: conns}, Memory: NewMemStore(), Parallel: tc.parallel}
		res, err := e.Push(context.Background(), tgt, pushZones(t, 12, tc.ip), true)
		if err != nil {
			t.Fatalf("parallel=%d: %v", tc.parallel, err)
		}
		if res.Updates != 12 {
			t.Errorf("parallel=%d: %d UPDATEs accepted, want 12", tc.parallel, res.Updates)
		}
		if o := conns.opened.Load(); o < tc.wantOpened || o > tc.maxConns {
			t.Errorf("parallel=%d: %d connections opened, want %d to %d", tc.parallel, o, tc.wantOpened, tc.maxConns)
		}
		for z := range zones {
			if got := queryA(t, n.Addr, "mail."+z); len(got) != 1 || got[0] != tc.ip {
				t.Errorf("parallel=%d: mail.%s A = %v, want %s", tc.parallel, z, got, tc.ip)
			}
		}
	}
}

// TestPooledUpdatesOnMiekgServer: a nameserver built on miekg/dns (Tether's own
// internal/dnszone/nameserver) accepts several signed UPDATEs on one connection too.
// A miekg dns.Conn reused for them signs the second as the continuation of the first
// exchange, which such a server refuses: the transport signs each message itself.
func TestPooledUpdatesOnMiekgServer(t *testing.T) {
	const secret = fakeSecret
	zones := pushZones(t, 5, parentIP)
	var initial []*dnszone.Zone
	for z := range zones {
		initial = append(initial, dnszone.NewAccountZone(z, childIP, []string{"ns1.example.net"}))
	}
	srv, err := nameserver.Start("127.0.0.1:0", nameserver.NewMemStore(initial...), map[string]string{"tether": secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	k, _ := NewKey("tether", "hmac-sha256", secret)
	conns := NewConns()
	t.Cleanup(conns.Close)
	tgt := Target{Parent: "web1", Name: "miekg", Addr: srv.Addr(), Role: schema.DNSRoleWriteOnly, Key: k}
	e := &Engine{Transport: DNSTransport{Timeout: 5 * time.Second, Conns: conns}, Memory: NewMemStore()}
	res, err := e.Push(context.Background(), tgt, zones, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Updates != len(zones) || conns.opened.Load() != 1 {
		t.Fatalf("%d UPDATEs over %d connections; want %d over 1", res.Updates, conns.opened.Load(), len(zones))
	}
	for z := range zones {
		if got := queryA(t, srv.Addr(), "mail."+z); len(got) != 1 || got[0] != parentIP {
			t.Errorf("mail.%s A = %v, want %s", z, got, parentIP)
		}
	}
}

// closingProxy forwards one request and its reply to named, then closes the client's
// connection, as a server does with connections it deems idle.
func closingProxy(t *testing.T, backend string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer b.Close()
				in, out := &dns.Conn{Conn: c}, &dns.Conn{Conn: b}
				buf := make([]byte, dns.MaxMsgSize)
				for _, pair := range [][2]*dns.Conn{{in, out}, {out, in}} {
					n, err := pair[0].Read(buf)
					if err != nil && err != io.EOF {
						return
					}
					if _, err := pair[1].Write(buf[:n]); err != nil {
						return
					}
				}
			})
		}
	})
	return l.Addr().String()
}

// TestPooledConnectionClosedByServer: a kept connection the server has closed is
// replaced, and the UPDATE sent on a new one: no failure, nothing counted.
func TestPooledConnectionClosedByServer(t *testing.T) {
	zones := pushZones(t, 3, childIP)
	served := map[string]string{}
	for z := range zones {
		served[z] = preparedZone(z)
	}
	n := bindtest.Start(t, served, bindtest.Options{})
	k, _ := NewKey(n.KeyName, n.Algorithm, n.Secret)
	conns := NewConns()
	t.Cleanup(conns.Close)
	failures := 0
	tgt := Target{Parent: "web1", Name: "bind", Addr: closingProxy(t, n.Addr), Role: schema.DNSRoleWriteOnly, Key: k}
	e := &Engine{Transport: DNSTransport{Timeout: 5 * time.Second, Conns: conns}, Memory: NewMemStore(),
		OnCommand: func(_ Target, err error) error {
			if err != nil {
				failures++
			}
			return nil
		}}
	res, err := e.Push(context.Background(), tgt, zones, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Updates != 3 || failures != 0 || conns.opened.Load() != 3 {
		t.Fatalf("%d UPDATEs, %d failures, %d connections; want 3, 0, 3", res.Updates, failures, conns.opened.Load())
	}
	for z := range zones {
		if got := queryA(t, n.Addr, "mail."+z); len(got) != 1 || got[0] != childIP {
			t.Errorf("mail.%s A = %v, want %s", z, got, childIP)
		}
	}
}

// TestPooledIdleConnectionsExpire: a connection left idle is closed after
// IdleTimeout, so nothing stays open once a push is over.
func TestPooledIdleConnectionsExpire(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	p := &Conns{IdleTimeout: 20 * time.Millisecond}
	p.put("x", a)
	deadline := time.Now().Add(2 * time.Second)
	for {
		p.mu.Lock()
		left := len(p.idle["x"])
		p.mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle connection still kept after its timeout")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := a.Write([]byte{0}); err == nil {
		t.Fatal("expired connection still open")
	}
	if p.get("x") != nil {
		t.Fatal("expired connection handed out")
	}
}

// rawServer answers each DNS message read on a TCP connection with reply(query),
// written as given (length prefix included), so a test can shape what is read.
func rawServer(t *testing.T, reply func(q *dns.Msg) []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				dc := &dns.Conn{Conn: c}
				for {
					q, err := dc.ReadMsg()
					if err != nil {
						return
					}
					if _, err := c.Write(reply(q)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

func framed(t *testing.T, m *dns.Msg) []byte {
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{byte(len(wire) >> 8), byte(len(wire))}, wire...)
}

// TestPooledAnswerReads checks the reading of answers on a kept connection: one
// that fits the first read, one longer than it, and one followed by stray bytes,
// after which the connection is not used again.
func TestPooledAnswerReads(t *testing.T) {
	tests := []struct {
		name   string
		reply  func(t *testing.T, q *dns.Msg) []byte
		opened int64 // connections after two exchanges
	}{
		{name: "short answer", opened: 1, reply: func(t *testing.T, q *dns.Msg) []byte {
			r := new(dns.Msg)
			r.SetReply(q)
			return framed(t, r)
		}},
		{name: "answer longer than the first read", opened: 1, reply: func(t *testing.T, q *dns.Msg) []byte {
			r := new(dns.Msg)
			r.SetReply(q)
			for i := range 40 {
				rr, err := dns.NewRR(fmt.Sprintf("h%02d.alice.example. 300 IN TXT \"%040d\"", i, i))
				if err != nil {
					t.Fatal(err)
				}
				r.Answer = append(r.Answer, rr)
			}
			w := framed(t, r)
			if len(w) <= 2+firstRead {
				t.Fatalf("answer of %d bytes fits the first read", len(w))
			}
			return w
		}},
		{name: "stray bytes after the answer", opened: 2, reply: func(t *testing.T, q *dns.Msg) []byte {
			r := new(dns.Msg)
			r.SetReply(q)
			return append(framed(t, r), 0, 0)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServer(t, func(q *dns.Msg) []byte { return tc.reply(t, q) })
			conns := NewConns()
			t.Cleanup(conns.Close)
			tr := DNSTransport{Timeout: 5 * time.Second, Conns: conns}
			for range 2 {
				m := new(dns.Msg)
				m.SetUpdate("alice.example.")
				r, err := tr.Exchange(context.Background(), m, addr, nil)
				if err != nil {
					t.Fatal(err)
				}
				if r.Id != m.Id || !r.Response {
					t.Fatalf("answer %d (response %v) to message %d", r.Id, r.Response, m.Id)
				}
			}
			if got := conns.opened.Load(); got != tc.opened {
				t.Fatalf("%d connections opened, want %d", got, tc.opened)
			}
		})
	}
}

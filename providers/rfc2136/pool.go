package rfc2136

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// Conns keeps TCP connections to members open between UPDATE exchanges, so a push
// of a thousand zones costs a few connections, not a thousand handshakes. A
// connection carries one exchange at a time; zones pushed in parallel take one each.
// Idle connections are closed after IdleTimeout, before a server's own idle limit
// (BIND: 30 s, Knot: 10 s) would close them under us. The zero value is ready.
type Conns struct {
	// MaxIdle bounds the idle connections kept per address; 8 by default.
	MaxIdle int
	// IdleTimeout closes a connection left idle this long; 3 s by default.
	IdleTimeout time.Duration

	mu   sync.Mutex
	idle map[string][]*idleConn
	// opened counts the connections dialled, for tests.
	opened atomic.Int64
}

type idleConn struct {
	c     net.Conn
	timer *time.Timer
}

// NewConns returns an empty pool with the defaults.
func NewConns() *Conns { return &Conns{} }

func (p *Conns) maxIdle() int {
	if p.MaxIdle > 0 {
		return p.MaxIdle
	}
	return 8
}

func (p *Conns) idleTimeout() time.Duration {
	if p.IdleTimeout > 0 {
		return p.IdleTimeout
	}
	return 3 * time.Second
}

// get takes the most recently used idle connection to addr, if any.
func (p *Conns) get(addr string) net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.idle[addr]
	for len(l) > 0 {
		ic := l[len(l)-1]
		l = l[:len(l)-1]
		p.idle[addr] = l
		if ic.timer.Stop() {
			return ic.c
		}
		// The idle timer fired and is closing it.
	}
	return nil
}

// put keeps c for the next exchange with addr, or closes it when enough are kept.
func (p *Conns) put(addr string, c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[string][]*idleConn{}
	}
	if len(p.idle[addr]) >= p.maxIdle() {
		c.Close()
		return
	}
	ic := &idleConn{c: c}
	ic.timer = time.AfterFunc(p.idleTimeout(), func() { p.expire(addr, ic) })
	p.idle[addr] = append(p.idle[addr], ic)
}

func (p *Conns) expire(addr string, ic *idleConn) {
	p.mu.Lock()
	l := p.idle[addr]
	for i, x := range l {
		if x == ic {
			p.idle[addr] = append(l[:i:i], l[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	ic.c.Close()
}

// Close closes every idle connection. The pool stays usable.
func (p *Conns) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, l := range idle {
		for _, ic := range l {
			ic.timer.Stop()
			ic.c.Close()
		}
	}
}

// firstRead is how much of an answer roundTrip reads at once: enough for an UPDATE's
// answer (header, zone, TSIG), which then takes one read; a longer one takes two.
const firstRead = 512

// staleConnError is a reused connection that the server had already closed: the
// message never reached it, so it is sent again on a new connection.
type staleConnError struct{ err error }

func (e *staleConnError) Error() string { return e.err.Error() }
func (e *staleConnError) Unwrap() error { return e.err }

// exchangePooled sends m over a pooled TCP connection (or a new one) and reads its
// reply. Each message is signed on its own and each reply verified against that
// message's MAC (RFC 8945 5.3). miekg/dns's Conn cannot be reused for that: its
// WriteMsg signs with the MAC of the previous reply on the connection (the chaining
// of a zone transfer's messages, client.go), so a second UPDATE on it fails
// verification on the server. Signing and verifying happen here, on the raw bytes.
func (t DNSTransport) exchangePooled(ctx context.Context, m *dns.Msg, addr string, key *Key) (*dns.Msg, error) {
	d := t.timeout(ctx)
	wire, mac, err := key.pack(m)
	if err != nil {
		return nil, fmt.Errorf("pack UPDATE: %w", err)
	}
	if c := t.Conns.get(addr); c != nil {
		r, err := t.roundTrip(ctx, c, addr, d, m.Id, wire, mac, key)
		var stale *staleConnError
		if !errors.As(err, &stale) || ctx.Err() != nil {
			return r, err
		}
		// The server closed the idle connection before reading the message: UPDATEs
		// Tether sends are idempotent (delete an RRset then add its records; delete
		// records), so sending it again on a new connection is safe either way.
	}
	c, err := (&net.Dialer{Timeout: d}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	t.Conns.opened.Add(1)
	r, err := t.roundTrip(ctx, c, addr, d, m.Id, wire, mac, key)
	var stale *staleConnError
	if errors.As(err, &stale) {
		err = stale.err
	}
	return r, err
}

// roundTrip writes one message on c and reads its reply; c goes back to the pool
// after a complete exchange and is closed otherwise. A failure before any byte of
// the reply is a *staleConnError.
func (t DNSTransport) roundTrip(ctx context.Context, c net.Conn, addr string, d time.Duration, id uint16, wire []byte, mac string, key *Key) (*dns.Msg, error) {
	// miekg/dns only honours deadlines; closing the connection is what stops an
	// exchange when the context is cancelled.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	keep := false
	defer func() {
		if stop() && keep {
			t.Conns.put(addr, c)
			return
		}
		c.Close()
	}()
	_ = c.SetDeadline(time.Now().Add(d))
	dc := &dns.Conn{Conn: c}
	if _, err := dc.Write(wire); err != nil {
		return nil, &staleConnError{ctxErr(ctx, err)}
	}
	// One read usually brings the whole answer, its length and the message together
	// (an UPDATE's answer is small): one system call per exchange instead of two.
	head := make([]byte, 2+firstRead)
	got, err := io.ReadAtLeast(c, head, 2)
	if err != nil {
		if got == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			return nil, &staleConnError{ctxErr(ctx, err)}
		}
		return nil, ctxErr(ctx, err)
	}
	n := int(binary.BigEndian.Uint16(head))
	buf := head[2:got]
	if len(buf) < n {
		full := make([]byte, n)
		copy(full, buf)
		if _, err := io.ReadFull(c, full[len(buf):]); err != nil {
			return nil, ctxErr(ctx, err)
		}
		buf = full
	}
	// Bytes after the answer belong to no exchange (one is in flight per connection):
	// the connection is not kept, so they cannot be read as the next answer.
	extra := len(buf) > n
	buf = buf[:n]
	r := new(dns.Msg)
	if err := r.Unpack(buf); err != nil {
		return nil, fmt.Errorf("unpack reply: %w", err)
	}
	if r.Id != id {
		return r, dns.ErrId
	}
	keep = !extra
	if key != nil && r.IsTsig() != nil {
		if err := dns.TsigVerify(buf, key.secret, mac, false); err != nil {
			return r, err
		}
	}
	return r, nil
}

package rfc2136

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// now is the clock TSIG signatures use.
var now = time.Now

// Transport sends DNS messages to a member. The default speaks TCP with miekg/dns;
// tests wrap it to count UPDATEs or to inject faults.
type Transport interface {
	// Exchange sends one message (an UPDATE) signed with key and returns the reply.
	Exchange(ctx context.Context, m *dns.Msg, addr string, key *Key) (*dns.Msg, error)
	// Transfer reads a whole zone with AXFR signed with key.
	Transfer(ctx context.Context, zone, addr string, key *Key) ([]dns.RR, error)
}

// DefaultTimeout bounds one exchange or one whole transfer of a DNSTransport with no
// Timeout of its own. Tests of the command line shorten it to see a member that never
// answers time out quickly.
var DefaultTimeout = 10 * time.Second

// DNSTransport is the real transport.
type DNSTransport struct {
	// Timeout bounds one exchange or one whole transfer when the context has no
	// earlier deadline; DefaultTimeout when zero.
	Timeout time.Duration
	// Conns, when set, keeps TCP connections open between exchanges with the same
	// member; nil opens one connection per exchange.
	Conns *Conns
	// UDP sends a message (an UPDATE, a SOA query) over UDP when it fits, with EDNS0
	// advertising UDPSize, and over TCP (Conns) when it does not or when the answer is
	// truncated. Transfers always use TCP.
	UDP bool
}

// UDPSize is the EDNS0 payload size advertised (RFC 6891 6.2.5), and the largest
// signed message sent over UDP: 1232 bytes fit the IPv6 minimum MTU (1280) less its
// headers, so neither a request nor an answer is fragmented (the size DNS Flag Day
// 2020 settled on, BIND's default since 9.16).
const UDPSize = 1232

// udpAttempts is how many times a message is sent over UDP before giving up, each
// try waiting at most udpTry (and all of them within the exchange's timeout). A
// retransmission is the same message: Tether's UPDATEs are idempotent (RRsets
// replaced, records deleted or added), so one applied twice changes nothing more.
const (
	udpAttempts = 3
	udpTry      = 2 * time.Second
)

func (t DNSTransport) timeout(ctx context.Context) time.Duration {
	d := t.Timeout
	if d == 0 {
		d = DefaultTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = left
		}
	}
	return d
}

// Exchange implements Transport.
func (t DNSTransport) Exchange(ctx context.Context, m *dns.Msg, addr string, key *Key) (*dns.Msg, error) {
	if t.UDP {
		if r, done, err := t.exchangeUDP(ctx, m, addr, key); done {
			return r, err
		}
		// Too big for UDP, or the answer was truncated: the same message over TCP.
	}
	if t.Conns != nil {
		return t.exchangePooled(ctx, m, addr, key)
	}
	d := t.timeout(ctx)
	c := &dns.Client{Net: "tcp", Timeout: d, TsigSecret: key.tsigSecret()}
	conn, err := c.DialContext(ctx, addr)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	defer conn.Close()
	// miekg/dns only honours a context's deadline; closing the connection is what
	// stops an exchange when the context is cancelled.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	key.sign(m)
	r, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	if err != nil {
		err = ctxErr(ctx, err)
	}
	return r, err
}

// exchangeUDP sends m over UDP and reads its answer. done is false, and nothing was
// applied that matters, when the message does not fit UDPSize once signed (RFC 2136
// 3.8 and RFC 1035 4.2: a message too long for UDP goes over TCP) or when the answer
// came back truncated (TC: RFC 2181 9, RFC 7766 5: retry over TCP); the caller then
// sends it over TCP. m is not changed: the UDP copy carries the OPT record (before
// the TSIG record, which RFC 8945 5.1 puts last) and its own signature.
func (t DNSTransport) exchangeUDP(ctx context.Context, m *dns.Msg, addr string, key *Key) (r *dns.Msg, done bool, err error) {
	mu := m.Copy()
	mu.SetEdns0(UDPSize, false)
	wire, mac, err := key.pack(mu)
	if err != nil {
		return nil, true, fmt.Errorf("pack message: %w", err)
	}
	if len(wire) > UDPSize {
		return nil, false, nil
	}
	d := t.timeout(ctx)
	conn, err := (&net.Dialer{Timeout: d}).DialContext(ctx, "udp", addr)
	if err != nil {
		return nil, true, ctxErr(ctx, err)
	}
	defer conn.Close()
	// Closing the socket is what stops a read when the context is cancelled.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	deadline := time.Now().Add(d)
	try := min(udpTry, d/udpAttempts)
	// Room for an answer larger than advertised: a server that ignores EDNS0 may
	// still send up to 512 bytes, one that misbehaves more; a cut answer would not
	// unpack and is then asked again over TCP.
	buf := make([]byte, 4096)
	for attempt := 1; ; attempt++ {
		if _, err := conn.Write(wire); err != nil {
			return nil, true, ctxErr(ctx, err)
		}
		end := deadline
		if next := time.Now().Add(try); attempt < udpAttempts && next.Before(deadline) {
			end = next
		}
		_ = conn.SetReadDeadline(end)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if isTimeout(err) && ctx.Err() == nil && attempt < udpAttempts && time.Now().Before(deadline) {
					break // send it again
				}
				return nil, true, ctxErr(ctx, err)
			}
			r := new(dns.Msg)
			if err := r.Unpack(buf[:n]); err != nil {
				if r.Id == mu.Id && r.Truncated {
					return nil, false, nil
				}
				continue // not an answer to this message
			}
			if r.Id != mu.Id || !r.Response {
				continue // a late answer to something else, or not an answer
			}
			if r.Truncated {
				return nil, false, nil
			}
			if key != nil && r.IsTsig() != nil {
				if err := dns.TsigVerify(buf[:n], key.secret, mac, false); err != nil {
					return r, true, err
				}
			}
			return r, true, nil
		}
	}
}

// serialChunk bounds the queries Serials has outstanding on its connection, so their
// message IDs stay distinct (they are matched to answers by ID).
const serialChunk = 4096

// Serials asks the member at addr for the SOA serial of each zone over one TCP
// connection, the queries pipelined (RFC 7766 6.2.1.1: a client may send several
// queries without waiting, the server answers each, in any order, matched by message
// ID). Each query is signed on its own and each answer verified against its query's
// MAC (RFC 8945 5.3). A zone is in the result only when the member answered it
// authoritatively with the zone's SOA, signed; anything else is left out for the
// caller to find out by a transfer. The error is the connection's (dial, write,
// read), with what was answered before it.
func (t DNSTransport) Serials(ctx context.Context, zones []string, addr string, key *Key) (map[string]uint32, error) {
	out := make(map[string]uint32, len(zones))
	if len(zones) == 0 {
		return out, nil
	}
	d := t.timeout(ctx)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	conn, err := (&net.Dialer{Timeout: d}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return out, ctxErr(ctx, err)
	}
	defer conn.Close()
	// Closing the connection is what stops a read or write when the context ends.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	deadline := time.Now().Add(d)
	_ = conn.SetWriteDeadline(deadline)
	for chunk := range slices.Chunk(zones, serialChunk) {
		if err := pipelineSOA(conn, chunk, key, deadline, out); err != nil {
			return out, ctxErr(ctx, err)
		}
	}
	return out, nil
}

// serialIdle is how long Serials waits for the next answer: a member that answers
// none of its queries for that long is not answering, and the transfers that follow
// (which wait the whole timeout) report it; the serials only spare the transfers.
const serialIdle = 2 * time.Second

// pipelineSOA writes one signed SOA query per zone on conn while reading the
// answers, and records the serials answered in out.
func pipelineSOA(conn net.Conn, zones []string, key *Key, deadline time.Time, out map[string]uint32) error {
	type query struct {
		zone string
		mac  string
	}
	base := dns.Id()
	byID := make(map[uint16]query, len(zones))
	var wires bytes.Buffer
	for i, zone := range zones {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(zone), dns.TypeSOA)
		m.Id = base + uint16(i)
		wire, mac, err := key.pack(m)
		if err != nil {
			return fmt.Errorf("pack SOA query for %s: %w", zone, err)
		}
		byID[m.Id] = query{zone: dns.Fqdn(zone), mac: mac}
		_ = binary.Write(&wires, binary.BigEndian, uint16(len(wire)))
		wires.Write(wire)
	}
	// Written from another goroutine: a server reads a connection's queries only as
	// fast as their answers are taken, so writing them all before reading could
	// leave both sides waiting.
	written := make(chan error, 1)
	go func() {
		_, err := conn.Write(wires.Bytes())
		written <- err
	}()
	r := bufio.NewReader(conn)
	for range zones {
		next := time.Now().Add(serialIdle)
		if deadline.Before(next) {
			next = deadline
		}
		_ = conn.SetReadDeadline(next)
		var n uint16
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			return err
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		a := new(dns.Msg)
		if err := a.Unpack(buf); err != nil {
			continue
		}
		q, ok := byID[a.Id]
		if !ok || a.Rcode != dns.RcodeSuccess || !a.Authoritative || (key != nil && a.IsTsig() == nil) {
			continue
		}
		if key != nil {
			if err := dns.TsigVerify(buf, key.secret, q.mac, false); err != nil {
				continue
			}
		}
		for _, rr := range a.Answer {
			if soa, isSOA := rr.(*dns.SOA); isSOA && strings.EqualFold(soa.Hdr.Name, q.zone) {
				out[strings.ToLower(q.zone)] = soa.Serial
			}
		}
	}
	return <-written
}

// transferError is a failure of AXFR with what is known about where it happened.
type transferError struct {
	// Rcode is the server's answer code when it refused the transfer, else -1.
	Rcode int
	// TSIGError is the TSIG error the server answered (BADKEY, BADSIG…), else 0.
	TSIGError uint16
	// Received counts the messages read before the failure (>0: dropped mid-stream).
	Received int
	Err      error
}

func (e *transferError) Error() string { return e.Err.Error() }
func (e *transferError) Unwrap() error { return e.Err }

// Transfer implements Transport. miekg/dns reports any NOTAUTH first answer as
// ErrAuth and keeps the answer from the caller, yet only that answer tells a refused
// key (TSIG error BADKEY/BADSIG) from a zone the server does not serve (NOTAUTH, no
// TSIG error). So the connection keeps a copy of the first bytes it reads, and a
// failure before the first message is explained from them.
func (t DNSTransport) Transfer(ctx context.Context, zone, addr string, key *Key) ([]dns.RR, error) {
	d := t.timeout(ctx)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	conn, err := (&net.Dialer{Timeout: d}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &transferError{Rcode: -1, Err: ctxErr(ctx, err)}
	}
	cc := &captureConn{Conn: conn}
	defer cc.Close()
	// Closing the connection is how a cancelled context stops a transfer in progress.
	stop := context.AfterFunc(ctx, func() { cc.Close() })
	defer stop()
	_ = cc.SetDeadline(time.Now().Add(d))
	tr := &dns.Transfer{Conn: &dns.Conn{Conn: cc}, TsigSecret: key.tsigSecret(), DialTimeout: d, ReadTimeout: d, WriteTimeout: d}
	q := new(dns.Msg)
	q.SetAxfr(dns.Fqdn(zone))
	key.sign(q)
	ch, err := tr.In(q, addr)
	if err != nil {
		return nil, &transferError{Rcode: -1, Err: ctxErr(ctx, err)}
	}
	var rrs []dns.RR
	received := 0
	var first error
	for env := range ch {
		if env.Error != nil {
			if first == nil {
				first = env.Error
			}
			continue
		}
		received++
		rrs = append(rrs, env.RR...)
	}
	if first == nil && received == 0 {
		first = errors.New("transfer ended before any record")
	}
	if first != nil {
		te := &transferError{Rcode: -1, Received: received, Err: ctxErr(ctx, first)}
		if received == 0 {
			if m := cc.firstMsg(); m != nil && m.Id == q.Id {
				var tsigErr uint16
				if ts := m.IsTsig(); ts != nil {
					tsigErr = ts.Error
				}
				if m.Rcode != dns.RcodeSuccess || tsigErr != 0 {
					te.Rcode, te.TSIGError = m.Rcode, tsigErr
				}
			}
		}
		return nil, te
	}
	// The transfer ends with the zone's SOA repeated.
	if n := len(rrs); n > 1 && rrs[n-1].Header().Rrtype == dns.TypeSOA {
		rrs = rrs[:n-1]
	}
	return rrs, nil
}

// captureConn keeps the first bytes read from a TCP DNS connection: enough for the
// first message (two length bytes, then at most 64 KiB).
type captureConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

func (c *captureConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if room := 2 + dns.MaxMsgSize - len(c.buf); room > 0 && n > 0 {
		c.buf = append(c.buf, p[:min(n, room)]...)
	}
	c.mu.Unlock()
	return n, err
}

func (c *captureConn) firstMsg() *dns.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) < 2 {
		return nil
	}
	l := int(binary.BigEndian.Uint16(c.buf))
	if len(c.buf) < 2+l {
		return nil
	}
	m := new(dns.Msg)
	if err := m.Unpack(c.buf[2 : 2+l]); err != nil {
		return nil
	}
	return m
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

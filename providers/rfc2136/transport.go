package rfc2136

import (
	"context"
	"errors"
	"fmt"
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

// DNSTransport is the real transport.
type DNSTransport struct {
	// Timeout bounds one exchange or one whole transfer when the context has no
	// earlier deadline; 10s by default.
	Timeout time.Duration
}

func (t DNSTransport) timeout(ctx context.Context) time.Duration {
	d := t.Timeout
	if d == 0 {
		d = 10 * time.Second
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
	d := t.timeout(ctx)
	c := &dns.Client{Net: "tcp", Timeout: d, TsigSecret: key.tsigSecret()}
	key.sign(m)
	r, _, err := c.ExchangeContext(ctx, m, addr)
	return r, err
}

// transferError is a failure of AXFR with what is known about where it happened.
type transferError struct {
	// Rcode is the server's answer code when it refused the transfer, else -1.
	Rcode int
	// Received counts the messages read before the failure (>0: dropped mid-stream).
	Received int
	Err      error
}

func (e *transferError) Error() string { return e.Err.Error() }
func (e *transferError) Unwrap() error { return e.Err }

// Transfer implements Transport.
func (t DNSTransport) Transfer(ctx context.Context, zone, addr string, key *Key) ([]dns.RR, error) {
	d := t.timeout(ctx)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	conn, err := (&dns.Client{Net: "tcp", Timeout: d}).DialContext(ctx, addr)
	if err != nil {
		return nil, &transferError{Rcode: -1, Err: err}
	}
	defer conn.Close()
	// Closing the connection is how a cancelled context stops a transfer in progress.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(d))
	tr := &dns.Transfer{Conn: conn, TsigSecret: key.tsigSecret(), DialTimeout: d, ReadTimeout: d, WriteTimeout: d}
	q := new(dns.Msg)
	q.SetAxfr(dns.Fqdn(zone))
	key.sign(q)
	ch, err := tr.In(q, addr)
	if err != nil {
		return nil, &transferError{Rcode: -1, Err: err}
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
	if first != nil {
		if ctx.Err() != nil && !errors.Is(first, context.DeadlineExceeded) {
			first = fmt.Errorf("%w (%v)", ctx.Err(), first)
		}
		return nil, &transferError{Rcode: rcodeOf(first), Received: received, Err: first}
	}
	if received == 0 {
		return nil, &transferError{Rcode: -1, Err: errors.New("transfer ended before any record")}
	}
	return rrs, nil
}

// rcodeOf recovers the rcode from miekg/dns's transfer errors, which carry it only in
// their text ("dns: bad xfr rcode: 9"); -1 when there is none.
func rcodeOf(err error) int {
	var rc int
	if _, e := fmt.Sscanf(err.Error(), "dns: bad xfr rcode: %d", &rc); e == nil {
		return rc
	}
	return -1
}

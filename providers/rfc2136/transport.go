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

// Transfer implements Transport. It drives dns.Transfer's reads itself rather than
// calling In, because In keeps the first answer from the caller when it fails, and
// only that answer tells a refused key (TSIG error BADKEY/BADSIG) from a zone the
// server does not serve (NOTAUTH with no TSIG error): miekg reports both as ErrAuth.
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
	tr := &dns.Transfer{Conn: conn, TsigSecret: key.tsigSecret()}
	q := new(dns.Msg)
	q.SetAxfr(dns.Fqdn(zone))
	key.sign(q)
	if err := tr.WriteMsg(q); err != nil {
		return nil, &transferError{Rcode: -1, Err: ctxErr(ctx, err)}
	}
	var rrs []dns.RR
	for received := 0; ; received++ {
		in, err := tr.ReadMsg()
		if received == 0 && in != nil {
			var tsigErr uint16
			if ts := in.IsTsig(); ts != nil {
				tsigErr = ts.Error
			}
			if in.Rcode != dns.RcodeSuccess || tsigErr != 0 {
				return nil, &transferError{Rcode: in.Rcode, TSIGError: tsigErr, Err: fmt.Errorf("transfer refused: %s", rcodeName(in.Rcode))}
			}
		}
		if err != nil {
			return nil, &transferError{Rcode: -1, Received: received, Err: ctxErr(ctx, err)}
		}
		if in.Id != q.Id {
			return nil, &transferError{Rcode: -1, Received: received, Err: dns.ErrId}
		}
		if received == 0 {
			if len(in.Answer) == 0 || in.Answer[0].Header().Rrtype != dns.TypeSOA {
				return nil, &transferError{Rcode: -1, Err: dns.ErrSoa}
			}
		}
		rrs = append(rrs, in.Answer...)
		// The transfer ends with the zone's SOA repeated.
		if n := len(in.Answer); n > 0 && len(rrs) > 1 && in.Answer[n-1].Header().Rrtype == dns.TypeSOA {
			return rrs[:len(rrs)-1], nil
		}
	}
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
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

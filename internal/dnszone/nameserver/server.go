package nameserver

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/dnszone"
)

// Server answers DNS on one address over UDP and TCP.
type Server struct {
	store Store
	keys  map[string]string // TSIG key name (canonical) → base64 secret
	addr  string
	udp   *dns.Server
	tcp   *dns.Server

	mu    sync.Mutex
	cache map[string]*index // origin → index of the latest snapshot seen
}

// Start serves store on addr ("127.0.0.1:0" picks a free port, the same one for UDP
// and TCP). keys maps TSIG key names to base64 secrets; when it is not empty, UPDATE
// and AXFR must be signed with one of them (queries stay open, as on a public
// nameserver). Close stops the server.
func Start(addr string, store Store, keys map[string]string) (*Server, error) {
	if store == nil {
		return nil, errors.New("nameserver: no store")
	}
	s := &Server{store: store, keys: map[string]string{}, cache: map[string]*index{}}
	for name, secret := range keys {
		// The secret itself never goes into an error: only the key's name.
		if _, err := fromBase64(secret); err != nil {
			return nil, fmt.Errorf("nameserver: TSIG key %s: secret is not valid base64", name)
		}
		s.keys[dnszone.Fqdn(name)] = secret
	}
	pc, l, err := listenBoth(addr)
	if err != nil {
		return nil, fmt.Errorf("nameserver: listen %s: %w", addr, err)
	}
	s.addr = l.Addr().String()
	h := dns.HandlerFunc(s.serveDNS)
	var secrets map[string]string
	if len(s.keys) > 0 {
		secrets = s.keys
	}
	s.udp = &dns.Server{PacketConn: pc, Handler: h, TsigSecret: secrets, MsgAcceptFunc: accept}
	s.tcp = &dns.Server{Listener: l, Handler: h, TsigSecret: secrets, MsgAcceptFunc: accept,
		ReadTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	errs := make(chan error, 2)
	go func() { errs <- s.udp.ActivateAndServe() }()
	go func() { errs <- s.tcp.ActivateAndServe() }()
	for i := 0; i < 2; i++ {
		select {
		case <-started:
		case err := <-errs:
			_ = s.Close()
			return nil, fmt.Errorf("nameserver: serve %s: %w", s.addr, err)
		}
	}
	return s, nil
}

// accept lets UPDATE through (miekg/dns's default turns it away, and limits the
// section counts an UPDATE needs); serveDNS judges the content.
func accept(dh dns.Header) dns.MsgAcceptAction {
	const qrBit = 1 << 15
	if dh.Bits&qrBit != 0 {
		return dns.MsgIgnore
	}
	switch int(dh.Bits>>11) & 0xF {
	case dns.OpcodeQuery, dns.OpcodeUpdate:
	default:
		return dns.MsgRejectNotImplemented
	}
	if dh.Qdcount != 1 {
		return dns.MsgReject
	}
	return dns.MsgAccept
}

// listenBoth opens TCP and UDP on the same port. With port 0 the kernel picks the
// TCP port and UDP may find it taken; then it tries again with another.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		pc, err := net.ListenPacket("udp", l.Addr().String())
		if err == nil {
			return pc, l, nil
		}
		l.Close()
		lastErr = err
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			break
		}
	}
	return nil, nil, lastErr
}

// Addr is the address served, e.g. "127.0.0.1:53535", for both UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops serving. Queries in flight are finished or dropped.
func (s *Server) Close() error {
	var errs []error
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(); err != nil && !strings.Contains(err.Error(), "not started") {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		s.reply(w, req, dns.RcodeFormatError)
		return
	}
	if t := req.IsTsig(); t != nil {
		switch {
		case len(s.keys) == 0:
			// A server without keys knows no key: BADKEY, as BIND answers.
			s.tsigFailure(w, req, t, dns.ErrSecret)
			return
		case w.TsigStatus() != nil:
			s.tsigFailure(w, req, t, w.TsigStatus())
			return
		}
	}
	switch req.Opcode {
	case dns.OpcodeQuery:
		switch req.Question[0].Qtype {
		case dns.TypeAXFR, dns.TypeIXFR:
			s.transfer(w, req)
		default:
			s.query(w, req)
		}
	case dns.OpcodeUpdate:
		s.update(w, req)
	default:
		s.reply(w, req, dns.RcodeNotImplemented)
	}
}

// reply answers with an rcode and nothing else, signed when the request was.
func (s *Server) reply(w dns.ResponseWriter, req *dns.Msg, rcode int) {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	s.write(w, req, m)
}

// write sends m, signing it with the request's key when the request was signed.
func (s *Server) write(w dns.ResponseWriter, req, m *dns.Msg) {
	if t := req.IsTsig(); t != nil && len(s.keys) > 0 {
		m.SetTsig(t.Hdr.Name, t.Algorithm, 300, time.Now().Unix())
	}
	_ = w.WriteMsg(m)
}

// tsigFailure answers a request whose TSIG did not verify, as RFC 8945 section 5.2
// says: NOTAUTH with the TSIG error BADKEY or BADSIG and no MAC, or BADTIME signed.
func (s *Server) tsigFailure(w dns.ResponseWriter, req *dns.Msg, t *dns.TSIG, err error) {
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeNotAuth)
	m.SetTsig(t.Hdr.Name, t.Algorithm, t.Fudge, time.Now().Unix())
	rr := m.Extra[len(m.Extra)-1].(*dns.TSIG)
	switch {
	case errors.Is(err, dns.ErrSecret), errors.Is(err, dns.ErrKeyAlg):
		rr.Error = dns.RcodeBadKey
	case errors.Is(err, dns.ErrTime):
		rr.Error = dns.RcodeBadTime
	default:
		rr.Error = dns.RcodeBadSig
	}
	if rr.Error != dns.RcodeBadTime {
		// miekg/dns leaves the MAC out for BADKEY and BADSIG itself, but an unknown
		// key would make it fail to sign: pack by hand.
		if b, err := m.Pack(); err == nil {
			_, _ = w.Write(b)
		}
		return
	}
	_ = w.WriteMsg(m)
}

// authorised reports whether a request that needs a key (UPDATE, AXFR) may proceed:
// always when the server has no keys, otherwise only when it was signed with one
// (serveDNS has already turned away signatures that did not verify).
func (s *Server) authorised(req *dns.Msg) bool {
	if len(s.keys) == 0 {
		return true
	}
	t := req.IsTsig()
	if t == nil {
		return false
	}
	_, ok := s.keys[dnszone.Fqdn(t.Hdr.Name)]
	return ok
}

// maxCachedIndexes bounds the per-zone index cache.
const maxCachedIndexes = 4096

// snapshot returns the zone for qname with its index, built once per snapshot.
func (s *Server) snapshot(qname string) (*dnszone.Zone, *index) {
	z := s.store.Lookup(qname)
	if z == nil {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.cache[z.Origin]; ix != nil && ix.zone == z {
		return z, ix
	}
	ix := buildIndex(z)
	if len(s.cache) >= maxCachedIndexes {
		// Zones removed from the store would otherwise keep their index forever;
		// starting over is cheap next to a leak in a long-running sandbox.
		clear(s.cache)
	}
	s.cache[z.Origin] = ix
	return z, ix
}

func fromBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(s)
}

func nowUnix() int64 { return time.Now().Unix() }

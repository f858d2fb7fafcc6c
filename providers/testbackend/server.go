package testbackend

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Server is a testdns nameserver: an HTTP API on TCP and DNS on UDP, both on Addr.
type Server struct {
	Addr string

	mu    sync.Mutex
	zones map[string][]dns.RR // origin without the final dot

	httpSrv *http.Server
	dnsSrv  *dns.Server
}

// NewServer starts a server on a loopback port free for both TCP and UDP.
func NewServer() (*Server, error) {
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			continue
		}
		s := &Server{Addr: pc.LocalAddr().String(), zones: map[string][]dns.RR{}}
		s.httpSrv = &http.Server{Handler: http.HandlerFunc(s.api)}
		s.dnsSrv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.answer)}
		go s.httpSrv.Serve(ln)
		go s.dnsSrv.ActivateAndServe()
		return s, nil
	}
	return nil, fmt.Errorf("testdns: no port free for both TCP and UDP")
}

// Close stops the server.
func (s *Server) Close() {
	s.httpSrv.Close()
	s.dnsSrv.Shutdown()
}

// Zones lists the zones the server holds.
func (s *Server) Zones() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.zones))
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/zones":
		s.mu.Lock()
		out := map[string]string{}
		for z, rrs := range s.zones {
			out[z] = digest(rrs)
		}
		s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/zones/"):
		zone := strings.TrimPrefix(r.URL.Path, "/zones/")
		var rrs []dns.RR
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			rr, err := dns.NewRR(sc.Text())
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			rrs = append(rrs, rr)
		}
		s.mu.Lock()
		s.zones[zone] = rrs
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// answer serves the records of the zone a question falls in (authoritative, no
// delegation): enough for dns verify's A, AAAA, MX and CNAME questions.
func (s *Server) answer(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	if len(q.Question) == 1 {
		qq := q.Question[0]
		name := strings.ToLower(qq.Name)
		s.mu.Lock()
		found := false
		for z, rrs := range s.zones {
			if !dns.IsSubDomain(dns.Fqdn(z), name) {
				continue
			}
			found = true
			for _, rr := range rrs {
				h := rr.Header()
				if strings.ToLower(h.Name) == name && (h.Rrtype == qq.Qtype || h.Rrtype == dns.TypeCNAME) {
					m.Answer = append(m.Answer, dns.Copy(rr))
				}
			}
		}
		s.mu.Unlock()
		if !found {
			m.Rcode = dns.RcodeRefused
		}
	}
	_ = w.WriteMsg(m)
}

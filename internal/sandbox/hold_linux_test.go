package sandbox

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// An offline node keeps its addresses, as a server that goes down keeps its IP:
// while it is offline no other process can bind its WHM or DNS port (another test
// binary's nameserver took a freed DNS port and answered REFUSED for the member's
// zones), the ports still refuse as closed ones do, and back online it serves on
// the same addresses.
func TestOfflineNodeKeepsItsAddresses(t *testing.T) {
	s := startTest(t, "")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example")
	whm := strings.TrimPrefix(strings.TrimPrefix(s.eps.Nodes["web1"].WHM, "https://"), "http://")
	dnsAddr := s.eps.Nodes["web1"].DNS
	if err := s.SetFaults("web1", Faults{Offline: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, network, addr string
	}{
		{"WHM over TCP", "tcp", whm},
		{"DNS over TCP", "tcp", dnsAddr},
		{"DNS over UDP", "udp", dnsAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.network == "udp" {
				var pc net.PacketConn
				if pc, err = net.ListenPacket("udp", tc.addr); err == nil {
					pc.Close()
				}
			} else {
				var l net.Listener
				if l, err = net.Listen("tcp", tc.addr); err == nil {
					l.Close()
				}
			}
			if err == nil {
				t.Fatalf("%s %s of the offline node could be bound by another", tc.network, tc.addr)
			}
			// Still refused, as a closed port is.
			c := &dns.Client{Net: tc.network, Timeout: 2 * time.Second}
			m := new(dns.Msg)
			m.SetQuestion("alice.example.", dns.TypeA)
			if _, _, err := c.Exchange(m, tc.addr); err == nil || !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("%s %s of the offline node: %v, want connection refused", tc.network, tc.addr, err)
			}
		})
	}
	if err := s.SetFaults("web1", Faults{}); err != nil {
		t.Fatal(err)
	}
	if got := s.Endpoints().Nodes["web1"]; got.DNS != dnsAddr || got.WHM != s.eps.Nodes["web1"].WHM {
		t.Fatalf("back online on %s and %s, want %s and %s", got.WHM, got.DNS, s.eps.Nodes["web1"].WHM, dnsAddr)
	}
	if got := lastA(s.lookup("web1", "alice.example", dns.TypeA)); got != "192.0.2.10" {
		t.Fatalf("back online, alice.example = %q", got)
	}
	s.must("web1", "version")
}

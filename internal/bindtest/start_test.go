package bindtest

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Start survives a port taken between finding it free and named binding it: by a
// plain UDP socket (named goes on without it), or by another named, which answers on
// the port and must not be taken for this one. Either way the next attempt gets new
// ports, and the server returned answers as the one Start started.
func TestStartRetriesATakenPort(t *testing.T) {
	Require(t, "named")
	other := Start(t, map[string]string{"example.org": ""}, Options{})
	for _, tc := range []struct {
		name  string
		taken func(t *testing.T) int
	}{
		{"udp socket", func(t *testing.T) int {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pc.Close() })
			return pc.LocalAddr().(*net.UDPAddr).Port
		}},
		{"another named", func(t *testing.T) int { return other.Port }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			taken := tc.taken(t)
			calls := 0
			pickPorts = func(n int) ([]int, error) {
				calls++
				ports, err := freePorts(n)
				if calls == 1 && err == nil {
					ports[0] = taken
				}
				return ports, err
			}
			t.Cleanup(func() { pickPorts = freePorts })
			n := Start(t, map[string]string{"example.org": ""}, Options{})
			if calls < 2 || n.Port == taken {
				t.Fatalf("started on %s after %d attempt(s); port %d was taken", n.Addr, calls, taken)
			}
			m := new(dns.Msg)
			m.SetQuestion("version.bind.", dns.TypeTXT)
			m.Question[0].Qclass = dns.ClassCHAOS
			r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, n.Addr)
			if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != n.id {
				t.Fatalf("the named on %s is not the one started: %v %v", n.Addr, err, r)
			}
		})
	}
}

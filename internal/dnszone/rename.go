package dnszone

import (
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Renamed returns a copy of z for a new domain (an account's primary domain changed):
// every name under the old origin, as owner or inside rdata (CNAME, MX, NS, SOA, SRV,
// PTR targets), moves under the new one; names elsewhere stay. The serial is bumped.
func (z *Zone) Renamed(newOrigin string, now time.Time) (*Zone, error) {
	to := Fqdn(newOrigin)
	if !validZoneName(to) {
		return nil, fmt.Errorf("rename zone %s: %q is not a zone name", z.Origin, newOrigin)
	}
	from := z.Origin
	move := func(name string) string {
		n := Fqdn(name)
		switch {
		case n == from:
			return to
		case strings.HasSuffix(n, "."+from):
			return n[:len(n)-len(from)] + to
		}
		return name
	}
	c := z.Clone()
	c.Origin = to
	for _, rr := range c.Records {
		rr.Header().Name = move(rr.Header().Name)
		switch r := rr.(type) {
		case *dns.SOA:
			r.Ns, r.Mbox = move(r.Ns), move(r.Mbox)
		case *dns.CNAME:
			r.Target = move(r.Target)
		case *dns.MX:
			r.Mx = move(r.Mx)
		case *dns.NS:
			r.Ns = move(r.Ns)
		case *dns.SRV:
			r.Target = move(r.Target)
		case *dns.PTR:
			r.Ptr = move(r.Ptr)
		}
	}
	if err := c.Normalize(); err != nil {
		return nil, fmt.Errorf("rename zone %s to %s: %w", from, to, err)
	}
	c.BumpSerial(now)
	return c, nil
}

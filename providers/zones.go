package providers

import (
	"context"

	"github.com/miekg/dns"
)

// ZoneSource gives the zones a parent holds (origin without the final dot → records).
// A provider that pushes a parent's zones elsewhere (rfc2136) receives one in
// Config.Zones; the provider that manages parents (whm) implements it. It lives here
// so that neither provider imports the other.
type ZoneSource interface {
	Zones(ctx context.Context, parent string) (map[string][]dns.RR, error)
}

// ZoneSourceFunc adapts a function to ZoneSource.
type ZoneSourceFunc func(ctx context.Context, parent string) (map[string][]dns.RR, error)

// Zones implements ZoneSource.
func (f ZoneSourceFunc) Zones(ctx context.Context, parent string) (map[string][]dns.RR, error) {
	return f(ctx, parent)
}

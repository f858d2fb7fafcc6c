package dnscluster

import (
	"context"
	"fmt"

	"github.com/tether-dev/tether/internal/dnszone"
	"github.com/tether-dev/tether/internal/dnszone/nameserver"
)

// StorePusher is a Pusher for members that live in the same process: Resolve finds
// the member's zone store (checking its credentials and whether it is up, as a real
// remote call would) and zones are copied in and out of it.
type StorePusher struct {
	Resolve func(ctx context.Context, m Member) (*nameserver.MemStore, error)
}

// Push implements Pusher.
func (p StorePusher) Push(ctx context.Context, m Member, z *dnszone.Zone) error {
	st, err := p.Resolve(ctx, m)
	if err != nil {
		return err
	}
	if err := st.Put(z); err != nil {
		return fmt.Errorf("store zone %s on %s: %w", z.Origin, m.Host, err)
	}
	return nil
}

// Fetch implements Pusher.
func (p StorePusher) Fetch(ctx context.Context, m Member) ([]*dnszone.Zone, error) {
	st, err := p.Resolve(ctx, m)
	if err != nil {
		return nil, err
	}
	return st.Zones(), nil
}

// HasMember reports whether host is configured in the cluster, which is what
// cluster_member_has_trust_with asks.
func (c Config) HasMember(host string) bool {
	_, ok := c.Members[host]
	return ok
}

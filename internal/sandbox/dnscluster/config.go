// Package dnscluster is the WHM DNS cluster of one simulated server: its settings
// and members (config), the HTML form endpoints WHM's own screens post to (handler),
// and replication of zones to members by role with the failure threshold
// (replicate). whm-api.md section 5 is the model; UNCONFIRMED.md lists what the
// sandbox decided where the documents are silent.
package dnscluster

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

// Roles, spelt as WHM writes them in <host>-dnsrole.
const (
	RoleStandalone = "standalone"
	RoleSync       = "sync"
	RoleWriteOnly  = "write-only"
)

// ModuleCPanel is the only backend the sandbox models (WHM also has SoftLayer and
// VPS.NET modules).
const ModuleCPanel = "cPanel"

// DefaultThreshold is cpanel.config's cluster_autodisable_threshold default.
const DefaultThreshold = 10

// Config is one server's DNS cluster: /var/cpanel/useclusteringdns (Enabled),
// cpanel.config's cluster_autodisable_threshold and cluster_failure_notifications,
// and /var/cpanel/cluster/root/config/* (Members). It is persisted as JSON.
type Config struct {
	Enabled   bool `json:"enabled"`
	Threshold int  `json:"threshold"` // 0 = never disable a member
	Notify    bool `json:"notify"`
	// Members are keyed by IP address, as WHM names /var/cpanel/cluster/root/config/<IP>
	// (Cpanel/NameServer/Setup/Remote/cPanel.pm resolves the host it is given).
	Members map[string]*Member `json:"members"`
	// StrayRoles are <server>-dnsrole files with no member behind them: WHM's
	// changeclusterdns.cgi writes one for any well-formed server name when the role
	// is standalone (Cpanel/DNSLib/PeerConfig.pm change_dns_role). They are kept
	// because a real server keeps them; nothing lists them.
	StrayRoles map[string]string `json:"stray_roles,omitempty"`
}

// Member is one remote nameserver of the cluster.
type Member struct {
	// Host is the member's IP address: the name of its config file and the value of
	// the status page's server= links.
	Host string `json:"host"`
	// Hostname is the config file's host= line: the remote's own host name when the
	// member was added with reverse trust (showhostname), else what was typed.
	Hostname string `json:"hostname,omitempty"`
	User     string `json:"user"`
	Token    string `json:"token"` // the remote's API token; never rendered, never logged
	Role     string `json:"role"`
	// Module is the backend; always "cPanel" here.
	Module   string `json:"module"`
	Debug    bool   `json:"debug,omitempty"`
	Disabled bool   `json:"disabled"` // WHM's <host>-down: auto-disabled after failures
	Failures int    `json:"failures"` // consecutive failed pushes
}

// String names the member without its token.
func (m *Member) String() string {
	return fmt.Sprintf("%s [%s] (role %s, user %s)", m.Hostname, m.Host, m.Role, m.User)
}

// GoString keeps %#v from printing the token.
func (m *Member) GoString() string {
	return fmt.Sprintf("&dnscluster.Member{Host:%q, Hostname:%q, User:%q, Token:<redacted>, Role:%q, Module:%q, Disabled:%t, Failures:%d}",
		m.Host, m.Hostname, m.User, m.Role, m.Module, m.Disabled, m.Failures)
}

// DefaultConfig is a fresh server's cluster settings: clustering off, threshold 10,
// notifications on.
func DefaultConfig() Config {
	return Config{Threshold: DefaultThreshold, Notify: true, Members: map[string]*Member{}}
}

// ValidRole reports whether r is one of WHM's three roles.
func ValidRole(r string) bool {
	return r == RoleStandalone || r == RoleSync || r == RoleWriteOnly
}

// Clone is a deep copy.
func (c Config) Clone() Config {
	out := c
	out.Members = make(map[string]*Member, len(c.Members))
	for h, m := range c.Members {
		cp := *m
		out.Members[h] = &cp
	}
	if c.StrayRoles != nil {
		out.StrayRoles = make(map[string]string, len(c.StrayRoles))
		for k, v := range c.StrayRoles {
			out.StrayRoles[k] = v
		}
	}
	return out
}

// Hosts lists the members' hosts, sorted.
func (c Config) Hosts() []string {
	out := make([]string, 0, len(c.Members))
	for h := range c.Members {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// Guarded is a Config shared between HTTP handlers and the replication loop.
type Guarded struct {
	mu  sync.Mutex
	cfg Config
}

// NewGuarded guards a copy of cfg.
func NewGuarded(cfg Config) *Guarded {
	if cfg.Members == nil {
		cfg.Members = map[string]*Member{}
	}
	return &Guarded{cfg: cfg.Clone()}
}

// Snapshot returns a copy of the current config.
func (g *Guarded) Snapshot() Config {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cfg.Clone()
}

// Update changes the config under the lock; fn works on a copy that replaces the
// config only when fn returns nil.
func (g *Guarded) Update(fn func(*Config) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.cfg.Clone()
	if err := fn(&c); err != nil {
		return err
	}
	g.cfg = c
	return nil
}

// Record is RecordResult on the config itself, for the one command sent to host, and
// returns the member as it is after it (zero when host is unknown). Replication
// records every zone it pushes: Update's copy of the whole config per command was a
// third of a replication round's CPU. Changing the config in place is safe under the
// lock, since Snapshot and Update hand out and take only copies.
func (g *Guarded) Record(host string, err error) (disabled bool, m Member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	disabled = g.cfg.RecordResult(host, err)
	if cur := g.cfg.Members[host]; cur != nil {
		m = *cur
	}
	return disabled, m
}

// MarshalJSON persists the current config.
func (g *Guarded) MarshalJSON() ([]byte, error) {
	return json.Marshal(g.Snapshot())
}

// UnmarshalJSON restores a persisted config.
func (g *Guarded) UnmarshalJSON(b []byte) error {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("dns cluster config: %w", err)
	}
	if c.Members == nil {
		c.Members = map[string]*Member{}
	}
	g.mu.Lock()
	g.cfg = c
	g.mu.Unlock()
	return nil
}

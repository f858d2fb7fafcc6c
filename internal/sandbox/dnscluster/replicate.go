package dnscluster

import (
	"context"
	"fmt"
	"sort"

	"github.com/tether-dev/tether/internal/dnszone"
)

// Pusher carries zones between this server and a member. The sandbox implements it
// in-process (the member is another simulated server); every call is one "dnsadmin
// command" for the failure threshold.
type Pusher interface {
	// Push writes zone onto the member, creating or replacing it.
	Push(ctx context.Context, m Member, zone *dnszone.Zone) error
	// Fetch returns the zones the member holds.
	Fetch(ctx context.Context, m Member) ([]*dnszone.Zone, error)
}

// Plan is what replication does, per member host, derived from the config and the
// local zones alone.
type Plan struct {
	// Push lists, per host, the local zones written to it (sync and write-only).
	Push map[string][]*dnszone.Zone
	// Read lists the hosts whose zones are read back into this server (sync and
	// standalone), sorted.
	Read []string
}

// PlanReplication decides who receives what. Nothing moves while clustering is off;
// a disabled member is skipped until it is re-enabled.
func PlanReplication(cfg Config, local []*dnszone.Zone) Plan {
	p := Plan{Push: map[string][]*dnszone.Zone{}}
	if !cfg.Enabled {
		return p
	}
	zones := append([]*dnszone.Zone(nil), local...)
	sort.Slice(zones, func(i, j int) bool { return zones[i].Origin < zones[j].Origin })
	for _, host := range cfg.Hosts() {
		m := cfg.Members[host]
		if m.Disabled {
			continue
		}
		switch m.Role {
		case RoleSync:
			p.Push[host] = zones
			p.Read = append(p.Read, host)
		case RoleWriteOnly:
			p.Push[host] = zones
		case RoleStandalone:
			p.Read = append(p.Read, host)
		}
	}
	return p
}

// Merge is the local server's view after reading members back: every local zone,
// plus each zone a member holds that the local server does not. For a zone held both
// here and remotely the local copy wins (it is the one this server writes); between
// members, the higher serial wins, then the first host in sorted order.
func Merge(local []*dnszone.Zone, remote map[string][]*dnszone.Zone) []*dnszone.Zone {
	byOrigin := make(map[string]*dnszone.Zone, len(local))
	isLocal := make(map[string]bool, len(local))
	for _, z := range local {
		byOrigin[z.Origin] = z
		isLocal[z.Origin] = true
	}
	hosts := make([]string, 0, len(remote))
	for h := range remote {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		for _, z := range remote[h] {
			// A set: a scan of the local zones per remote zone made every full
			// replication quadratic in a server's zones.
			if isLocal[z.Origin] {
				continue
			}
			if cur, ok := byOrigin[z.Origin]; !ok || int32(z.Serial-cur.Serial) > 0 {
				byOrigin[z.Origin] = z
			}
		}
	}
	out := make([]*dnszone.Zone, 0, len(byOrigin))
	for _, z := range byOrigin {
		out = append(out, z)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Origin < out[j].Origin })
	return out
}

// RecordResult counts one command sent to host: success resets the member's
// consecutive failures; a failure adds one, and once the count passes the threshold
// (more than Threshold failures in a row; never when Threshold is 0) the member is
// disabled. It reports whether this call disabled the member, so the caller can
// notify once. Unknown hosts are ignored.
func (c *Config) RecordResult(host string, err error) (disabled bool) {
	m, ok := c.Members[host]
	if !ok {
		return false
	}
	if err == nil {
		m.Failures = 0
		return false
	}
	m.Failures++
	if c.Threshold > 0 && m.Failures > c.Threshold && !m.Disabled {
		m.Disabled = true
		return true
	}
	return false
}

// Enable brings a disabled member back with a clean failure count.
func (c *Config) Enable(host string) error {
	m, ok := c.Members[host]
	if !ok {
		return fmt.Errorf("%s does not appear to be configured as a member of the cluster.", host)
	}
	m.Disabled = false
	m.Failures = 0
	return nil
}

// Outcome is what replication did with one member.
type Outcome struct {
	Host     string
	Pushed   []string // origins written
	Read     int      // zones read back
	Errors   []error  // each failed command, wrapped with host and zone
	Disabled bool     // this run disabled the member
}

// Result of one replication run.
type Result struct {
	Outcomes []Outcome // by host, sorted
	// Zones is the local view after reading members back (see Merge).
	Zones []*dnszone.Zone
}

// Notifier is told when a member has just been disabled and notifications are on.
type Notifier func(m Member, lastErr error)

// Replicate runs PlanReplication through p: every push and fetch is a command
// counted against the member's threshold in g. It stops sending to a member as soon
// as it is disabled. Cancelling ctx stops between commands.
func Replicate(ctx context.Context, g *Guarded, local []*dnszone.Zone, p Pusher, notify Notifier) (Result, error) {
	cfg := g.Snapshot()
	plan := PlanReplication(cfg, local)
	hosts := map[string]bool{}
	for h := range plan.Push {
		hosts[h] = true
	}
	for _, h := range plan.Read {
		hosts[h] = true
	}
	sorted := make([]string, 0, len(hosts))
	for h := range hosts {
		sorted = append(sorted, h)
	}
	sort.Strings(sorted)

	res := Result{}
	remote := map[string][]*dnszone.Zone{}
	record := func(o *Outcome, err error) bool {
		justDisabled, snapshot := g.Record(o.Host, err)
		if err != nil {
			o.Errors = append(o.Errors, err)
		}
		if justDisabled {
			o.Disabled = true
			if notify != nil && cfg.Notify {
				notify(snapshot, err)
			}
		}
		return snapshot.Disabled
	}
	for _, h := range sorted {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		m := *cfg.Members[h]
		o := Outcome{Host: h}
		disabled := false
		for _, z := range plan.Push[h] {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			err := p.Push(ctx, m, z)
			if err != nil {
				err = fmt.Errorf("dns cluster member %s: push zone %s: %w", h, z.Origin, err)
			} else {
				o.Pushed = append(o.Pushed, z.Origin)
			}
			if disabled = record(&o, err); disabled {
				break
			}
		}
		if !disabled && contains(plan.Read, h) {
			zs, err := p.Fetch(ctx, m)
			if err != nil {
				err = fmt.Errorf("dns cluster member %s: read zones: %w", h, err)
			} else {
				remote[h] = zs
				o.Read = len(zs)
			}
			record(&o, err)
		}
		res.Outcomes = append(res.Outcomes, o)
	}
	res.Zones = Merge(local, remote)
	return res, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

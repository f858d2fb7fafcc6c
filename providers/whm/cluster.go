package whm

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// The DNS cluster screens (whm-api.md section 5). They are WHM UI CGIs, not API
// functions, so the function-list test names them explicitly as exceptions.
const (
	cgiClusterStatus   = "/scripts7/clusterstatus"
	cgiAdjustCluster   = "/cgi/adjustclusterdns.cgi"
	cgiClusterOptions  = "/cgi/adjustclusteroptions.cgi"
	cgiAddMember       = "/cgi/activate_remote_nameservers.cgi"
	cgiChangeRole      = "/cgi/changeclusterdns.cgi"
	cgiRemoveMember    = "/cgi/remclusterserver.cgi"
	cgiEnableMember    = "/cgi/enableclusterserver.cgi"
	clusterUserDefault = "root"
)

// ClusterCGIs lists every non-API path the provider calls.
var ClusterCGIs = []string{cgiClusterStatus, cgiAdjustCluster, cgiClusterOptions, cgiAddMember, cgiChangeRole, cgiRemoveMember, cgiEnableMember}

func (p *Provider) clusterUser(parent string) string {
	if ep, ok := p.cfg.Endpoints[parent]; ok && ep.User != "" {
		return ep.User
	}
	return clusterUserDefault
}

// cgi posts a cluster action and turns its HTML answer into an error when WHM
// refused it. Messages are redacted: a screen may quote what it was sent.
func (p *Provider) cgi(ctx context.Context, c *whmapi.Client, kind whmapi.Kind, path string, q url.Values) error {
	body, err := c.Form(ctx, kind, path, q)
	if err != nil {
		return err
	}
	warnings, err := cgiOutcome(body)
	for _, w := range warnings {
		p.log.Warn("DNS cluster: "+c.Redact(w), "node", c.Node(), "screen", path)
	}
	if err != nil {
		return fmt.Errorf("node %s: %s: %s", c.Node(), path, c.Redact(err.Error()))
	}
	return nil
}

func (p *Provider) readClusterStatus(ctx context.Context, c *whmapi.Client, parent string) (*clusterStatus, error) {
	body, err := c.Form(ctx, whmapi.Read, cgiClusterStatus, url.Values{"cluster_user": {p.clusterUser(parent)}})
	if err != nil {
		return nil, err
	}
	return parseClusterStatus(strings.NewReader(body))
}

// observeCluster reads the parent's DNS cluster: its cPanel-backend members only
// (rfc2136 members are not WHM's; their provider observes them).
func (p *Provider) observeCluster(ctx context.Context, c *whmapi.Client, parent string, desired *schema.Fleet) (*schema.DNSCluster, error) {
	st, err := p.readClusterStatus(ctx, c, parent)
	if err != nil {
		return nil, err
	}
	cl := &schema.DNSCluster{Enabled: st.Enabled, NotifyOnDisable: st.Notify}
	if st.ThresholdRead {
		cl.FailureThreshold = st.Threshold
	} else if d := desiredCluster(desired, parent); d != nil {
		// Unreadable: report the desired value rather than invent drift; Apply reads
		// back what it can.
		cl.FailureThreshold = d.FailureThreshold
	}
	names := p.memberNames(desired, parent)
	for _, m := range st.Members {
		if !strings.EqualFold(m.Module, "cpanel") {
			continue
		}
		name, node := m.Host, ""
		if n, ok := names[strings.ToLower(m.Host)]; ok {
			name, node = n.member, n.node
		}
		if cl.Members == nil {
			cl.Members = map[string]*schema.Member{}
		}
		cl.Members[name] = &schema.Member{Backend: Backend, Node: node, Role: m.Role, Disabled: m.Disabled}
	}
	return cl, nil
}

func desiredCluster(desired *schema.Fleet, parent string) *schema.DNSCluster {
	if desired == nil {
		return nil
	}
	return desired.DNSClusters[parent]
}

type memberName struct{ member, node string }

// memberNames maps a lower-cased host to the member and node names the fleet uses for
// it: the desired cluster's members first, then any node with that host.
func (p *Provider) memberNames(desired *schema.Fleet, parent string) map[string]memberName {
	out := map[string]memberName{}
	if desired == nil {
		return out
	}
	nodes := make([]string, 0, len(desired.Nodes))
	for name := range desired.Nodes {
		nodes = append(nodes, name)
	}
	sort.Strings(nodes)
	for _, name := range nodes {
		if n := desired.Nodes[name]; n != nil && n.Host != "" {
			out[strings.ToLower(n.Host)] = memberName{member: name, node: name}
		}
	}
	if cl := desiredCluster(desired, parent); cl != nil {
		for mname, m := range cl.Members {
			if m == nil || m.BackendName() != Backend || m.Node == "" {
				continue
			}
			if n := desired.Nodes[m.Node]; n != nil && n.Host != "" {
				out[strings.ToLower(n.Host)] = memberName{member: mname, node: m.Node}
			}
		}
	}
	return out
}

// applyCluster runs dns.PARENT.cluster enable/disable/update.
func (p *Provider) applyCluster(ctx context.Context, parent string, ch *plan.Change) error {
	c, err := p.client(parent)
	if err != nil {
		return err
	}
	want, _ := ch.After.(*schema.DNSCluster)
	st, err := p.readClusterStatus(ctx, c, parent)
	if err != nil {
		return err
	}
	switch ch.Action {
	case plan.Enable, plan.Disable:
		on := ch.Action == plan.Enable
		if !st.EnabledKnown || st.Enabled != on {
			q := url.Values{"clusterdns": {boolStr(on)}, "cluster_user": {p.clusterUser(parent)}}
			if err := p.cgi(ctx, c, whmapi.Idempotent, cgiAdjustCluster, q); err != nil {
				return err
			}
		}
		if on && want != nil {
			if err := p.setClusterOptions(ctx, c, parent, want, st); err != nil {
				return err
			}
		}
	case plan.Update, plan.Create:
		if want == nil {
			return fmt.Errorf("update needs the desired cluster (After is %T)", ch.After)
		}
		if want.Enabled && (!st.EnabledKnown || !st.Enabled) {
			q := url.Values{"clusterdns": {"1"}, "cluster_user": {p.clusterUser(parent)}}
			if err := p.cgi(ctx, c, whmapi.Idempotent, cgiAdjustCluster, q); err != nil {
				return err
			}
		}
		if err := p.setClusterOptions(ctx, c, parent, want, st); err != nil {
			return err
		}
	default:
		return fmt.Errorf("action %s is not supported for a DNS cluster", ch.Action)
	}
	return p.verifyCluster(ctx, c, parent, ch.Action, want)
}

func (p *Provider) setClusterOptions(ctx context.Context, c *whmapi.Client, parent string, want *schema.DNSCluster, st *clusterStatus) error {
	sameThreshold := st.ThresholdRead && st.Threshold.Value() == want.FailureThreshold.Value()
	sameNotify := st.NotifyKnown && st.Notify == want.NotifyOnDisable
	if sameThreshold && sameNotify {
		return nil
	}
	q := url.Values{"cluster_user": {p.clusterUser(parent)}}
	// adjustclusteroptions.cgi takes a control (default → 10, disabled → 0) or a number.
	// The control value for a custom number is UNCONFIRMED ("custom" here); the number
	// is always sent as well, so a server that only reads the number is served too.
	switch v := want.FailureThreshold.Value(); {
	case v == 0:
		q.Set("autodisablethreshold_control", "disabled")
		q.Set("autodisablethreshold", "0")
	case v == schema.DefaultThreshold:
		q.Set("autodisablethreshold_control", "default")
		q.Set("autodisablethreshold", strconv.Itoa(v))
	default:
		q.Set("autodisablethreshold_control", "custom")
		q.Set("autodisablethreshold", strconv.Itoa(v))
	}
	q.Set("cluster_failure_notifications", boolStr(want.NotifyOnDisable))
	return p.cgi(ctx, c, whmapi.Idempotent, cgiClusterOptions, q)
}

func (p *Provider) verifyCluster(ctx context.Context, c *whmapi.Client, parent string, action plan.Action, want *schema.DNSCluster) error {
	st, err := p.readClusterStatus(ctx, c, parent)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	wantOn := action != plan.Disable && (want == nil || want.Enabled || action == plan.Enable)
	if st.EnabledKnown && st.Enabled != wantOn {
		return fmt.Errorf("read back: clustering is %s, want %s", onOff(st.Enabled), onOff(wantOn))
	}
	if wantOn && want != nil && st.ThresholdRead && st.Threshold.Value() != want.FailureThreshold.Value() {
		return fmt.Errorf("read back: failure threshold is %d, want %d (0 = never)", st.Threshold.Value(), want.FailureThreshold.Value())
	}
	return nil
}

// applyMember runs dns.PARENT.member.NAME changes for the cpanel backend.
func (p *Provider) applyMember(ctx context.Context, parent, name string, ch *plan.Change) error {
	m := memberOf(ch)
	if m == nil {
		return fmt.Errorf("no member in the change (before %T, after %T)", ch.Before, ch.After)
	}
	if m.BackendName() != Backend {
		return fmt.Errorf("backend %s is not served by the whm provider", m.BackendName())
	}
	node := m.Node
	if node == "" {
		node = name
	}
	host := m.Host
	if host == "" {
		host = p.hostOf(node)
	}
	if host == "" {
		return fmt.Errorf("node %s: no host name known for it", node)
	}
	c, err := p.client(parent)
	if err != nil {
		return err
	}
	st, err := p.readClusterStatus(ctx, c, parent)
	if err != nil {
		return err
	}
	cur := findMember(st, host)
	cu := p.clusterUser(parent)
	switch ch.Action {
	case plan.Create:
		if cur == nil {
			ep, ok := p.cfg.Endpoints[node]
			if !ok {
				return fmt.Errorf("node %s: no endpoint, so no API token to give the cluster", node)
			}
			q := url.Values{
				"module": {"cPanel"}, "host": {host}, "user": {ep.User}, "pass": {ep.Token},
				"dnsrole": {m.Role}, "synczones": {"on"}, "cluster_user": {cu},
			}
			if err := p.cgi(ctx, c, whmapi.Once, cgiAddMember, q); err != nil {
				return err
			}
		} else if cur.Role != m.Role {
			if err := p.changeRole(ctx, c, cu, host, m.Role); err != nil {
				return err
			}
		}
	case plan.Update:
		if cur == nil {
			return fmt.Errorf("member %s is not in the cluster", host)
		}
		if cur.Role != m.Role {
			if err := p.changeRole(ctx, c, cu, host, m.Role); err != nil {
				return err
			}
		}
	case plan.Delete:
		if cur != nil {
			if err := p.cgi(ctx, c, whmapi.Idempotent, cgiRemoveMember, url.Values{"server": {host}, "cluster_user": {cu}}); err != nil {
				return err
			}
		}
	case plan.Enable:
		if cur == nil {
			return fmt.Errorf("member %s is not in the cluster", host)
		}
		if cur.Disabled {
			if err := p.cgi(ctx, c, whmapi.Idempotent, cgiEnableMember, url.Values{"server": {host}}); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("action %s is not supported for a cPanel DNS cluster member", ch.Action)
	}
	// Read back.
	st, err = p.readClusterStatus(ctx, c, parent)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	cur = findMember(st, host)
	switch {
	case ch.Action == plan.Delete && cur != nil:
		return fmt.Errorf("read back: %s is still in the cluster", host)
	case ch.Action == plan.Delete:
		return nil
	case cur == nil:
		return fmt.Errorf("read back: %s is not in the cluster", host)
	case cur.Role != m.Role:
		return fmt.Errorf("read back: %s has role %s, want %s", host, cur.Role, m.Role)
	case ch.Action == plan.Enable && cur.Disabled:
		return fmt.Errorf("read back: %s is still disabled", host)
	}
	return nil
}

func (p *Provider) changeRole(ctx context.Context, c *whmapi.Client, cu, host, role string) error {
	return p.cgi(ctx, c, whmapi.Idempotent, cgiChangeRole, url.Values{"server": {host}, "dnsrole": {role}, "cluster_user": {cu}})
}

func memberOf(ch *plan.Change) *schema.Member {
	if m, ok := ch.After.(*schema.Member); ok && m != nil {
		return m
	}
	if m, ok := ch.Before.(*schema.Member); ok && m != nil {
		return m
	}
	return nil
}

func findMember(st *clusterStatus, host string) *clusterMember {
	for i := range st.Members {
		if strings.EqualFold(st.Members[i].Host, host) {
			return &st.Members[i]
		}
	}
	return nil
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func onOff(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

package whm

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
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
// refused it; it returns the success text. Messages are redacted: a screen may quote
// what it was sent.
func (p *Provider) cgi(ctx context.Context, c *whmapi.Client, kind whmapi.Kind, path string, q url.Values) (string, error) {
	body, err := c.Form(ctx, kind, path, q)
	if err != nil {
		return "", err
	}
	ok, warnings, err := cgiOutcome(body)
	for _, w := range warnings {
		p.log.Warn("DNS cluster: "+c.Redact(w), "node", c.Node(), "screen", path)
	}
	if err != nil {
		return "", fmt.Errorf("node %s: %s: %s", c.Node(), path, c.Redact(err.Error()))
	}
	return c.Redact(ok), nil
}

func (p *Provider) readClusterStatus(ctx context.Context, c *whmapi.Client, parent string) (*clusterStatus, error) {
	body, err := c.Form(ctx, whmapi.Read, cgiClusterStatus, url.Values{"cluster_user": {p.clusterUser(parent)}})
	if err != nil {
		return nil, err
	}
	return parseClusterStatus(strings.NewReader(body))
}

// observeCluster reads the parent's DNS cluster: its cPanel-backend members only
// (rfc2136 members are not WHM's; their provider observes them). A member is
// reported disabled only when WHM disabled it after failures; the other states of
// the status page are logged, naming the member.
func (p *Provider) observeCluster(ctx context.Context, c *whmapi.Client, parent string, desired *schema.Fleet) (*schema.DNSCluster, error) {
	st, err := p.readClusterStatus(ctx, c, parent)
	if err != nil {
		return nil, err
	}
	d := desiredCluster(desired, parent)
	cl := &schema.DNSCluster{Enabled: st.Enabled, NotifyOnDisable: st.Notify}
	if st.ThresholdRead {
		cl.FailureThreshold = st.Threshold
	} else if d != nil {
		// Clustering off: the page hides the options. Report the desired values
		// rather than invent drift; enabling sets them and reads them back.
		cl.FailureThreshold = d.FailureThreshold
	}
	if !st.NotifyKnown && d != nil {
		cl.NotifyOnDisable = d.NotifyOnDisable
	}
	if !st.Enabled && d != nil && !d.Enabled {
		// With clustering off the page lists no members, though WHM keeps their
		// configuration. While the fleet keeps it off too, report the fleet's cpanel
		// members as declared rather than plan them again. When the fleet turns it on,
		// none are reported: the plan adds them after enabling, and adding finds a kept
		// member already there (the status page lists it again) and only sets its role.
		for name, m := range d.Members {
			if m == nil || m.BackendName() != Backend {
				continue
			}
			if cl.Members == nil {
				cl.Members = map[string]*schema.Member{}
			}
			cl.Members[name] = &schema.Member{Backend: Backend, Node: m.Node, Role: m.Role}
		}
		return cl, nil
	}
	for _, m := range st.Members {
		if !strings.EqualFold(m.Module, "cpanel") {
			continue
		}
		// A member the fleet does not name is reported under the host name WHM shows,
		// or its address when WHM knows no name.
		name, node := m.Hostname, ""
		if name == "" || name == "unknown" {
			name = m.IP
		}
		if n, ok := p.memberName(desired, parent, m.IP); ok {
			name, node = n.member, n.node
		} else if n, ok := p.memberName(desired, parent, strings.ToLower(m.Hostname)); ok && m.Hostname != "unknown" {
			name, node = n.member, n.node
		}
		if node != "" {
			p.learnIP(node, m.IP)
		}
		p.logMemberState(parent, name, m)
		if cl.Members == nil {
			cl.Members = map[string]*schema.Member{}
		}
		cl.Members[name] = &schema.Member{Backend: Backend, Node: node, Role: m.Role, Disabled: m.Disabled()}
	}
	return cl, nil
}

// logMemberState says what the status page shows of a member that is not simply
// active. Only "disabled due to connection failures" is a disabled member.
func (p *Provider) logMemberState(parent, name string, m clusterMember) {
	if m.DNSOff {
		p.log.Warn("DNS cluster member's own DNS server is switched off; WHM still sends it updates (it is not a disabled member)",
			"parent", parent, "member", name, "address", m.IP)
	}
	switch m.State {
	case stateActive, stateAutoDisabled:
	case stateNeedsTrust:
		p.log.Warn("DNS cluster member has no reverse trust: changes made on it do not reach the cluster; set it up with the [Enable] link of WHM's DNS Cluster page (Tether sets it up only when it adds the member or changes it from write-only)",
			"parent", parent, "member", name, "address", m.IP, "role", m.Role)
	default:
		p.log.Warn("DNS cluster member: "+m.State.String(), "parent", parent, "member", name, "address", m.IP, "status", m.Detail)
	}
}

func (p *Provider) learnIP(node, ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ips[node] = ip
	p.remembered = nil
}

func desiredCluster(desired *schema.Fleet, parent string) *schema.DNSCluster {
	if desired == nil {
		return nil
	}
	return desired.DNSClusters[parent]
}

type memberName struct{ member, node string }

// memberName finds the member and node names the fleet uses for a member WHM shows
// under key (its address, or its lower-cased host name): a desired cluster member on
// a node with that address or host, else any node with it (the last by name). The
// few members of a page are looked up one by one, walking the nodes: a map of every
// node, sorted and built for every parent, cost a plan of 1,000 nodes 200k entries.
func (p *Provider) memberName(desired *schema.Fleet, parent, key string) (memberName, bool) {
	if desired == nil || key == "" {
		return memberName{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	matches := func(node string) bool {
		if n := desired.Nodes[node]; n != nil && n.Host != "" && strings.ToLower(n.Host) == key {
			return true
		}
		return p.ips[node] == key
	}
	if cl := desiredCluster(desired, parent); cl != nil {
		for mname, m := range cl.Members {
			if m != nil && m.BackendName() == Backend && m.Node != "" && matches(m.Node) {
				return memberName{member: mname, node: m.Node}, true
			}
		}
	}
	found := ""
	for name := range desired.Nodes {
		if name > found && matches(name) {
			found = name
		}
	}
	if found == "" {
		return memberName{}, false
	}
	return memberName{member: found, node: found}, true
}

// applyCluster runs dns.PARENT.cluster enable/disable/update
// (adjustclusterdns.cgi: clusterdns; adjustclusteroptions.cgi:
// autodisablethreshold_control, autodisablethreshold, cluster_failure_notifications).
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
		if st.Enabled != on {
			if err := p.setClustering(ctx, c, parent, on); err != nil {
				return err
			}
		}
		if on && want != nil {
			if st, err = p.readClusterStatus(ctx, c, parent); err != nil {
				return fmt.Errorf("read back: %w", err)
			}
			if err := p.setClusterOptions(ctx, c, parent, want, st); err != nil {
				return err
			}
		}
	case plan.Update, plan.Create:
		if want == nil {
			return fmt.Errorf("update needs the desired cluster (After is %T)", ch.After)
		}
		if want.Enabled && !st.Enabled {
			if err := p.setClustering(ctx, c, parent, true); err != nil {
				return err
			}
			if st, err = p.readClusterStatus(ctx, c, parent); err != nil {
				return fmt.Errorf("read back: %w", err)
			}
		}
		if st.Enabled {
			// The options form exists only while clustering is on.
			if err := p.setClusterOptions(ctx, c, parent, want, st); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("action %s is not supported for a DNS cluster", ch.Action)
	}
	return p.verifyCluster(ctx, c, parent, ch.Action, want)
}

func (p *Provider) setClustering(ctx context.Context, c *whmapi.Client, parent string, on bool) error {
	q := url.Values{"clusterdns": {boolStr(on)}, "cluster_user": {p.clusterUser(parent)}}
	_, err := p.cgi(ctx, c, whmapi.Idempotent, cgiAdjustCluster, q)
	return err
}

func (p *Provider) setClusterOptions(ctx context.Context, c *whmapi.Client, parent string, want *schema.DNSCluster, st *clusterStatus) error {
	sameThreshold := st.ThresholdRead && st.Threshold.Value() == want.FailureThreshold.Value()
	sameNotify := st.NotifyKnown && st.Notify == want.NotifyOnDisable
	if sameThreshold && sameNotify {
		return nil
	}
	// adjustclusteroptions.cgi: the control "default" is 10, "disabled" is 0, any
	// other control ("custom", the template's) takes autodisablethreshold.
	q := url.Values{"cluster_user": {p.clusterUser(parent)}}
	switch v := want.FailureThreshold.Value(); {
	case v == 0:
		q.Set("autodisablethreshold_control", "disabled")
	case v == schema.DefaultThreshold:
		q.Set("autodisablethreshold_control", "default")
	default:
		q.Set("autodisablethreshold_control", "custom")
		q.Set("autodisablethreshold", strconv.Itoa(v))
	}
	if want.NotifyOnDisable {
		// Left out, the CGI turns notifications off.
		q.Set("cluster_failure_notifications", "1")
	}
	_, err := p.cgi(ctx, c, whmapi.Idempotent, cgiClusterOptions, q)
	return err
}

func (p *Provider) verifyCluster(ctx context.Context, c *whmapi.Client, parent string, action plan.Action, want *schema.DNSCluster) error {
	st, err := p.readClusterStatus(ctx, c, parent)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	wantOn := action != plan.Disable && (want == nil || want.Enabled || action == plan.Enable)
	if st.Enabled != wantOn {
		return fmt.Errorf("read back: clustering is %s, want %s", onOff(st.Enabled), onOff(wantOn))
	}
	if wantOn && want != nil && st.ThresholdRead && st.Threshold.Value() != want.FailureThreshold.Value() {
		return fmt.Errorf("read back: failure threshold is %d, want %d (0 = never)", st.Threshold.Value(), want.FailureThreshold.Value())
	}
	if wantOn && want != nil && st.NotifyKnown && st.Notify != want.NotifyOnDisable {
		return fmt.Errorf("read back: failure notifications are %s, want %s", onOff(st.Notify), onOff(want.NotifyOnDisable))
	}
	return nil
}

// newRole is the role WHM reports in the add answer ("The new role for IP is
// ROLE.", Cpanel/DNSLib/PeerConfig.pm change_dns_role): the address WHM keys the
// new member by.
var newRole = regexp.MustCompile(`The new role for ([0-9A-Fa-f.:]+) is (standalone|sync|write-only)\.`)

// applyMember runs dns.PARENT.member.NAME changes for the cpanel backend. Members
// are addressed by the IP address WHM keeps them under (td.host on the status
// page), never by host name: remclusterserver.cgi, enableclusterserver.cgi and
// changeclusterdns.cgi take that address as server=.
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
	host := p.hostOf(node)
	c, err := p.client(parent)
	if err != nil {
		return err
	}
	st, err := p.readClusterStatus(ctx, c, parent)
	if err != nil {
		return err
	}
	cur := p.findMember(st, node, host)
	cu := p.clusterUser(parent)
	switch ch.Action {
	case plan.Create:
		if cur == nil {
			ip, err := p.addMember(ctx, c, parent, name, node, host, m.Role)
			if err != nil {
				return err
			}
			p.learnIP(node, ip)
		} else if cur.Role != m.Role {
			if err := p.changeRole(ctx, c, cu, cur.IP, m.Role); err != nil {
				return err
			}
		}
	case plan.Update:
		if cur == nil {
			return fmt.Errorf("DNS member %s (node %s) is not in the cluster of %s", name, node, parent)
		}
		if cur.Role != m.Role {
			if cur.State == stateNeedsTrust || (cur.Role == schema.DNSRoleWriteOnly && m.Role != schema.DNSRoleWriteOnly) {
				// A member added write-only has no reverse trust; sync and standalone
				// need it, so it is added again with recurse=on, which also sets the role.
				if _, err := p.addMember(ctx, c, parent, name, node, host, m.Role); err != nil {
					return err
				}
			} else if err := p.changeRole(ctx, c, cu, cur.IP, m.Role); err != nil {
				return err
			}
		}
	case plan.Delete:
		if cur != nil {
			p.leaveOnMember(ctx, parent, name, node)
			if _, err := p.cgi(ctx, c, whmapi.Idempotent, cgiRemoveMember, url.Values{"server": {cur.IP}, "cluster_user": {cu}}); err != nil {
				return err
			}
		}
	case plan.Enable:
		if cur == nil {
			return fmt.Errorf("DNS member %s (node %s) is not in the cluster of %s", name, node, parent)
		}
		if cur.Disabled() {
			if _, err := p.cgi(ctx, c, whmapi.Idempotent, cgiEnableMember, url.Values{"server": {cur.IP}, "cluster_user": {cu}}); err != nil {
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
	cur = p.findMember(st, node, host)
	switch {
	case ch.Action == plan.Delete && cur != nil:
		return fmt.Errorf("read back: %s (%s) is still in the cluster", name, cur.IP)
	case ch.Action == plan.Delete:
		return nil
	case cur == nil:
		return fmt.Errorf("read back: %s is not in the cluster", name)
	case cur.Role != m.Role:
		return fmt.Errorf("read back: %s has role %s, want %s", name, cur.Role, m.Role)
	case ch.Action == plan.Enable && cur.Disabled():
		return fmt.Errorf("read back: %s is still disabled", name)
	}
	return nil
}

// addMember is activate_remote_nameservers.cgi with every field
// Cpanel/NameServer/Setup/Remote/cPanel.pm and Whostmgr/DNS/Cluster.pm read. recurse
// makes WHM ask the member's version with the token, so a wrong token fails here
// (WHM's page then only says "Failed to set up DNS cluster for module “cPanel”.",
// so the error names the member and what to check); recurse=on also sets up the
// reverse trust that sync and standalone members need. It returns the member's
// address as WHM answered it.
func (p *Provider) addMember(ctx context.Context, c *whmapi.Client, parent, name, node, host, role string) (string, error) {
	ep, ok := p.cfg.Endpoints[node]
	if !ok {
		return "", fmt.Errorf("DNS member %s: node %s has no endpoint, so no API token to give the cluster", name, node)
	}
	if host == "" {
		return "", fmt.Errorf("DNS member %s: no host name known for node %s", name, node)
	}
	recurse := "on"
	if role == schema.DNSRoleWriteOnly {
		// Any value but "0" checks the credentials; only "on" sets up reverse trust,
		// which a write-only member does not use.
		recurse = "1"
	}
	q := url.Values{
		"module": {"cPanel"}, "cluster_user": {p.clusterUser(parent)},
		"host": {host}, "user": {ep.User}, "pass": {ep.Token},
		"dnsrole": {role}, "recurse": {recurse}, "synczones": {"on"},
	}
	ok2, err := p.cgi(ctx, c, whmapi.Once, cgiAddMember, q)
	if err != nil {
		return "", fmt.Errorf("DNS member %s (node %s, host %s): %s refused to add it: %w; check the API token of %s in the endpoints (user %s): WHM asks %s's version with it, and it needs the clustering ACL",
			name, node, host, parent, err, node, ep.User, host)
	}
	sm := newRole.FindStringSubmatch(ok2)
	if sm == nil {
		return "", fmt.Errorf("DNS member %s: %s added it but did not say under which address: %q", name, parent, ok2)
	}
	return sm[1], nil
}

// leaveOnMember is the first step of removing a member (the vendor's DNS Cluster
// page: log in to the server you remove and choose "Disable DNS Clustering"), done
// with the member's own endpoint. It is skipped, with a warning, when the fleet keeps
// the member's own DNS cluster on, or when the member cannot be reached: a dead
// member must still be removable from its parent.
func (p *Provider) leaveOnMember(ctx context.Context, parent, name, node string) {
	p.mu.Lock()
	own := p.ownCluster[node]
	p.mu.Unlock()
	if own {
		p.log.Warn("DNS member removal: the fleet keeps the member's own DNS cluster on, so clustering is not disabled there",
			"parent", parent, "member", name, "node", node)
		return
	}
	mc, err := p.client(node)
	if err == nil {
		_, err = p.cgi(ctx, mc, whmapi.Idempotent, cgiAdjustCluster, url.Values{"clusterdns": {"0"}, "cluster_user": {p.clusterUser(node)}})
	}
	if err != nil {
		p.log.Warn("DNS member removal: could not disable DNS clustering on the member first; removing it from the parent anyway",
			"parent", parent, "member", name, "node", node, "error", err.Error())
	}
}

func (p *Provider) changeRole(ctx context.Context, c *whmapi.Client, cu, ip, role string) error {
	_, err := p.cgi(ctx, c, whmapi.Idempotent, cgiChangeRole, url.Values{"server": {ip}, "dnsrole": {role}, "cluster_user": {cu}})
	return err
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

// findMember finds a node's row: by the address the fleet or WHM gave for it, else
// by the host name WHM shows (the member's own, when it was added with reverse trust).
func (p *Provider) findMember(st *clusterStatus, node, host string) *clusterMember {
	if ip := p.ipOf(node); ip != "" {
		for i := range st.Members {
			if st.Members[i].IP == ip {
				return &st.Members[i]
			}
		}
	}
	for i := range st.Members {
		if host != "" && strings.EqualFold(st.Members[i].Hostname, host) {
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

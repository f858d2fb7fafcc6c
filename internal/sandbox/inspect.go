package sandbox

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Inspection and test helpers. They act on the simulated servers directly and are
// not part of the WHM API: a provider never sees them.

func (sb *Sandbox) mustNode(name string) (*node, error) {
	n := sb.nodeByName(name)
	if n == nil {
		return nil, fmt.Errorf("sandbox: no node %q", name)
	}
	return n, nil
}

// editAccount changes user's account on node by hand, past the API's checks, under
// the node's lock, and marks the node for its next flush.
func (sb *Sandbox) editAccount(nodeName, user string, edit func(*account)) error {
	n, err := sb.mustNode(nodeName)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.st.Accounts[user]
	if a == nil {
		return fmt.Errorf("sandbox: node %s: no account %q", nodeName, user)
	}
	edit(a)
	n.markDirty()
	return nil
}

// AddMail delivers count messages to a mailbox of user on node.
func (sb *Sandbox) AddMail(nodeName, user, mailbox string, count int) error {
	n, err := sb.mustNode(nodeName)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st.Accounts[user] == nil {
		return fmt.Errorf("sandbox: node %s: no account %q", nodeName, user)
	}
	if n.st.Mail[user] == nil {
		n.st.Mail[user] = map[string]int{}
	}
	n.st.Mail[user][mailbox] += count
	n.markDirty()
	return nil
}

// Mailboxes returns the message count of each mailbox of user on node.
func (sb *Sandbox) Mailboxes(nodeName, user string) map[string]int {
	n := sb.nodeByName(nodeName)
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return copyMailboxes(n.st.Mail[user])
}

// MessageCount is the number of messages of user on node, all mailboxes together.
func (sb *Sandbox) MessageCount(nodeName, user string) int {
	n := sb.nodeByName(nodeName)
	if n == nil {
		return 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st.mailCount(user)
}

// OpenSession opens an IMAP/POP3 session of user on node.
func (sb *Sandbox) OpenSession(nodeName, user string) error {
	n, err := sb.mustNode(nodeName)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st.Accounts[user] == nil {
		return fmt.Errorf("sandbox: node %s: no account %q", nodeName, user)
	}
	n.st.Sessions[user]++
	n.markDirty()
	return nil
}

// OpenSessions is the number of open IMAP/POP3 sessions of user on node.
func (sb *Sandbox) OpenSessions(nodeName, user string) int {
	n := sb.nodeByName(nodeName)
	if n == nil {
		return 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st.Sessions[user]
}

// HasAccount reports whether node holds an account named user (on a child, the child
// side of a distributed account).
func (sb *Sandbox) HasAccount(nodeName, user string) bool {
	n := sb.nodeByName(nodeName)
	if n == nil {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st.Accounts[user] != nil
}

// PendingTasks is the number of background tasks queued on node.
func (sb *Sandbox) PendingTasks(nodeName string) int {
	n := sb.nodeByName(nodeName)
	if n == nil {
		return 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.st.Tasks)
}

// WaitIdle waits until no node has a queued background task.
func (sb *Sandbox) WaitIdle(ctx context.Context) error {
	for {
		busy := false
		sb.mu.RLock()
		for _, n := range sb.nodes {
			n.mu.Lock()
			busy = busy || len(n.st.Tasks) > 0
			n.mu.Unlock()
		}
		sb.mu.RUnlock()
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox: background tasks still running: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Nodes lists the node names.
func (sb *Sandbox) Nodes() []string {
	sb.mu.RLock()
	defer sb.mu.RUnlock()
	return slices.Sorted(maps.Keys(sb.nodes))
}

// Flush writes every changed node now.
func (sb *Sandbox) Flush() error { return sb.flushAll() }

// RoleEnabled reports whether a server role (e.g. SpamFilter) is on on node, as
// is_role_enabled would answer.
func (sb *Sandbox) RoleEnabled(nodeName, role string) bool {
	n, err := sb.mustNode(nodeName)
	if err != nil {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st.roleEnabled(role)
}

// SetFeatureList sets a feature in a feature list of node, as WHM's Feature Manager
// (update_featurelist) would; the sandbox's lists enable every feature until told.
func (sb *Sandbox) SetFeatureList(nodeName, list, feature string, on bool) error {
	n, err := sb.mustNode(nodeName)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st.FeatureLists == nil {
		n.st.FeatureLists = map[string]map[string]bool{}
	}
	if n.st.FeatureLists[list] == nil {
		n.st.FeatureLists[list] = map[string]bool{}
	}
	n.st.FeatureLists[list][feature] = on
	n.markDirty()
	return nil
}

// Notifications returns the classes and texts of the notifications node sent, oldest
// first (WHM mails them to its contacts; no API reads them).
func (sb *Sandbox) Notifications(nodeName string) []string {
	n, err := sb.mustNode(nodeName)
	if err != nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.st.Notifications))
	for _, x := range n.st.Notifications {
		out = append(out, x.Class+": "+x.Text)
	}
	return out
}

// LinkToken is the API token a parent stores for a linked child (never returned by
// the API), or "" when the alias is not linked.
func (sb *Sandbox) LinkToken(parent, alias string) string {
	n, err := sb.mustNode(parent)
	if err != nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if l := n.st.Links[alias]; l != nil {
		return l.Token
	}
	return ""
}

// TokenExpires is the expiry (Unix time, 0 for never) of the token tok on node, and
// whether node knows it.
func (sb *Sandbox) TokenExpires(nodeName, tok string) (int64, bool) {
	n, err := sb.mustNode(nodeName)
	if err != nil {
		return 0, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	h := hashToken(tok)
	for _, byName := range n.st.Tokens {
		for _, t := range byName {
			if t.Hash == h {
				return t.ExpiresAt, true
			}
		}
	}
	return 0, false
}

// SetIPv6 gives an account IPv6 addresses, as WHM's ipv6_enable_account would from
// one of the server's ranges (ranges are not modelled).
func (sb *Sandbox) SetIPv6(nodeName, user string, addrs ...string) error {
	return sb.editAccount(nodeName, user, func(a *account) {
		a.IPv6 = append([]string(nil), addrs...)
	})
}

// Forwarders lists the forwarders of user on node as "DEST FORWARD" lines, sorted:
// where the account's mail is (the parent, or the child of a distributed account).
func (sb *Sandbox) Forwarders(nodeName, user string) []string {
	n := sb.nodeByName(nodeName)
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.st.Accounts[user]
	if a == nil {
		return nil
	}
	out := make([]string, 0, len(a.Forwarders))
	for _, f := range a.Forwarders {
		out = append(out, f.Dest+" "+f.Forward)
	}
	slices.Sort(out)
	return out
}

// AddForwarder writes a forwarder for user on node by hand, past the API's checks,
// as an administrator editing the account's valiases would (the linked nodes guide:
// users "can still manually create" pipe forwarders on distributed accounts).
func (sb *Sandbox) AddForwarder(nodeName, user, dest, forward string) error {
	return sb.editAccount(nodeName, user, func(a *account) {
		a.Forwarders = append(a.Forwarders, forwarder{Dest: dest, Forward: forward})
	})
}

// AddIPv6Range gives node an IPv6 address range, as WHM's IPv6 Ranges screen (or
// ipv6_range_add) would.
func (sb *Sandbox) AddIPv6Range(nodeName, name, cidr string) error {
	n, err := sb.mustNode(nodeName)
	if err != nil {
		return err
	}
	r := &ipv6Range{Name: name, CIDR: cidr, Enabled: true}
	if _, _, ok := r.bounds(); !ok {
		return fmt.Errorf("sandbox: %q is not an IPv6 range in CIDR form", cidr)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st.IPv6Ranges == nil {
		n.st.IPv6Ranges = map[string]*ipv6Range{}
	}
	n.st.IPv6Ranges[name] = r
	n.markDirty()
	return nil
}

// SetNameServer sets node's DNS server software ("powerdns", or "" for BIND), as
// WHM's Nameserver Selection screen would.
func (sb *Sandbox) SetNameServer(nodeName, software string) error {
	n, err := sb.mustNode(nodeName)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.st.NameServer = software
	n.markDirty()
	return nil
}

// SignZone signs (or, on false, unsigns) a domain's zone with DNSSEC on node, as
// enable_dnssec_for_domains / disable_dnssec_for_domains would (not served); only a
// PowerDNS node can.
func (sb *Sandbox) SignZone(nodeName, domain string, on bool) error {
	n, err := sb.mustNode(nodeName)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st.NameServer != "powerdns" {
		return fmt.Errorf("sandbox: node %s does not run PowerDNS", nodeName)
	}
	if n.st.Signed == nil {
		n.st.Signed = map[string]int{}
	}
	if on {
		n.st.Signed[strings.ToLower(domain)] = 40000 + len(n.st.Signed)
	} else {
		delete(n.st.Signed, strings.ToLower(domain))
	}
	n.markDirty()
	return nil
}

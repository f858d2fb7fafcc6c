package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

func linkFunctions() map[string]function {
	return map[string]function{
		"link_server_node_with_api_token": {h: fnLink, acl: "all", root: true},
		"list_linked_server_nodes":        {h: fnListLinked, acl: "all", root: true},
		"get_linked_server_node":          {h: fnGetLinked, acl: "all", root: true},
		"update_linked_server_node":       {h: fnUpdateLinked, acl: "all", root: true},
		"unlink_server_node":              {h: fnUnlink, acl: "all", root: true},
		"list_user_child_nodes":           {h: fnListUserChildNodes, acl: "all", root: true},
	}
}

var (
	reAlias    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,50}$`)
	reHostname = regexp.MustCompile(`^(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?))+$`)
)

// requiredChildServices are the services a Mail child must run.
var requiredChildServices = []string{"cpdavd", "exim", "imap", "lmtp", "pop"}

func checkHostname(h string) error {
	if net.ParseIP(h) != nil {
		return die("“%s” is an IP address. Provide the remote node’s host name instead.", h)
	}
	if len(h) > 253 || !reHostname.MatchString(h) {
		return die("“%s” is not a valid host name.", h)
	}
	return nil
}

func noLink(alias string) error {
	return die("No node link with alias “%s” exists on this system.", alias)
}

func linkJSON(l *link) map[string]any {
	return map[string]any{
		"alias": l.Alias, "hostname": l.Hostname, "username": l.Username, "version": l.Version,
		"enabled_services":    l.EnabledServices,
		"worker_capabilities": map[string]any{"Mail": map[string]any{}},
		"system_settings":     map[string]any{"Mail": map[string]any{"globalspamassassin": 0}},
		"tls_verified":        l.TLSVerified,
		"last_check":          l.LastCheck,
	}
}

// probeChild runs the remote checks of linking: version, the token's privileges, the
// services and the child's own links. It returns the child's version and services.
func (n *node) probeChild(ctx context.Context, host, user, token string) (string, []string, error) {
	var ver struct {
		Version string `json:"version"`
	}
	res, err := n.sb.remote(ctx, host, user, token, "version", nil)
	if err != nil {
		return "", nil, die("The system failed to query the remote node “%s”: %s", host, err.Error())
	}
	if err := json.Unmarshal(res.Data, &ver); err != nil {
		return "", nil, die("The remote node “%s” sent an invalid version.", host)
	}
	n.mu.Lock()
	myVersion := n.st.Version
	myHost := n.st.Host
	n.mu.Unlock()
	if majorOf(ver.Version) < majorOf(myVersion) {
		return "", nil, die("The remote node “%s” runs cPanel & WHM version %s. It must run version 11.%d.0.0 or later.", host, ver.Version, majorOf(myVersion))
	}
	res, err = n.sb.remote(ctx, host, user, token, "myprivs", nil)
	if err != nil {
		return "", nil, die("The system failed to query the remote node “%s”: %s", host, err.Error())
	}
	var privs struct {
		Privileges []map[string]int `json:"privileges"`
	}
	if json.Unmarshal(res.Data, &privs) != nil || len(privs.Privileges) == 0 || privs.Privileges[0]["all"] != 1 {
		return "", nil, die("The API token for “%s” on “%s” does not have the “all” privilege.", user, host)
	}
	res, err = n.sb.remote(ctx, host, user, token, "servicestatus", nil)
	if err != nil {
		return "", nil, die("The system failed to query the remote node “%s”: %s", host, err.Error())
	}
	var svc struct {
		Service []struct {
			Name    string `json:"name"`
			Enabled int    `json:"enabled"`
		} `json:"service"`
	}
	_ = json.Unmarshal(res.Data, &svc)
	var have []string
	for _, s := range svc.Service {
		if s.Enabled == 1 {
			have = append(have, s.Name)
		}
	}
	var lacking []string
	for _, s := range requiredChildServices {
		if !slices.Contains(have, s) {
			lacking = append(lacking, s)
		}
	}
	if len(lacking) > 0 {
		return "", nil, die("The remote node “%s” does not have the following required services enabled: %s", host, strings.Join(lacking, ", "))
	}
	res, err = n.sb.remote(ctx, host, user, token, "list_linked_server_nodes", nil)
	if err != nil {
		return "", nil, die("The system failed to query the remote node “%s”: %s", host, err.Error())
	}
	var links struct {
		Payload []struct {
			Hostname string `json:"hostname"`
		} `json:"payload"`
	}
	_ = json.Unmarshal(res.Data, &links)
	for _, l := range links.Payload {
		if strings.EqualFold(l.Hostname, myHost) {
			return "", nil, die("The remote node “%s” already links to this server as a “Mail” node.", host)
		}
	}
	return ver.Version, have, nil
}

func fnLink(c *call) (any, error) {
	var vals [4]string
	for i, p := range []string{"alias", "hostname", "username", "api_token"} {
		v, err := c.required(p)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	alias, host, user, token := vals[0], strings.ToLower(vals[1]), vals[2], vals[3]
	skipTLS, _, err := c.boolArg("skip_tls_verification")
	if err != nil {
		return nil, err
	}
	if !reAlias.MatchString(alias) {
		return nil, die("The alias “%s” is invalid. An alias may contain only letters, digits, hyphens (-) and underscores (_), and at most 50 characters.", alias)
	}
	if err := checkHostname(host); err != nil {
		return nil, err
	}
	if err := c.checkNewLink(alias, host); err != nil {
		return nil, err
	}
	ver, svcs, err := c.n.probeChild(c.ctx, host, user, token)
	if err != nil {
		return nil, err
	}
	c.n.mu.Lock()
	myHost := c.n.st.Host
	c.n.mu.Unlock()
	l := &link{Alias: alias, Hostname: host, Username: user, Token: token, Version: ver, EnabledServices: svcs, TLSVerified: 1, LastCheck: epochNow()}
	if skipTLS {
		l.TLSVerified = 0
	}
	if _, err := c.n.callChild(c.ctx, *l, "PRIVATE_set_as_child_node", url.Values{"parent_hostname": {myHost}}); err != nil {
		var re *remoteError
		if errors.As(err, &re) {
			return nil, die("%s", re.reason)
		}
		return nil, die("The system failed to link “%s”: %s", host, err.Error())
	}
	err = c.lock(func(st *nodeState) (bool, error) {
		if err := checkNewLinkLocked(st, alias, host); err != nil {
			return false, err
		}
		st.Links[alias] = l
		return true, nil
	})
	if err != nil {
		// Lost a race with another link of the same alias or host: undo the child side.
		_, _ = c.n.callChild(context.WithoutCancel(c.ctx), *l, "PRIVATE_unset_as_child_node", url.Values{"parent_hostname": {myHost}})
		return nil, err
	}
	return nil, nil
}

func (c *call) checkNewLink(alias, host string) error {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	return checkNewLinkLocked(c.n.st, alias, host)
}

func checkNewLinkLocked(st *nodeState, alias, host string) error {
	if st.Profile != "STANDARD" {
		return die("A parent node must use the “STANDARD” server profile. This server uses “%s”.", st.Profile)
	}
	if st.ParentHost != "" {
		return die("This server is a child node of “%s”. A child node cannot link to other nodes.", st.ParentHost)
	}
	if _, ok := st.Links[alias]; ok {
		return die("A node link with alias “%s” already exists on this system.", alias)
	}
	if strings.EqualFold(host, st.Host) {
		return die("“%s” is this server. A server cannot link to itself.", host)
	}
	for _, l := range st.Links {
		if strings.EqualFold(l.Hostname, host) {
			return die("This server already links to “%s” with the alias “%s”.", host, l.Alias)
		}
	}
	return nil
}

func fnListLinked(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	out := []any{}
	for _, a := range slices.Sorted(maps.Keys(c.n.st.Links)) {
		out = append(out, linkJSON(c.n.st.Links[a]))
	}
	return map[string]any{"payload": out}, nil
}

func fnGetLinked(c *call) (any, error) {
	alias, err := c.required("alias")
	if err != nil {
		return nil, err
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	l, ok := c.n.st.Links[alias]
	if !ok {
		return nil, noLink(alias)
	}
	return linkJSON(l), nil
}

func fnUpdateLinked(c *call) (any, error) {
	alias, err := c.required("alias")
	if err != nil {
		return nil, err
	}
	old, ok := c.n.linkCopy(alias)
	if !ok {
		return nil, noLink(alias)
	}
	nl := old
	if v := c.str("hostname"); v != "" {
		nl.Hostname = strings.ToLower(v)
		if err := checkHostname(nl.Hostname); err != nil {
			return nil, err
		}
	}
	if v := c.str("username"); v != "" {
		nl.Username = v
	}
	if v := c.str("api_token"); v != "" {
		nl.Token = v
	}
	skip, present, err := c.boolArg("skip_tls_verification")
	if err != nil {
		return nil, err
	}
	if present {
		if skip && old.TLSVerified == 1 {
			return nil, die("The node “%s” has a valid TLS certificate: you cannot skip TLS verification for it.", alias)
		}
		if !skip {
			nl.TLSVerified = 1
		}
	}
	c.n.mu.Lock()
	myHost := c.n.st.Host
	hostTaken := ""
	for _, l := range c.n.st.Links {
		if l.Alias != alias && strings.EqualFold(l.Hostname, nl.Hostname) {
			hostTaken = l.Alias
		}
	}
	c.n.mu.Unlock()
	if hostTaken != "" {
		return nil, die("This server already links to “%s” with the alias “%s”.", nl.Hostname, hostTaken)
	}
	ver, svcs, err := c.n.probeChildForUpdate(c.ctx, nl, old)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(nl.Hostname, old.Hostname) {
		if _, err := c.n.callChild(c.ctx, nl, "PRIVATE_set_as_child_node", url.Values{"parent_hostname": {myHost}}); err != nil {
			var re *remoteError
			if errors.As(err, &re) {
				return nil, die("%s", re.reason)
			}
			return nil, die("The system failed to link “%s”: %s", nl.Hostname, err.Error())
		}
	}
	nl.Version, nl.EnabledServices, nl.LastCheck = ver, svcs, epochNow()
	return nil, c.lock(func(st *nodeState) (bool, error) {
		if _, ok := st.Links[alias]; !ok {
			return false, noLink(alias)
		}
		st.Links[alias] = &nl
		return true, nil
	})
}

// probeChildForUpdate re-runs the remote validation; the "links back to us" check is
// skipped since the child is ours already.
func (n *node) probeChildForUpdate(ctx context.Context, nl, old link) (string, []string, error) {
	var ver struct {
		Version string `json:"version"`
	}
	res, err := n.sb.remote(ctx, nl.Hostname, nl.Username, nl.Token, "version", nil)
	if err != nil {
		return "", nil, die("The system failed to query the remote node “%s”: %s", nl.Hostname, err.Error())
	}
	_ = json.Unmarshal(res.Data, &ver)
	n.mu.Lock()
	myVersion := n.st.Version
	n.mu.Unlock()
	if majorOf(ver.Version) < majorOf(myVersion) {
		return "", nil, die("The remote node “%s” runs cPanel & WHM version %s. It must run version 11.%d.0.0 or later.", nl.Hostname, ver.Version, majorOf(myVersion))
	}
	res, err = n.sb.remote(ctx, nl.Hostname, nl.Username, nl.Token, "myprivs", nil)
	if err != nil {
		return "", nil, die("The system failed to query the remote node “%s”: %s", nl.Hostname, err.Error())
	}
	var privs struct {
		Privileges []map[string]int `json:"privileges"`
	}
	if json.Unmarshal(res.Data, &privs) != nil || len(privs.Privileges) == 0 || privs.Privileges[0]["all"] != 1 {
		return "", nil, die("The API token for “%s” on “%s” does not have the “all” privilege.", nl.Username, nl.Hostname)
	}
	svcs := old.EnabledServices
	if res, err := n.sb.remote(ctx, nl.Hostname, nl.Username, nl.Token, "servicestatus", nil); err == nil {
		var svc struct {
			Service []struct {
				Name    string `json:"name"`
				Enabled int    `json:"enabled"`
			} `json:"service"`
		}
		if json.Unmarshal(res.Data, &svc) == nil {
			svcs = nil
			for _, s := range svc.Service {
				if s.Enabled == 1 {
					svcs = append(svcs, s.Name)
				}
			}
		}
	}
	return ver.Version, svcs, nil
}

func fnUnlink(c *call) (any, error) {
	alias, err := c.required("alias")
	if err != nil {
		return nil, err
	}
	handle := c.str("handle_api_token")
	if handle != "" && handle != "leave" && handle != "expire_24h" {
		return nil, die("The “handle_api_token” parameter must be “leave” or “expire_24h”, not “%s”.", handle)
	}
	var l link
	err = c.lock(func(st *nodeState) (bool, error) {
		cur, ok := st.Links[alias]
		if !ok {
			return false, noLink(alias)
		}
		if users := st.usersOfLink(alias); len(users) > 0 {
			return false, die("%d account(s) use this linkage. The system cannot delete a linkage that is in use.", len(users))
		}
		l = *cur
		delete(st.Links, alias)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	c.n.mu.Lock()
	myHost := c.n.st.Host
	c.n.mu.Unlock()
	params := url.Values{"parent_hostname": {myHost}}
	if handle == "expire_24h" {
		params.Set("expire_api_token", "1")
	}
	if _, err := c.n.callChild(c.ctx, l, "PRIVATE_unset_as_child_node", params); err != nil {
		c.warnings = append(c.warnings, fmt.Sprintf("The system failed to notify “%s” of the unlinking: %s", l.Hostname, err.Error()))
	}
	return linkJSON(&l), nil
}

func fnListUserChildNodes(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	out := []any{}
	for _, u := range c.n.st.sortedUsers() {
		if a := c.n.st.Accounts[u]; a.MailNode != "" {
			out = append(out, map[string]any{"user": u, "alias": a.MailNode, "type": "Mail"})
		}
	}
	return map[string]any{"payload": out}, nil
}

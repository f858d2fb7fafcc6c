package whm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/schema"
)

// Governs reports whether a node of the given role sets the password-strength kind.
func Governs(role, kind string) bool {
	if role != schema.RoleChild {
		return true
	}
	return slices.Contains(schema.MailChildPasswordKinds, kind)
}

// observeParallel bounds the calls one Observe makes at once to one node.
const observeParallel = 4

// Observe reads a parent, its linked children, its accounts and resellers and its DNS
// cluster with bulk reads: the number of calls grows with the number of children and
// resellers and with accounts/FeatureBatch, never one call per account.
func (p *Provider) Observe(ctx context.Context, scope string, desired *schema.Fleet) (*schema.Fleet, error) {
	p.rememberHosts(desired)
	if desired != nil && desired.Nodes[scope] != nil && desired.Nodes[scope].Role == schema.RoleDNSOnly {
		return p.observeDNSOnly(ctx, scope)
	}
	c, err := p.client(scope)
	if err != nil {
		return nil, fmt.Errorf("parent %s: %w", scope, err)
	}
	out := &schema.Fleet{
		Nodes:     map[string]*schema.Node{},
		Accounts:  map[string]*schema.Account{},
		Resellers: map[string]*schema.Reseller{},
	}
	// Reach the parent first, so an unreachable or misconfigured parent gives one
	// clear error rather than five: its own settings and its listings come in one
	// batch request.
	parent, lst, err := p.observeNode(ctx, c, schema.RoleParent, true)
	if err != nil {
		return nil, fmt.Errorf("parent %s: %w", scope, err)
	}
	parent.Host = p.hostOf(scope)
	out.Nodes[scope] = parent
	linked, accts, resellers := lst.Linked, lst.Accts, lst.Resellers

	// The cluster status page is the parent's; the children answer on their own
	// connections meanwhile.
	var (
		cluster *schema.DNSCluster
		clErr   error
		clDone  = make(chan struct{})
	)
	go func() {
		defer close(clDone)
		cluster, clErr = p.observeCluster(ctx, c, scope, desired)
	}()
	unread := map[string]error{}
	p.observeChildren(ctx, scope, linked, desired, out, unread)
	p.observeUnlinked(ctx, scope, desired, out, unread)
	<-clDone
	if clErr != nil {
		if desired != nil && desired.DNSClusters[scope] != nil {
			return nil, fmt.Errorf("parent %s: DNS cluster: %w", scope, clErr)
		}
		// The fleet does not manage this parent's cluster: its status is only needed
		// to report unmanaged members, so a failure to read it is not fatal.
		p.log.Warn("cannot read the DNS cluster status; not managed by the fleet, skipped", "node", scope, "error", clErr.Error())
	} else if cluster != nil {
		out.DNSClusters = map[string]*schema.DNSCluster{scope: cluster}
	}

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("parent %s: %w", scope, err)
	}

	// The parent's accounts in one allocation, not one each (100k in a large plan).
	slab := make([]schema.Account, len(accts))
	users := make([]observedUser, 0, len(accts))
	for i := range accts {
		a := &accts[i]
		if a.User == "" {
			continue
		}
		fillAccount(&slab[i], scope, a)
		out.Accounts[a.User] = &slab[i]
		users = append(users, observedUser{name: a.User, acc: &slab[i]})
	}
	users = byName(users)
	if err := p.observeResellers(ctx, c, scope, resellers, out); err != nil {
		return nil, err
	}
	for r, res := range out.Resellers {
		if i, ok := slices.BinarySearchFunc(users, r, func(u observedUser, name string) int { return strings.Compare(u.name, name) }); ok {
			users[i].acc, users[i].reseller = &res.Account, true
		}
	}
	clustered := out.DNSClusters[scope] != nil && out.DNSClusters[scope].Enabled
	features := declare(desired, users, clustered)
	if err := p.observeFeatures(ctx, c, scope, users, features, out); err != nil {
		return nil, err
	}
	if err := p.observeForwarders(ctx, c, scope, desired, users, unread); err != nil {
		return nil, err
	}
	if err := p.observeDNSSEC(ctx, c, scope, users, clustered); err != nil {
		return nil, err
	}
	if len(unread) > 0 {
		// The parent and its accounts were read; the children named were not.
		return out, &providers.UnreadError{Nodes: unread}
	}
	return out, nil
}

// observeDNSOnly reads a DNS-only node's own settings. Its cluster membership is
// observed from each parent's side.
func (p *Provider) observeDNSOnly(ctx context.Context, name string) (*schema.Fleet, error) {
	c, err := p.client(name)
	if err != nil {
		return nil, fmt.Errorf("DNS-only node %s: %w", name, err)
	}
	n, _, err := p.observeNode(ctx, c, schema.RoleDNSOnly, false)
	if err != nil {
		return nil, fmt.Errorf("DNS-only node %s: %w", name, err)
	}
	n.Host = p.hostOf(name)
	return &schema.Fleet{Nodes: map[string]*schema.Node{name: n}}, nil
}

func wrapf(err error, what string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// observeNode reads version, profile and password strengths of one node (with
// listing, a parent's listings too, in the same request). A child reports only the
// kinds it governs.
func (p *Provider) observeNode(ctx context.Context, c *whmapi.Client, role string, listing bool) (*schema.Node, *whmapi.Listing, error) {
	info, lst, err := c.ReadNode(ctx, listing)
	if err != nil {
		return nil, nil, err
	}
	major, err := whmapi.MajorVersion(info.Version)
	if err != nil {
		return nil, nil, fmt.Errorf("version: %w", err)
	}
	n := &schema.Node{Role: role, Version: major}
	prof, pw := info.Profile, info.PasswordStrengths
	n.Profile = prof.Code
	// The optional roles of the profile are read one by one: get_current_profile lists
	// them without saying which are on (Whostmgr/API/1/Cpanel.pm).
	var optional []string
	for _, r := range prof.OptionalRoles {
		if r.Module != "" {
			optional = append(optional, r.Module)
		}
	}
	roles, err := c.RolesEnabled(ctx, optional)
	if err != nil {
		return nil, nil, wrapf(err, "optional roles")
	}
	n.OptionalRoles = roles
	for k, v := range pw {
		if Governs(role, k) {
			if n.PasswordStrength == nil {
				n.PasswordStrength = map[string]int{}
			}
			n.PasswordStrength[k] = v
		}
	}
	return n, lst, nil
}

// observeChildren turns list_linked_server_nodes into child nodes, and reads profile
// and password strengths from each child that has an endpoint of its own.
// A child that does not answer is recorded in unread.
func (p *Provider) observeChildren(ctx context.Context, scope string, linked []whmapi.LinkedNode, desired *schema.Fleet, out *schema.Fleet, unread map[string]error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, observeParallel)
	for _, ln := range linked {
		if ln.Alias == "" {
			continue
		}
		n := &schema.Node{Role: schema.RoleChild, Parent: scope, Host: ln.Hostname}
		if ln.Version != "" {
			if major, err := whmapi.MajorVersion(string(ln.Version)); err == nil {
				n.Version = major
			}
		}
		for w := range ln.WorkerCapabilities {
			n.Services = append(n.Services, strings.ToLower(w))
		}
		sort.Strings(n.Services)
		out.Nodes[ln.Alias] = n
		// A lost child is gone or compromised: nothing is read from it or set on it.
		if d := desiredNode(desired, ln.Alias); (d != nil && d.Lost) || !p.hasEndpoint(ln.Alias) {
			continue
		}
		alias := ln.Alias
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cc, err := p.client(alias)
			var own *schema.Node
			if err == nil {
				own, _, err = p.observeNode(ctx, cc, schema.RoleChild, false)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				// A child that does not answer leaves its settings unread but must not
				// hide the parent: its accounts are the parent's, and a child that is
				// down is exactly when an operator needs a plan. It is named as unread,
				// so the plan says it is incomplete and plans nothing on the child.
				unread[alias] = fmt.Errorf("linked child of %s: %w", scope, err)
				return
			}
			n.Profile = own.Profile
			n.PasswordStrength = own.PasswordStrength
			n.OptionalRoles = own.OptionalRoles
			// The child's own answer is more precise than the parent's cached copy.
			n.Version = own.Version
		}()
	}
	wg.Wait()
}

func desiredNode(desired *schema.Fleet, name string) *schema.Node {
	if desired == nil {
		return nil
	}
	return desired.Nodes[name]
}

// observeUnlinked reads the children the fleet gives this parent that are not linked
// yet, so a profile change planned before the link is planned only when needed. Such a
// node has no role (it answers, but is nobody's child). One that does not answer is
// recorded in unread: the plan is incomplete (the link would meet the same failure).
func (p *Provider) observeUnlinked(ctx context.Context, scope string, desired *schema.Fleet, out *schema.Fleet, unread map[string]error) {
	if desired == nil {
		return
	}
	// Choose before starting: the goroutines write out.Nodes, which the choice reads.
	var todo []string
	for _, name := range p.childrenOf(desired, scope) {
		if out.Nodes[name] == nil && p.hasEndpoint(name) {
			todo = append(todo, name)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range todo {
		n := desired.Nodes[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.client(name)
			if err == nil {
				var own *schema.Node
				if own, _, err = p.observeNode(ctx, c, "", false); err == nil {
					own.Host = n.Host
					mu.Lock()
					out.Nodes[name] = own
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			unread[name] = fmt.Errorf("child of %s, not linked yet: %w", scope, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
}

// childrenOf lists the children (not lost) the desired fleet gives parent, in name
// order, from an index of the fleet made once: every parent filtering all of the
// fleet's nodes (200 parents of 1,000 nodes) was quadratic in nodes. The fleet is
// not changed while it is observed; another fleet gets an index of its own.
func (p *Provider) childrenOf(desired *schema.Fleet, parent string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.children.fleet != desired || p.children.of == nil {
		of := map[string][]string{}
		for name, n := range desired.Nodes {
			if n != nil && n.Role == schema.RoleChild && !n.Lost {
				of[n.Parent] = append(of[n.Parent], name)
			}
		}
		for _, names := range of {
			slices.Sort(names)
		}
		p.children.fleet, p.children.of = desired, of
	}
	return p.children.of[parent]
}

// accountFrom maps a listaccts entry to the fleet model: a root owner, WHM's
// "undefined" placeholder plan and its "*unknown*" contact email become "", as an
// operator leaves them out. A real package named "default" stays "default": a fleet
// that says plan: default must see it matched.
func accountFrom(parent string, a *whmapi.Acct) *schema.Account {
	acc := &schema.Account{}
	fillAccount(acc, parent, a)
	return acc
}

// fillAccount is accountFrom into an account the caller allocated (zero).
func fillAccount(acc *schema.Account, parent string, a *whmapi.Acct) {
	*acc = schema.Account{
		Parent:       parent,
		Domain:       a.Domain,
		Owner:        string(a.Owner),
		Plan:         string(a.Plan),
		ContactEmail: string(a.Email),
		Suspended:    bool(a.Suspended),
		IPv6:         a.HasIPv6(),
	}
	if acc.Owner == "root" {
		acc.Owner = ""
	}
	if acc.Plan == "undefined" {
		acc.Plan = ""
	}
	if acc.ContactEmail == "*unknown*" {
		acc.ContactEmail = ""
	}
	if node, extra := a.MailNode(); node != "" {
		acc.Mail = &schema.MailPlacement{Node: node, ExtraNodes: extra}
	}
}

// observeResellers moves resellers out of Accounts and reads their account limits
// in one batch. Their ACLs cannot be read (see CapObserveResellerACLs).
func (p *Provider) observeResellers(ctx context.Context, c *whmapi.Client, scope string, names []string, out *schema.Fleet) error {
	var present []string
	for _, r := range names {
		if _, ok := out.Accounts[r]; ok {
			present = append(present, r)
		}
	}
	sort.Strings(present)
	counts, err := c.AcctCounts(ctx, present)
	if err != nil {
		return fmt.Errorf("parent %s: reseller limits: %w", scope, err)
	}
	for _, r := range present {
		acc := out.Accounts[r]
		delete(out.Accounts, r)
		res := &schema.Reseller{Account: *acc, Limits: &schema.ResellerLimits{}}
		if ac, ok := counts[r]; ok && ac.Limit.Valid {
			n := int(ac.Limit.N)
			res.Limits.Accounts = &n
		}
		out.Resellers[r] = res
	}
	return nil
}

// observeFeatures reads the given features (declare's) for every account and
// reseller, many users per call.
func (p *Provider) observeFeatures(ctx context.Context, c *whmapi.Client, scope string, observed []observedUser, features []string, out *schema.Fleet) error {
	if len(observed) == 0 {
		return nil
	}
	users := make([]string, len(observed))
	for i, u := range observed {
		users[i] = u.name
	}
	var mu sync.Mutex
	record := func(f string, got []whmapi.UserFeature) {
		mu.Lock()
		defer mu.Unlock()
		for _, uf := range got {
			a := out.Accounts[uf.User]
			if a == nil {
				if r := out.Resellers[uf.User]; r != nil {
					a = &r.Account
				}
			}
			if a == nil {
				continue
			}
			if a.Features == nil {
				a.Features = map[string]bool{}
			}
			a.Features[f] = uf.Enabled()
		}
	}
	var reqs []whmapi.FeaturesRequest
	for _, f := range features {
		for i := 0; i < len(users); i += p.opts.FeatureBatch {
			reqs = append(reqs, whmapi.FeaturesRequest{Feature: f, Users: users[i:min(i+p.opts.FeatureBatch, len(users))]})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(observeParallel)
	if len(reqs) == 1 {
		// One call: made as it is.
		g.Go(func() error {
			got, err := c.UsersFeatures(gctx, reqs[0].Feature, reqs[0].Users)
			if err != nil {
				return fmt.Errorf("parent %s: feature %s: %w", scope, reqs[0].Feature, err)
			}
			record(reqs[0].Feature, got)
			return nil
		})
		return g.Wait()
	}
	// Several calls go featureCallsPerBatch to a batch request, the batches
	// observeParallel at once: the 100k fleet's parents (500 users, three calls)
	// make one request on the connection their first batch opened, where three
	// calls at once opened two more connections each (400 TLS handshakes a plan).
	for i := 0; i < len(reqs); i += featureCallsPerBatch {
		part := reqs[i:min(i+featureCallsPerBatch, len(reqs))]
		g.Go(func() error {
			got, errs, err := c.UsersFeaturesBatch(gctx, part)
			if err != nil {
				return fmt.Errorf("parent %s: features: %w", scope, err)
			}
			for j, r := range part {
				if errs[j] != nil {
					return fmt.Errorf("parent %s: feature %s: %w", scope, r.Feature, errs[j])
				}
				record(r.Feature, got[j])
			}
			return nil
		})
	}
	return g.Wait()
}

// featureCallsPerBatch is how many get_users_features_settings calls one batch
// request of observeFeatures carries: 1,600 users' settings of one feature, or
// fewer users of several; a large parent's batches still run observeParallel at
// once.
const featureCallsPerBatch = 8

// observedUser is one account or reseller a parent listed, with what the desired
// fleet writes for it: looked up once per user (the fleet's 100k accounts are a map
// whose entries, and each account's feature and source maps, are cache misses; the
// features, forwarders and dnssec reads each looked every user up again).
type observedUser struct {
	name string
	// acc is the observed account: in out.Accounts, or a reseller's in out.Resellers.
	acc      *schema.Account
	reseller bool
	// forwarders: the fleet writes forwarders for this account, whose mail is on the
	// parent (a distributed account's are read whatever the fleet says); dnssec: the
	// fleet writes its dnssec, asked only when the parent's DNS cluster is off (on,
	// every account's is read).
	forwarders, dnssec bool
}

// byName sorts users by name; of a name listed twice it keeps the later, as
// out.Accounts does.
func byName(users []observedUser) []observedUser {
	slices.SortStableFunc(users, func(a, b observedUser) int { return strings.Compare(a.name, b.name) })
	out := users[:0]
	for i, u := range users {
		if i+1 < len(users) && users[i+1].name == u.name {
			continue
		}
		out = append(out, u)
	}
	return out
}

// declare looks each of a parent's observed users up in the desired fleet once: it
// marks the users whose forwarders and dnssec the fleet writes, and returns the
// feature names the fleet declares for any of them, plus apitokens (which
// distribution needs), sorted. The diff compares only declared features, so a user's
// other features need no read; looking the parent's own users up keeps each parent's
// observe proportional to its own accounts, not to the fleet's (a 100k fleet on 1,000
// parents walked 100M accounts this way before).
func declare(desired *schema.Fleet, users []observedUser, clustered bool) []string {
	set := map[string]bool{"apitokens": true}
	if desired != nil {
		for i := range users {
			u := &users[i]
			d := desired.Accounts[u.name]
			r := desired.Resellers[u.name]
			if d != nil {
				for f := range d.Features {
					set[f] = true
				}
			}
			if r != nil {
				for f := range r.Features {
					set[f] = true
				}
			}
			// An account of that name answers for the user before a reseller of it.
			if d == nil && r != nil {
				d = &r.Account
			}
			if d == nil {
				continue
			}
			// A distributed account's forwarders are read whatever the fleet says.
			u.forwarders = u.acc.Domain != "" && u.acc.MailNode() == "" && d.ManagesForwarders()
			u.dnssec = !clustered && u.acc.Domain != "" && writesDNSSEC(d)
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// observeForwarders reads the forwarders of the accounts whose forwarders the fleet
// manages (it writes forwarders:) and of every distributed account (a pipe to a
// program there breaks rule TETHER-L09 whatever the fleet says), through UAPI
// Email::list_forwarders for the account's domain, many accounts per batch request.
// The parent answers for a distributed account by asking its mail child; an account
// whose child could not be read is skipped (the plan already names that child as
// unread and plans nothing for its accounts).
func (p *Provider) observeForwarders(ctx context.Context, c *whmapi.Client, scope string, desired *schema.Fleet, users []observedUser, unread map[string]error) error {
	var reqs []whmapi.ForwardersRequest
	var accts []*schema.Account
	want := func(u *observedUser) {
		a := u.acc
		if a.Domain == "" {
			return
		}
		m := a.MailNode()
		if m != "" && (unread[m] != nil || desiredNode(desired, m) != nil && desiredNode(desired, m).Lost) {
			return
		}
		// A distributed account is read whatever the fleet says: the observed
		// account answers that without a look-up in the desired fleet's 100k.
		if m == "" && !u.forwarders {
			return
		}
		reqs = append(reqs, whmapi.ForwardersRequest{User: u.name, Domain: a.Domain})
		accts = append(accts, a)
	}
	// The accounts in name order, then the resellers.
	for _, reseller := range []bool{false, true} {
		for i := range users {
			if users[i].reseller == reseller {
				want(&users[i])
			}
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(observeParallel)
	for i := 0; i < len(reqs); i += p.opts.FeatureBatch {
		end := min(i+p.opts.FeatureBatch, len(reqs))
		g.Go(func() error {
			got, errs, err := c.Forwarders(gctx, reqs[i:end])
			if err != nil {
				return fmt.Errorf("parent %s: %w", scope, err)
			}
			mu.Lock()
			defer mu.Unlock()
			for j, rows := range got {
				r := reqs[i+j]
				if errs[j] != nil {
					return fmt.Errorf("parent %s: forwarders of %s: %w", scope, r.User, errs[j])
				}
				a := accts[i+j]
				a.Forwarders = nil
				for _, f := range rows {
					local, dom, ok := strings.Cut(f.Dest, "@")
					if !ok || !strings.EqualFold(dom, r.Domain) {
						continue
					}
					a.Forwarders = append(a.Forwarders, schema.Forwarder{From: strings.ToLower(local), To: f.Forward})
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// observeDNSSEC reads which accounts' zones are signed (fetch_ds_records_for_domains,
// many domains per call): those whose dnssec the fleet writes (checked against it),
// and every account of a parent whose DNS cluster is on (a signed zone there breaks
// TETHER-D03). A server without PowerDNS signs nothing (Cpanel/DNSSEC.pm): read as
// none signed.
func (p *Provider) observeDNSSEC(ctx context.Context, c *whmapi.Client, scope string, users []observedUser, clustered bool) error {
	byDomain := map[string]*schema.Account{}
	// The accounts, then the resellers: a reseller's domain answers for itself.
	for _, reseller := range []bool{false, true} {
		for _, u := range users {
			if u.reseller == reseller && u.acc.Domain != "" && (clustered || u.dnssec) {
				byDomain[strings.ToLower(u.acc.Domain)] = u.acc
			}
		}
	}
	domains := slices.Sorted(maps.Keys(byDomain))
	var lists [][]string
	for i := 0; i < len(domains); i += p.opts.FeatureBatch {
		lists = append(lists, domains[i:min(i+p.opts.FeatureBatch, len(domains))])
	}
	// Several calls go featureCallsPerBatch to a batch request (a clustered parent
	// of the 100k fleet, 500 accounts, asked three calls one after another); one
	// call is made as it is.
	for i := 0; i < len(lists); i += featureCallsPerBatch {
		part := lists[i:min(i+featureCallsPerBatch, len(lists))]
		var (
			got  []map[string]bool
			errs []error
			err  error
		)
		if len(part) == 1 {
			got, errs = make([]map[string]bool, 1), make([]error, 1)
			got[0], errs[0] = c.SignedDomains(ctx, part[0])
		} else if got, errs, err = c.SignedDomainsBatch(ctx, part); err != nil {
			return fmt.Errorf("parent %s: DNSSEC: %w", scope, err)
		}
		for j, batch := range part {
			if errors.Is(errs[j], whmapi.ErrNoDNSSEC) {
				return nil
			}
			if errs[j] != nil {
				return fmt.Errorf("parent %s: DNSSEC: %w", scope, errs[j])
			}
			for _, d := range batch {
				byDomain[d].DNSSEC = got[j][d]
			}
		}
	}
	return nil
}

// writesDNSSEC reports whether the fleet writes dnssec for the desired account a.
func writesDNSSEC(a *schema.Account) bool {
	return a.Src.Has("dnssec") || a.DNSSEC
}

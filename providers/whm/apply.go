package whm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// localAlias is modifyacct's mail_node_alias for "back to the parent".
const localAlias = ".local"

// Apply executes one change (docs/changes.md) and reads it back. Every change checks
// the current state first, so running it again after an interruption is a no-op.
func (p *Provider) Apply(ctx context.Context, ch *plan.Change) error {
	if ch == nil {
		return errors.New("whm: nil change")
	}
	addr, err := plan.ParseAddress(ch.Address)
	switch addr.Kind {
	case plan.KindNode:
		err = p.applyNode(ctx, addr.Name, ch)
	case plan.KindAccount:
		err = p.applyAccount(ctx, addr.Name, ch, false)
	case plan.KindReseller:
		err = p.applyAccount(ctx, addr.Name, ch, true)
	case plan.KindCluster:
		err = p.applyCluster(ctx, addr.Cluster, ch)
	case plan.KindMember:
		err = p.applyMember(ctx, addr.Cluster, addr.Name, ch)
	default:
		err = fmt.Errorf("not an address the whm provider serves (%w)", err)
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", ch.Address, ch.Action, err)
	}
	return nil
}

// ---- nodes ----------------------------------------------------------------------

func (p *Provider) applyNode(ctx context.Context, name string, ch *plan.Change) error {
	switch ch.Action {
	case plan.Link:
		return p.link(ctx, name, ch)
	case plan.Unlink:
		return p.unlink(ctx, name, ch)
	case plan.Update:
		return p.updateNode(ctx, name, ch)
	}
	return fmt.Errorf("action %s is not supported for a node", ch.Action)
}

func (p *Provider) link(ctx context.Context, child string, ch *plan.Change) error {
	n, _ := ch.After.(*schema.Node)
	if n == nil {
		return fmt.Errorf("link needs the desired node (After is %T)", ch.After)
	}
	parent := targetParent(ch, n.Parent)
	c, err := p.client(parent)
	if err != nil {
		return err
	}
	cur, err := p.linkedNode(ctx, c, child)
	if err != nil {
		return err
	}
	if cur == nil {
		user, token, err := p.linkToken(child, n)
		if err != nil {
			return err
		}
		ep := p.cfg.Endpoints[child]
		host := n.Host
		if host == "" {
			host = p.hostOf(child)
		}
		q := url.Values{"alias": {child}, "hostname": {host}, "username": {user}, "api_token": {token}}
		if ep.Insecure || (n.TLS != nil && n.TLS.Insecure) {
			q.Set("skip_tls_verification", "1")
		}
		if _, err := c.Call(ctx, whmapi.Once, "link_server_node_with_api_token", q, nil); err != nil {
			if errors.Is(err, whmapi.ErrTLSVerification) {
				return fmt.Errorf("link to %s: %s does not trust %s's certificate (install a valid certificate on the child, or set tls.insecure on it to link without verification): %w", parent, parent, host, redactToken(err, token))
			}
			return fmt.Errorf("link to %s: %w", parent, redactToken(err, token))
		}
		if cur, err = p.linkedNode(ctx, c, child); err != nil {
			return fmt.Errorf("read back: %w", err)
		}
		if cur == nil {
			return fmt.Errorf("read back: %s does not list the link", parent)
		}
	}
	if n.Host != "" && !strings.EqualFold(cur.Hostname, n.Host) {
		return fmt.Errorf("%s already links alias %s to host %s, not %s", parent, child, cur.Hostname, n.Host)
	}
	return nil
}

// linkToken returns the user and token the parent is to store for a child. The
// node's linkCredentials name a token of its own, so that rotating Tether's token
// (credentials) never breaks the link and expiring the link's token never locks
// Tether out. Without them, Tether's own token is used, with a warning: the parent
// then holds the very token Tether manages the child with.
func (p *Provider) linkToken(child string, n *schema.Node) (user, token string, err error) {
	if lc := n.LinkCredentials; lc != nil && (lc.TokenEnv != "" || lc.TokenFile != "") {
		if p.cfg.Secrets == nil {
			return "", "", fmt.Errorf("child %s: linkCredentials cannot be read here (no secret resolver)", child)
		}
		tok, err := p.cfg.Secrets(lc.TokenEnv, lc.TokenFile)
		if err != nil {
			return "", "", fmt.Errorf("child %s: link token (linkCredentials): %w", child, err)
		}
		user = lc.User
		if user == "" {
			user = "root"
		}
		return user, tok, nil
	}
	ep, ok := p.cfg.Endpoints[child]
	if !ok || ep.Token == "" {
		return "", "", fmt.Errorf("child %s: no API token to link it with (linkCredentials, or credentials tokenEnv/tokenFile)", child)
	}
	p.log.Warn("linking with Tether's own token: the parent will store it, so rotating it breaks the link; name a token of its own in linkCredentials", "node", child)
	return ep.User, ep.Token, nil
}

// redactToken is err with a token the parent may quote back replaced in its text;
// errors.Is still sees the original.
func redactToken(err error, token string) error {
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), token, "[link token]"), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (p *Provider) unlink(ctx context.Context, child string, ch *plan.Change) error {
	n, _ := ch.Before.(*schema.Node)
	parent := ""
	if n != nil {
		parent = n.Parent
	}
	parent = targetParent(ch, parent)
	c, err := p.client(parent)
	if err != nil {
		return err
	}
	cur, err := p.linkedNode(ctx, c, child)
	if err != nil {
		return err
	}
	if cur == nil {
		return nil
	}
	// No handle_api_token: its default, "leave", keeps the token the parent stored
	// valid on the child (unlink_server_node reference, 11.138.0.19). That token may be
	// Tether's own (a child linked without linkCredentials); expiring it
	// (expire_24h) would lock Tether out of the child a day later.
	if _, err := c.Call(ctx, whmapi.Once, "unlink_server_node", url.Values{"alias": {child}}, nil); err != nil {
		return fmt.Errorf("unlink from %s: %w", parent, err)
	}
	if cur, err = p.linkedNode(ctx, c, child); err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if cur != nil {
		return fmt.Errorf("read back: %s still links %s", parent, child)
	}
	return nil
}

// targetParent is the node a link/unlink runs on: the change's Target, else the
// node's declared parent.
func targetParent(ch *plan.Change, declared string) string {
	if ch.Target != "" {
		return ch.Target
	}
	return declared
}

// linkedNode reads one link by alias; nil when there is none. It lists rather than
// calling get_linked_server_node, whose answer to an unknown alias is a failure
// that cannot be told from others except by its wording.
func (p *Provider) linkedNode(ctx context.Context, c *whmapi.Client, alias string) (*whmapi.LinkedNode, error) {
	nodes, err := c.LinkedNodes(ctx)
	if err != nil {
		return nil, err
	}
	for i := range nodes {
		if nodes[i].Alias == alias {
			return &nodes[i], nil
		}
	}
	return nil, nil
}

// updateNode changes a node's profile and password strengths, on the node itself.
func (p *Provider) updateNode(ctx context.Context, name string, ch *plan.Change) error {
	n, _ := ch.After.(*schema.Node)
	if n == nil {
		return fmt.Errorf("update needs the desired node (After is %T)", ch.After)
	}
	target := name
	if ch.Target != "" {
		target = ch.Target
	}
	c, err := p.client(target)
	if err != nil {
		return err
	}
	fields := ch.Fields
	if len(fields) == 0 {
		fields = []string{"profile", "passwordStrength"}
	}
	// Profile and optional roles are one activation: do it once.
	if slices.Contains(fields, "profile") && slices.Contains(fields, "optionalRoles") {
		fields = slices.DeleteFunc(slices.Clone(fields), func(f string) bool { return f == "optionalRoles" })
	}
	for _, f := range fields {
		switch f {
		case "profile", "optionalRoles":
			if err := p.setProfile(ctx, c, n.Profile, n.OptionalRoles); err != nil {
				return fmt.Errorf("profile %s: %w", orCurrent(n.Profile), err)
			}
		case "passwordStrength":
			if err := p.setPasswordStrengths(ctx, c, n); err != nil {
				return fmt.Errorf("password strengths: %w", err)
			}
		case "version":
			return errors.New("the version is observed, never changed: update cPanel & WHM on the server")
		default:
			return fmt.Errorf("field %s cannot be changed by the whm provider", f)
		}
	}
	return nil
}

// setProfile activates a profile (the current one when code is "") with its optional
// roles: the declared ones as declared, every other one as the server has it now.
// start_profile_activation turns off each optional role it is not told to turn on
// (reference start_profile_activation: without `optional` the optional roles are
// disabled; Cpanel/Server/Type/Change.pm _get_enabled_and_disabled_roles), so the
// current states are read and sent back explicitly. Activation runs in the
// background; it is done when the profile and every optional role read as wanted.
func (p *Provider) setProfile(ctx context.Context, c *whmapi.Client, code string, declared map[string]bool) error {
	cur, err := c.CurrentProfile(ctx)
	if err != nil {
		return err
	}
	if code == "" {
		code = cur.Code
	}
	optional := schema.OptionalRolesOf[code]
	want := make(map[string]bool, len(optional))
	// Now: a STANDARD server has every role on; another reads them.
	var now map[string]bool
	if cur.Code == schema.ProfileStandard {
		now = map[string]bool{}
		for _, r := range optional {
			now[r] = true
		}
	} else if now, err = c.RolesEnabled(ctx, optional); err != nil {
		return fmt.Errorf("optional roles: %w", err)
	}
	for _, r := range optional {
		want[r] = now[r]
		if v, ok := declared[r]; ok {
			want[r] = v
		}
	}
	done := func(ctx context.Context) (bool, error) {
		prof, err := c.CurrentProfile(ctx)
		if err != nil || prof.Code != code {
			return false, err
		}
		got, err := c.RolesEnabled(ctx, optional)
		if err != nil {
			return false, err
		}
		for r, v := range want {
			if got[r] != v {
				return false, nil
			}
		}
		return true, nil
	}
	if ok, err := done(ctx); err != nil || ok {
		return err
	}
	q := url.Values{"code": {code}}
	if len(want) > 0 {
		js := map[string]int{}
		for r, v := range want {
			js[r] = b2i(v)
		}
		enc, _ := json.Marshal(js)
		q.Set("optional", string(enc))
	}
	if _, err := c.Call(ctx, whmapi.Once, "start_profile_activation", q, nil); err != nil {
		return err
	}
	return p.poll(ctx, "profile activation", done)
}

func orCurrent(code string) string {
	if code == "" {
		return "(current)"
	}
	return code
}

func (p *Provider) setPasswordStrengths(ctx context.Context, c *whmapi.Client, n *schema.Node) error {
	want := map[string]int{}
	for k, v := range n.PasswordStrength {
		if Governs(n.Role, k) {
			want[k] = v
		}
	}
	if len(want) == 0 {
		return nil
	}
	cur, err := c.PasswordStrengths(ctx)
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range want {
		if got, ok := cur[k]; !ok || got != v {
			q.Set(k, strconv.Itoa(v))
		}
	}
	if len(q) == 0 {
		return nil
	}
	if _, err := c.Call(ctx, whmapi.Idempotent, "setminimumpasswordstrengths", q, nil); err != nil {
		return err
	}
	cur, err = c.PasswordStrengths(ctx)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if cur[k] != want[k] {
			return fmt.Errorf("read back: %s is %d, want %d", k, cur[k], want[k])
		}
	}
	return nil
}

// ---- accounts and resellers -----------------------------------------------------

// accountOf returns the account part of a change's After (or Before) and the
// reseller, if it is one.
func accountOf(v any) (*schema.Account, *schema.Reseller) {
	switch x := v.(type) {
	case *schema.Account:
		return x, nil
	case *schema.Reseller:
		if x == nil {
			return nil, nil
		}
		return &x.Account, x
	}
	return nil, nil
}

func (p *Provider) applyAccount(ctx context.Context, user string, ch *plan.Change, isReseller bool) error {
	after, afterR := accountOf(ch.After)
	before, _ := accountOf(ch.Before)
	parent := ch.Target
	if parent == "" {
		switch {
		case after != nil:
			parent = after.Parent
		case before != nil:
			parent = before.Parent
		}
	}
	if parent == "" {
		return errors.New("no parent to run on (Target empty)")
	}
	c, err := p.client(parent)
	if err != nil {
		return err
	}
	switch ch.Action {
	case plan.Create:
		if after == nil {
			return fmt.Errorf("create needs the desired object (After is %T)", ch.After)
		}
		return p.createAccount(ctx, c, user, after, afterR, isReseller)
	case plan.Update:
		if after == nil {
			return fmt.Errorf("update needs the desired object (After is %T)", ch.After)
		}
		return p.updateAccount(ctx, c, user, after, afterR, isReseller, ch.Fields)
	case plan.Distribute:
		if after == nil || after.MailNode() == "" {
			return errors.New("distribute needs After with mail.node set")
		}
		if err := p.setFeatures(ctx, c, user, map[string]bool{"apitokens": true}); err != nil {
			return fmt.Errorf("before distributing: %w", err)
		}
		return p.distribute(ctx, c, user, after.MailNode())
	case plan.Dedistribute:
		if ch.Flags.DataLoss {
			lost := ""
			if before != nil {
				lost = before.MailNode()
			}
			return p.forceDedistribute(ctx, c, user, lost)
		}
		return p.distribute(ctx, c, user, "")
	case plan.Delete:
		return p.deleteAccount(ctx, c, user)
	}
	return fmt.Errorf("action %s is not supported for an account", ch.Action)
}

// withAPITokens returns the account with the apitokens feature on when its mail is
// on a child (a copy; the account itself when nothing changes).
func withAPITokens(a *schema.Account) *schema.Account {
	if a.MailNode() == "" || a.Features["apitokens"] {
		return a
	}
	c := *a
	c.Features = make(map[string]bool, len(a.Features)+1)
	for k, v := range a.Features {
		c.Features[k] = v
	}
	c.Features["apitokens"] = true
	return &c
}

func (p *Provider) createAccount(ctx context.Context, c *whmapi.Client, user string, a *schema.Account, r *schema.Reseller, isReseller bool) error {
	// No look first: the observation behind the plan said the account is absent, and
	// createacct itself refuses a user that exists, so asking first only added a round
	// trip to every creation. A re-run after an interruption (or a saved plan applied
	// late) meets that refusal, reads the account back and converges.
	q := url.Values{"username": {user}, "domain": {a.Domain}}
	if a.Plan != "" {
		q.Set("plan", a.Plan)
	}
	if a.ContactEmail != "" {
		q.Set("contactemail", a.ContactEmail)
	}
	if o := a.OwnerName(); o != "root" {
		q.Set("owner", o)
	}
	// A distributed account is created on the parent first and distributed after:
	// the child side of a distributed createacct makes a full-access API token as the
	// new user (Cpanel/LinkedNode/Worker/WHM/Accounts.pm, UAPI
	// Tokens::create_full_access), which needs the apitokens feature
	// (Cpanel/API/Tokens.pm; seed 000: "API Tokens must be enabled for the
	// distributed account"). A new account has only its feature list's features, so
	// on a server whose list has API tokens off a distributed createacct fails. Created
	// locally, the account gets the feature (an override) before converge distributes
	// it with modifyacct, whose conversion copies the account, override included
	// (Cpanel/LinkedNode/Convert/Common/Mail/ToRemote.pm).
	a = withAPITokens(a)
	createErr, cur, err := c.CreateAcctAndRead(ctx, user, q)
	switch {
	case createErr != nil && (err != nil || cur == nil):
		// Not created and not there: the refusal is the answer. (createacct's failure
		// wording is unconfirmed, so whether the user exists is read, never parsed.)
		return createErr
	case err != nil:
		return fmt.Errorf("read back: %w", err)
	case cur == nil:
		return errors.New("read back: the account does not exist after createacct")
	case !strings.EqualFold(cur.Domain, a.Domain):
		// Only reachable when createacct refused: it was asked for this domain.
		return fmt.Errorf("user %s already exists on this parent with domain %s, not %s", user, cur.Domain, a.Domain)
	}
	// The rest converges whether createacct ran now or in an interrupted earlier apply
	// (then createErr is its refusal of an existing user, which is what we want).
	return p.converge(ctx, c, user, cur, a, r, isReseller, nil)
}

func (p *Provider) updateAccount(ctx context.Context, c *whmapi.Client, user string, a *schema.Account, r *schema.Reseller, isReseller bool, fields []string) error {
	cur, err := c.FindAcct(ctx, user)
	if err != nil {
		return err
	}
	if cur == nil {
		return errors.New("the account does not exist")
	}
	return p.converge(ctx, c, user, cur, a, r, isReseller, fields)
}

// converge brings an existing account to the desired fields (all of them when
// fields is nil; then an empty plan, contact email or domain is left alone, as the
// planner leaves it unmanaged), then reads it back: from the server when it changed
// anything, else from cur.
func (p *Provider) converge(ctx context.Context, c *whmapi.Client, user string, cur *whmapi.Acct, a *schema.Account, r *schema.Reseller, isReseller bool, fields []string) error {
	has := func(f string) bool {
		if fields == nil {
			return true
		}
		for _, x := range fields {
			if x == f || strings.HasPrefix(x, f+".") {
				return true
			}
		}
		return false
	}
	obs := accountFrom("", cur)
	wrote := false
	if has("plan") && a.Plan != "" && obs.Plan != a.Plan {
		wrote = true
		if _, err := c.Call(ctx, whmapi.Idempotent, "changepackage", url.Values{"user": {user}, "pkg": {a.Plan}}, nil); err != nil {
			return fmt.Errorf("plan %s: %w", a.Plan, err)
		}
	}
	mod := url.Values{}
	if has("contactEmail") && obs.ContactEmail != a.ContactEmail && (a.ContactEmail != "" || fields != nil) {
		mod.Set("contactemail", a.ContactEmail)
	}
	if has("owner") && obs.OwnerName() != a.OwnerName() {
		mod.Set("owner", a.OwnerName())
	}
	if has("domain") && !strings.EqualFold(obs.Domain, a.Domain) && a.Domain != "" {
		mod.Set("domain", a.Domain)
	}
	if len(mod) > 0 {
		wrote = true
		mod.Set("user", user)
		if _, err := c.Call(ctx, whmapi.Idempotent, "modifyacct", mod, nil); err != nil {
			return fmt.Errorf("modify: %w", err)
		}
	}
	if has("suspended") && obs.Suspended != a.Suspended {
		wrote = true
		var err error
		// Function names stay literal: a test checks each against the official list.
		if a.Suspended {
			_, err = c.Call(ctx, whmapi.Idempotent, "suspendacct", url.Values{"user": {user}}, nil)
		} else {
			_, err = c.Call(ctx, whmapi.Idempotent, "unsuspendacct", url.Values{"user": {user}}, nil)
		}
		if err != nil {
			return fmt.Errorf("suspended=%t: %w", a.Suspended, err)
		}
	}
	if has("features") && len(a.Features) > 0 {
		if err := p.setFeatures(ctx, c, user, a.Features); err != nil {
			return err
		}
	}
	// IPv6 is only ever turned off here (ipv6_disable_account, reference "IP
	// Addresses"; Whostmgr/API/1/IPv6.pm): turning it on needs a range the fleet
	// does not name, and the plan says so instead. Asked for by name only (fields),
	// so a create never touches it.
	if fields != nil && has("ipv6") && !a.IPv6 && obs.IPv6 {
		wrote = true
		if _, err := c.Call(ctx, whmapi.Idempotent, "ipv6_disable_account", url.Values{"user": {user}}, nil); err != nil {
			return fmt.Errorf("ipv6 off: %w", err)
		}
		back, err := c.FindAcct(ctx, user)
		if err != nil {
			return fmt.Errorf("ipv6 off: read back: %w", err)
		}
		if back != nil && back.HasIPv6() {
			return errors.New("ipv6 off: read back: the account still has IPv6 addresses")
		}
	}
	// IPv6 on needs one of the server's ranges (ipv6_enable_account's required
	// range, reference "Add IPv6 address range to accounts"), which only the fleet can
	// choose: turned on only when it names one (ipv6Range), at creation too.
	if has("ipv6") && a.IPv6 && !obs.IPv6 && a.IPv6Range != "" {
		wrote = true
		if err := p.enableIPv6(ctx, c, user, a.IPv6Range); err != nil {
			return err
		}
	}
	if isReseller && r != nil {
		if err := p.convergeReseller(ctx, c, user, r, has); err != nil {
			return err
		}
	}
	// Mail placement on create (createacct did it; an interrupted create may not have).
	if fields == nil {
		if node, _ := cur.MailNode(); node != a.MailNode() && a.MailNode() != "" {
			if err := p.distribute(ctx, c, user, a.MailNode()); err != nil {
				return err
			}
			wrote = true
		}
	}
	// Forwarders last: after a domain change (they are read for the new domain) and
	// after the mail is placed (the parent sends them to the mail child). An update
	// names them when they differ; a creation writes the ones the fleet lists.
	if (fields != nil && has("forwarders")) || (fields == nil && len(a.Forwarders) > 0) {
		domain := a.Domain
		if domain == "" {
			domain = obs.Domain
		}
		if err := p.setForwarders(ctx, c, user, domain, (&schema.Account{Domain: domain, Forwarders: a.Forwarders}).LocalForwarders()); err != nil {
			return err
		}
	}
	if !wrote {
		return checkAccount(cur, a, has)
	}
	return p.readBackAccount(ctx, c, user, a, has)
}

// enableIPv6 gives the account an address from the named range and reads it back.
// The call succeeds even when the account could not get one: fail_cnt and failures
// say so (reference, ipv6_enable_account).
func (p *Provider) enableIPv6(ctx context.Context, c *whmapi.Client, user, rangeName string) error {
	var d struct {
		FailCnt  whmapi.FlexInt    `json:"fail_cnt"`
		Failures map[string]string `json:"failures"`
	}
	if _, err := c.Call(ctx, whmapi.Idempotent, "ipv6_enable_account", url.Values{"user": {user}, "range": {rangeName}}, &d); err != nil {
		return fmt.Errorf("ipv6 on from range %s: %w", rangeName, err)
	}
	if d.FailCnt.N > 0 {
		why := d.Failures[user]
		if why == "" {
			why = "the server named no reason"
		}
		return fmt.Errorf("ipv6 on from range %s: %s", rangeName, c.Redact(why))
	}
	back, err := c.FindAcct(ctx, user)
	if err != nil {
		return fmt.Errorf("ipv6 on: read back: %w", err)
	}
	if back == nil || !back.HasIPv6() {
		return errors.New("ipv6 on: read back: the account has no IPv6 address")
	}
	return nil
}

// readForwarders reads an account's forwarders on its domain (UAPI
// Email::list_forwarders through the parent).
func readForwarders(ctx context.Context, c *whmapi.Client, user, domain string) ([]schema.Forwarder, error) {
	got, errs, err := c.Forwarders(ctx, []whmapi.ForwardersRequest{{User: user, Domain: domain}})
	if err != nil {
		return nil, err
	}
	if errs[0] != nil {
		return nil, errs[0]
	}
	var out []schema.Forwarder
	for _, f := range got[0] {
		local, dom, ok := strings.Cut(f.Dest, "@")
		if ok && strings.EqualFold(dom, domain) {
			out = append(out, schema.Forwarder{From: strings.ToLower(local), To: f.Forward})
		}
	}
	return out, nil
}

// setForwarders makes the account's forwarders the list the fleet writes: it reads
// them, removes those not in the list (UAPI Email::delete_forwarder, with the target
// exactly as the server lists it), adds those missing (Email::add_forwarder), and
// reads them back. The parent sends each call to a distributed account's mail child.
func (p *Provider) setForwarders(ctx context.Context, c *whmapi.Client, user, domain string, want []schema.Forwarder) error {
	have, err := readForwarders(ctx, c, user, domain)
	if err != nil {
		return fmt.Errorf("forwarders: %w", err)
	}
	add, remove := schema.ForwarderChanges(want, have)
	for _, f := range remove {
		q := url.Values{"address": {f.From + "@" + domain}, "forwarder": {f.To}}
		if err := c.UAPICall(ctx, whmapi.Idempotent, user, "Email", "delete_forwarder", q); err != nil {
			return fmt.Errorf("forwarder %s → %s: remove: %w", f.From, f.To, err)
		}
	}
	for _, f := range add {
		q := addForwarderParams(f, domain)
		if err := c.UAPICall(ctx, whmapi.Idempotent, user, "Email", "add_forwarder", q); err != nil {
			return fmt.Errorf("forwarder %s → %s: add: %w", f.From, f.To, err)
		}
	}
	if len(add)+len(remove) == 0 {
		return nil
	}
	back, err := readForwarders(ctx, c, user, domain)
	if err != nil {
		return fmt.Errorf("forwarders: read back: %w", err)
	}
	if !schema.SameForwarders(back, want) {
		return fmt.Errorf("forwarders: read back: the server lists %d forwarder(s), not the %d the fleet writes", len(back), len(want))
	}
	return nil
}

// addForwarderParams says a forwarder in Email::add_forwarder's terms (UAPI
// reference "Create email account forwarder"): fwdopt fwd with fwdemail for an
// address, pipe with pipefwd for "|program", blackhole for ":blackhole:", fail with
// failmsgs for ":fail: message", system with fwdsystem for a bare user name.
func addForwarderParams(f schema.Forwarder, domain string) url.Values {
	to := strings.TrimSpace(f.To)
	email := strings.ToLower(strings.TrimSpace(f.From))
	if !strings.Contains(email, "@") {
		email += "@" + domain
	}
	q := url.Values{"domain": {domain}, "email": {email}}
	switch {
	case strings.HasPrefix(to, "|"):
		q.Set("fwdopt", "pipe")
		q.Set("pipefwd", strings.TrimSpace(strings.TrimPrefix(to, "|")))
	case to == ":blackhole:":
		q.Set("fwdopt", "blackhole")
	case strings.HasPrefix(to, ":fail:"):
		q.Set("fwdopt", "fail")
		if msg := strings.TrimSpace(strings.TrimPrefix(to, ":fail:")); msg != "" {
			q.Set("failmsgs", msg)
		}
	case !strings.Contains(to, "@"):
		q.Set("fwdopt", "system")
		q.Set("fwdsystem", to)
	default:
		q.Set("fwdopt", "fwd")
		q.Set("fwdemail", to)
	}
	return q
}

func (p *Provider) setFeatures(ctx context.Context, c *whmapi.Client, user string, want map[string]bool) error {
	names := slices.Sorted(maps.Keys(want))
	got := map[string]bool{}
	for _, f := range names {
		uf, err := c.UsersFeatures(ctx, f, []string{user})
		if err != nil {
			return fmt.Errorf("feature %s: %w", f, err)
		}
		for _, x := range uf {
			if x.User == user {
				got[f] = x.Enabled()
			}
		}
	}
	diff := map[string]int{}
	for _, f := range names {
		if v, ok := got[f]; !ok || v != want[f] {
			diff[f] = b2i(want[f])
		}
	}
	if len(diff) == 0 {
		return nil
	}
	js, _ := json.Marshal(diff)
	if _, err := c.Call(ctx, whmapi.Idempotent, "add_override_features_for_user", url.Values{"user": {user}, "features": {string(js)}}, nil); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	for _, f := range slices.Sorted(maps.Keys(diff)) {
		uf, err := c.UsersFeatures(ctx, f, []string{user})
		if err != nil {
			return fmt.Errorf("read back feature %s: %w", f, err)
		}
		for _, x := range uf {
			if x.User == user && x.Enabled() != want[f] {
				return fmt.Errorf("read back: feature %s is %t, want %t", f, x.Enabled(), want[f])
			}
		}
	}
	return nil
}

func (p *Provider) convergeReseller(ctx context.Context, c *whmapi.Client, user string, r *schema.Reseller, has func(string) bool) error {
	names, err := c.Resellers(ctx)
	if err != nil {
		return err
	}
	if !contains(names, user) {
		if _, err := c.Call(ctx, whmapi.Idempotent, "setupreseller", url.Values{"user": {user}}, nil); err != nil {
			return fmt.Errorf("setupreseller: %w", err)
		}
	}
	if has("acls") && r.ACLs != nil {
		// setacls receives the whole set; WHM is believed to clear unlisted ACLs
		// (UNCONFIRMED), which is what a declared list means.
		q := url.Values{"reseller": {user}}
		for _, acl := range r.ACLs {
			q.Set("acl-"+acl, "1")
		}
		if _, err := c.Call(ctx, whmapi.Idempotent, "setacls", q, nil); err != nil {
			return fmt.Errorf("ACLs: %w", err)
		}
	}
	if has("limits") && r.Limits != nil {
		q := url.Values{"user": {user}}
		if r.Limits.Accounts != nil {
			q.Set("enable_account_limit", "1")
			q.Set("account_limit", strconv.Itoa(*r.Limits.Accounts))
		} else {
			q.Set("enable_account_limit", "0")
		}
		counts, err := c.AcctCounts(ctx, []string{user})
		if err != nil {
			return fmt.Errorf("limits: %w", err)
		}
		if !limitMatches(counts[user], r.Limits) {
			if _, err := c.Call(ctx, whmapi.Idempotent, "setresellerlimits", q, nil); err != nil {
				return fmt.Errorf("limits: %w", err)
			}
			counts, err = c.AcctCounts(ctx, []string{user})
			if err != nil {
				return fmt.Errorf("read back limits: %w", err)
			}
			if !limitMatches(counts[user], r.Limits) {
				return fmt.Errorf("read back: account limit is %s, want %s", limitText(counts[user].Limit), wantLimitText(r.Limits))
			}
		}
	}
	if names, err = c.Resellers(ctx); err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if !contains(names, user) {
		return errors.New("read back: not listed as a reseller")
	}
	return nil
}

func limitMatches(ac whmapi.AcctCount, l *schema.ResellerLimits) bool {
	if l.Accounts == nil {
		return !ac.Limit.Valid
	}
	return ac.Limit.Valid && int(ac.Limit.N) == *l.Accounts
}

func limitText(f whmapi.FlexInt) string {
	if !f.Valid {
		return "unlimited"
	}
	return strconv.FormatInt(f.N, 10)
}

func wantLimitText(l *schema.ResellerLimits) string {
	if l.Accounts == nil {
		return "unlimited"
	}
	return strconv.Itoa(*l.Accounts)
}

func (p *Provider) readBackAccount(ctx context.Context, c *whmapi.Client, user string, a *schema.Account, has func(string) bool) error {
	cur, err := c.FindAcct(ctx, user)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if cur == nil {
		return errors.New("read back: the account is gone")
	}
	return checkAccount(cur, a, has)
}

// checkAccount compares an account as listed with the desired fields.
func checkAccount(cur *whmapi.Acct, a *schema.Account, has func(string) bool) error {
	obs := accountFrom("", cur)
	var bad []string
	if has("plan") && a.Plan != "" && obs.Plan != a.Plan {
		bad = append(bad, fmt.Sprintf("plan is %q, want %q", obs.Plan, a.Plan))
	}
	if has("contactEmail") && a.ContactEmail != "" && obs.ContactEmail != a.ContactEmail {
		bad = append(bad, fmt.Sprintf("contact email is %q, want %q", obs.ContactEmail, a.ContactEmail))
	}
	if has("owner") && obs.OwnerName() != a.OwnerName() {
		bad = append(bad, fmt.Sprintf("owner is %s, want %s", obs.OwnerName(), a.OwnerName()))
	}
	if has("domain") && a.Domain != "" && !strings.EqualFold(obs.Domain, a.Domain) {
		bad = append(bad, fmt.Sprintf("domain is %s, want %s", obs.Domain, a.Domain))
	}
	if has("suspended") && obs.Suspended != a.Suspended {
		bad = append(bad, fmt.Sprintf("suspended is %t, want %t", obs.Suspended, a.Suspended))
	}
	if len(bad) > 0 {
		return fmt.Errorf("read back: %s", strings.Join(bad, "; "))
	}
	return nil
}

// distribute moves the account's mail to child (or back to the parent when child is
// ""), then waits until listaccts shows it there.
func (p *Provider) distribute(ctx context.Context, c *whmapi.Client, user, child string) error {
	cur, err := c.FindAcct(ctx, user)
	if err != nil {
		return err
	}
	if cur == nil {
		return errors.New("the account does not exist")
	}
	where := func(a *whmapi.Acct) string { n, _ := a.MailNode(); return n }
	if where(cur) == child {
		return nil
	}
	alias := child
	if alias == "" {
		alias = localAlias
	}
	what := "distribute to " + child
	if child == "" {
		what = "dedistribute from " + where(cur)
	}
	move := func(ctx context.Context) error {
		_, err := c.Call(ctx, whmapi.Once, "modifyacct", url.Values{"user": {user}, "mail_node_alias": {alias}}, nil)
		return err
	}
	if err := move(ctx); inFlight(err) {
		// A move of this account is still running on the server (an apply stopped
		// while waiting for it, or killed): wait for it to end, then ask again, unless
		// it already took the mail where it should be.
		p.log.Info("waiting for a move of the account already in flight", "node", c.Node(), "account", user)
		moved := false
		err = p.poll(ctx, what+" (waiting for the move already in flight)", func(ctx context.Context) (bool, error) {
			a, err := c.FindAcct(ctx, user)
			if err != nil {
				return false, err
			}
			if a != nil && where(a) == child {
				moved = true
				return true, nil
			}
			switch err := move(ctx); {
			case inFlight(err):
				return false, nil
			case err != nil:
				return false, err
			}
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if moved {
			return nil
		}
	} else if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	from := where(cur)
	err = p.poll(ctx, what, func(ctx context.Context) (bool, error) {
		a, err := c.FindAcct(ctx, user)
		if err != nil {
			return false, err
		}
		if a == nil {
			return false, errors.New("the account disappeared")
		}
		return where(a) == child, nil
	})
	if errors.Is(err, errTaskTimeout) {
		return p.distributionFailed(user, from, child, c.Node())
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// inFlight reports whether WHM refused a move because one of the same account is
// still running (the sandbox's wording; see internal/sandbox/UNCONFIRMED.md).
func inFlight(err error) bool {
	var ae *whmapi.APIError
	return errors.As(err, &ae) && strings.Contains(ae.Reason, "already changing the distribution")
}

// distributionFailed is the error of a move that did not finish within TaskTimeout.
// WHM runs the move as a queued task (alter_user_distribution) and exposes its
// failure through no WHM API 1 read: Cpanel/TaskProcessors/LinkedNode.pm rolls the
// conversion back, leaves the account's child_nodes as they were, writes the log
// under /var/cpanel/logs/account_node_conversion (Cpanel/LinkedNode/Convert/Log.pm)
// and sends the notification Accounts::Child{Distribution,Redistribution,
// Dedistribution}Failure. So a failure shows as an account that stays where it was,
// and the bound is what turns it into an error.
func (p *Provider) distributionFailed(user, from, to, parent string) error {
	place := func(n string) string {
		if n == "" {
			return "the parent " + parent
		}
		return "child " + n
	}
	return fmt.Errorf("account %s: moving its mail from %s to %s did not finish within %s: its mail is still on %s. "+
		"WHM reports a failed move only in its notifications (\"%s\") and in /var/cpanel/logs/account_node_conversion on %s: read why there, fix it, and apply again (or raise --task-timeout if the move is only slow)",
		user, place(from), place(to), p.opts.TaskTimeout, place(from), failureNotice(from, to), parent)
}

// failureNotice names the notification WHM sends when a move fails
// (Cpanel/TaskProcessors/LinkedNode.pm _report_conversion; the display names are
// those of the Contact Manager).
func failureNotice(from, to string) string {
	switch {
	case to == "":
		return "Transfer Offloaded Functionality from a Child Node Failure"
	case from != "":
		return "Transfer Offloaded Functionality between Child Nodes Failure"
	}
	return "Offload Functionality to a Child Node Failure"
}

func (p *Provider) forceDedistribute(ctx context.Context, c *whmapi.Client, user, lost string) error {
	cur, err := c.FindAcct(ctx, user)
	if err != nil {
		return err
	}
	if cur == nil {
		return errors.New("the account does not exist")
	}
	node, _ := cur.MailNode()
	if node == "" {
		return nil
	}
	if lost == "" {
		lost = node
	}
	if node != lost {
		return fmt.Errorf("forced dedistribution from %s: the account's mail is on %s, not on the lost child", lost, node)
	}
	if _, err := c.Call(ctx, whmapi.Once, "force_dedistribution_from_node", url.Values{"node_alias": {lost}, "user": {user}}, nil); err != nil {
		return fmt.Errorf("forced dedistribution from %s: %w", lost, err)
	}
	cur, err = c.FindAcct(ctx, user)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if cur == nil {
		return errors.New("read back: the account is gone")
	}
	if node, _ := cur.MailNode(); node != "" {
		return fmt.Errorf("read back: mail is still on %s", node)
	}
	return nil
}

func (p *Provider) deleteAccount(ctx context.Context, c *whmapi.Client, user string) error {
	cur, err := c.FindAcct(ctx, user)
	if err != nil {
		return err
	}
	if cur == nil {
		return nil
	}
	if _, err := c.Call(ctx, whmapi.Once, "removeacct", url.Values{"username": {user}}, nil); err != nil {
		return err
	}
	cur, err = c.FindAcct(ctx, user)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if cur != nil {
		return errors.New("read back: the account still exists")
	}
	return nil
}

// ---- helpers --------------------------------------------------------------------

// poll calls done until it reports true, with the retry policy's exponential backoff
// and jitter (providers.RetryPolicy), up to TaskTimeout. A transient error while
// polling is tolerated (the task goes on on the server); a permanent one ends the wait.
func (p *Provider) poll(parent context.Context, what string, done func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(parent, p.opts.TaskTimeout)
	defer cancel()
	bo := providers.RetryPolicy{Initial: p.opts.PollBase, Max: p.opts.PollMax}.BackOff()
	var lastErr error
	for {
		ok, err := done(ctx)
		if err == nil && ok {
			return nil
		}
		if err != nil {
			var ae *whmapi.APIError
			var au *whmapi.AuthError
			if errors.As(err, &ae) || errors.As(err, &au) {
				return err
			}
			lastErr = err
		}
		t := time.NewTimer(bo.NextBackOff())
		select {
		case <-providers.StopWaiting(parent):
			t.Stop()
			return fmt.Errorf("%s: %w", what, providers.ErrStoppedWaiting)
		case <-ctx.Done():
			t.Stop()
			if parent.Err() != nil {
				return fmt.Errorf("%s: stopped waiting: %w", what, parent.Err())
			}
			if lastErr != nil {
				return fmt.Errorf("%s: not finished after %s (last error: %v): %w", what, p.opts.TaskTimeout, lastErr, errTaskTimeout)
			}
			return fmt.Errorf("%s: not finished after %s: %w", what, p.opts.TaskTimeout, errTaskTimeout)
		case <-t.C:
		}
	}
}

// errTaskTimeout marks a background task that did not finish within TaskTimeout.
var errTaskTimeout = errors.New("the server's background task did not finish in time")

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

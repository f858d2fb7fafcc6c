package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func accountFunctions() map[string]function {
	return map[string]function{
		"createacct":                     {h: fnCreateacct, acl: "create-acct"},
		"modifyacct":                     {h: fnModifyacct, acl: "edit-account", root: true},
		"removeacct":                     {h: fnRemoveacct, acl: "kill-acct", root: true},
		"listaccts":                      {h: fnListaccts, acl: "list-accts"},
		"accountsummary":                 {h: fnAccountSummary, acl: "acct-summary"},
		"suspendacct":                    {h: fnSuspend, acl: "suspend-acct", root: true},
		"unsuspendacct":                  {h: fnUnsuspend, acl: "suspend-acct", root: true},
		"changepackage":                  {h: fnChangePackage, acl: "upgrade-account", root: true},
		"verify_user_has_feature":        {h: fnVerifyFeature, acl: "all", root: true},
		"add_override_features_for_user": {h: fnAddOverrideFeatures, acl: "all", root: true},
		"get_users_features_settings":    {h: fnUsersFeatures, acl: "all", root: true},
		"force_dedistribution_from_node": {h: fnForceDedistribution, acl: "all", root: true},
		"ipv6_disable_account":           {h: fnIPv6Disable, acl: "all", root: true},
		"ipv6_enable_account":            {h: fnIPv6Enable, acl: "all", root: true},
		"ipv6_range_list":                {h: fnIPv6RangeList, acl: "all", root: true},
		"fetch_ds_records_for_domains":   {h: fnFetchDS, acl: "all", root: true},
	}
}

var (
	reUsername = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`)
	reDomain   = regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
	reFeature  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

var reservedUsers = []string{"all", "apache", "cpanel", "cpanelhorde", "cpanellogin", "cphulkd", "dovecot", "exim", "ftp", "mail", "mailman", "mysql", "named", "nobody", "postgres", "root", "virtfs", "www"}

func validUsername(u string) error {
	if !reUsername.MatchString(u) {
		return die("“%s” is not a valid username: use lowercase letters and digits, start with a letter, and use at most 16 characters.", u)
	}
	if slices.Contains(reservedUsers, u) || strings.HasPrefix(u, "test") {
		return die("“%s” is a reserved username on this system.", u)
	}
	return nil
}

func validDomain(d string) error {
	d = strings.ToLower(d)
	if len(d) > 253 || !reDomain.MatchString(d) {
		return die("“%s” is not a valid domain name.", d)
	}
	return nil
}

func validEmail(e string) error {
	if e == "" {
		return nil
	}
	for _, part := range strings.Split(e, ",") {
		if _, err := mail.ParseAddress(strings.TrimSpace(part)); err != nil {
			return die("“%s” is not a valid email address.", e)
		}
	}
	return nil
}

func noUser(u string) error { return die("The user “%s” does not exist.", u) }

// nameservers of a server: ns1/ns2 of its host name's parent domain.
func nameservers(host string) []string {
	_, dom, ok := strings.Cut(host, ".")
	if !ok || !strings.Contains(dom, ".") {
		dom = host
	}
	return []string{"ns1." + dom, "ns2." + dom}
}

// --- createacct ---

// newAccountArgs reads and checks the user name and domain of an account being
// created, on a parent (createacct) or on a child (its private counterpart). A
// parent's createacct may omit the domain (reference, createacct: "If you do not
// provide a domain, the system will automatically create a temporary domain"): then
// domain is "" and the caller makes one up (temporaryDomain).
func newAccountArgs(c *call, domainOptional bool) (user, domain string, err error) {
	if user, err = c.required("username"); err != nil {
		return "", "", err
	}
	if domain = c.str("domain"); domain == "" && !domainOptional {
		return "", "", missing("domain")
	}
	if err := validUsername(user); err != nil {
		return "", "", err
	}
	if domain == "" {
		return user, "", nil
	}
	if err := validDomain(domain); err != nil {
		return "", "", err
	}
	return user, strings.ToLower(domain), nil
}

func fnCreateacct(c *call) (any, error) {
	user, domain, err := newAccountArgs(c, true)
	if err != nil {
		return nil, err
	}
	email := c.str("contactemail")
	if err := validEmail(email); err != nil {
		return nil, err
	}
	plan := c.str("plan")
	if plan == "" {
		plan = c.str("pkgname")
	}
	plan = planOr(plan)
	makeReseller, _, err := c.boolArg("reseller")
	if err != nil {
		return nil, err
	}
	for _, p := range []string{"quota", "cgi", "hasshell", "spamassassin", "dkim", "spf", "dmarc", "forcedns"} {
		if _, _, err := c.intArg(p); err != nil {
			return nil, err
		}
	}
	if c.has("child_workloads") {
		// 11.120 Whostmgr/API/1/Accounts.pm createacct.
		return nil, perlDie("Invalid parameter: child_workloads")
	}
	pass := c.str("password")
	if pass == "" {
		pass = c.str("pass")
	}
	owner := c.str("owner")
	if c.user != "root" {
		if owner != "" && owner != c.user {
			return nil, die("You may only create accounts that you own.")
		}
		owner = c.user
	}
	if owner == "" {
		owner = "root"
	}
	mailAlias := c.str("mail_node_alias")
	featureList := c.str("featurelist")
	if featureList == "" {
		featureList = "default"
	}

	var childLink link
	var ns []string
	var parentIP string
	err = c.lock(func(st *nodeState) (bool, error) {
		if pass != "" {
			min := st.PwStrength["default"]
			if v, ok := st.PwStrength["createacct"]; ok {
				min = v
			}
			if s := passwordStrength(pass); s < min {
				return false, die("The password has a strength rating of %d, which does not meet the minimum strength of %d.", s, min)
			}
		}
		if st.Accounts[user] != nil {
			return false, die("The username “%s” already exists.", user)
		}
		temporary := domain == ""
		if temporary {
			domain = st.temporaryDomain()
		}
		if other := st.accountByDomain(domain); other != nil {
			return false, die("The domain “%s” already exists on this server (owner “%s”).", domain, other.User)
		}
		if owner != "root" {
			o := st.Accounts[owner]
			if o == nil || !o.Reseller {
				return false, die("The owner “%s” is not a reseller on this server.", owner)
			}
			if c.user != "root" && o.Limits.EnableAccountLimit && o.Limits.AccountLimit != nil {
				count := 0
				for _, a := range st.Accounts {
					if a.Owner == owner && a.User != owner {
						count++
					}
				}
				if count >= *o.Limits.AccountLimit {
					return false, die("The reseller “%s” has reached its limit of %d accounts.", owner, *o.Limits.AccountLimit)
				}
			}
			// Accounts a distributed reseller creates itself take its distribution
			// (linked nodes guide). Root chooses an account's mail routing when it
			// creates one (WHM's Mail Routing section), so root's createacct with
			// owner= follows mail_node_alias alone. See UNCONFIRMED.md.
			if mailAlias == "" && o.MailNode != "" && c.user != "root" {
				mailAlias = o.MailNode
			}
		}
		if mailAlias == ".local" {
			mailAlias = ""
		}
		if mailAlias != "" {
			l, ok := st.Links[mailAlias]
			if !ok {
				return false, noLink(mailAlias)
			}
			childLink = *l
			// The child side creates the account, then a full-access API token as the
			// new user (Cpanel/LinkedNode/Worker/WHM/Accounts.pm
			// create_account_and_token_on_node: UAPI Tokens::create_full_access), which
			// needs the apitokens feature (Cpanel/API/Tokens.pm). A new account has no
			// override yet: its feature list decides. On failure the source removes the
			// child account (its undo); the parent side is removed too (the caller,
			// Whostmgr/Accounts/Create.pm, is absent from the dump: UNCONFIRMED.md).
			if !st.listFeature(featureList, "apitokens") {
				return false, die("The system failed to create the account on the child node “%s”: Tokens::create_full_access: the “apitokens” feature is not enabled for “%s” (feature list “%s”).", mailAlias, user, featureList)
			}
		}
		a := &account{
			User: user, Domain: domain, Owner: owner, Plan: plan, ContactEmail: email, IP: st.IPv4,
			UID: st.NextUID, StartDate: time.Now().Unix(), FeatureList: featureList, Reseller: makeReseller,
			TemporaryDomain: temporary,
		}
		st.Accounts[user] = a
		st.indexDomain(a)
		st.NextUID++
		ns = nameservers(st.Host)
		parentIP = st.IPv4
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	mailIP := ""
	if mailAlias != "" {
		mailIP, err = c.n.createOnChild(c.ctx, childLink, user, domain, email, plan)
		if err != nil {
			_ = c.lock(func(st *nodeState) (bool, error) {
				if a := st.Accounts[user]; a != nil {
					st.unindexDomain(a)
				}
				delete(st.Accounts, user)
				return true, nil
			})
			return nil, die("The system failed to create the account on the child node “%s”: %s", mailAlias, err.Error())
		}
		_ = c.lock(func(st *nodeState) (bool, error) {
			if a := st.Accounts[user]; a != nil {
				a.MailNode = mailAlias
			}
			return true, nil
		})
	}
	c.n.zoneAccountCreated(domain, mailIP)
	c.reason = "Account Creation Ok"
	c.raw = fmt.Sprintf("Creating account %s for %s …\nAccount Creation Complete!!!\n", user, domain)
	// The reference's keys: nameserver, nameserver2…4 (strings), nameservera,
	// nameservera2…4 and nameserverentry, nameserverentry2…4 (string or null). The
	// sandbox's servers have no nameserver IPs or entries configured: null.
	// The map is made at its size and the keys are constants: built key by key it
	// grew twice and concatenated twelve keys for every account created.
	data := make(map[string]any, 2+3*len(createacctNSKeys))
	data["ip"], data["package"] = parentIP, plan
	for i, k := range createacctNSKeys {
		name := ""
		if i < len(ns) {
			name = ns[i]
		}
		data[k[0]] = name
		data[k[1]] = nil
		data[k[2]] = nil
	}
	return data, nil
}

// createacctNSKeys are createacct's nameserver keys in the reference's numbering:
// nameserver, nameservera and nameserverentry, then the same suffixed 2, 3 and 4.
var createacctNSKeys = [4][3]string{
	{"nameserver", "nameservera", "nameserverentry"},
	{"nameserver2", "nameservera2", "nameserverentry2"},
	{"nameserver3", "nameservera3", "nameserverentry3"},
	{"nameserver4", "nameservera4", "nameserverentry4"},
}

// createOnChild creates the child side of a distributed account and returns the
// child's IPv4 (where mail., webmail. and MX point).
func (n *node) createOnChild(ctx context.Context, l link, user, domain, email, plan string) (string, error) {
	_, err := n.callChild(ctx, l, "PRIVATE_createacct_child", url.Values{
		"username": {user}, "domain": {domain}, "contactemail": {email}, "plan": {plan},
	})
	if err != nil {
		return "", err
	}
	return n.sb.hostIPv4(l.Hostname), nil
}

// hostIPv4 resolves a node's host name to its IPv4 in-process.
func (sb *Sandbox) hostIPv4(host string) string {
	t := sb.nodeByHost(host)
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st.IPv4
}

// --- listaccts / accountsummary ---

// visible reports whether the caller may see or manage the account.
func (c *call) visible(a *account) bool {
	return c.user == "root" || a.Owner == c.user || a.User == c.user
}

// listed reports whether listaccts and accountsummary show the account to the
// caller: root sees every account, anyone else the accounts it owns, which is not
// itself unless it owns itself (11.120 Whostmgr/Accounts/List.pm keeps the domains
// whose owner is REMOTE_USER).
func (c *call) listed(a *account) bool {
	return c.user == "root" || a.Owner == c.user
}

func fnListaccts(c *call) (any, error) {
	searchtype := c.str("searchtype")
	search := c.str("search")
	method := c.str("searchmethod")
	// 11.120 Whostmgr/API/1/Accounts.pm listaccts and Whostmgr/Accounts/List.pm: an
	// unknown searchtype is refused; without one, nothing is filtered; a search that
	// is not a valid expression matches everything; exact searches compare
	// case-insensitively.
	if _, given := c.args["searchtype"]; given && !slices.Contains([]string{"domain", "ip", "user", "package", "owner", "domain_and_user"}, searchtype) {
		return nil, fail("Unknown search type.")
	}
	fields := map[string]func(a *account) []string{
		"domain":          func(a *account) []string { return []string{a.Domain} },
		"user":            func(a *account) []string { return []string{a.User} },
		"ip":              func(a *account) []string { return []string{a.IP} },
		"package":         func(a *account) []string { return []string{a.Plan} },
		"owner":           func(a *account) []string { return []string{a.Owner} },
		"domain_and_user": func(a *account) []string { return []string{a.Domain, a.User} },
	}
	get, ok := fields[searchtype]
	if !ok {
		get = func(*account) []string { return []string{""} }
		search = ""
	}
	var match func(s string) bool
	switch {
	case search == "":
		match = func(string) bool { return true }
	case method == "exact":
		match = func(s string) bool { return strings.EqualFold(s, search) }
	default:
		re, err := regexp.Compile("(?i)" + search)
		if err != nil {
			match = func(string) bool { return true }
		} else {
			match = re.MatchString
		}
	}
	var want []string
	for _, w := range strings.Split(c.str("want"), ",") {
		if w = strings.TrimSpace(w); w != "" {
			want = append(want, w)
		}
	}
	columns := wantFields(want)
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	cands := c.n.st.candidates(searchtype, search, method)
	// Sized for every candidate: a parent's hundreds of entries, ≈400 bytes each, were
	// copied again at every doubling of the list.
	accts := make(acctList, 0, len(cands))
	for _, u := range cands {
		a := c.n.st.Accounts[u]
		if !c.listed(a) {
			continue
		}
		if !slices.ContainsFunc(get(a), match) {
			continue
		}
		j := acctView{a: *a, fields: columns}
		accts = append(accts, j)
	}
	if len(accts) == 0 {
		if search != "" && method == "exact" && searchtype == "user" {
			return nil, fail("No accounts found.")
		}
		// No data when nothing matched (11.120 Whostmgr/API/1/Accounts.pm listaccts:
		// "return if !$count").
		return nil, nil
	}
	return map[string]any{"acct": accts}, nil
}

func fnAccountSummary(c *call) (any, error) {
	user, domain := c.str("user"), strings.ToLower(c.str("domain"))
	if user == "" && domain == "" {
		// 11.120 Whostmgr/API/1/Accounts.pm accountsummary dies with this text.
		return nil, perlDie("You must specify a user or domain to get a summary of.")
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	var a *account
	if user != "" {
		a = c.n.st.Accounts[user]
	} else {
		a = c.n.st.accountByDomain(domain)
	}
	if a == nil || !c.listed(a) {
		return nil, fail("Account does not exist.")
	}
	return map[string]any{"acct": []any{acctView{a: *a, summary: true}}}, nil
}

// --- modifyacct ---

func fnModifyacct(c *call) (any, error) {
	user := c.str("user")
	if !c.has("user") {
		// 11.120 Whostmgr/API/1/Accounts.pm modifyacct sets result 0 itself.
		return nil, fail("Must at least specify a user to modify.")
	}
	if user == "" {
		return nil, noUser(user)
	}
	newDomain := c.str("domain")
	if newDomain == "" {
		newDomain = c.str("DNS")
	}
	if newDomain != "" {
		if err := validDomain(newDomain); err != nil {
			return nil, err
		}
		newDomain = strings.ToLower(newDomain)
	}
	newUser := c.str("newuser")
	if newUser != "" && newUser != user {
		if err := validUsername(newUser); err != nil {
			return nil, err
		}
	}
	email, emailSet := c.str("contactemail"), c.has("contactemail")
	if err := validEmail(email); err != nil {
		return nil, err
	}
	owner := c.str("owner")
	if _, _, err := c.boolArg("reseller"); err != nil {
		return nil, err
	}
	mailAlias := c.str("mail_node_alias")

	var t *task
	var oldDomain string
	var result map[string]any
	var child link
	var distributed bool
	var childDomain, childEmail, childPlan string
	err := c.lock(func(st *nodeState) (bool, error) {
		a := st.Accounts[user]
		if a == nil {
			return false, noUser(user)
		}
		if owner != "" && owner != "root" && owner != user {
			if o := st.Accounts[owner]; o == nil || !o.Reseller {
				return false, die("The owner “%s” is not a reseller on this server.", owner)
			}
		}
		if newDomain != "" && newDomain != a.Domain {
			if other := st.accountByDomain(newDomain); other != nil {
				return false, die("The domain “%s” already exists on this server (owner “%s”).", newDomain, other.User)
			}
		}
		pending := st.pendingDistribution(user)
		if newUser != "" && newUser != user {
			if st.Accounts[newUser] != nil {
				return false, die("The username “%s” already exists.", newUser)
			}
			if a.MailNode != "" || pending != nil || a.ParentHost != "" {
				return false, die("The system cannot rename “%s” while it is a distributed account.", user)
			}
		}
		if mailAlias != "" {
			if pending != nil {
				return false, die("The system is already changing the distribution of “%s”.", user)
			}
			target := mailAlias
			if target == ".local" {
				target = ""
			} else if _, ok := st.Links[target]; !ok {
				return false, noLink(target)
			}
			if a.ParentHost != "" {
				return false, die("“%s” is a distributed account of “%s”.", user, a.ParentHost)
			}
			if target != a.MailNode {
				t = &task{ID: "alter_user_distribution-" + randomString("abcdefghijklmnopqrstuvwxyz0123456789", 8), Kind: "distribution", User: user, From: a.MailNode, To: target}
				st.Tasks = append(st.Tasks, t)
			}
		}
		// Validation is over: apply.
		oldDomain = a.Domain
		if newDomain != "" {
			a.Domain = newDomain
			st.indexDomain(a)
		}
		if emailSet {
			a.ContactEmail = email
		}
		if owner != "" {
			a.Owner = owner
		}
		if newUser != "" && newUser != user {
			delete(st.Accounts, user)
			a.User = newUser
			st.Accounts[newUser] = a
			for _, o := range st.Accounts {
				if o.Owner == user {
					o.Owner = newUser
				}
			}
			if m, ok := st.Mail[user]; ok {
				st.Mail[newUser] = m
				delete(st.Mail, user)
			}
		}
		if l, ok := st.Links[a.MailNode]; ok && a.MailNode != "" && (newDomain != "" || emailSet) {
			child, distributed = *l, true
			childDomain, childEmail, childPlan = a.Domain, a.ContactEmail, a.Plan
		}
		result = map[string]any{
			"user": a.User, "domain": a.Domain, "setshell": "",
			"cpuser": map[string]any{
				"USER": a.User, "DOMAIN": a.Domain, "OWNER": a.Owner, "PLAN": a.Plan,
				"FEATURELIST": a.FeatureList, "CONTACTEMAIL": a.ContactEmail, "IP": a.IP,
				"RS": "jupiter", "STARTDATE": strconv.FormatInt(a.StartDate, 10),
			},
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if newDomain != "" && newDomain != oldDomain {
		c.n.zoneAccountRenamed(oldDomain, newDomain)
	}
	if distributed {
		// The child's copy of the account follows its domain and contact address.
		if _, err := c.n.createOnChild(c.ctx, child, user, childDomain, childEmail, childPlan); err != nil {
			c.warnings = append(c.warnings, fmt.Sprintf("The system failed to update “%s” on the child node “%s”: %s", user, child.Alias, err.Error()))
		}
	}
	if t != nil {
		c.messages = append(c.messages, fmt.Sprintf("The system queued the task “%s” to change the distribution of “%s”.", t.ID, user))
		c.n.runTask(*t)
	}
	c.reason = "Account Modified"
	return result, nil
}

// --- removeacct ---

func fnRemoveacct(c *call) (any, error) {
	user := c.str("username")
	if user == "" {
		user = c.str("user")
	}
	if user == "" {
		return nil, missing("username")
	}
	keepDNS, _, err := c.boolArg("keepdns")
	if err != nil {
		return nil, err
	}
	var removed account
	var childLink link
	var hasChild bool
	err = c.lock(func(st *nodeState) (bool, error) {
		a := st.Accounts[user]
		if a == nil || !c.visible(a) {
			return false, noUser(user)
		}
		if st.pendingDistribution(user) != nil {
			return false, die("The system is changing the distribution of “%s”; try again when it finishes.", user)
		}
		removed = *a
		if a.MailNode != "" {
			if l, ok := st.Links[a.MailNode]; ok {
				childLink, hasChild = *l, true
			}
		}
		st.unindexDomain(a)
		delete(st.Accounts, user)
		delete(st.Mail, user)
		delete(st.Sessions, user)
		delete(st.Tokens, user)
		for _, o := range st.Accounts {
			if o.Owner == user {
				o.Owner = "root"
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if hasChild {
		if _, err := c.n.callChild(c.ctx, childLink, "removeacct", url.Values{"username": {user}}); err != nil {
			c.warnings = append(c.warnings, fmt.Sprintf("The system failed to remove “%s” from the child node “%s”: %s", user, childLink.Alias, err.Error()))
		}
	}
	if !keepDNS {
		c.n.zoneAccountRemoved(removed.Domain)
	}
	c.reason = user + " account removed"
	c.raw = fmt.Sprintf("Removing account %s (%s) …\nAccount Removal Complete!!!\n", user, removed.Domain)
	return nil, nil
}

// --- suspension, package ---

func fnSuspend(c *call) (any, error) { return suspendToggle(c, true) }

func fnUnsuspend(c *call) (any, error) { return suspendToggle(c, false) }

func suspendToggle(c *call, on bool) (any, error) {
	user, err := c.required("user")
	if err != nil {
		return nil, err
	}
	reason := c.str("reason")
	var l link
	var distributed bool
	err = c.lock(func(st *nodeState) (bool, error) {
		a := st.Accounts[user]
		if a == nil {
			return false, noUser(user)
		}
		a.Suspended = on
		if on {
			a.SuspendReason = reason
			if a.SuspendReason == "" {
				a.SuspendReason = "Unknown"
			}
			a.SuspendTime = time.Now().Unix()
		} else {
			a.SuspendReason, a.SuspendTime = "", 0
		}
		if a.MailNode != "" {
			if cl, ok := st.Links[a.MailNode]; ok {
				l, distributed = *cl, true
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	fn := "unsuspendacct"
	verb := "Unsuspending"
	if on {
		fn, verb = "suspendacct", "Suspending"
	}
	if distributed {
		if _, err := c.n.callChild(c.ctx, l, fn, url.Values{"user": {user}, "reason": {reason}}); err != nil {
			c.warnings = append(c.warnings, fmt.Sprintf("The system failed to update “%s” on the child node “%s”: %s", user, l.Alias, err.Error()))
		}
	}
	c.raw = fmt.Sprintf("%s account %s …\nDone.\n", verb, user)
	return nil, nil
}

func fnChangePackage(c *call) (any, error) {
	user, err := c.required("user")
	if err != nil {
		return nil, err
	}
	pkg, err := c.required("pkg")
	if err != nil {
		return nil, err
	}
	var l link
	var distributed bool
	var old string
	err = c.lock(func(st *nodeState) (bool, error) {
		a := st.Accounts[user]
		if a == nil {
			return false, noUser(user)
		}
		old = a.Plan
		a.Plan = pkg
		if a.MailNode != "" {
			if cl, ok := st.Links[a.MailNode]; ok {
				l, distributed = *cl, true
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if distributed {
		if _, err := c.n.callChild(c.ctx, l, "changepackage", url.Values{"user": {user}, "pkg": {pkg}}); err != nil {
			c.warnings = append(c.warnings, fmt.Sprintf("The system failed to update “%s” on the child node “%s”: %s", user, l.Alias, err.Error()))
		}
	}
	c.raw = fmt.Sprintf("Changing package of %s from %s to %s …\nDone.\n", user, old, pkg)
	return nil, nil
}

// --- features ---

// knownFeatures are reported by get_users_features_settings when no feature is asked.
var knownFeatures = []string{"apitokens", "autossl", "backup", "caldavcarddav", "cron", "emailauth", "forwarders", "ftpaccts", "lists", "popaccts", "spamassassin", "sslmanager", "webdisk", "webmail", "zoneedit"}

func fnVerifyFeature(c *call) (any, error) {
	user, err := c.required("user")
	if err != nil {
		return nil, err
	}
	feature, err := c.required("feature")
	if err != nil {
		return nil, err
	}
	if !reFeature.MatchString(feature) {
		return nil, die("“%s” is not a valid feature name.", feature)
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	a := c.n.st.Accounts[user]
	if a == nil {
		return nil, noUser(user)
	}
	has := 0
	if c.n.st.featureOn(a, feature) {
		has = 1
	}
	return map[string]any{"has_feature": has, "query_feature": feature}, nil
}

func fnAddOverrideFeatures(c *call) (any, error) {
	user, err := c.required("user")
	if err != nil {
		return nil, err
	}
	raw, err := c.required("features")
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, die("The “features” parameter must be a JSON object: %s", err.Error())
	}
	set := map[string]bool{}
	for k, v := range m {
		if !reFeature.MatchString(k) {
			return nil, die("“%s” is not a valid feature name.", k)
		}
		switch fmt.Sprint(v) {
		case "1", "true":
			set[k] = true
		case "0", "false":
			set[k] = false
		default:
			return nil, die("The value of the feature “%s” must be 1 or 0.", k)
		}
	}
	return nil, c.lock(func(st *nodeState) (bool, error) {
		a := st.Accounts[user]
		if a == nil {
			return false, noUser(user)
		}
		if a.Features == nil {
			a.Features = map[string]bool{}
		}
		for k, v := range set {
			a.Features[k] = v
		}
		return true, nil
	})
}

// featureRow is one row of get_users_features_settings, its keys in the order a
// map's are written (sorted), as the map it replaced wrote them: a plan of the 100k
// fleet reads a row per account and feature, each a map of five keys before.
type featureRow struct {
	CPUserSetting      any    `json:"cpuser_setting"` // nil, 0 or 1
	Feature            string `json:"feature"`
	FeatureList        string `json:"feature_list"`
	FeatureListSetting int    `json:"feature_list_setting"`
	User               string `json:"user"`
}

// columnKeys and dropColumns let api.columns treat the row as the map it was
// (columns.go).
func (r featureRow) columnKeys() []string {
	return []string{"cpuser_setting", "feature", "feature_list", "feature_list_setting", "user"}
}

func (r featureRow) dropColumns(drop map[string]bool) any {
	out := map[string]any{}
	for k, v := range map[string]any{"cpuser_setting": r.CPUserSetting, "feature": r.Feature, "feature_list": r.FeatureList, "feature_list_setting": r.FeatureListSetting, "user": r.User} {
		if !drop[k] {
			out[k] = v
		}
	}
	return out
}

func fnUsersFeatures(c *call) (any, error) {
	users := c.list("user")
	if len(users) == 0 {
		return nil, missing("user")
	}
	features := c.list("feature")
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	// Sized for the usual answer (every named feature, or every known one, for each
	// user): a plan asks for hundreds of users at once, and the rows were copied
	// again at every doubling.
	perUser := len(features)
	if perUser == 0 {
		perUser = len(knownFeatures)
	}
	out := make([]featureRow, 0, len(users)*perUser)
	for _, u := range users {
		a := c.n.st.Accounts[u]
		if a == nil {
			return nil, noUser(u)
		}
		fs := features
		if len(fs) == 0 {
			fs = slices.Clone(knownFeatures)
			for f := range a.Features {
				if !slices.Contains(fs, f) {
					fs = append(fs, f)
				}
			}
			slices.Sort(fs)
		}
		for _, f := range fs {
			var cp any
			if v, ok := a.Features[f]; ok {
				cp = 0
				if v {
					cp = 1
				}
			}
			ls := 0
			if c.n.st.listFeature(a.FeatureList, f) {
				ls = 1
			}
			out = append(out, featureRow{CPUserSetting: cp, Feature: f, FeatureList: a.FeatureList, FeatureListSetting: ls, User: u})
		}
	}
	return map[string]any{"users_features_settings": out}, nil
}

// fnIPv6Disable removes an account's IPv6 addresses. Whostmgr/API/1/IPv6.pm: result
// and reason only; a missing user is "Missing parameter:  user" (no exception
// prefix); a distributed account's call from a non-parent persona is refused like the
// other child-account functions.
func fnIPv6Disable(c *call) (any, error) {
	user := c.str("user")
	if user == "" {
		return nil, fail("Missing parameter:  user")
	}
	return nil, c.lock(func(st *nodeState) (bool, error) {
		a := st.Accounts[user]
		if a == nil {
			return false, fail("The user “%s” does not exist.", user)
		}
		changed := len(a.IPv6) > 0
		a.IPv6 = nil
		return changed, nil
	})
}

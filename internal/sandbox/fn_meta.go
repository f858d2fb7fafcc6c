package sandbox

import (
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func metaFunctions() map[string]function {
	return map[string]function{
		"version":                     {h: fnVersion},
		"myprivs":                     {h: fnMyprivs},
		"get_current_profile":         {h: fnGetCurrentProfile, acl: "all"},
		"start_profile_activation":    {h: fnStartProfileActivation, acl: "all", root: true},
		"is_role_enabled":             {h: fnIsRoleEnabled, acl: "all"},
		"servicestatus":               {h: fnServiceStatus, acl: "all", root: true},
		"getminimumpasswordstrengths": {h: fnGetMinPw, acl: "all", root: true},
		"setminimumpasswordstrengths": {h: fnSetMinPw, acl: "all", root: true},
		"api_token_create":            {h: fnAPITokenCreate},
		"api_token_revoke":            {h: fnAPITokenRevoke},
		"batch":                       {h: fnBatch},
	}
}

func fnVersion(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	return map[string]any{"version": c.n.st.Version}, nil
}

// allACLs are the reseller ACL names of setacls (functions.tsv), plus "all".
var allACLs = []string{
	"acct-summary", "add-pkg", "add-pkg-ip", "add-pkg-shell", "all", "allow-addoncreate",
	"allow-parkedcreate", "allow-unlimited-bw-pkgs", "allow-unlimited-disk-pkgs",
	"allow-unlimited-pkgs", "basic-system-info", "basic-whm-functions", "clustering",
	"cors-proxy-get", "cpanel-api", "cpanel-integration", "create-acct", "create-dns",
	"create-user-session", "demo-setup", "digest-auth", "disallow-shell", "edit-account",
	"edit-dns", "edit-mx", "edit-pkg", "generate-email-config", "kill-acct", "kill-dns",
	"limit-bandwidth", "list-accts", "list-pkgs", "locale-edit", "mailcheck",
	"manage-api-tokens", "manage-dns-records", "manage-oidc", "manage-styles", "mysql-info",
	"nameserver-config", "news", "park-dns", "passwd", "quota", "rearrange-accts", "resftp",
	"restart", "show-bandwidth", "ssl", "ssl-buy", "ssl-gencrt", "ssl-info", "stats", "status",
	"suspend-acct", "thirdparty", "track-email", "upgrade-account", "viewglobalpackages",
}

func fnMyprivs(c *call) (any, error) {
	privs := map[string]int{}
	for _, acl := range myprivsPrivileges {
		if c.hasACL(acl) {
			privs[acl] = 1
		} else {
			privs[acl] = 0
		}
	}
	return map[string]any{"privileges": []any{privs}}, nil
}

// --- server profiles ---

// The roles and profiles follow Cpanel/Server/Type/Profile.pm (11.120): all_roles,
// %ENABLED_IN_ALL_ROLES (MailSend, MailLocal, RegularCpanel) and %_META. A profile's
// disabled roles are every role that is neither enabled nor optional
// (get_disabled_roles_for_profile). Names and descriptions are the sandbox's own
// wording (the role modules' _NAME/_DESCRIPTION are locale strings, not read).

type role struct{ module, name, description string }

var roles = map[string]role{
	"CalendarContact": {"CalendarContact", "Calendars and Contacts", "Calendar and contact sharing (CalDAV and CardDAV)."},
	"DNS":             {"DNS", "DNS", "The DNS server."},
	"FileStorage":     {"FileStorage", "File Storage", "Web Disk and file storage."},
	"FTP":             {"FTP", "FTP", "The FTP server."},
	"MailLocal":       {"MailLocal", "Local Mail", "Local mail delivery."},
	"MailReceive":     {"MailReceive", "Receive Mail", "Mail reception (IMAP, POP3)."},
	"MailRelay":       {"MailRelay", "Send Mail", "Outgoing mail relay (SMTP)."},
	"MailSend":        {"MailSend", "Mail Sending", "Sending mail from the server."},
	"MySQL":           {"MySQL", "MySQL/MariaDB", "The MySQL or MariaDB database server."},
	"Postgres":        {"Postgres", "PostgreSQL", "The PostgreSQL database server."},
	"RegularCpanel":   {"RegularCpanel", "cPanel", "The cPanel interface for users."},
	"SpamFilter":      {"SpamFilter", "Spam Filter", "Spam filtering (Apache SpamAssassin)."},
	"Webmail":         {"Webmail", "Webmail", "Webmail applications."},
	"WebDisk":         {"WebDisk", "Web Disk", "WebDAV access to files."},
	"WebServer":       {"WebServer", "Web Server", "The web server (Apache)."},
}

// allRoles is Profile.pm's all_roles, sorted.
var allRoles = []string{"CalendarContact", "DNS", "FTP", "FileStorage", "MailLocal", "MailReceive", "MailRelay", "MailSend", "MySQL", "Postgres", "RegularCpanel", "SpamFilter", "WebDisk", "WebServer", "Webmail"}

// inAllProfiles is Profile.pm's %ENABLED_IN_ALL_ROLES.
var inAllProfiles = []string{"MailLocal", "MailSend", "RegularCpanel"}

type profile struct {
	code, name, description string
	experimental            bool
	enabled, optional       []string
}

// disabled lists the roles that are neither enabled nor optional in the profile.
func (p profile) disabled() []string {
	var out []string
	for _, r := range allRoles {
		if !slices.Contains(p.enabled, r) && !slices.Contains(p.optional, r) {
			out = append(out, r)
		}
	}
	return out
}

func withAll(rs ...string) []string {
	out := append(slices.Clone(rs), inAllProfiles...)
	slices.Sort(out)
	return out
}

var profiles = map[string]profile{
	"STANDARD": {code: "STANDARD", name: "Standard", description: "All services are enabled.",
		enabled: allRoles},
	"MAILNODE": {code: "MAILNODE", name: "Mail", description: "A server that handles mail.",
		enabled:  withAll("CalendarContact", "MailReceive", "MailRelay", "Webmail"),
		optional: []string{"DNS", "MySQL", "Postgres", "SpamFilter"}},
	"DNSNODE": {code: "DNSNODE", name: "DNS", description: "A server that handles DNS.",
		enabled:  withAll("DNS"),
		optional: []string{"MailRelay", "MySQL"}},
	"DATABASENODE": {code: "DATABASENODE", name: "Database", description: "A server that handles databases.", experimental: true,
		enabled:  withAll("MySQL"),
		optional: []string{"Postgres"}},
}

// roleEnabled answers is_role_enabled for the node's current profile: a profile's
// enabled roles are on, its disabled roles off, and an optional role is on when the
// last activation turned it on (Roles.pm is_role_enabled; Change.pm
// _get_enabled_and_disabled_roles disables every optional role not set to a true
// value in `optional`).
func (st *nodeState) roleEnabled(r string) bool {
	p := profiles[st.Profile]
	if slices.Contains(inAllProfiles, r) || slices.Contains(p.enabled, r) {
		return true
	}
	return slices.Contains(p.optional, r) && slices.Contains(st.OptionalRoles, r)
}

func roleList(names []string) []any {
	out := []any{}
	for _, n := range names {
		r := roles[n]
		out = append(out, map[string]any{"module": r.module, "name": r.name, "description": r.description})
	}
	return out
}

// profileJSON is get_current_profile's answer (Whostmgr/API/1/Cpanel.pm): the
// profile's role lists as Profile.pm declares them. optional_roles lists the roles
// that may be on or off; whether each is on is read with is_role_enabled.
func profileJSON(code string) map[string]any {
	p := profiles[code]
	exp := 0
	if p.experimental {
		exp = 1
	}
	return map[string]any{
		"code": p.code, "name": p.name, "description": p.description, "experimental": exp,
		"enabled_roles": roleList(p.enabled), "disabled_roles": roleList(p.disabled()), "optional_roles": roleList(p.optional),
	}
}

// roleServices are the services each role runs (the sandbox's reading of the role
// modules' SERVICES(); linking checks cpdavd, exim, imap, lmtp and pop on a mail child).
var roleServices = map[string][]string{
	"CalendarContact": {"cpdavd"},
	"DNS":             {"named"},
	"FTP":             {"ftpd"},
	"MailReceive":     {"dovecot", "imap", "lmtp", "pop"},
	"MailRelay":       {"exim"},
	"MailSend":        {"exim"},
	"MySQL":           {"mysql"},
	"Postgres":        {"postgresql"},
	"SpamFilter":      {"spamd"},
	"WebServer":       {"apache_php_fpm", "httpd"},
}

// enabledServices are the services the node runs: those of its enabled roles, plus
// cpsrvd and sshd, which every server runs.
func (st *nodeState) enabledServices() []string {
	set := map[string]bool{"cpsrvd": true, "sshd": true}
	for _, r := range allRoles {
		if st.roleEnabled(r) {
			for _, s := range roleServices[r] {
				set[s] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func fnGetCurrentProfile(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	return profileJSON(c.n.st.Profile), nil
}

func fnStartProfileActivation(c *call) (any, error) {
	code, err := c.required("code")
	if err != nil {
		return nil, err
	}
	p, ok := profiles[code]
	if !ok {
		return nil, die("“%s” is not a valid server profile code.", code)
	}
	// Whostmgr/API/1/Cpanel.pm start_profile_activation: `optional` is JSON
	// {ROLE: 0|1}; Change.pm enables an optional role only for a true value and
	// disables every other optional role, so leaving `optional` out disables them all.
	var on []string
	hasOpt := false
	if opt := c.str("optional"); opt != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(opt), &m); err != nil {
			return nil, die("The “optional” parameter must be a JSON object: %s", err.Error())
		}
		for r, v := range m {
			if !slices.Contains(p.optional, r) {
				return nil, die("“%s” is not an optional role of the “%s” profile.", r, code)
			}
			if truthy(v) {
				on = append(on, r)
			}
		}
		slices.Sort(on)
		hasOpt = len(m) > 0
	}
	var t *task
	err = c.lock(func(st *nodeState) (bool, error) {
		if st.pendingProfile() != nil {
			return false, die("A server profile activation is already in progress.")
		}
		if code != "STANDARD" && len(st.Links) > 0 {
			return false, die("This server has linked child nodes, so it must use the “STANDARD” profile.")
		}
		t = &task{ID: time.Now().UTC().Format("20060102T150405") + "-" + randomString("abcdefghijklmnopqrstuvwxyz0123456789", 6), Kind: "profile", Code: code, Optional: on, SetOptional: hasOpt}
		st.Tasks = append(st.Tasks, t)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	c.n.runTask(*t)
	return map[string]any{"log_id": t.ID}, nil
}

// truthy is Perl's truth for a decoded JSON value: 0, "", "0", false and null are false.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != "" && x != "0"
	}
	return true
}

// fnIsRoleEnabled answers is_role_enabled (Whostmgr/API/1/Cpanel.pm): data.enabled
// is the string "1" or "0"; an unknown role is a failure.
func fnIsRoleEnabled(c *call) (any, error) {
	r, err := c.required("role")
	if err != nil {
		return nil, err
	}
	if _, ok := roles[r]; !ok {
		return nil, die("Can't locate Cpanel/Server/Type/Role/%s.pm in @INC", r)
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if c.n.st.roleEnabled(r) {
		return map[string]any{"enabled": "1"}, nil
	}
	return map[string]any{"enabled": "0"}, nil
}

func fnServiceStatus(c *call) (any, error) {
	out := []any{}
	c.n.mu.Lock()
	svcs := c.n.st.enabledServices()
	off, unmon := c.n.st.ServiceOff, c.n.st.Unmonitored
	var rows []map[string]any
	for _, s := range svcs {
		on := b2i(!off[s])
		rows = append(rows, map[string]any{"name": s, "display_name": s, "enabled": on, "installed": 1, "monitored": b2i(!unmon[s]), "running": on})
	}
	c.n.mu.Unlock()
	for _, r := range rows {
		out = append(out, r)
	}
	return map[string]any{"service": out}, nil
}

// --- password strength ---

func fnGetMinPw(c *call) (any, error) {
	name := c.str("name")
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	get := func(k string) int {
		if v, ok := c.n.st.PwStrength[k]; ok {
			return v
		}
		return c.n.st.PwStrength["default"]
	}
	if name != "" {
		if !slices.Contains(pwKinds, name) && name != "cpaddons" {
			return nil, die("“%s” is not a valid password-strength name.", name)
		}
		return map[string]any{name: get(name)}, nil
	}
	out := map[string]any{}
	for _, k := range pwKinds {
		out[k] = get(k)
	}
	return out, nil
}

func fnSetMinPw(c *call) (any, error) {
	set := map[string]int{}
	del := []string{}
	for _, k := range pwKinds {
		if !c.has(k) {
			continue
		}
		s := strings.TrimSpace(c.str(k))
		if s == "" {
			if k == "default" {
				return nil, die("The “default” password strength cannot be empty.")
			}
			del = append(del, k)
			continue
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 100 {
			return nil, die("The password strength “%s” must be a whole number from 0 to 100, not “%s”.", k, s)
		}
		set[k] = v
	}
	return nil, c.lock(func(st *nodeState) (bool, error) {
		for k, v := range set {
			st.PwStrength[k] = v
		}
		for _, k := range del {
			delete(st.PwStrength, k)
		}
		return len(set)+len(del) > 0, nil
	})
}

// passwordStrength scores a password 0..100 from its length and character classes,
// in the spirit of cPanel's meter: enough to refuse weak passwords deterministically.
func passwordStrength(pw string) int {
	classes := 0
	for _, re := range []*regexp.Regexp{reLower, reUpper, reDigit, reOther} {
		if re.MatchString(pw) {
			classes++
		}
	}
	score := len(pw)*4 + classes*10
	if score > 100 {
		score = 100
	}
	return score
}

var (
	reLower = regexp.MustCompile(`[a-z]`)
	reUpper = regexp.MustCompile(`[A-Z]`)
	reDigit = regexp.MustCompile(`[0-9]`)
	reOther = regexp.MustCompile(`[^A-Za-z0-9]`)
)

// --- API tokens ---

var reTokenName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,50}$`)

func fnAPITokenCreate(c *call) (any, error) {
	name, err := c.required("token_name")
	if err != nil {
		return nil, err
	}
	if !reTokenName.MatchString(name) {
		return nil, die("The token name “%s” is invalid: use at most 50 letters, digits, hyphens and underscores.", name)
	}
	acls := c.list("acl")
	for _, a := range acls {
		if !c.hasACL(a) {
			return nil, die("You cannot grant the “%s” privilege because you do not have it.", a)
		}
		if !slices.Contains(allACLs, a) {
			return nil, die("“%s” is not a valid privilege.", a)
		}
	}
	exp, _, err := c.intArg("expires_at")
	if err != nil {
		return nil, err
	}
	expires := int64(exp)
	now := time.Now().Unix()
	if expires != 0 && expires <= now {
		return nil, die("The expiration time must be in the future.")
	}
	whitelist := c.list("whitelist_ip")
	tok := newTokenValue()
	stored := slices.Clone(acls)
	if len(stored) == 0 {
		stored = slices.Clone(c.acls)
		if c.user == "root" {
			stored = []string{"all"}
		}
	}
	err = c.lock(func(st *nodeState) (bool, error) {
		if _, dup := st.Tokens[c.user][name]; dup {
			return false, die("A token named “%s” already exists.", name)
		}
		if st.Tokens[c.user] == nil {
			st.Tokens[c.user] = map[string]*apiToken{}
		}
		st.Tokens[c.user][name] = &apiToken{Name: name, Hash: hashToken(tok), CreateTime: now, ACLs: stored, ExpiresAt: expires, Whitelist: whitelist}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	data := map[string]any{"token": tok, "name": name, "create_time": now}
	if len(acls) > 0 {
		data["acls"] = acls
	}
	// expires_at is documented as an integer or null: null when the token never
	// expires.
	data["expires_at"] = nil
	if expires != 0 {
		data["expires_at"] = expires
	}
	return data, nil
}

func fnAPITokenRevoke(c *call) (any, error) {
	names := c.list("token_name")
	if len(names) == 0 {
		return nil, missing("token_name")
	}
	return nil, c.lock(func(st *nodeState) (bool, error) {
		for _, n := range names {
			if _, ok := st.Tokens[c.user][n]; !ok {
				return false, die("No token named “%s” exists.", n)
			}
		}
		for _, n := range names {
			delete(st.Tokens[c.user], n)
		}
		return true, nil
	})
}

func epochNow() int64 { return time.Now().Unix() }

// fnBatch runs several functions in one request: each `command` is "FUNCTION?ARGS"
// (URI-encoded), answered in order in data.result as whole envelopes. With
// abort_on_error=1 the first failure ends the batch.
func fnBatch(c *call) (any, error) {
	cmds := c.list("command")
	if len(cmds) == 0 {
		return nil, missing("command")
	}
	abort, _, err := c.boolArg("abort_on_error")
	if err != nil {
		return nil, err
	}
	type sub struct {
		fn   string
		args url.Values
	}
	subs := make([]sub, 0, len(cmds))
	for _, cmd := range cmds {
		fn, query, _ := strings.Cut(cmd, "?")
		if fn == "batch" {
			return nil, die("A batch cannot contain another batch.")
		}
		args, err := parseCommandQuery(query)
		if err != nil {
			return nil, die("The command “%s” is not a valid function call.", fn)
		}
		subs = append(subs, sub{fn, args})
	}
	// The results and the sub-calls are made once for the batch, not grown or
	// allocated one by one: a plan's batches hold hundreds of commands.
	results := make([]any, 0, len(subs))
	calls := make([]call, len(subs))
	for i, s := range subs {
		sc := &calls[i]
		*sc = call{n: c.n, ctx: c.ctx, fn: s.fn, args: s.args, user: c.user, acls: c.acls, persona: c.persona, tokenHash: c.tokenHash}
		data, err := sc.run()
		results = append(results, sc.envelope(data, err))
		if err != nil && abort {
			break
		}
	}
	return map[string]any{"result": results}, nil
}

// parseCommandQuery is url.ParseQuery's reading of a batch command's arguments (a
// key with a semicolon, or that does not unescape, is an error; an empty pair is
// skipped; a repeated key's values are kept in order) with fewer allocations: the
// map is sized for the pairs, and the keys' first values share one list (each
// capped at its one value, so a repeated key's append copies it, as before). A
// plan's batches hold tens of thousands of commands, each parsed on its own.
func parseCommandQuery(query string) (url.Values, error) {
	n := strings.Count(query, "&") + 1
	m := make(url.Values, n)
	firsts := make([]string, n)
	used := 0
	var err error
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if strings.Contains(pair, ";") {
			err = errors.New("invalid semicolon separator in query")
			continue
		}
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(key)
		if err1 != nil {
			if err == nil {
				err = err1
			}
			continue
		}
		value, err1 = url.QueryUnescape(value)
		if err1 != nil {
			if err == nil {
				err = err1
			}
			continue
		}
		if vs, ok := m[key]; ok {
			m[key] = append(vs, value)
			continue
		}
		firsts[used] = value
		m[key] = firsts[used : used+1 : used+1]
		used++
	}
	return m, err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// listaclsPrivileges and myprivsPrivileges are the privilege names the reference
// documents in listacls' and myprivs' answers (testdata/whm/reference). They differ
// from setacls' parameter names (functions.tsv: disallow-shell, nameserver-config)
// in a few names; a privilege the sandbox does not model is 1 only with "all".
var listaclsPrivileges = []string{
	"acct-summary", "add-pkg", "add-pkg-ip", "add-pkg-shell", "all", "allow-addoncreate",
	"allow-emaillimits-pkgs", "allow-parkedcreate", "allow-shell",
	"allow-unlimited-bw-pkgs", "allow-unlimited-disk-pkgs", "allow-unlimited-pkgs",
	"basic-system-info", "basic-whm-functions", "clustering", "cors-proxy-get",
	"cpanel-api", "cpanel-integration", "create-acct", "create-dns", "create-user-session",
	"demo-setup", "digest-auth", "edit-account", "edit-dns", "edit-mx", "edit-pkg",
	"generate-email-config", "kill-acct", "kill-dns", "limit-bandwidth", "list-accts",
	"list-pkgs", "locale-edit", "mailcheck", "manage-api-tokens", "manage-dns-records",
	"manage-oidc", "manage-styles", "mysql-info", "news", "ns-config", "park-dns", "passwd",
	"quota", "rearrange-accts", "resftp", "restart", "show-bandwidth", "ssl", "ssl-buy",
	"ssl-gencrt", "ssl-info", "stats", "status", "suspend-acct", "thirdparty",
	"track-email", "upgrade-account", "viewglobalpackages", "frontpage",
}

var myprivsPrivileges = []string{
	"acct-summary", "add-pkg", "add-pkg-ip", "add-pkg-shell", "all", "allow-addoncreate",
	"allow-emaillimits-pkgs", "allow-parkedcreate", "allow-shell",
	"allow-unlimited-bw-pkgs", "allow-unlimited-disk-pkgs", "allow-unlimited-pkgs",
	"basic-system-info", "basic-whm-functions", "clustering", "cors-proxy-get",
	"cpanel-api", "cpanel-integration", "create-acct", "create-dns", "create-user-session",
	"demo-setup", "digest-auth", "edit-account", "edit-dns", "edit-mx", "edit-pkg",
	"file-restore", "generate-email-config", "kill-acct", "kill-dns", "limit-bandwidth",
	"list-accts", "list-pkgs", "locale-edit", "mailcheck", "manage-api-tokens",
	"manage-dns-records", "manage-oidc", "manage-styles", "mysql-info", "news", "ns-config",
	"park-dns", "passwd", "quota", "rearrange-accts", "resftp", "restart", "show-bandwidth",
	"ssl", "ssl-buy", "ssl-gencrt", "ssl-info", "stats", "status", "suspend-acct",
	"thirdparty", "track-email", "upgrade-account", "viewglobalpackages",
}

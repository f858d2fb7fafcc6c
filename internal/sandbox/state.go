package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"time"
)

// nodeState is everything one simulated server remembers. It is persisted as one JSON
// document per node (see store.go); every field is exported for encoding/json only.
type nodeState struct {
	Name    string `json:"name"`
	Host    string `json:"host"`
	IPv4    string `json:"ipv4"`
	Version string `json:"version"`
	Profile string `json:"profile"`
	// OptionalRoles are the optional roles of Profile that are on (Profile.pm
	// optional_roles; start_profile_activation's `optional`).
	OptionalRoles []string `json:"optional_roles,omitempty"`

	// RootToken is the bootstrap root token, kept in clear so a restart can write
	// endpoints.json again. The state file is mode 0600, like endpoints.json.
	RootToken string `json:"root_token"`
	// Tokens: user → token name → token. Only hashes of tokens are kept.
	Tokens map[string]map[string]*apiToken `json:"tokens"`

	// Links are this server's linked child nodes (parent side), by alias.
	Links map[string]*link `json:"links,omitempty"`
	// ParentHost is set on a child: the host name of the parent that linked it.
	ParentHost string `json:"parent_host,omitempty"`

	Accounts map[string]*account `json:"accounts"`
	// ACLLists are the saved reseller ACL lists (saveacllist), by name.
	ACLLists map[string][]string `json:"acl_lists,omitempty"`
	// FeatureLists holds the features a feature list sets, by list then feature; a
	// feature a list does not set is on (the sandbox's default list enables all).
	// WHM replays feature-list changes on every linked node (whm-api.md §2,
	// Whostmgr/API/1/FeatureLists.pm), so a parent's lists stand for its children's.
	FeatureLists map[string]map[string]bool `json:"feature_lists,omitempty"`
	// PwStrength holds minimum password strengths by kind; "default" is always set.
	PwStrength map[string]int `json:"pw_strength"`

	// Mail: user → mailbox → message count. Sessions: user → open IMAP/POP3 sessions.
	Mail     map[string]map[string]int `json:"mail,omitempty"`
	Sessions map[string]int            `json:"sessions,omitempty"`

	// Notifications are what the server told its contacts (WHM's iContact), oldest
	// first, at most maxNotifications. No WHM API 1 function reads them: they stand
	// for the mail an administrator gets, and tests read them through Notifications.
	Notifications []notification `json:"notifications,omitempty"`

	// Tasks are queued background tasks (profile activation, distribution). A task
	// still here after a restart is run again from the start.
	Tasks []*task `json:"tasks,omitempty"`

	// Zones holds the DNS zones this server is authoritative for, as zone-file text
	// (owned by zones.go).
	Zones map[string]string `json:"zones,omitempty"`
	// Cluster is the DNS-cluster configuration (owned by zones.go).
	Cluster []byte `json:"cluster,omitempty"`
	// ServiceOff and Unmonitored are services switched off or unmonitored with
	// configureservice (servicestatus reports them).
	ServiceOff  map[string]bool `json:"service_off,omitempty"`
	Unmonitored map[string]bool `json:"unmonitored,omitempty"`

	NextUID int `json:"next_uid"`

	// IPv6Ranges are the server's IPv6 address ranges by name (WHM's IPv6 Ranges,
	// ipv6_range_add; test helper AddIPv6Range), fn_ipv6.go.
	IPv6Ranges map[string]*ipv6Range `json:"ipv6_ranges,omitempty"`

	// NameServer is the DNS server software ("" = BIND; "powerdns"), and Signed the
	// zones signed with DNSSEC, by domain, with their key tag (fn_dnssec.go).
	NameServer string         `json:"nameserver,omitempty"`
	Signed     map[string]int `json:"signed,omitempty"`

	// byDomain indexes Accounts by domain so createacct's duplicate check and exact
	// listaccts lookups are O(1): a linear scan made 10k creations quadratic. It is
	// derived (never persisted) and self-checking: it is rebuilt when its size differs
	// from Accounts', and a hit is trusted only if it still names that account.
	byDomain map[string]*account
}

type apiToken struct {
	Name       string   `json:"name"`
	Hash       string   `json:"hash"`
	CreateTime int64    `json:"create_time"`
	ACLs       []string `json:"acls"`
	ExpiresAt  int64    `json:"expires_at,omitempty"`
	Whitelist  []string `json:"whitelist_ip,omitempty"`
}

// link is a parent's record of a linked child node.
type link struct {
	Alias           string   `json:"alias"`
	Hostname        string   `json:"hostname"`
	Username        string   `json:"username"`
	Token           string   `json:"api_token"` // needed to proxy; never returned by the API
	Version         string   `json:"version"`
	EnabledServices []string `json:"enabled_services"`
	TLSVerified     int      `json:"tls_verified"`
	LastCheck       int64    `json:"last_check"`
}

// account is a cPanel account. On a parent MailNode names the child holding its mail;
// on a child ParentHost marks a distributed account owned by that parent.
type account struct {
	User         string `json:"user"`
	Domain       string `json:"domain"`
	Owner        string `json:"owner"`
	Plan         string `json:"plan"`
	ContactEmail string `json:"contact_email,omitempty"`
	IP           string `json:"ip"`
	UID          int    `json:"uid"`
	StartDate    int64  `json:"start_date"`
	// TemporaryDomain is set when createacct made the domain up (no domain given).
	TemporaryDomain bool            `json:"temporary_domain,omitempty"`
	Suspended       bool            `json:"suspended,omitempty"`
	SuspendReason   string          `json:"suspend_reason,omitempty"`
	SuspendTime     int64           `json:"suspend_time,omitempty"`
	FeatureList     string          `json:"feature_list"`
	Features        map[string]bool `json:"features,omitempty"` // per-user overrides
	Reseller        bool            `json:"reseller,omitempty"`
	ACLs            []string        `json:"acls,omitempty"`
	Limits          resellerLimits  `json:"limits,omitzero"`

	// IPv6 are the account's IPv6 addresses (listaccts ipv6[]).
	IPv6 []string `json:"ipv6,omitempty"`
	// Forwarders are the account's email forwarders (fn_uapi.go), kept where its mail
	// is: on the parent, or on the child's copy of a distributed account.
	Forwarders []forwarder `json:"forwarders,omitempty"`

	MailNode   string `json:"mail_node,omitempty"`
	ParentHost string `json:"parent_host,omitempty"`
}

type resellerLimits struct {
	AccountLimit       *int `json:"account_limit,omitempty"`
	EnableAccountLimit bool `json:"enable_account_limit,omitempty"`
	DiskspaceLimit     *int `json:"diskspace_limit,omitempty"`
	BandwidthLimit     *int `json:"bandwidth_limit,omitempty"`
	EnableResource     bool `json:"enable_resource_limits,omitempty"`
	EnableOverselling  bool `json:"enable_overselling,omitempty"`
	OversellBandwidth  bool `json:"enable_overselling_bandwidth,omitempty"`
	OversellDiskspace  bool `json:"enable_overselling_diskspace,omitempty"`
	EnablePackage      bool `json:"enable_package_limits,omitempty"`
	EnablePackageNum   bool `json:"enable_package_limit_numbers,omitempty"`
}

// featureOn is an account's effective setting of a feature: its own override
// (cpuser), else its feature list's, else on.
func (st *nodeState) featureOn(a *account, f string) bool {
	if v, ok := a.Features[f]; ok {
		return v
	}
	return st.listFeature(a.FeatureList, f)
}

// listFeature is a feature list's setting of a feature (on when the list is silent).
func (st *nodeState) listFeature(list, f string) bool {
	if v, ok := st.FeatureLists[list][f]; ok {
		return v
	}
	return true
}

// notification is one message to the server's contacts.
type notification struct {
	Time  int64  `json:"time"`
	Class string `json:"class"` // e.g. Accounts::ChildDistributionFailure
	Text  string `json:"text"`
}

const maxNotifications = 100

func (st *nodeState) notify(class, text string) {
	st.Notifications = append(st.Notifications, notification{Time: time.Now().Unix(), Class: class, Text: text})
	if n := len(st.Notifications); n > maxNotifications {
		st.Notifications = append([]notification(nil), st.Notifications[n-maxNotifications:]...)
	}
}

// task is a queued background job.
type task struct {
	ID   string `json:"id"`
	Kind string `json:"kind"` // "profile" or "distribution"
	// profile
	Code string `json:"code,omitempty"`
	// Optional are the optional roles the activation turns on; the others go off.
	Optional []string `json:"optional,omitempty"`
	// SetOptional records that `optional` named at least one role. Change.pm
	// activate_profile does nothing when the profile is already current and no
	// option is given, so an activation of the current profile without options keeps
	// its optional roles.
	SetOptional bool `json:"set_optional,omitempty"`
	// distribution: From/To are aliases, "" meaning the parent itself.
	User string `json:"user,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// pwKinds are the password-strength names of setminimumpasswordstrengths.
var pwKinds = []string{"default", "createacct", "passwd", "ftp", "list", "mysql", "postgres", "sshkey", "virtual"}

const defaultPwStrength = 65

func newNodeState(name, host, ipv4, version string) *nodeState {
	st := &nodeState{
		Name: name, Host: strings.ToLower(host), IPv4: ipv4, Version: version,
		Profile:    "STANDARD",
		Tokens:     map[string]map[string]*apiToken{},
		Accounts:   map[string]*account{},
		PwStrength: map[string]int{"default": defaultPwStrength},
		NextUID:    1000,
	}
	st.normalize()
	st.RootToken = newTokenValue()
	st.Tokens["root"] = map[string]*apiToken{"tether-sandbox": {
		Name: "tether-sandbox", Hash: hashToken(st.RootToken), ACLs: []string{"all"},
	}}
	return st
}

// normalize fills maps a decoded state may lack, so later code never meets a nil map.
func (st *nodeState) normalize() {
	if st.Tokens == nil {
		st.Tokens = map[string]map[string]*apiToken{}
	}
	if st.Links == nil {
		st.Links = map[string]*link{}
	}
	if st.Accounts == nil {
		st.Accounts = map[string]*account{}
	}
	if st.ACLLists == nil {
		st.ACLLists = map[string][]string{}
	}
	if st.PwStrength == nil {
		st.PwStrength = map[string]int{}
	}
	if _, ok := st.PwStrength["default"]; !ok {
		st.PwStrength["default"] = defaultPwStrength
	}
	if st.Mail == nil {
		st.Mail = map[string]map[string]int{}
	}
	if st.Sessions == nil {
		st.Sessions = map[string]int{}
	}
	if st.Zones == nil {
		st.Zones = map[string]string{}
	}
	if st.NextUID == 0 {
		st.NextUID = 1000
	}
}

// tokenAlphabet is what cPanel API tokens are made of (32 characters, A-Z0-9).
const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func newTokenValue() string { return randomString(tokenAlphabet, 32) }

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux; a failure means no safe token exists
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// accountByDomain finds the account owning domain (case-insensitive).
func (st *nodeState) accountByDomain(domain string) *account {
	domain = strings.ToLower(domain)
	if len(st.byDomain) != len(st.Accounts) {
		st.rebuildDomainIndex()
	}
	a, ok := st.byDomain[domain]
	if !ok {
		return nil
	}
	if a.Domain == domain && st.Accounts[a.User] == a {
		return a
	}
	// A change the index did not hear of: rebuild it and look again.
	st.rebuildDomainIndex()
	return st.byDomain[domain]
}

// indexDomain records a's (new) domain; call it after creating an account or
// changing its domain. A stale entry for an old domain is caught by accountByDomain.
func (st *nodeState) indexDomain(a *account) {
	if st.byDomain == nil {
		st.rebuildDomainIndex()
		return
	}
	st.byDomain[a.Domain] = a
}

// unindexDomain forgets a removed account's domain.
func (st *nodeState) unindexDomain(a *account) {
	if st.byDomain[a.Domain] == a {
		delete(st.byDomain, a.Domain)
	}
}

func (st *nodeState) rebuildDomainIndex() {
	st.byDomain = make(map[string]*account, len(st.Accounts))
	for _, a := range st.Accounts {
		st.byDomain[a.Domain] = a
	}
}

// sortedUsers returns account names in order, so lists are stable.
func (st *nodeState) sortedUsers() []string {
	out := make([]string, 0, len(st.Accounts))
	for u := range st.Accounts {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// candidates returns, in order, the users a listaccts search may match. An exact
// search by user or domain names at most one account, found without sorting every
// user: the provider looks accounts up one by one while applying, and sorting 10k
// names per lookup dominated an apply of 10k creations. The caller still matches.
func (st *nodeState) candidates(searchtype, search, method string) []string {
	if method == "exact" && search != "" {
		var a *account
		switch searchtype {
		case "user":
			a = st.Accounts[search]
		case "domain":
			a = st.accountByDomain(search)
		default:
			return st.sortedUsers()
		}
		if a == nil {
			return nil
		}
		return []string{a.User}
	}
	return st.sortedUsers()
}

// usersOfLink counts the accounts whose mail is on alias, or on the way to it.
func (st *nodeState) usersOfLink(alias string) []string {
	var out []string
	for _, u := range st.sortedUsers() {
		if st.Accounts[u].MailNode == alias {
			out = append(out, u)
			continue
		}
		for _, t := range st.Tasks {
			if t.Kind == "distribution" && t.User == u && t.To == alias {
				out = append(out, u)
				break
			}
		}
	}
	return out
}

func (st *nodeState) pendingDistribution(user string) *task {
	for _, t := range st.Tasks {
		if t.Kind == "distribution" && t.User == user {
			return t
		}
	}
	return nil
}

func (st *nodeState) pendingProfile() *task {
	for _, t := range st.Tasks {
		if t.Kind == "profile" {
			return t
		}
	}
	return nil
}

func (st *nodeState) removeTask(id string) {
	for i, t := range st.Tasks {
		if t.ID == id {
			st.Tasks = append(st.Tasks[:i], st.Tasks[i+1:]...)
			return
		}
	}
}

func (st *nodeState) mailCount(user string) int {
	n := 0
	for _, c := range st.Mail[user] {
		n += c
	}
	return n
}

func copyMailboxes(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Words of temporary domains (three, then the server's IPv4 with dashes, then
// cpanel.site), after the form of the reference's example
// "wonderful-fushsia-owl.10-20-30-40.cpanel.site" (UAPI Domain::convert_temporary_to_registered).
var (
	tempAdjectives = []string{"wonderful", "quiet", "brave", "gentle", "lucky", "nimble", "sunny", "witty"}
	tempColors     = []string{"fuchsia", "amber", "teal", "indigo", "coral", "olive", "violet", "azure"}
	tempAnimals    = []string{"owl", "otter", "lynx", "heron", "badger", "finch", "gecko", "marten"}
)

// temporaryDomain makes up a domain no account has, for createacct without a domain.
func (st *nodeState) temporaryDomain() string {
	ip := strings.ReplaceAll(st.IPv4, ".", "-")
	if ip == "" {
		ip = "127-0-0-1"
	}
	for i := 0; ; i++ {
		n := len(tempAdjectives) * len(tempColors) * len(tempAnimals)
		k := (len(st.Accounts) + i) % n
		d := tempAdjectives[k%len(tempAdjectives)] + "-" + tempColors[(k/len(tempAdjectives))%len(tempColors)] + "-" + tempAnimals[(k/len(tempAdjectives)/len(tempColors))%len(tempAnimals)]
		if i >= n {
			d += "-" + strconv.Itoa(i)
		}
		d += "." + ip + ".cpanel.site"
		if st.accountByDomain(d) == nil {
			return d
		}
	}
}

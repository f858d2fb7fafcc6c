// Package schema holds the fleet model: the Go types that describe both the desired
// fleet (loaded from an operator's YAML or CUE) and the observed one (read from the
// servers by providers), the loader, and the rules from the vendor documents.
//
// One model for both sides keeps the diff a pure function of two values of the same
// type. Fields that only make sense on one side (protect, credentials, positions) are
// simply left empty on the other.
package schema

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Roles a node can have. A child's name is its WHM link alias.
const (
	RoleParent  = "parent"
	RoleChild   = "child"
	RoleDNSOnly = "dnsonly"
)

// Server profile codes as WHM spells them (get_current_profile / start_profile_activation).
const (
	ProfileStandard = "STANDARD"
	ProfileMailNode = "MAILNODE"
	ProfileDNSNode  = "DNSNODE"
	ProfileDatabase = "DATABASENODE"
)

// DNS cluster roles, written as WHM writes them.
const (
	DNSRoleStandalone = "standalone"
	DNSRoleSync       = "sync"
	DNSRoleWriteOnly  = "write-only"
)

// OptionalRolesOf lists the optional roles of each profile, as
// Cpanel/Server/Type/Profile.pm (11.120) %_META declares them. STANDARD enables every
// role and has none.
var OptionalRolesOf = map[string][]string{
	ProfileStandard: nil,
	ProfileMailNode: {"DNS", "MySQL", "Postgres", "SpamFilter"},
	ProfileDNSNode:  {"MailRelay", "MySQL"},
	ProfileDatabase: {"Postgres"},
}

// OptionalRoleNames are the roles that are optional in some profile, sorted.
var OptionalRoleNames = []string{"DNS", "MailRelay", "MySQL", "Postgres", "SpamFilter"}

// Names lists the names of a section (or of a cluster's members) in order, the empty
// name left out: an object without a name has no address, so nothing can be planned
// or reported for it (the loader refuses such fleets; observed ones never have them).
// The planner and the engine walk sections through it.
func Names[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// MailChildPasswordKinds are the password-strength kinds a mail child governs (linked
// nodes guide, "Password management": email account and mailing list passwords); the
// parent governs every other kind. The rules (TETHER-L16), the planner and the WHM
// provider all read this list.
var MailChildPasswordKinds = []string{"virtual", "list"}

// ServiceMail is the only service a child takes today (WHM's worker type "Mail").
const ServiceMail = "mail"

// Fleet is a whole fleet: desired (from files) or observed (from servers).
// Names are map keys, so nothing can be declared twice.
type Fleet struct {
	Policy      *Policy                `json:"policy,omitempty"`
	Nodes       map[string]*Node       `json:"nodes,omitempty"`
	Resellers   map[string]*Reseller   `json:"resellers,omitempty"`
	Accounts    map[string]*Account    `json:"accounts,omitempty"`
	DNSClusters map[string]*DNSCluster `json:"dnsClusters,omitempty"`

	// Src is where the top-level sections were declared.
	Src Source `json:"-"`
}

// Policy holds fleet-wide safety and daemon settings. Every field has a safe default.
type Policy struct {
	// Prune lets a plan remove objects Tether created (tracked in its inventory) that
	// are no longer in the fleet. Off by default: unmanaged objects are only reported.
	Prune bool `json:"prune,omitempty"`
	// MaxRemovePercent refuses, without --force, a plan that removes more than this
	// share of one parent's accounts. Nil means the default (10).
	MaxRemovePercent *int `json:"maxRemovePercent,omitempty"`
	// Drift is what `tether watch` does about drift: "warn" (default) or "correct".
	Drift string `json:"drift,omitempty"`
	// NotifyWebhook receives JSON notifications (failures, drift, disabled DNS members).
	NotifyWebhook string `json:"notifyWebhook,omitempty"`
	// CallTimeout and CallAttempts bound each request to a server, ChangeTimeout one
	// change of an apply in all (Go durations: "30s", "5m"); the command line's
	// --call-timeout, --call-attempts and --change-timeout override them.
	CallTimeout   string `json:"callTimeout,omitempty"`
	CallAttempts  *int   `json:"callAttempts,omitempty"`
	ChangeTimeout string `json:"changeTimeout,omitempty"`

	Src Source `json:"-"`
}

// Node is one cPanel & WHM or DNSONLY server.
type Node struct {
	Role    string `json:"role"`
	Parent  string `json:"parent,omitempty"` // children only: the parent node's name
	Host    string `json:"host,omitempty"`
	IPv4    string `json:"ipv4,omitempty"`
	IPv6    string `json:"ipv6,omitempty"`
	Version int    `json:"version,omitempty"` // cPanel & WHM major version, e.g. 118
	Profile string `json:"profile,omitempty"`
	// Services a child takes over from its parent; only "mail" exists today.
	Services []string `json:"services,omitempty"`
	// Port of WHM's API; 0 means 2087 (HTTPS).
	Port int `json:"port,omitempty"`
	// Address, when set, is where Tether connects to WHM (HOST:PORT: a tunnel, an IP,
	// another port) instead of host:port; host stays the name used in DNS and rules
	// and the name the server's certificate must carry.
	Address     string       `json:"address,omitempty"`
	TLS         *TLS         `json:"tls,omitempty"`
	Credentials *Credentials `json:"credentials,omitempty"`
	// PasswordStrength maps a WHM password-strength kind (default, createacct, passwd,
	// ftp, list, mysql, postgres, sshkey, virtual) to a minimum strength 0..100.
	PasswordStrength map[string]int `json:"passwordStrength,omitempty"`
	// Lost marks a child as gone or compromised: its accounts are force-dedistributed.
	Lost bool `json:"lost,omitempty"`
	// OptionalRoles turns optional roles of the node's profile on or off (Profile.pm
	// optional_roles, e.g. SpamFilter on a MAILNODE). A role not named keeps its state
	// on the server: Tether never switches off a role nobody asked to switch off.
	OptionalRoles map[string]bool `json:"optionalRoles,omitempty"`
	// LinkCredentials reference the token the parent stores to reach this child
	// (link_server_node_with_api_token). Apart from Credentials, Tether's own token, so
	// rotating or expiring one never breaks the other. Children only.
	LinkCredentials *Credentials `json:"linkCredentials,omitempty"`

	Src Source `json:"-"`
}

// TLS says how to verify a node's WHM certificate.
type TLS struct {
	CAFile string `json:"caFile,omitempty"`
	// Fingerprint pins the server's certificate itself by its SHA-256
	// ("sha256:" and 64 hex digits; colons between bytes allowed).
	Fingerprint string `json:"fingerprint,omitempty"`
	Insecure    bool   `json:"insecure,omitempty"` // skip verification; loudly reported
}

// Credentials reference a WHM API token; the token itself never sits in the fleet.
type Credentials struct {
	User      string `json:"user,omitempty"`
	TokenEnv  string `json:"tokenEnv,omitempty"`
	TokenFile string `json:"tokenFile,omitempty"`
	// Token is only set when an operator wrote a secret inline; the loader reports it
	// (TETHER-S01) and it is never printed, planned or logged.
	Token string `json:"-"`

	Src Source `json:"-"`
}

// Account is a cPanel account. The map key is its cPanel user name.
type Account struct {
	Parent       string          `json:"parent"`
	Domain       string          `json:"domain"`
	Owner        string          `json:"owner,omitempty"` // "" or "root" means root
	Plan         string          `json:"plan,omitempty"`
	ContactEmail string          `json:"contactEmail,omitempty"`
	IPv6         bool            `json:"ipv6,omitempty"`
	Features     map[string]bool `json:"features,omitempty"`
	Mail         *MailPlacement  `json:"mail,omitempty"`
	AutoSSL      *AutoSSL        `json:"autossl,omitempty"`
	Forwarders   []Forwarder     `json:"forwarders,omitempty"`
	// IPv6Range names the IPv6 range (SHARED: the server's shared address) an
	// address is taken from when Tether turns IPv6 on for an existing account.
	IPv6Range string `json:"ipv6Range,omitempty"`
	Suspended bool   `json:"suspended,omitempty"`
	Protect   bool   `json:"protect,omitempty"`
	DNSSEC    bool   `json:"dnssec,omitempty"`

	Src Source `json:"-"`
}

// MailNode returns the child that holds the account's mail, or "" for the parent.
func (a *Account) MailNode() string {
	if a == nil || a.Mail == nil {
		return ""
	}
	return a.Mail.Node
}

// OwnerName returns the owner with root spelled out.
func (a *Account) OwnerName() string {
	if a == nil || a.Owner == "" {
		return "root"
	}
	return a.Owner
}

// MailPlacement says where an account's mail lives.
type MailPlacement struct {
	Node string `json:"node,omitempty"` // a child's name; empty means the parent
	// ExtraNodes holds further children named for the same service. It exists so the
	// loader can report TETHER-L04 (one child per service) instead of a type error, and
	// so an observed account with two Mail child_nodes can be represented.
	ExtraNodes []string `json:"-"`
}

// AutoSSL settings that the linked-node rules care about.
type AutoSSL struct {
	DCV []string `json:"dcv,omitempty"` // dns, http
}

// ManagesForwarders reports whether the fleet manages the account's forwarders: its
// files write forwarders (an empty list too: then it has none), or a fleet built in
// code lists some. An account that does not say leaves its forwarders alone.
func (a *Account) ManagesForwarders() bool {
	if a == nil {
		return false
	}
	if len(a.Forwarders) > 0 {
		return true
	}
	return a.Src.Has("forwarders")
}

// Forwarder is an email forwarder: mail to From@domain goes To (an address, or
// "|/path" for a pipe to a program).
type Forwarder struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Reseller is an account with reseller privileges. The map key is its user name.
type Reseller struct {
	Account
	ACLs   []string        `json:"acls,omitempty"`
	Limits *ResellerLimits `json:"limits,omitempty"`
}

// ResellerLimits are the limits setresellerlimits sets. Nil fields are unmanaged.
type ResellerLimits struct {
	Accounts *int `json:"accounts,omitempty"`
}

// DNSCluster is the DNS cluster of one parent (the map key).
type DNSCluster struct {
	Enabled          bool               `json:"enabled"`
	FailureThreshold Threshold          `json:"failureThreshold"`
	NotifyOnDisable  bool               `json:"notifyOnDisable,omitempty"`
	Members          map[string]*Member `json:"members,omitempty"`

	Src Source `json:"-"`
}

// Member is one nameserver of a DNS cluster.
type Member struct {
	Backend  string `json:"backend,omitempty"` // a registered MemberBackend; "" is the default one
	Node     string `json:"node,omitempty"`    // a backend OnNode: a node of the fleet
	Host     string `json:"host,omitempty"`    // otherwise: the server's host name
	Address  string `json:"address,omitempty"` // host:port to send DNS to
	Software string `json:"software,omitempty"`
	Role     string `json:"role"`
	DNSSEC   bool   `json:"dnssec,omitempty"`
	TSIG     *TSIG  `json:"tsig,omitempty"`
	// Disabled is observed state: the member was disabled after too many failures.
	Disabled bool `json:"disabled,omitempty"`
	// Zones is observed state of an rfc2136 member's zones (see observed.go).
	Zones *MemberZones `json:"zones,omitempty"`

	Src Source `json:"-"`
}

// BackendName returns the backend with the default (DefaultMemberBackend) spelled out.
func (m *Member) BackendName() string {
	if m == nil || m.Backend == "" {
		return DefaultMemberBackend()
	}
	return m.Backend
}

// TSIG references a TSIG key; the secret itself never sits in the fleet.
type TSIG struct {
	Name       string `json:"name"`
	Algorithm  string `json:"algorithm,omitempty"` // hmac-sha256 by default
	SecretEnv  string `json:"secretEnv,omitempty"`
	SecretFile string `json:"secretFile,omitempty"`
	// Secret is only set when written inline (reported as TETHER-S01); never printed.
	Secret string `json:"-"`

	Src Source `json:"-"`
}

// Threshold is a DNS cluster failure threshold: a whole number >= 1, or never.
// The zero value means "not set" (WHM's default, 10).
type Threshold struct {
	Never bool
	N     int
}

// DefaultThreshold is WHM's cluster_autodisable_threshold default.
const DefaultThreshold = 10

// Value returns the threshold with the default applied; 0 means never.
func (t Threshold) Value() int {
	switch {
	case t.Never:
		return 0
	case t.N == 0:
		return DefaultThreshold
	default:
		return t.N
	}
}

// MarshalJSON writes a number or "never".
func (t Threshold) MarshalJSON() ([]byte, error) {
	if t.Never {
		return []byte(`"never"`), nil
	}
	return []byte(strconv.Itoa(t.Value())), nil
}

// UnmarshalJSON reads a number or "never".
func (t *Threshold) UnmarshalJSON(b []byte) error {
	if string(b) == `"never"` {
		*t = Threshold{Never: true}
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("failure threshold %s: want a whole number or \"never\"", b)
	}
	*t = Threshold{N: n}
	return nil
}

// forwarderKey is what makes two forwarders the same: the local part, case-folded,
// and the target as written (a program path is case-sensitive).
func forwarderKey(f Forwarder) string {
	return strings.ToLower(strings.TrimSpace(f.From)) + "\x00" + strings.TrimSpace(f.To)
}

// SameForwarders reports whether two lists hold the same forwarders, in any order.
// It allocates nothing, so comparing the accounts of a large fleet stays cheap.
func SameForwarders(x, y []Forwarder) bool {
	has := func(list []Forwarder, f Forwarder) bool {
		for _, g := range list {
			if strings.EqualFold(strings.TrimSpace(g.From), strings.TrimSpace(f.From)) && strings.TrimSpace(g.To) == strings.TrimSpace(f.To) {
				return true
			}
		}
		return false
	}
	for _, f := range x {
		if !has(y, f) {
			return false
		}
	}
	for _, f := range y {
		if !has(x, f) {
			return false
		}
	}
	return true
}

// ForwarderChanges lists the forwarders to add (wanted, not there) and to remove
// (there, not wanted), each once, in the order of their lists.
func ForwarderChanges(want, have []Forwarder) (add, remove []Forwarder) {
	w := make(map[string]bool, len(want))
	for _, f := range want {
		w[forwarderKey(f)] = true
	}
	h := make(map[string]bool, len(have))
	for _, f := range have {
		h[forwarderKey(f)] = true
	}
	seen := map[string]bool{}
	for _, f := range want {
		if k := forwarderKey(f); !h[k] && !seen[k] {
			seen[k] = true
			add = append(add, f)
		}
	}
	for _, f := range have {
		if k := forwarderKey(f); !w[k] && !seen[k] {
			seen[k] = true
			remove = append(remove, f)
		}
	}
	return add, remove
}

// IsPipe reports whether the forwarder pipes mail to a program ("|/path").
func (f Forwarder) IsPipe() bool { return strings.HasPrefix(strings.TrimSpace(f.To), "|") }

// LocalForwarders returns the account's forwarders as the servers list them, so a plan
// after an apply finds nothing to do:
//
//   - From as the local part (Email::list_forwarders gives addresses on the account's
//     domain): "info@DOMAIN" of the account's own domain becomes "info"; the schema
//     refuses any other domain (TETHER-A03).
//   - A bare ":fail:" with the message cPanel gives it when none is written
//     (Email::add_forwarder's failmsgs, "No such person at this address" by default,
//     UAPI reference 11.138).
//
// The list itself is returned when nothing needs changing, so comparing a large fleet
// allocates nothing.
func (a *Account) LocalForwarders() []Forwarder {
	suffix := "@" + strings.ToLower(a.Domain)
	need := false
	for _, f := range a.Forwarders {
		if strings.HasSuffix(strings.ToLower(strings.TrimSpace(f.From)), suffix) || strings.TrimSpace(f.To) == ":fail:" {
			need = true
			break
		}
	}
	if !need {
		return a.Forwarders
	}
	out := make([]Forwarder, len(a.Forwarders))
	for i, f := range a.Forwarders {
		from, to := strings.TrimSpace(f.From), f.To
		if strings.HasSuffix(strings.ToLower(from), suffix) {
			from = from[:len(from)-len(suffix)]
		}
		if strings.TrimSpace(to) == ":fail:" {
			to = ":fail: " + DefaultFailMessage
		}
		out[i] = Forwarder{From: from, To: to}
	}
	return out
}

// DefaultFailMessage is what cPanel answers mail to a ":fail:" forwarder written
// without a message (Email::add_forwarder's failmsgs default, UAPI reference 11.138).
const DefaultFailMessage = "No such person at this address"

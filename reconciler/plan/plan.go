// Package plan holds the plan as plain data: a closed set of actions, changes with
// addresses, before/after values and risk flags, and their dependencies. Rendering and
// applying are separate consumers of the same value (see reconciler and render).
package plan

import "encoding/json"

// Action is what a change does. The set is closed; renderers and the apply engine
// switch over it.
type Action string

const (
	Create       Action = "create"
	Update       Action = "update"
	Link         Action = "link"
	Unlink       Action = "unlink"
	Distribute   Action = "distribute"
	Dedistribute Action = "dedistribute"
	Delete       Action = "delete"
	Enable       Action = "enable"
	Disable      Action = "disable"
	Resync       Action = "resync"
)

// Flags mark what is risky about a change.
type Flags struct {
	// Disruptive: users notice (dedistribution ends IMAP/POP3 sessions).
	Disruptive bool `json:"disruptive"`
	// Destructive: something is removed (an account, a link, a cluster member).
	Destructive bool `json:"destructive"`
	// DataLoss: data is lost for good (forced dedistribution); needs --allow-data-loss.
	DataLoss bool `json:"dataLoss"`
}

// Risky reports whether any flag is set.
func (f Flags) Risky() bool { return f.Disruptive || f.Destructive || f.DataLoss }

// Change is one step of a plan.
type Change struct {
	// ID is unique within a plan ("account.alice/distribute"); dependencies name IDs.
	ID string `json:"id"`
	// Address names the object: node.NAME, account.USER, reseller.USER,
	// dns.PARENT.member.NAME, dns.PARENT.cluster.
	Address string `json:"address"`
	Action  Action `json:"action"`
	Flags   Flags  `json:"flags"`
	// Before and After are the object as observed and as wanted (a *schema.Node,
	// *schema.Account, *schema.Reseller, *schema.DNSCluster or *schema.Member; nil for
	// create/delete). They hold no secrets: the model keeps only references to them.
	Before any `json:"before"`
	After  any `json:"after"`
	// Fields lists the fields an update changes, for renderers ("contactEmail", ...).
	Fields []string `json:"fields"`
	// Reason explains the change to a person; it never drives apply.
	Reason string `json:"reason"`
	// Warnings say in words what the change costs (records that stop existing, ...).
	Warnings []string `json:"warnings"`
	// DependsOn lists the IDs of changes that must succeed first.
	DependsOn []string `json:"depends_on"`
	// Provider names the provider that executes the change ("whm", "rfc2136");
	// Target is the node or member it runs against (the parent for account work).
	Provider string `json:"provider"`
	Target   string `json:"target"`
	// Parent is the parent node whose part of the fleet the change belongs to (the
	// parent itself for its own node and DNS cluster; empty for a DNS-only node). It
	// groups a plan for review and tells the apply engine which parent to lock.
	Parent string `json:"parent,omitempty"`
}

// Summary counts changes the way the text renderer's last line says them.
type Summary struct {
	Create    int `json:"create"`
	Change    int `json:"change"`
	Remove    int `json:"remove"`
	Risky     int `json:"risky"`
	Unmanaged int `json:"unmanaged"`
}

// Unmanaged is an object found on a server that the fleet does not declare.
type Unmanaged struct {
	Address string `json:"address"`
	Target  string `json:"target"`
	Reason  string `json:"reason"`
}

// FormatVersion is the version of the plan JSON schema. Bump the major on a breaking
// change; add fields freely.
const FormatVersion = "1.0"

// Unread is a part of the fleet that could not be read: a node (parent, child, DNS-only
// node) or a DNS member ("dns.PARENT.member.NAME"). Nothing is planned under it, so a
// plan with any is incomplete.
type Unread struct {
	Scope    string `json:"scope"`
	Provider string `json:"provider,omitempty"`
	Reason   string `json:"reason"`
}

// Gate is a condition under which apply refuses the plan unless the operator says
// otherwise: Flag names the command-line flag that lifts it; a gate no flag lifts
// (protection) says in Message what would.
type Gate struct {
	// Kind is one of GateMaxRemove, GateDataLoss, GateIncomplete, GateProtected.
	Kind      string   `json:"kind"`
	Flag      string   `json:"flag"`
	Message   string   `json:"message"`
	Addresses []string `json:"addresses"`
}

// Gate kinds.
const (
	GateMaxRemove  = "maxRemovePercent"
	GateDataLoss   = "dataLoss"
	GateIncomplete = "incomplete"
	GateProtected  = "protected"
)

// Adoptable is an object that is on a server and declared in the fleet, but not in
// Tether's inventory: pruning can never remove it until it is adopted (tether adopt
// ADDRESS, or tether import --adopt). Nothing is adopted without being asked.
type Adoptable struct {
	Address string `json:"address"`
	Target  string `json:"target"`
}

// Plan is the whole set of changes, in a stable order (dependencies first).
type Plan struct {
	FormatVersion string      `json:"format_version"`
	Changes       []*Change   `json:"changes"`
	Unmanaged     []Unmanaged `json:"unmanaged"`
	Summary       Summary     `json:"summary"`
	// Errors are problems met while observing (a parent unreachable) or planning; the
	// plan for the rest of the fleet is still made and the affected nodes are named.
	// A plan with errors is incomplete (see Complete).
	Errors []string `json:"errors"`
	// Unread lists what could not be read, each with its reason (also in Errors).
	Unread []Unread `json:"unread"`
	// Gates are the conditions under which apply refuses this plan without a flag.
	Gates []Gate `json:"gates"`
	// Adoptable lists declared objects on the servers that Tether does not own.
	Adoptable []Adoptable `json:"adoptable"`
	// Warnings are things an operator should know that are not changes: a version that
	// differs from the fleet (Tether never changes versions), a protected object kept,
	// a disabled DNS member left out until re-enabled.
	Warnings []string `json:"warnings"`
	// Source identifies the desired state: a fingerprint of the fleet files and, in
	// git, the commit. Observed is a fingerprint of what was observed.
	Source   Source `json:"source"`
	Observed string `json:"observed_fingerprint,omitempty"`
}

// Source identifies where the desired state came from.
type Source struct {
	Path        string `json:"path,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Commit      string `json:"commit,omitempty"`
}

// Complete reports whether the plan saw the whole fleet: nothing unread and no error.
// An incomplete plan never claims the fleet matches, and apply refuses it without
// --partial.
func (p *Plan) Complete() bool { return p == nil || len(p.Errors) == 0 && len(p.Unread) == 0 }

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return p == nil || len(p.Changes) == 0 }

// Kind says how the summary line counts an action: "create", "change" or "remove".
// Linking adds a node to the parent and unlinking takes it away, so they count with
// create and remove; everything else alters something that stays.
func (a Action) Kind() string {
	switch a {
	case Create, Link:
		return "create"
	case Delete, Unlink:
		return "remove"
	default:
		return "change"
	}
}

// Valid reports whether a is one of the closed set of actions.
func (a Action) Valid() bool {
	switch a {
	case Create, Update, Link, Unlink, Distribute, Dedistribute, Delete, Enable, Disable, Resync:
		return true
	}
	return false
}

// Summarize counts changes by kind and risk; unmanaged is passed through.
func Summarize(changes []*Change, unmanaged int) Summary {
	s := Summary{Unmanaged: unmanaged}
	for _, c := range changes {
		switch c.Action.Kind() {
		case "create":
			s.Create++
		case "remove":
			s.Remove++
		default:
			s.Change++
		}
		if c.Flags.Risky() {
			s.Risky++
		}
	}
	return s
}

// MarshalJSON writes the plan with `complete` (derived, so it can never disagree with
// the errors) and every list as [] when empty: a consumer never tells null from [].
func (p Plan) MarshalJSON() ([]byte, error) {
	type plain Plan // no methods: avoids recursion
	q := plain(p)
	if q.FormatVersion == "" {
		q.FormatVersion = FormatVersion
	}
	q.Changes = nonNil(q.Changes)
	q.Unmanaged = nonNil(q.Unmanaged)
	q.Errors = nonNil(q.Errors)
	q.Unread = nonNil(q.Unread)
	q.Gates = nonNil(q.Gates)
	for i := range q.Gates {
		q.Gates[i].Addresses = nonNil(q.Gates[i].Addresses)
	}
	q.Adoptable = nonNil(q.Adoptable)
	q.Warnings = nonNil(q.Warnings)
	return json.Marshal(struct {
		FormatVersion string `json:"format_version"`
		Complete      bool   `json:"complete"`
		plain
	}{q.FormatVersion, p.Complete(), q})
}

// MarshalJSON writes a change with its lists as [] when empty.
func (c Change) MarshalJSON() ([]byte, error) {
	type plain Change
	q := plain(c)
	q.Fields = nonNil(q.Fields)
	q.Warnings = nonNil(q.Warnings)
	q.DependsOn = nonNil(q.DependsOn)
	return json.Marshal(q)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Package backend is what the planner asks of a DNS member backend (a member's
// `backend:` in the fleet): where a member's change runs, what to compare on a
// member, whether Tether itself pushes the parent's zones to it, and how the plan
// words its changes. Each backend implements Planner in its provider's folder; the
// planner (reconciler.Diff) receives the planners as values (DiffOptions.Members),
// so no code outside a backend's folder switches on its name.
//
// It is a package of its own so that providers implement it without importing the
// planner, and the planner's tests can use the real providers.
package backend

import "github.com/tether-dev/tether/schema"

// Planner is one member backend's part in planning.
type Planner interface {
	// Target is where a member's change runs: the parent (WHM's cluster screens) or
	// the member itself (its nameserver).
	Target(parent, member string) string
	// Differs lists the fields, besides role, in which the fleet's member m and the
	// observed om differ, as the plan names them. Only what the backend observes may
	// be compared: a value it cannot read, compared against the fleet, would plan the
	// same update on every run.
	Differs(m, om *schema.Member) []string
	// PushesZones reports whether Tether writes the parent's zones to the member
	// itself, so that a plan that changes them updates the member after them.
	PushesZones(m *schema.Member) bool
	// CreateWarnings are said when a member is added (where credentials are left).
	CreateWarnings(parent, member string, m *schema.Member) []string
	// KeptNote is what a member left out of the fleet but kept still does, or ""
	// to say it by its role.
	KeptNote() string
	// RemoveWarning is one more warning on a member's removal, or "".
	RemoveWarning(member string) string
	// EnableNote is added to the reason of a member's enable (`tether dns enable`):
	// what happens to its zones.
	EnableNote(parent string, m *schema.Member) string
}

// Member is how the planner finds a member backend: the provider that executes its
// members' changes, and its planner.
type Member struct {
	Provider string
	Planner  Planner
}

// Set maps a backend name to its Member.
type Set map[string]Member

package providers

import (
	"context"

	"github.com/tether-dev/tether/reconciler/backend"
	"github.com/tether-dev/tether/schema"
)

// MemberBackend is one DNS member backend as the provider serving it registers it:
// its schema (which member fields it needs and takes), its planner, and what dns
// verify and dns enable do with its members. A new backend is a folder that
// registers a Spec with one of these, and one import line in providers/all.
type MemberBackend struct {
	// Schema says which member fields it needs and takes (the loader, the rules).
	Schema schema.MemberBackend
	// Roles are the member roles it can keep (standalone, sync, write-only); empty
	// means all. Check refuses a member in another role before any call.
	Roles []string
	// Planner is its part in planning (reconciler.DiffOptions.Members).
	Planner backend.Planner
	// EnableInState re-enables a member ("PARENT/MEMBER") whose health Tether keeps
	// in its own state (rfc2136): `tether dns enable` calls it and contacts no server.
	// Nil: a member is re-enabled on its server, by the one-change plan
	// reconciler.EnableMember makes, which its provider applies.
	EnableInState func(ctx context.Context, st State, member string) (was MemberHealth, err error)
	// Health reads what Tether's state says of this backend's members, by
	// "PARENT/MEMBER", for backends whose members Tether disables itself (dns verify
	// skips those disabled). Nil: the backend keeps no health in Tether's state.
	Health func(ctx context.Context, st State) (map[string]MemberHealth, error)
}

// MemberHealth is what dns verify and dns enable say of a member Tether disabled.
type MemberHealth struct {
	Disabled            bool
	ConsecutiveFailures int
}

// MemberPlanners is what the planner receives (reconciler.DiffOptions.Members): each
// registered member backend with the provider that executes its changes.
func MemberPlanners() backend.Set {
	out := backend.Set{}
	for _, s := range Specs() {
		for _, m := range s.Members {
			out[m.Schema.Name] = backend.Member{Provider: s.Name, Planner: m.Planner}
		}
	}
	return out
}

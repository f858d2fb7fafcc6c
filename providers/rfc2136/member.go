package rfc2136

import (
	"context"
	"fmt"
	"strings"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

// Backend is the DNS member backend this provider serves: a standard nameserver
// outside the fleet, which Tether itself keeps in step with the parent's zones.
const Backend = "rfc2136"

// memberBackend is what the loader, the planner, dns verify and dns enable know of
// an rfc2136 member.
var memberBackend = providers.MemberBackend{
	Schema: schema.MemberBackend{
		Name:  Backend,
		Needs: []string{"host", "address"},
		Takes: []string{"software", "tsig"},
		Refuse: func(field string) (string, string) {
			if field == "node" {
				return "an rfc2136 member is not a node of the fleet, so it has no node", "remove node: or use backend cpanel"
			}
			return "an rfc2136 member does not take " + field, "remove " + field + ":"
		},
	},
	Planner: planner{},
	EnableInState: func(_ context.Context, st providers.State, member string) (providers.MemberHealth, error) {
		store := StateStore{State: st}
		was, err := store.Health(member)
		if err != nil {
			return providers.MemberHealth{}, err
		}
		if err := Enable(store, member); err != nil {
			return providers.MemberHealth{}, err
		}
		return providers.MemberHealth{Disabled: was.Disabled, ConsecutiveFailures: was.ConsecutiveFailures}, nil
	},
	Health: func(ctx context.Context, st providers.State) (map[string]providers.MemberHealth, error) {
		all, err := StateStore{State: st}.AllHealth(ctx)
		if err != nil {
			return nil, err
		}
		out := make(map[string]providers.MemberHealth, len(all))
		for id, h := range all {
			out[id] = providers.MemberHealth{Disabled: h.Disabled, ConsecutiveFailures: h.ConsecutiveFailures}
		}
		return out, nil
	},
}

// planner is the rfc2136 backend's part in planning (reconciler/backend.Planner).
type planner struct{}

// Target: a member's change runs on the nameserver itself, named by the member.
func (planner) Target(_, member string) string { return member }

// Differs compares only what Observe reports: a nameserver cannot tell which key
// reference or software the fleet calls it by, and an unreported value compared
// against the fleet would plan the same update on every run.
func (planner) Differs(m, om *schema.Member) []string {
	var fields []string
	if m.Address != "" && om.Address != "" && m.Address != om.Address {
		fields = append(fields, "address")
	}
	if m.Software != "" && om.Software != "" && m.Software != om.Software {
		fields = append(fields, "software")
	}
	if om.TSIG != nil && !sameTSIG(m.TSIG, om.TSIG) {
		fields = append(fields, "tsig")
	}
	return fields
}

// PushesZones: Tether writes the parent's zones to a member that is written to.
func (planner) PushesZones(m *schema.Member) bool {
	return m.Role == schema.DNSRoleSync || m.Role == schema.DNSRoleWriteOnly
}

func (planner) CreateWarnings(string, string, *schema.Member) []string { return nil }

func (planner) KeptNote() string { return "it stays in the cluster, but Tether no longer updates it" }

func (planner) RemoveWarning(member string) string {
	return fmt.Sprintf("Tether stops updating %s; the zones on it are left as they are", member)
}

func (planner) EnableNote(parent string, _ *schema.Member) string {
	return ", and Tether rewrites all of " + parent + "'s zones on it before it is trusted"
}

func sameTSIG(a, b *schema.TSIG) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	alg := func(s string) string {
		if s == "" {
			return "hmac-sha256"
		}
		return strings.ToLower(strings.TrimSuffix(s, "."))
	}
	return strings.TrimSuffix(a.Name, ".") == strings.TrimSuffix(b.Name, ".") && alg(a.Algorithm) == alg(b.Algorithm) &&
		a.SecretEnv == b.SecretEnv && a.SecretFile == b.SecretFile
}

// Package providertest is the conformance suite every provider passes, as
// internal/state/statetest is for state stores: applying a plan converges (the next
// plan is empty), observing changes nothing, applying a change again is a no-op, and
// failures are typed (a transport failure wraps providers.ErrTransient; a change the
// provider cannot run does not). A provider's test runs it against a real server of
// its kind (whm: the sandbox; rfc2136: BIND); the harness says how.
package providertest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// Harness is one provider against one live server, with a desired fleet that the
// server does not hold yet.
type Harness struct {
	// Provider talks to the live server; Desired is what it must converge to.
	Provider providers.Provider
	Desired  *schema.Fleet
	// Snapshot renders the live server's whole state (not through the provider), so
	// the suite can tell that observing changed nothing.
	Snapshot func(t *testing.T) string
	// Unreachable is the same provider pointed at a server that does not answer; a
	// change through it must fail with providers.ErrTransient. Nil skips the check
	// (a provider whose changes carry their server's address covers it in its own
	// fault tests).
	Unreachable providers.Provider
	// Only keeps the plan's changes this provider runs (nil: those whose Provider is
	// its name).
	Only func(*plan.Change) bool
}

// Run runs the suite. It applies h.Desired to the live server.
func Run(t *testing.T, h Harness) {
	t.Helper()
	ctx := context.Background()
	mine := h.Only
	if mine == nil {
		mine = func(c *plan.Change) bool { return c.Provider == h.Provider.Name() }
	}
	opts := reconciler.DiffOptions{Fleet: providers.FleetProvider(), Members: providers.MemberPlanners(), FleetCapabilities: providers.FleetCapabilities(), Inventory: map[string]bool{}}
	planNow := func() *plan.Plan {
		t.Helper()
		p := reconciler.Diff(h.Desired, Observe(t, h.Provider, h.Desired), opts)
		var keep []*plan.Change
		for _, c := range p.Changes {
			if mine(c) {
				keep = append(keep, c)
			}
		}
		p.Changes = keep
		return p
	}

	first := planNow()
	if len(first.Changes) == 0 {
		t.Fatal("the desired fleet plans no change for this provider: the suite has nothing to apply")
	}

	t.Run("observe changes nothing", func(t *testing.T) {
		before := h.Snapshot(t)
		Observe(t, h.Provider, h.Desired)
		Observe(t, h.Provider, h.Desired)
		if after := h.Snapshot(t); after != before {
			t.Errorf("observing changed the server:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("apply then plan is empty", func(t *testing.T) {
		before := h.Snapshot(t)
		for _, c := range first.Changes {
			if err := h.Provider.Apply(ctx, c); err != nil {
				t.Fatalf("apply %s: %v", c.ID, err)
			}
			opts.Inventory[c.Address] = c.Action != plan.Delete
		}
		if h.Snapshot(t) == before {
			t.Error("applying the plan left the snapshot as it was: Snapshot does not read the server")
		}
		if again := planNow(); len(again.Changes) > 0 {
			for _, c := range again.Changes {
				t.Errorf("after apply, still planned: %s: %s", c.ID, c.Reason)
			}
		}
	})

	t.Run("re-apply is idempotent", func(t *testing.T) {
		before := h.Snapshot(t)
		for _, c := range first.Changes {
			if err := h.Provider.Apply(ctx, c); err != nil {
				t.Errorf("apply %s again: %v", c.ID, err)
			}
		}
		if after := h.Snapshot(t); after != before {
			t.Errorf("applying the plan again changed the server:\nbefore %s\nafter  %s", before, after)
		}
		if again := planNow(); len(again.Changes) > 0 {
			t.Errorf("after a second apply, %d changes planned", len(again.Changes))
		}
	})

	t.Run("failures are typed", func(t *testing.T) {
		c := first.Changes[len(first.Changes)-1]
		if h.Unreachable != nil {
			err := h.Unreachable.Apply(ctx, c)
			if !errors.Is(err, providers.ErrTransient) {
				t.Errorf("apply %s on an unreachable server: %v, want providers.ErrTransient", c.ID, err)
			}
		}
		bad := *c
		bad.Action = "no-such-action"
		err := h.Provider.Apply(ctx, &bad)
		if err == nil || errors.Is(err, providers.ErrTransient) || !strings.Contains(err.Error(), c.Addr().Name) {
			t.Errorf("apply of an action the provider cannot run: %v, want a permanent error naming the object", err)
		}
	})
}

// Observe reads every scope of p and merges the partial fleets (scopes of one
// provider do not overlap: the first reading of an object is kept).
func Observe(t *testing.T, p providers.Provider, desired *schema.Fleet) *schema.Fleet {
	t.Helper()
	out := &schema.Fleet{}
	for _, scope := range p.Scopes(desired) {
		got, err := p.Observe(context.Background(), scope, desired)
		if err != nil {
			t.Fatalf("observe %s: %v", scope, err)
		}
		if got == nil {
			continue
		}
		out.Nodes = union(out.Nodes, got.Nodes)
		out.Accounts = union(out.Accounts, got.Accounts)
		out.Resellers = union(out.Resellers, got.Resellers)
		for parent, c := range got.DNSClusters {
			if out.DNSClusters == nil {
				out.DNSClusters = map[string]*schema.DNSCluster{}
			}
			have := out.DNSClusters[parent]
			if have == nil {
				cp := *c
				out.DNSClusters[parent] = &cp
				continue
			}
			have.Members = union(have.Members, c.Members)
		}
	}
	return out
}

func union[V any](dst, src map[string]*V) map[string]*V {
	for k, v := range src {
		if dst == nil {
			dst = map[string]*V{}
		}
		if _, ok := dst[k]; !ok {
			dst[k] = v
		}
	}
	return dst
}

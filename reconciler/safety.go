package reconciler

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// DefaultMaxRemovePercent is policy.maxRemovePercent when the fleet sets none.
const DefaultMaxRemovePercent = 10

// SafetyOptions are the operator's explicit permissions from the command line.
type SafetyOptions struct {
	// Force allows a plan that removes more than policy.maxRemovePercent of one
	// parent's accounts (--force).
	Force bool
	// AllowDataLoss allows changes flagged dataLoss (--allow-data-loss).
	AllowDataLoss bool
	// Partial allows an incomplete plan: the changes planned for what could be read
	// are applied, nothing is planned for what could not (--partial). The watch
	// daemon sets it: it applies what it can and reports the rest on every round.
	Partial bool
}

// lifts reports whether the options lift a gate's flag.
func (o SafetyOptions) lifts(flag string) bool {
	switch flag {
	case FlagForce:
		return o.Force
	case FlagAllowDataLoss:
		return o.AllowDataLoss
	case FlagPartial:
		return o.Partial
	}
	return false
}

// The flags that lift gates.
const (
	FlagForce         = "--force"
	FlagAllowDataLoss = "--allow-data-loss"
	FlagPartial       = "--partial"
)

// SafetyProblem is one reason a plan is refused, and the flag that would allow it.
type SafetyProblem struct {
	Flag    string // "--force", "--allow-data-loss" or "--partial"
	Message string
}

// SafetyError refuses a plan: every problem is listed, each with the flag to add.
type SafetyError struct {
	Problems []SafetyProblem
}

func (e *SafetyError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Message
	}
	return "plan refused:\n  " + strings.Join(lines, "\n  ")
}

// Flags lists the flags that would allow the plan, sorted and without repeats.
func (e *SafetyError) Flags() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range e.Problems {
		if !seen[p.Flag] {
			seen[p.Flag] = true
			out = append(out, p.Flag)
		}
	}
	sort.Strings(out)
	return out
}

// MaxRemovePercent is the fleet's policy.maxRemovePercent with the default applied.
func MaxRemovePercent(f *schema.Fleet) int {
	if f != nil && f.Policy != nil && f.Policy.MaxRemovePercent != nil {
		return *f.Policy.MaxRemovePercent
	}
	return DefaultMaxRemovePercent
}

// CheckSafety refuses a plan the operator has not allowed: one that removes more than
// policy.maxRemovePercent of one parent's accounts (and resellers) without Force, that
// loses data without AllowDataLoss, or that is incomplete without Partial. It returns
// a *SafetyError or nil. The conditions are the plan's gates (Gates), recomputed here
// against what was observed now, so a saved plan is judged on today's servers.
func CheckSafety(p *plan.Plan, desired, observed *schema.Fleet, opts SafetyOptions) error {
	if p.Empty() {
		return nil
	}
	var problems []SafetyProblem
	for _, g := range Gates(p, desired, observed) {
		if g.Flag == "" || opts.lifts(g.Flag) {
			continue
		}
		problems = append(problems, SafetyProblem{Flag: g.Flag, Message: g.Message})
	}
	if len(problems) == 0 {
		return nil
	}
	return &SafetyError{Problems: problems}
}

// Gates lists every condition under which apply refuses p without a flag, each with
// the flag that lifts it: removals past policy.maxRemovePercent (--force), data loss
// (--allow-data-loss), an incomplete plan (--partial). Gates no flag lifts (protected
// objects the fleet no longer declares) are kept in p.Gates by Diff and not here.
func Gates(p *plan.Plan, desired, observed *schema.Fleet) []plan.Gate {
	if p == nil {
		return nil
	}
	var gates []plan.Gate
	max := MaxRemovePercent(desired)
	removes := map[string][]string{}
	for _, c := range p.Changes {
		if c.Action != plan.Delete || !c.Addr().OwnsZones() {
			continue
		}
		removes[c.Parent] = append(removes[c.Parent], c.Address)
	}
	total := map[string]int{}
	if observed != nil {
		for _, a := range observed.Accounts {
			if a != nil {
				total[a.Parent]++
			}
		}
		for _, r := range observed.Resellers {
			if r != nil {
				total[r.Parent]++
			}
		}
	}
	for _, parent := range sortedKeys(removes) {
		n, of := len(removes[parent]), total[parent]
		if of < n {
			of = n // the plan cannot remove more than there is
		}
		if n*100 <= max*of {
			continue
		}
		gates = append(gates, plan.Gate{Kind: plan.GateMaxRemove, Flag: FlagForce, Addresses: removes[parent], Message: fmt.Sprintf(
			"the plan removes %d of the %d accounts on %s (%d%%), more than policy.maxRemovePercent (%d%%): %s; check that the fleet still declares what it should, or add --force to apply it anyway",
			n, of, parent, n*100/of, max, listNames(removes[parent], 5))})
	}
	for _, c := range p.Changes {
		if c.Flags.DataLoss {
			gates = append(gates, plan.Gate{Kind: plan.GateDataLoss, Flag: FlagAllowDataLoss, Addresses: []string{c.Address}, Message: fmt.Sprintf(
				"%s loses data (%s); add --allow-data-loss to apply it", c.ID, c.Reason)})
		}
	}
	if !p.Complete() && !p.Empty() {
		var scopes []string
		for _, u := range p.Unread {
			scopes = append(scopes, u.Scope)
		}
		what := fmt.Sprintf("%d error(s) leave parts of the fleet unplanned", len(p.Errors))
		if len(scopes) > 0 {
			what = fmt.Sprintf("%d part(s) of the fleet could not be read (%s)", len(scopes), listNames(scopes, 5))
		}
		gates = append(gates, plan.Gate{Kind: plan.GateIncomplete, Flag: FlagPartial, Addresses: scopes, Message: fmt.Sprintf(
			"the plan is incomplete: %s, so nothing is planned there and it may not show all that differs; fix the errors and plan again, or add --partial to apply what was planned for the rest", what)})
	}
	return gates
}

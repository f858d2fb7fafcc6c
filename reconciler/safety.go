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
}

// SafetyProblem is one reason a plan is refused, and the flag that would allow it.
type SafetyProblem struct {
	Flag    string // "--force" or "--allow-data-loss"
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
// policy.maxRemovePercent of one parent's accounts (and resellers) without Force, or
// that loses data without AllowDataLoss. It returns a *SafetyError or nil.
func CheckSafety(p *plan.Plan, desired, observed *schema.Fleet, opts SafetyOptions) error {
	if p.Empty() {
		return nil
	}
	var problems []SafetyProblem
	if !opts.Force {
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
			problems = append(problems, SafetyProblem{Flag: "--force", Message: fmt.Sprintf(
				"the plan removes %d of the %d accounts on %s (%d%%), more than policy.maxRemovePercent (%d%%): %s; check that the fleet still declares what it should, or add --force to apply it anyway",
				n, of, parent, n*100/of, max, listNames(removes[parent], 5))})
		}
	}
	if !opts.AllowDataLoss {
		for _, c := range p.Changes {
			if c.Flags.DataLoss {
				problems = append(problems, SafetyProblem{Flag: "--allow-data-loss", Message: fmt.Sprintf(
					"%s loses data (%s); add --allow-data-loss to apply it", c.ID, c.Reason)})
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &SafetyError{Problems: problems}
}

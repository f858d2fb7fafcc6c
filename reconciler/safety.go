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
	// Inventory and Protected are Tether's state as read now (the addresses it
	// created, and those recorded as protect: true), the same the plan was made
	// with. A removal is checked against them here again, whoever made the plan: a
	// saved plan is a file, and nothing in a file can switch a rule off.
	Inventory map[string]bool
	Protected map[string]bool
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
	Flag    string // "--force", "--allow-data-loss" or "--partial"; "" when no flag allows it
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
		if p.Flag != "" && !seen[p.Flag] {
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
//
// Every rule is judged from the fleet, the observation and the state passed in,
// never from what the plan's changes say about themselves: a removal the fleet's
// policy does not allow (pruning off, an object Tether did not create, a protected
// one, one the fleet still declares) is refused whatever flag is given, and a
// dedistribution from a child marked lost needs --allow-data-loss whatever its
// flags say.
func CheckSafety(p *plan.Plan, desired, observed *schema.Fleet, opts SafetyOptions) error {
	if p.Empty() {
		return nil
	}
	problems := removalProblems(p, desired, observed, opts)
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
	// The accounts per parent only matter to a plan that removes some: counting the
	// servers' 100k accounts for a plan with none was a fifth of the diff's CPU.
	total := map[string]int{}
	if observed != nil && len(removes) > 0 {
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
	for _, parent := range schema.Names(removes) {
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
		if c.Flags.DataLoss || losesData(c, desired, observed) {
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

// removalProblems refuses each removal the fleet's policy does not allow. Diff never
// plans one; a plan that has one was not made by Diff from this fleet and state.
func removalProblems(p *plan.Plan, desired, observed *schema.Fleet, opts SafetyOptions) []SafetyProblem {
	var problems []SafetyProblem
	refuse := func(c *plan.Change, why string) {
		problems = append(problems, SafetyProblem{Message: fmt.Sprintf("%s is never applied: %s", changeName(c), why)})
	}
	prune := desired != nil && desired.Policy != nil && desired.Policy.Prune
	for _, c := range p.Changes {
		if c == nil || (c.Action != plan.Delete && c.Action != plan.Unlink) {
			continue
		}
		a, err := plan.ParseAddress(c.Address)
		if err != nil {
			refuse(c, err.Error())
			continue
		}
		declared, observedProtect := declaredAndProtected(a, desired, observed)
		user := a.Kind == plan.KindAccount || a.Kind == plan.KindReseller
		switch {
		case declared && user:
			refuse(c, "the fleet declares it")
		case declared, replacedMember(a, desired, observed):
			// A node or DNS member the fleet declares is removed only to be
			// replaced (its name now means another server, or a declared member
			// takes its host); Diff pairs it with the re-creation.
		case observedProtect || opts.Protected[c.Address]:
			refuse(c, "it is protected (protect: true)")
		case !prune:
			refuse(c, "policy.prune is off, so nothing that leaves the fleet is removed")
		case !opts.Inventory[c.Address]:
			refuse(c, "Tether did not create it (it is not in Tether's inventory)")
		}
	}
	return problems
}

// declaredAndProtected reports whether the desired fleet declares the object at a,
// and whether the observed one is marked protected on the server.
func declaredAndProtected(a plan.Address, desired, observed *schema.Fleet) (declared, protected bool) {
	if desired == nil {
		desired = &schema.Fleet{}
	}
	if observed == nil {
		observed = &schema.Fleet{}
	}
	switch a.Kind {
	case plan.KindAccount:
		declared = desired.Accounts[a.Name] != nil
		if o := observed.Accounts[a.Name]; o != nil {
			protected = o.Protect
		}
	case plan.KindReseller:
		declared = desired.Resellers[a.Name] != nil
		if o := observed.Resellers[a.Name]; o != nil {
			protected = o.Protect
		}
	case plan.KindNode:
		declared = desired.Nodes[a.Name] != nil
	case plan.KindCluster:
		declared = desired.DNSClusters[a.Cluster] != nil
	case plan.KindMember:
		if c := desired.DNSClusters[a.Cluster]; c != nil {
			declared = c.Members[a.Name] != nil
		}
	}
	return declared, protected
}

// replacedMember reports whether the DNS member at a leaves its cluster to make room
// for a declared member, as Diff decides it from the same two fleets.
func replacedMember(a plan.Address, desired, observed *schema.Fleet) bool {
	if a.Kind != plan.KindMember || desired == nil || observed == nil {
		return false
	}
	c, o := desired.DNSClusters[a.Cluster], observed.DNSClusters[a.Cluster]
	if c == nil || o == nil {
		return false
	}
	d := &differ{d: desired, o: observed}
	_, ok := d.replacedMembers(c, o)[a.Name]
	return ok
}

// losesData reports whether c moves an account's mail off a child the fleet marks
// lost: a forced dedistribution, whose mail stays on the lost child.
func losesData(c *plan.Change, desired, observed *schema.Fleet) bool {
	if c == nil || c.Action != plan.Dedistribute || desired == nil || observed == nil {
		return false
	}
	a, err := plan.ParseAddress(c.Address)
	if err != nil {
		return true // an address that names nothing is not trusted either
	}
	var was string
	switch a.Kind {
	case plan.KindAccount:
		if o := observed.Accounts[a.Name]; o != nil {
			was = o.MailNode()
		}
	case plan.KindReseller:
		if o := observed.Resellers[a.Name]; o != nil {
			was = o.MailNode()
		}
	}
	n := desired.Nodes[was]
	return was != "" && n != nil && n.Lost
}

func changeName(c *plan.Change) string {
	if c.ID != "" {
		return c.ID
	}
	return plan.ChangeID(c.Address, c.Action)
}

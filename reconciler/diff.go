// Package reconciler is the planner: Diff compares a desired fleet with an observed
// one (a pure function), CheckSafety refuses plans that would destroy more than the
// operator allowed. It does no I/O and imports neither providers nor internal:
// observing and applying are the engine's (internal/engine), which hands it the
// observed fleet and executes the plan it returns.
package reconciler

import (
	"container/heap"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"

	"github.com/tether-dev/tether/reconciler/backend"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// DiffOptions is what Diff needs beyond the two fleets. All of it is data the caller
// read beforehand (state, observation results), so Diff stays a pure function.
type DiffOptions struct {
	// Inventory holds the addresses of objects Tether created. With policy.prune on,
	// only these may be removed when they leave the fleet; nothing else ever is.
	Inventory map[string]bool
	// Protected holds addresses recorded as `protect: true` when last applied, so an
	// object deleted from the files keeps its protection.
	Protected map[string]bool
	// FailedScopes names what could not be observed: node names (a parent, a child, a
	// DNS-only node) or object addresses (dns.P.member.M). Nothing at or under a failed
	// scope is changed: an object that could not be read is never planned away.
	FailedScopes map[string]bool
	// ObserveErrors are reported in the plan's Errors; the scopes of any
	// *ScopeError among them count as failed.
	ObserveErrors []error
	// Fleet names the provider that executes node, account, reseller and DNS cluster
	// changes (providers.FleetProvider()).
	Fleet string
	// Members are the DNS member backends, each with the provider executing its
	// members' changes and its planner (providers.MemberPlanners()). A member whose
	// backend is not here gets no change, and the plan says so in its errors.
	Members backend.Set
	// FleetCapabilities are the capabilities the fleet provider declares, by name
	// (providers.Spec.Capabilities; providers.FleetCapabilities()). The planner
	// consults those that decide what it may compare, as DNSControl's core consults a
	// provider's: a reseller's ACLs are compared only under CapObserveResellerACLs.
	// Without the set nothing that needs a capability is compared.
	FleetCapabilities map[string]bool
}

// CapObserveResellerACLs is the capability of a fleet provider that reads a
// reseller's ACLs back (providers.CanObserveResellerACLs is this name). Without it
// ACLs are set when reseller privileges are set up and never compared: the observed
// reseller would carry none, and the same update would be planned on every run.
const CapObserveResellerACLs = "observe-reseller-acls"

// can reports whether the fleet provider declares capability c.
func (d *differ) can(c string) bool { return d.opts.FleetCapabilities[c] }

// Diff compares the desired fleet with the observed one and returns the plan that
// makes the second equal to the first, as far as safety allows. It does no I/O and
// its output depends only on its inputs: changes come in dependency order, ties
// broken by ID (address, then action).
func Diff(desired, observed *schema.Fleet, opts DiffOptions) *plan.Plan {
	return diffWith(desired, observed, opts, runtime.GOMAXPROCS(0))
}

// diffWith is Diff with the walks of a large fleet's accounts shared among workers
// goroutines; its plan is the same for any number of them.
func diffWith(desired, observed *schema.Fleet, opts DiffOptions, workers int) *plan.Plan {
	if desired == nil {
		desired = &schema.Fleet{}
	}
	if observed == nil {
		observed = &schema.Fleet{}
	}
	d := &differ{
		d:       desired,
		o:       observed,
		opts:    opts,
		failed:  map[string]bool{},
		byID:    map[string]*plan.Change{},
		workers: workers,
	}
	for s := range opts.FailedScopes {
		d.failed[s] = true
	}
	for s := range FailedScopes(opts.ObserveErrors) {
		d.failed[s] = true
	}
	var observeErrors []string
	for _, err := range opts.ObserveErrors {
		if err == nil {
			continue
		}
		observeErrors = append(observeErrors, err.Error())
		var se *ScopeError
		if errors.As(err, &se) {
			d.unread = append(d.unread, plan.Unread{Scope: se.Scope, Provider: se.Provider, Reason: errText(se.Err)})
		}
	}
	d.prune = desired.Policy != nil && desired.Policy.Prune
	// A parent no provider reported is as unknown as one that failed: planning its
	// accounts against an empty view would create (or, pruning, remove) everything.
	for _, name := range schema.Names(desired.Nodes) {
		if n := desired.Nodes[name]; n != nil && n.Role == schema.RoleParent && observed.Nodes[name] == nil && !d.failed[name] {
			d.failed[name] = true
			d.warnf("node %s: not observed (no provider reported it); nothing is planned on it or its accounts", name)
			d.unread = append(d.unread, plan.Unread{Scope: name, Reason: "not observed: no provider reported it"})
		}
	}

	d.diffNodes()
	d.diffResellers()
	d.diffAccounts()
	d.liveDebt()
	d.noteFilesOnly()
	d.diffUnlinks()
	d.diffResellerDeletes()
	d.diffDNS()

	changes := d.ordered()
	alignValues(changes)
	// Observation errors keep the order they were found in; the planner's own come
	// after, sorted, like the warnings, so no map order shows through.
	sort.Strings(d.errors)
	sort.Strings(d.warnings)
	p := &plan.Plan{
		FormatVersion: plan.FormatVersion,
		Changes:       changes,
		Unmanaged:     d.unmanaged,
		Errors:        append(observeErrors, d.errors...),
		Warnings:      d.warnings,
	}
	sort.SliceStable(p.Unmanaged, func(i, j int) bool { return p.Unmanaged[i].Address < p.Unmanaged[j].Address })
	p.Summary = plan.Summarize(p.Changes, len(p.Unmanaged))
	p.Unread = d.unread
	p.Adoptable = d.adoptable()
	p.Gates = Gates(p, desired, observed)
	if len(d.protectedKept) > 0 {
		sort.Strings(d.protectedKept)
		p.Gates = append(p.Gates, plan.Gate{Kind: plan.GateProtected, Addresses: d.protectedKept, Message: fmt.Sprintf(
			"%d object(s) left the fleet but are protected (protect: true) and are never removed, whatever the flags: %s; to remove one, declare it again with protect: false, apply, then remove it from the fleet",
			len(d.protectedKept), listNames(d.protectedKept, 5))})
	}
	return p
}

type differ struct {
	d, o   *schema.Fleet
	opts   DiffOptions
	failed map[string]bool
	prune  bool
	// signedDesired: some account of the fleet is signed (dnssec); diffAccounts
	// finds it out for liveDebt.
	signedDesired bool
	// autosslDeclared counts the fleet's accounts that declare AutoSSL DCV methods;
	// diffAccounts finds it out for noteFilesOnly.
	autosslDeclared int
	// workers is how many goroutines may share a walk of a large accounts map
	// (walkAccounts); 1 keeps the whole diff on the calling goroutine.
	workers int

	byID      map[string]*plan.Change
	changes   []*plan.Change
	unmanaged []plan.Unmanaged
	// unplannable are members ("PARENT/NAME") whose backend no provider serves,
	// reported once each.
	unplannable map[string]bool
	errors      []string
	warnings    []string
	// protectedKept are objects that left the fleet, would be pruned, and are kept
	// because they are protected: a gate no flag lifts.
	protectedKept []string
	// unread is what could not be read, from the observation errors and the parents
	// no provider reported.
	unread []plan.Unread

	// Built on first use: who uses a child, who a reseller owns (observed side).
	mailUsers map[string][]string
	owned     map[string][]string
}

// isFailed reports whether any of the scopes an object depends on failed to be read.
func (d *differ) isFailed(keys ...string) bool {
	if len(d.failed) == 0 {
		return false
	}
	for _, k := range keys {
		if k != "" && d.failed[k] {
			return true
		}
	}
	return false
}

// add records a change and fills what every change has; deps that are not in the
// plan are dropped, so callers can name every change that might exist.
func (d *differ) add(c *plan.Change, deps ...string) *plan.Change {
	c.ID = plan.ChangeID(c.Address, c.Action)
	if c.Provider == "" {
		c.Provider = d.opts.Fleet
	}
	for _, dep := range deps {
		d.dependOn(c, dep)
	}
	if prev := d.byID[c.ID]; prev != nil {
		// Two reasons for one change (never expected): keep one change, say both.
		prev.Reason += "; " + c.Reason
		return prev
	}
	d.byID[c.ID] = c
	d.changes = append(d.changes, c)
	return c
}

func (d *differ) dependOn(c *plan.Change, id string) {
	if _, ok := d.byID[id]; !ok || id == c.ID {
		return
	}
	for _, have := range c.DependsOn {
		if have == id {
			return
		}
	}
	c.DependsOn = append(c.DependsOn, id)
}

func (d *differ) has(address string, a plan.Action) bool {
	_, ok := d.byID[plan.ChangeID(address, a)]
	return ok
}

func (d *differ) addUnmanaged(address, target, reason string) {
	d.unmanaged = append(d.unmanaged, plan.Unmanaged{Address: address, Target: target, Reason: reason})
}

func (d *differ) warnf(format string, args ...any) {
	d.warnings = append(d.warnings, fmt.Sprintf(format, args...))
}

// warnf adds a warning to a list of them: the differ's, or a worker's own
// (walkAccounts) that Diff merges into it.
func warnf(warnings *[]string, format string, args ...any) {
	*warnings = append(*warnings, fmt.Sprintf(format, args...))
}

func (d *differ) errorf(format string, args ...any) {
	d.errors = append(d.errors, fmt.Sprintf(format, args...))
}

// protected reports whether an object that left the fleet must be kept anyway.
func (d *differ) protected(address string, observedProtect bool) bool {
	return observedProtect || d.opts.Protected[address]
}

// leftFleet decides what happens to an object that is on a server but not in the
// fleet: it is removed only when pruning is on, Tether created it and it is not
// protected; otherwise it is reported as unmanaged with the reason. It returns the
// reason for the removal, or "" when the object is kept.
// where says where the object was found ("on web1", "linked to web1").
func (d *differ) leftFleet(address, target, where string, protect bool) string {
	switch {
	case !d.prune:
		d.addUnmanaged(address, target, where+", not in the fleet; left alone (policy.prune is off)")
	case !d.opts.Inventory[address]:
		d.addUnmanaged(address, target, where+", not in the fleet and not created by Tether (not in its inventory); left alone")
	case d.protected(address, protect):
		d.protectedKept = append(d.protectedKept, address)
		d.addUnmanaged(address, target, where+", not in the fleet, but protected (protect: true): never removed")
	default:
		return "not in the fleet any more; Tether created it and policy.prune is on"
	}
	return ""
}

// ordered returns the changes in dependency order; among changes whose
// dependencies are done, the smallest ID comes first.
func (d *differ) ordered() []*plan.Change {
	out := make([]*plan.Change, 0, len(d.changes))
	indeg := make(map[string]int, len(d.changes))
	next := make(map[string][]*plan.Change)
	var ready idHeap
	for _, c := range d.changes {
		sort.Strings(c.DependsOn)
		indeg[c.ID] = len(c.DependsOn)
		for _, dep := range c.DependsOn {
			next[dep] = append(next[dep], c)
		}
		if len(c.DependsOn) == 0 {
			ready = append(ready, c)
		}
	}
	heap.Init(&ready)
	for ready.Len() > 0 {
		c := heap.Pop(&ready).(*plan.Change)
		out = append(out, c)
		for _, n := range next[c.ID] {
			indeg[n.ID]--
			if indeg[n.ID] == 0 {
				heap.Push(&ready, n)
			}
		}
	}
	if len(out) < len(d.changes) {
		// A cycle is a bug in Diff; keep the changes visible rather than lose them.
		var left []string
		for _, c := range d.changes {
			if indeg[c.ID] > 0 {
				left = append(left, c.ID)
				out = append(out, c)
			}
		}
		sort.Strings(left)
		d.errors = append(d.errors, "changes depend on each other in a cycle (a Tether bug; please report it): "+strings.Join(left, ", "))
	}
	return out
}

type idHeap []*plan.Change

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return h[i].ID < h[j].ID }
func (h idHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)        { *h = append(*h, x.(*plan.Change)) }
func (h *idHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	*h = old[:n-1]
	return x
}

// listNames writes up to max names and says how many more there are.
func listNames(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}

// errText is an error's message, or "" for none.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// adoptable lists, with policy.prune on (the one case where ownership changes what a
// plan does), the objects Adoptable finds; without an inventory (a caller that keeps
// none), nothing.
func (d *differ) adoptable() []plan.Adoptable {
	if d.opts.Inventory == nil || !d.prune {
		return nil
	}
	return Adoptable(d.d, d.o, d.opts.Inventory, d.isFailed)
}

// Adoptable lists the objects that are both declared and on the servers where the
// fleet puts them, but not in Tether's inventory: pruning never removes them until
// they are adopted (tether adopt, tether import --adopt). failed, when given, says
// which scopes could not be read; nothing under them is listed.
func Adoptable(desired, observed *schema.Fleet, inventory map[string]bool, failed func(keys ...string) bool) []plan.Adoptable {
	if desired == nil || observed == nil {
		return nil
	}
	var out []plan.Adoptable
	add := func(addr, target string) {
		if !inventory[addr] && (failed == nil || !failed(target, addr)) {
			out = append(out, plan.Adoptable{Address: addr, Target: target})
		}
	}
	for _, name := range schema.Names(desired.Nodes) {
		n, o := desired.Nodes[name], observed.Nodes[name]
		if n != nil && o != nil && n.Role == schema.RoleChild && o.Role == schema.RoleChild && n.Parent == o.Parent && n.Parent != "" {
			add(plan.NodeAddress(name), n.Parent)
		}
	}
	for _, user := range schema.Names(desired.Accounts) {
		a, o := desired.Accounts[user], observed.Accounts[user]
		if a != nil && o != nil && a.Parent == o.Parent {
			add(plan.AccountAddress(user), a.Parent)
		}
	}
	for _, user := range schema.Names(desired.Resellers) {
		r, o := desired.Resellers[user], observed.Resellers[user]
		if r != nil && o != nil && r.Parent == o.Parent {
			add(plan.ResellerAddress(user), r.Parent)
		}
	}
	for _, parent := range schema.Names(desired.DNSClusters) {
		c, o := desired.DNSClusters[parent], observed.DNSClusters[parent]
		if c == nil || o == nil {
			continue
		}
		if o.Enabled {
			add(plan.ClusterAddress(parent), parent)
		}
		for _, name := range schema.Names(c.Members) {
			if c.Members[name] != nil && o.Members[name] != nil {
				add(plan.MemberAddress(parent, name), parent)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

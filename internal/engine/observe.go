// Package engine is the part of reconciling that does I/O: Observe reads the live
// fleet through the providers, the planner (package reconciler) compares it with the
// desired fleet without I/O, and Apply executes the plan's changes in dependency
// order, journalled in Tether's state, with retries and post-checks.
package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/schema"
)

// DefaultParallelism bounds concurrent scope observations when the caller gives none.
const DefaultParallelism = 10

// Observe reads every scope of every provider, at most parallelism at once, and
// merges the partial fleets. A scope that fails yields a *reconciler.ScopeError and the rest is
// still observed; the returned fleet is never nil. Merging is in provider then scope
// order, so the result does not depend on which observation finished first.
func Observe(ctx context.Context, provs []providers.Provider, desired *schema.Fleet, parallelism int) (*schema.Fleet, []error) {
	return ObserveWith(ctx, provs, desired, parallelism, nil)
}

// ObserveKind is what an ObserveEvent reports.
type ObserveKind string

const (
	ObserveStart ObserveKind = "start" // a scope is being read
	ObserveRead  ObserveKind = "read"  // a scope was read (Err: it could not be)
	ObserveEnd   ObserveKind = "end"   // every scope was read or given up on
)

// ObserveEvent tells how reading the fleet goes, scope by scope, so a command can show
// progress while servers answer slowly.
type ObserveEvent struct {
	Kind            ObserveKind
	Provider, Scope string
	Err             error
	Elapsed         time.Duration // read: how long the scope took
	Done, Total     int           // scopes finished so far, and in all
}

// ObserveWith is Observe telling progress (called from several goroutines, one call at
// a time).
func ObserveWith(ctx context.Context, provs []providers.Provider, desired *schema.Fleet, parallelism int, progress func(ObserveEvent)) (*schema.Fleet, []error) {
	var mu sync.Mutex
	done := 0
	tell := func(ev ObserveEvent) {
		if progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if ev.Kind == ObserveRead {
			done++
		}
		ev.Done = done
		progress(ev)
	}
	if parallelism < 1 {
		parallelism = DefaultParallelism
	}
	type job struct {
		prov  providers.Provider
		scope string
		fleet *schema.Fleet
		err   error
	}
	var jobs []*job
	for _, p := range provs {
		scopes := append([]string(nil), p.Scopes(desired)...)
		sort.Strings(scopes)
		for _, s := range scopes {
			jobs = append(jobs, &job{prov: p, scope: s})
		}
	}

	var g errgroup.Group
	g.SetLimit(parallelism)
	for _, j := range largestFirst(jobs, func(j *job) string { return j.scope }, desired) {
		g.Go(func() error {
			start := time.Now()
			tell(ObserveEvent{Kind: ObserveStart, Provider: j.prov.Name(), Scope: j.scope, Total: len(jobs)})
			defer func() {
				tell(ObserveEvent{Kind: ObserveRead, Provider: j.prov.Name(), Scope: j.scope, Err: j.err, Elapsed: time.Since(start), Total: len(jobs)})
			}()
			if err := ctx.Err(); err != nil {
				j.err = err
				return nil
			}
			// A provider that panics must not take the other scopes down with it.
			defer func() {
				if r := recover(); r != nil {
					j.fleet, j.err = nil, fmt.Errorf("provider panicked: %v", r)
				}
			}()
			j.fleet, j.err = j.prov.Observe(ctx, j.scope, desired)
			return nil
		})
	}
	_ = g.Wait() // every job records its own error
	tell(ObserveEvent{Kind: ObserveEnd, Total: len(jobs)})

	observed := &schema.Fleet{}
	var errs []error
	// The merged maps are made at their size: the 100k fleet's accounts arrive in
	// 200 parts, and growing one map to 100k entries rehashed it some ten times.
	var sizes mergeSizes
	for _, j := range jobs {
		if j.fleet != nil {
			sizes.accounts += len(j.fleet.Accounts)
			sizes.resellers += len(j.fleet.Resellers)
		}
	}
	for _, j := range jobs {
		var unread *providers.UnreadError
		if errors.As(j.err, &unread) && j.fleet != nil {
			// Part of the scope was read: keep it, and name each node that was not.
			for _, node := range schema.Names(unread.Nodes) {
				errs = append(errs, &reconciler.ScopeError{Provider: j.prov.Name(), Scope: node, Err: unread.Nodes[node]})
			}
			j.err = nil
		}
		if j.err != nil {
			errs = append(errs, &reconciler.ScopeError{Provider: j.prov.Name(), Scope: j.scope, Err: j.err})
			continue
		}
		for _, conflict := range mergeFleet(observed, j.fleet, j.scope, sizes) {
			errs = append(errs, &reconciler.ScopeError{Provider: j.prov.Name(), Scope: j.scope, Err: conflict})
		}
	}
	return observed, errs
}

// mergeFleet adds the partial fleet of one scope into dst. Nodes seen by two scopes
// (a child seen from its parent and on its own) are merged field by field, the first
// value set winning; an account or reseller seen on two parents is a conflict
// reported back, the first sighting kept. A DNS cluster's settings come from the
// scope named after its parent (whm observes a parent with its cluster); any other
// scope (an rfc2136 member, "PARENT/MEMBER") only contributes members.
func mergeFleet(dst, src *schema.Fleet, scope string, sizes mergeSizes) []error {
	if src == nil {
		return nil
	}
	var errs []error
	for _, name := range schema.Names(src.Nodes) {
		n := src.Nodes[name]
		if n == nil {
			continue
		}
		if dst.Nodes == nil {
			dst.Nodes = map[string]*schema.Node{}
		}
		if have := dst.Nodes[name]; have != nil {
			mergeNode(have, n)
			continue
		}
		c := *n
		dst.Nodes[name] = &c
	}
	errs = append(errs, mergeOwned("account", &dst.Accounts, src.Accounts, sizes.accounts, func(a *schema.Account) string { return a.Parent })...)
	errs = append(errs, mergeOwned("reseller", &dst.Resellers, src.Resellers, sizes.resellers, func(r *schema.Reseller) string { return r.Parent })...)
	for _, parent := range schema.Names(src.DNSClusters) {
		c := src.DNSClusters[parent]
		if c == nil {
			continue
		}
		if dst.DNSClusters == nil {
			dst.DNSClusters = map[string]*schema.DNSCluster{}
		}
		have := dst.DNSClusters[parent]
		if have != nil && scope == parent {
			have.Enabled, have.FailureThreshold, have.NotifyOnDisable = c.Enabled, c.FailureThreshold, c.NotifyOnDisable
		}
		if have == nil {
			// Copy so members merged in later (an rfc2136 member observed on its own)
			// never write into a provider's value.
			cp := *c
			cp.Members = make(map[string]*schema.Member, len(c.Members))
			for k, m := range c.Members {
				if m != nil {
					mc := *m
					cp.Members[k] = &mc
				}
			}
			dst.DNSClusters[parent] = &cp
			continue
		}
		for _, name := range schema.Names(c.Members) {
			if m := c.Members[name]; m != nil {
				if have.Members == nil {
					have.Members = map[string]*schema.Member{}
				}
				if _, dup := have.Members[name]; !dup {
					mc := *m
					have.Members[name] = &mc
				} else {
					mergeMember(have.Members[name], m)
				}
			}
		}
	}
	return errs
}

// mergeOwned adds src's accounts (or resellers) to dst. One user on two parents is a
// conflict: the first reading is kept and the conflict reported.
// mergeSizes are the most accounts and resellers a merge can hold (the sum of the
// parts'), the size the merged maps are made at.
type mergeSizes struct{ accounts, resellers int }

// mergeOwned adds src's accounts (or resellers) to dst, made at size when it is first
// needed. One seen before on another parent is a conflict, reported in name order.
func mergeOwned[T any](kind string, dst *map[string]*T, src map[string]*T, size int, parent func(*T) string) []error {
	var conflicts []string
	// Names are unique within src, so the order they are added in changes nothing
	// but the order of the conflicts, sorted below (sorting every part's names
	// was a tenth of the merge).
	for name, v := range src {
		if v == nil {
			continue
		}
		if *dst == nil {
			*dst = make(map[string]*T, max(size, len(src)))
		}
		if have := (*dst)[name]; have != nil {
			if parent(have) != parent(v) {
				conflicts = append(conflicts, name)
			}
			continue
		}
		(*dst)[name] = v
	}
	slices.Sort(conflicts)
	var errs []error
	for _, name := range conflicts {
		errs = append(errs, fmt.Errorf("%s %s is on both %s and %s; kept the first", kind, name, parent((*dst)[name]), parent(src[name])))
	}
	return errs
}

func mergeNode(dst, src *schema.Node) {
	if dst.Role == "" {
		dst.Role = src.Role
	}
	if dst.Parent == "" {
		dst.Parent = src.Parent
	}
	if dst.Host == "" {
		dst.Host = src.Host
	}
	if dst.IPv4 == "" {
		dst.IPv4 = src.IPv4
	}
	if dst.IPv6 == "" {
		dst.IPv6 = src.IPv6
	}
	if dst.Version == 0 {
		dst.Version = src.Version
	}
	if dst.Profile == "" {
		dst.Profile = src.Profile
	}
	if len(dst.Services) == 0 {
		dst.Services = src.Services
	}
	if dst.PasswordStrength == nil {
		dst.PasswordStrength = src.PasswordStrength
	}
	if dst.OptionalRoles == nil {
		dst.OptionalRoles = src.OptionalRoles
	}
}

// mergeMember completes one view of a member with another: its own scope adds what
// the parent's view cannot see (its zones), the parent's adds role and node; a
// member disabled in either view is disabled.
func mergeMember(dst, src *schema.Member) {
	if dst.Zones == nil {
		dst.Zones = src.Zones
	}
	dst.Disabled = dst.Disabled || src.Disabled
	if dst.Backend == "" {
		dst.Backend = src.Backend
	}
	if dst.Role == "" {
		dst.Role = src.Role
	}
	if dst.Node == "" {
		dst.Node = src.Node
	}
	if dst.Host == "" {
		dst.Host = src.Host
	}
	if dst.Address == "" {
		dst.Address = src.Address
	}
	if dst.Software == "" {
		dst.Software = src.Software
	}
}

// ObserveRecorder is a provider whose observation sends commands that count against
// what it observed (rfc2136: each member's AXFRs count towards its failure
// threshold). Observe itself records nothing, so plan stays read-only; apply calls
// RecordObserved once it has observed, and the provider counts what that round's
// Observe calls sent.
type ObserveRecorder interface {
	RecordObserved(ctx context.Context) error
}

// RecordObserved asks every provider that is an ObserveRecorder, in name order, to
// count what its last observation sent. Only apply calls it. The error joins what
// the providers report (a member disabled by this count, state that could not be
// written); each names the member or scope it is about.
func RecordObserved(ctx context.Context, provs map[string]providers.Provider) error {
	var errs []error
	for _, name := range schema.Names(provs) {
		r, ok := provs[name].(ObserveRecorder)
		if !ok {
			continue
		}
		if err := r.RecordObserved(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// largestFirst is the order scopes start in: the ones with the most of the fleet
// under them (a parent's accounts, resellers and children) first, the rest in the
// order given. Scopes are results merged in name order whatever the order they are
// read in; started by name, a 100k fleet's 200 parents (about 500 accounts each)
// came after its 400 DNS-only nodes (one request each), so the last seconds of the
// read were a few parents on a few connections while the other slots sat idle.
func largestFirst[J any](jobs []J, scope func(J) string, desired *schema.Fleet) []J {
	if desired == nil || len(jobs) < 2 {
		return jobs
	}
	weight := make(map[string]int, len(desired.Nodes))
	for _, n := range desired.Nodes {
		if n != nil && n.Parent != "" {
			weight[n.Parent]++
		}
	}
	for _, a := range desired.Accounts {
		if a != nil && a.Parent != "" {
			weight[a.Parent]++
		}
	}
	for _, r := range desired.Resellers {
		if r != nil && r.Parent != "" {
			weight[r.Parent]++
		}
	}
	out := slices.Clone(jobs)
	slices.SortStableFunc(out, func(a, b J) int { return weight[scope(b)] - weight[scope(a)] })
	return out
}

package providers

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tether-dev/tether/schema"
)

// The capabilities a fleet's objects need from the provider that manages the fleet
// (Spec.Fleet), in the manner of DNSControl's capabilities: a provider declares
// which it has as data (Spec.Capabilities), and Check refuses a fleet that uses one
// it lacks before any server is called.
const (
	CanLinkChildren        Capability = "link-children"
	CanDistributeMail      Capability = "distribute-mail"
	CanForceDedistribute   Capability = "force-dedistribute"
	CanManageResellers     Capability = "manage-resellers"
	CanResellerLimits      Capability = "reseller-account-limits"
	CanProfiles            Capability = "server-profiles"
	CanPasswordStrengths   Capability = "password-strengths"
	CanAccountFeatures     Capability = "account-features"
	CanDNSCluster          Capability = "dns-cluster-cgi"
	CanDNSClusterThreshold Capability = "dns-cluster-threshold"
	// CanObserveResellerACLs: the provider can read a reseller's ACLs back. The
	// planner consults it (reconciler.DiffOptions.FleetCapabilities): without it ACLs
	// are set when a reseller is created and never compared, and the plan says so.
	// It is the planner's name reconciler.CapObserveResellerACLs (a test holds them
	// equal: this package cannot import the planner's root, whose tests import it).
	CanObserveResellerACLs Capability = "observe-reseller-acls"
)

// FleetCapabilities are the capabilities the fleet provider declares, by name, for
// the planner (reconciler.DiffOptions.FleetCapabilities); empty when no provider
// manages the fleet.
func FleetCapabilities() map[string]bool {
	spec, ok := Lookup(FleetProvider())
	out := map[string]bool{}
	if !ok {
		return out
	}
	for c, on := range spec.Capabilities {
		if on {
			out[string(c)] = true
		}
	}
	return out
}

// RuleP01 is the rule id of a fleet that asks a provider for something it cannot do.
const RuleP01 = "TETHER-P01"

// Check holds a loaded fleet against the registered providers' capabilities, before
// any call: every object needs the capability of the provider that would manage it
// (the fleet provider for nodes, accounts, resellers and DNS clusters; the member
// backend's provider for members, which must serve the member's role). One
// diagnostic per problem, at the field that needs it, sorted.
func Check(f *schema.Fleet) schema.Diagnostics {
	if f == nil {
		return nil
	}
	var ds schema.Diagnostics
	fleet, _ := Lookup(FleetProvider())
	told := false
	need := func(at schema.Pos, c Capability, what string) {
		if fleet.Name == "" {
			if !told {
				told = true
				ds.Add(at, RuleP01, what+": no registered provider manages the fleet", "import providers/all, or the provider that manages the fleet")
			}
			return
		}
		if !fleet.Capabilities.Can(c) {
			ds.Add(at, RuleP01, fmt.Sprintf("%s: provider %s cannot do it (it lacks %s)", what, fleet.Name, c),
				"remove it from the fleet, or use a provider that declares "+string(c))
		}
	}
	for _, name := range sortedNames(f.Nodes) {
		n := f.Nodes[name]
		obj := "node " + name
		if n.Role == schema.RoleChild {
			need(n.Src.At("role"), CanLinkChildren, obj+": a linked child")
			if n.Lost {
				need(n.Src.At("lost"), CanForceDedistribute, obj+": force-dedistributing a lost child")
			}
		}
		if n.Profile != "" {
			need(n.Src.At("profile"), CanProfiles, obj+": a server profile")
		}
		if len(n.PasswordStrength) > 0 {
			need(n.Src.At("passwordStrength"), CanPasswordStrengths, obj+": password strengths")
		}
	}
	accounts := func(kind, name string, a *schema.Account) {
		obj := kind + " " + name
		if a.MailNode() != "" {
			need(a.Src.At("mail.node"), CanDistributeMail, obj+": mail on a child")
		}
		if len(a.Features) > 0 {
			need(a.Src.At("features"), CanAccountFeatures, obj+": account features")
		}
	}
	// An account needs only these two; a provider with both (whm) owes the accounts
	// no look, and sorting 100k names to look was most of the check's time.
	if fleet.Name == "" || !fleet.Capabilities.Can(CanDistributeMail) || !fleet.Capabilities.Can(CanAccountFeatures) {
		for _, name := range sortedNames(f.Accounts) {
			accounts("account", name, f.Accounts[name])
		}
	}
	for _, name := range sortedNames(f.Resellers) {
		r := f.Resellers[name]
		need(r.Src.Key, CanManageResellers, "reseller "+name)
		if r.Limits != nil && r.Limits.Accounts != nil {
			need(r.Src.At("limits"), CanResellerLimits, "reseller "+name+": an account limit")
		}
		accounts("reseller", name, &r.Account)
	}
	for _, parent := range sortedNames(f.DNSClusters) {
		c := f.DNSClusters[parent]
		obj := "DNS cluster " + parent
		need(c.Src.Key, CanDNSCluster, obj)
		if c.FailureThreshold != (schema.Threshold{}) {
			need(c.Src.At("failureThreshold"), CanDNSClusterThreshold, obj+": a failure threshold")
		}
		for _, name := range sortedNames(c.Members) {
			m := c.Members[name]
			spec, mb, ok := MemberServer(m.BackendName())
			mobj := fmt.Sprintf("%s member %s", obj, name)
			if !ok {
				ds.Add(m.Src.At("backend"), RuleP01, fmt.Sprintf("%s: no registered provider serves backend %q", mobj, m.BackendName()),
					"import the provider that serves it (providers/all has every provider)")
				continue
			}
			if len(mb.Roles) > 0 && !slices.Contains(mb.Roles, m.Role) {
				ds.Add(m.Src.At("role"), RuleP01, fmt.Sprintf("%s: provider %s cannot keep a %s member of backend %s", mobj, spec.Name, m.Role, m.BackendName()),
					"use a role it serves: "+strings.Join(mb.Roles, ", "))
			}
		}
	}
	return ds.Sort()
}

func sortedNames[V any](m map[string]*V) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		if v != nil {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

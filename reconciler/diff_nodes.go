package reconciler

import (
	"fmt"
	"slices"
	"sort"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// governs reports whether node n sets the minimum strength of passwords of kind: a
// child taking mail governs schema.MailChildPasswordKinds, the parent the rest.
func governs(n *schema.Node, kind string) bool {
	if n.Role != schema.RoleChild {
		return true
	}
	for _, s := range n.Services {
		if s == schema.ServiceMail && slices.Contains(schema.MailChildPasswordKinds, kind) {
			return true
		}
	}
	return false
}

// nodeParent is the parent a node belongs to, for grouping and locking.
func nodeParent(name string, n *schema.Node) string {
	switch n.Role {
	case schema.RoleParent:
		return name
	case schema.RoleChild:
		return n.Parent
	}
	return ""
}

func (d *differ) diffNodes() {
	for _, name := range schema.Names(d.d.Nodes) {
		n := d.d.Nodes[name]
		if n == nil {
			continue
		}
		addr := plan.NodeAddress(name)
		if d.isFailed(name, addr, n.Parent) {
			continue
		}
		o := d.o.Nodes[name]
		if o != nil && !n.Lost {
			// A lost child is gone or compromised: nothing is set on it.
			d.nodeUpdate(name, n, o)
		}
		if n.Role != schema.RoleChild {
			continue
		}
		if p := d.d.Nodes[n.Parent]; p == nil || p.Role != schema.RoleParent {
			d.errorf("node %s: its parent %q is not a parent node of the fleet; it is not linked", name, n.Parent)
			continue
		}
		linked := o != nil && o.Role == schema.RoleChild && o.Parent == n.Parent
		switch {
		case linked:
		case o != nil && o.Role == schema.RoleChild && o.Parent != "":
			d.errorf("node %s: linked to %s, the fleet says %s: a child links to one parent; unlink it from %s first (Tether does not move children between parents)", name, o.Parent, n.Parent, o.Parent)
		case n.Lost:
			// A lost child is gone or compromised: never link it again.
		default:
			d.add(&plan.Change{
				Address: addr,
				Action:  plan.Link,
				After:   cloneNode(n),
				Reason:  fmt.Sprintf("%s is declared as a child of %s but is not linked to it", name, n.Parent),
				Target:  n.Parent,
				Parent:  n.Parent,
			}, plan.ChangeID(addr, plan.Update))
		}
	}
}

// nodeUpdate plans the settings Tether manages on a node (profile, password
// strengths) and warns about a version mismatch, which it never changes.
func (d *differ) nodeUpdate(name string, n, o *schema.Node) {
	if n.Version != 0 && o.Version != 0 && n.Version != o.Version {
		d.warnf("node %s: runs cPanel & WHM %d, the fleet says %d; Tether never changes a version: upgrade the server or correct the fleet", name, o.Version, n.Version)
	}
	var fields []string
	var why []string
	flags := plan.Flags{}
	// What a provider could not read is empty on the observed side: not compared
	// (it would be planned again on every run), but said.
	if n.Profile != "" && o.Profile == "" {
		d.warnf("node %s: its profile could not be read; the fleet's %s is not checked", name, n.Profile)
	}
	if len(n.PasswordStrength) > 0 && o.PasswordStrength == nil {
		d.warnf("node %s: its password strengths could not be read; the fleet's are not checked", name)
	}
	if n.Profile != "" && o.Profile != "" && n.Profile != o.Profile {
		fields = append(fields, "profile")
		why = append(why, fmt.Sprintf("profile %s, the fleet says %s", orNone(o.Profile), n.Profile))
		// Activating a profile enables and disables services on the server.
		flags.Disruptive = true
	}
	var kinds []string
	for _, kind := range schema.Names(n.PasswordStrength) {
		v := n.PasswordStrength[kind]
		if !governs(n, kind) {
			d.warnf("node %s: passwordStrength.%s is governed by its parent %s, not by the child; not planned (TETHER-L16)", name, kind, n.Parent)
			continue
		}
		if have, ok := o.PasswordStrength[kind]; o.PasswordStrength != nil && (!ok || have != v) {
			kinds = append(kinds, kind)
		}
	}
	if len(kinds) > 0 {
		fields = append(fields, "passwordStrength")
		why = append(why, "minimum password strength differs for "+listNames(kinds, 9))
	}
	if on, off := d.optionalRoles(name, n, o); len(on)+len(off) > 0 {
		fields = append(fields, "optionalRoles")
		if len(on) > 0 {
			why = append(why, "turn on optional role "+listNames(on, 5))
		}
		if len(off) > 0 {
			why = append(why, "turn off optional role "+listNames(off, 5))
		}
		// Switching a role restarts the services it touches (Change.pm).
		flags.Disruptive = true
	} else if slices.Contains(fields, "profile") {
		if kept := keptRoles(n, o); len(kept) > 0 {
			why = append(why, "optional roles kept on as the server has them: "+listNames(kept, 5))
		}
	}
	if len(fields) == 0 {
		return
	}
	before, after := cloneNode(o), cloneNode(n)
	// The plan carries only the kinds this node governs, so a provider that sets
	// what After says cannot set a kind on the wrong node.
	for kind := range after.PasswordStrength {
		if !governs(n, kind) {
			delete(after.PasswordStrength, kind)
		}
	}
	d.add(&plan.Change{
		Address: plan.NodeAddress(name),
		Action:  plan.Update,
		Flags:   flags,
		Before:  before,
		After:   after,
		Fields:  fields,
		Reason:  joinReasons(name+": ", why),
		Target:  name,
		Parent:  nodeParent(name, n),
	})
}

// optionalRoles compares the optional roles the fleet names with the server's. A role
// the fleet does not name is never compared: the provider keeps its state (WHM's
// start_profile_activation turns off every optional role it is not told to keep on).
// When the profile changes, the roles are compared with what the new profile will
// have: the declared ones, each as declared.
func (d *differ) optionalRoles(name string, n, o *schema.Node) (on, off []string) {
	if len(n.OptionalRoles) == 0 {
		return nil, nil
	}
	if o.OptionalRoles == nil {
		if o.Profile != "" {
			d.warnf("node %s: its optional roles could not be read; the fleet's are not checked", name)
		}
		return nil, nil
	}
	profile := n.Profile
	if profile == "" {
		profile = o.Profile
	}
	for _, r := range schema.Names(n.OptionalRoles) {
		if !slices.Contains(schema.OptionalRolesOf[profile], r) {
			continue // TETHER-SCHEMA reports it when the profile is declared
		}
		want := n.OptionalRoles[r]
		have, known := roleOn(o, r)
		if profile != o.Profile {
			// The activation of the new profile sets every optional role: a declared
			// one as declared. Only differences with the server are news.
			known = true
		}
		if known && have != want {
			if want {
				on = append(on, r)
			} else {
				off = append(off, r)
			}
		}
	}
	return on, off
}

// keptRoles lists the optional roles of the new profile that are on on the server now
// and that the fleet does not name: a profile activation keeps them on.
func keptRoles(n, o *schema.Node) []string {
	var out []string
	for _, r := range schema.OptionalRolesOf[n.Profile] {
		if _, declared := n.OptionalRoles[r]; declared {
			continue
		}
		if on, _ := roleOn(o, r); on {
			out = append(out, r)
		}
	}
	return out
}

// roleOn says whether a role is on on an observed node, and whether that is known:
// STANDARD enables every role (Profile.pm: its enabled_roles are all_roles); another
// profile's optional roles are read one by one.
func roleOn(o *schema.Node, r string) (on, known bool) {
	if o.Profile == schema.ProfileStandard {
		return true, true
	}
	on, known = o.OptionalRoles[r]
	return on, known
}

// diffUnlinks plans unlinking children that left the fleet, after every account that
// used them has moved, and only when pruning allows it.
func (d *differ) diffUnlinks() {
	for _, name := range schema.Names(d.o.Nodes) {
		o := d.o.Nodes[name]
		if o == nil || o.Role != schema.RoleChild || o.Parent == "" {
			continue
		}
		if n := d.d.Nodes[name]; n != nil && n.Role == schema.RoleChild {
			continue // declared: kept, or reported as linked elsewhere by diffNodes
		}
		addr := plan.NodeAddress(name)
		if d.isFailed(name, addr, o.Parent) {
			continue
		}
		reason := d.leftFleet(addr, o.Parent, "linked to "+o.Parent, false)
		if reason == "" {
			continue
		}
		var deps, staying []string
		for _, user := range d.usersOf(name) {
			moved := false
			for _, id := range userMoves(user) {
				if _, ok := d.byID[id]; ok {
					deps = append(deps, id)
					moved = true
				}
			}
			if !moved {
				staying = append(staying, user)
			}
		}
		if len(staying) > 0 {
			d.warnf("node %s: not unlinked from %s: still used by %s, which this plan does not move (a linkage in use cannot be removed)", name, o.Parent, listNames(staying, 5))
			d.addUnmanaged(addr, o.Parent, "linked to "+o.Parent+", not in the fleet; kept because accounts still use it")
			continue
		}
		if len(deps) > 0 {
			reason += "; after every account has left it"
		}
		d.add(&plan.Change{
			Address: addr,
			Action:  plan.Unlink,
			Flags:   plan.Flags{Destructive: true},
			Before:  cloneNode(o),
			Reason:  reason,
			Target:  o.Parent,
			Parent:  o.Parent,
		}, deps...)
	}
}

// usersOf lists the observed accounts and resellers (as addresses) whose mail is on
// child, sorted. The index is built once, on first use.
func (d *differ) usersOf(child string) []string {
	if d.mailUsers == nil {
		d.mailUsers = map[string][]string{}
		for user, a := range d.o.Accounts {
			if a != nil && a.MailNode() != "" {
				d.mailUsers[a.MailNode()] = append(d.mailUsers[a.MailNode()], plan.AccountAddress(user))
			}
		}
		for user, r := range d.o.Resellers {
			if r != nil && r.MailNode() != "" {
				d.mailUsers[r.MailNode()] = append(d.mailUsers[r.MailNode()], plan.ResellerAddress(user))
			}
		}
		for _, users := range d.mailUsers {
			sort.Strings(users)
		}
	}
	return d.mailUsers[child]
}

// userMoves are the changes that take an account's mail off its child.
func userMoves(address string) []string {
	return []string{
		plan.ChangeID(address, plan.Dedistribute),
		plan.ChangeID(address, plan.Distribute),
		plan.ChangeID(address, plan.Delete),
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func joinReasons(prefix string, why []string) string {
	out := prefix
	for i, w := range why {
		if i > 0 {
			out += "; "
		}
		out += w
	}
	return out
}

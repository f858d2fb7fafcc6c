package reconciler

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// acct is one account or reseller being compared: the fleet's view and the
// servers', with how to turn an account value into the plan value of its kind.
type acct struct {
	user, addr string
	d, o       *schema.Account
	// value makes the plan value (a *schema.Account or *schema.Reseller) from the
	// account part, taking the reseller part from the fleet or the server.
	value    func(a *schema.Account, observed bool) any
	reseller bool
	// extra are reseller-only differences (privileges, acls, limits).
	extraFields, extraWhy []string
}

// accountScan is what the first walk of the fleet's accounts finds in its part.
type accountScan struct {
	// matched counts the observed accounts the walk meets.
	matched int
	// signed: some account is signed (dnssec). autossl counts the accounts that
	// declare AutoSSL DCV methods (noteFilesOnly).
	signed  bool
	autossl int
	// differing are the accounts the quick comparison could not pass over.
	differing []userAccount
}

// diffAccounts walks the accounts in map order: with 100k accounts, sorting the
// names would be a third of the work, and nothing here depends on the order (the
// plan's changes, errors and unmanaged list are sorted at the end). The first walk
// only reads, and with a large fleet runs on all cores (walkAccounts); the accounts
// it finds differing, few in a large fleet, are planned on this goroutine, one after
// the other, as before: no account's change depends on another account's.
func (d *differ) diffAccounts() {
	// matched counts the observed accounts this first walk meets: when it meets them
	// all, none is left for the second walk (of the servers' accounts the fleet does
	// not declare), which then needs no look-up of each in the fleet.
	matched := 0
	var differing []userAccount
	for _, p := range walkAccounts(d.d.Accounts, d.workers, d.scanAccount) {
		matched += p.matched
		d.signedDesired = d.signedDesired || p.signed
		d.autosslDeclared += p.autossl
		differing = append(differing, p.differing...)
	}
	for _, x := range differing {
		user, a := x.user, x.a
		o := d.o.Accounts[user]
		addr := plan.AccountAddress(user)
		if d.isFailed(addr, a.Parent, a.MailNode(), o.MailNode()) || !d.knownParent("account", user, a.Parent) {
			continue
		}
		if o == nil {
			if r := d.o.Resellers[user]; r != nil {
				d.errorf("account %s: is a reseller on %s but declared under accounts: declare it under resellers, or take its reseller privileges away in WHM", user, r.Parent)
				continue
			}
		}
		d.planAccount(&acct{user: user, addr: addr, d: a, o: o, value: accountValue})
	}
	if matched == len(d.o.Accounts) {
		return
	}
	for user, o := range d.o.Accounts {
		if o == nil || user == "" || d.d.Accounts[user] != nil || d.d.Resellers[user] != nil {
			continue
		}
		addr := plan.AccountAddress(user)
		if d.isFailed(addr, o.Parent, o.MailNode()) {
			continue
		}
		d.planRemoval(addr, o, o.Protect, cloneAccount(o))
	}
}

// scanAccount is the first walk's look at one account of the fleet. It only reads
// the differ, so several goroutines may run it at once, each with its own part.
func (d *differ) scanAccount(p *accountScan, user string, a *schema.Account) {
	if a == nil {
		return
	}
	p.signed = p.signed || a.DNSSEC
	if a.AutoSSL != nil && len(a.AutoSSL.DCV) > 0 {
		p.autossl++
	}
	if user == "" {
		return
	}
	o := d.o.Accounts[user]
	if o != nil {
		p.matched++
	}
	// The common case in a large fleet: nothing differs. Decided without
	// allocating, so a diff of 100k accounts costs little more than the lookups.
	if o != nil && len(d.failed) == 0 && o.Parent == a.Parent && o.MailNode() == a.MailNode() && accountFields(a, o) == nil && (!a.IPv6 || o.IPv6) {
		return
	}
	p.differing = append(p.differing, userAccount{user, a})
}

func accountValue(a *schema.Account, _ bool) any { return cloneAccount(a) }

// knownParent refuses to plan an account whose parent is not a parent of the fleet
// (validation reports it as TETHER-R01; a fleet that skipped validation must still
// not produce changes with nowhere to run).
func (d *differ) knownParent(kind, user, parent string) bool {
	if n := d.d.Nodes[parent]; n != nil && n.Role == schema.RoleParent {
		return true
	}
	d.errorf("%s %s: its parent %q is not a parent node of the fleet; nothing is planned for it", kind, user, parent)
	return false
}

func (d *differ) diffResellers() {
	for _, user := range schema.Names(d.d.Resellers) {
		r := d.d.Resellers[user]
		if r == nil {
			continue
		}
		addr := plan.ResellerAddress(user)
		or := d.o.Resellers[user]
		x := &acct{user: user, addr: addr, d: &r.Account, reseller: true}
		x.value = func(a *schema.Account, observed bool) any {
			base := r
			if observed {
				// Without reseller privileges the server has no reseller part at all.
				base = &schema.Reseller{}
				if or != nil {
					base = or
				}
			}
			c := cloneReseller(base)
			c.Account = *cloneAccount(a)
			return c
		}
		switch {
		case or != nil:
			x.o = &or.Account
			x.extraFields, x.extraWhy = resellerFields(r, or, d.can(CapObserveResellerACLs))
		case d.o.Accounts[user] != nil:
			// The account exists without reseller privileges: set them up in place.
			x.o = d.o.Accounts[user]
			x.extraFields = []string{"privileges"}
			x.extraWhy = []string{"has no reseller privileges yet"}
			if r.ACLs != nil {
				x.extraFields = append(x.extraFields, "acls")
			}
			if r.Limits != nil && r.Limits.Accounts != nil {
				x.extraFields = append(x.extraFields, "limits")
			}
		}
		if d.isFailed(addr, r.Parent, r.MailNode(), x.o.MailNode()) || !d.knownParent("reseller", user, r.Parent) {
			continue
		}
		d.planAccount(x)
	}
}

// resellerFields compares what setacls and setresellerlimits manage. Nil in the
// fleet means not managed. ACLs are compared only when the fleet provider declares it
// reads them back (readsACLs, CapObserveResellerACLs): otherwise they are set when the
// reseller is created and never compared, or the same update would be planned on
// every run.
func resellerFields(r, o *schema.Reseller, readsACLs bool) (fields, why []string) {
	if readsACLs && r.ACLs != nil && !sameSet(r.ACLs, o.ACLs) {
		fields = append(fields, "acls")
		why = append(why, "ACLs differ")
	}
	if r.Limits != nil && r.Limits.Accounts != nil {
		if o.Limits == nil || o.Limits.Accounts == nil || *o.Limits.Accounts != *r.Limits.Accounts {
			fields = append(fields, "limits")
			why = append(why, fmt.Sprintf("account limit should be %d", *r.Limits.Accounts))
		}
	}
	return fields, why
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(x, y)
}

// accountFields compares the fields a provider manages on an account (docs/changes.md).
// An empty string in the fleet leaves the field unmanaged; features compare only the
// keys the fleet declares. It allocates nothing when the two agree, which is the
// common case in a large fleet.
func accountFields(a, o *schema.Account) (fields []string) {
	// Equal strings are compared first: EqualFold walks them rune by rune.
	if a.Domain != "" && a.Domain != o.Domain && !strings.EqualFold(a.Domain, o.Domain) {
		fields = append(fields, "domain")
	}
	if a.Plan != "" && a.Plan != o.Plan {
		fields = append(fields, "plan")
	}
	if a.ContactEmail != "" && a.ContactEmail != o.ContactEmail && !strings.EqualFold(a.ContactEmail, o.ContactEmail) {
		fields = append(fields, "contactEmail")
	}
	if a.OwnerName() != o.OwnerName() {
		fields = append(fields, "owner")
	}
	if a.Suspended != o.Suspended {
		fields = append(fields, "suspended")
	}
	for k, v := range a.Features {
		if have, ok := o.Features[k]; !ok || have != v {
			fields = append(fields, "features")
			break
		}
	}
	// IPv6 off is reconciled (ipv6_disable_account); on is not (planAccount names
	// it). Compared only when the fleet writes ipv6: an account that does not say
	// leaves it unmanaged, as an empty plan or contact does.
	if !a.IPv6 && o.IPv6 && declares(a, "ipv6") {
		fields = append(fields, "ipv6")
	}
	// On only from a range the fleet names (ipv6Range): WHM needs one, and which of
	// a server's ranges (or its shared address) is the operator's choice.
	if a.IPv6 && !o.IPv6 && a.IPv6Range != "" {
		fields = append(fields, "ipv6")
	}
	// Forwarders are compared as a set, and only when the fleet manages them
	// (forwarders: written, an empty list included).
	// With none on either side they are the same whether the fleet manages them or
	// not, and ManagesForwarders' look-up in the account's source (a cache miss on
	// most accounts of a large fleet) is not needed.
	if (len(a.Forwarders) > 0 || len(o.Forwarders) > 0) && a.ManagesForwarders() && !sameForwarders(a, o) {
		fields = append(fields, "forwarders")
	}
	return fields
}

// sameForwarders is schema.SameForwarders(a.LocalForwarders(), o.Forwarders),
// first trying the common case of a large fleet: the servers list exactly what the
// fleet writes, in its order, with nothing LocalForwarders would rewrite (a From
// without '@' cannot end in "@domain", and no To is ":fail:"). Both lists equal
// element by element are the same set by SameForwarders' comparison too.
func sameForwarders(a, o *schema.Account) bool {
	if len(a.Forwarders) == len(o.Forwarders) {
		plain := true
		for i, f := range a.Forwarders {
			if f != o.Forwarders[i] || strings.IndexByte(f.From, '@') >= 0 || strings.TrimSpace(f.To) == ":fail:" {
				plain = false
				break
			}
		}
		if plain {
			return true
		}
	}
	return schema.SameForwarders(a.LocalForwarders(), o.Forwarders)
}

// forwardersWhy says which forwarders an update adds and removes.
func forwardersWhy(a, o *schema.Account) string {
	add, remove := schema.ForwarderChanges(a.LocalForwarders(), o.Forwarders)
	var parts []string
	for _, f := range add {
		parts = append(parts, fmt.Sprintf("add forwarder %s → %s", f.From, f.To))
	}
	for _, f := range remove {
		parts = append(parts, fmt.Sprintf("remove forwarder %s → %s", f.From, f.To))
	}
	return strings.Join(parts, ", ")
}

// declares reports whether the fleet's files wrote the field for the account.
func declares(a *schema.Account, field string) bool {
	return a.Src.Has(field)
}

func (d *differ) planAccount(x *acct) {
	a, o := x.d, x.o
	kind := "account"
	if x.reseller {
		kind = "reseller"
	}
	mail := a.MailNode()
	if o == nil {
		reason := "declared in the fleet, not found on " + a.Parent
		if mail != "" {
			reason += "; created with its mail on " + mail
		}
		c := d.add(&plan.Change{
			Address: x.addr,
			Action:  plan.Create,
			After:   x.value(a, false),
			Reason:  reason,
			Target:  a.Parent,
			Parent:  a.Parent,
		}, d.accountDeps(a, mail)...)
		if x.reseller && mail != "" {
			c.Warnings = append(c.Warnings, d.resellerDistributionWarnings(x.user, mail, a.Parent, false)...)
		}
		return
	}
	if o.Parent != a.Parent {
		d.errorf("%s %s: is on %s, the fleet says %s: Tether does not move accounts between parents (transfer it with WHM's Transfer Tool, then plan again)", kind, x.user, o.Parent, a.Parent)
		return
	}

	if a.IPv6 && !o.IPv6 && a.IPv6Range == "" {
		// ipv6_enable_account needs one of the server's IPv6 ranges, which the fleet
		// does not name: said, never planned as if it could be done.
		d.warnf("%s %s: ipv6 is off on %s and the fleet says on; Tether does not turn IPv6 on without a range (WHM's ipv6_enable_account needs one): write ipv6Range: NAME (a range of WHM's IPv6 Ranges, or SHARED for the server's shared address), enable it in WHM, or write ipv6: false", kind, x.user, a.Parent)
	}
	fields := append(accountFields(a, o), x.extraFields...)
	if lost := d.d.Nodes[o.MailNode()]; lost != nil && lost.Lost && slices.Contains(fields, "forwarders") {
		// The forwarders are on the lost child, which nothing reads: they are compared
		// once the mail is back on the parent (the next plan).
		fields = slices.DeleteFunc(fields, func(f string) bool { return f == "forwarders" })
		d.warnf("%s %s: its forwarders are on %s, which is marked lost; they are planned after its mail is forced back to %s", kind, x.user, o.MailNode(), a.Parent)
	}
	var update *plan.Change
	if len(fields) > 0 {
		why := x.extraWhy
		if slices.Contains(fields, "forwarders") {
			why = append(slices.Clone(why), forwardersWhy(a, o))
		}
		if a.IPv6 && !o.IPv6 && slices.Contains(fields, "ipv6") {
			why = append(slices.Clone(why), "IPv6 turned on from range "+a.IPv6Range)
		}
		verb := "differs"
		if len(fields) > 1 {
			verb = "differ"
		}
		reason := fmt.Sprintf("%s %s on %s", strings.Join(fields, ", "), verb, a.Parent)
		if len(why) > 0 {
			reason += " (" + strings.Join(why, "; ") + ")"
		}
		update = d.add(&plan.Change{
			Address: x.addr,
			Action:  plan.Update,
			Before:  x.value(o, true),
			After:   x.value(a, false),
			Fields:  fields,
			Reason:  reason,
			Target:  a.Parent,
			Parent:  a.Parent,
		}, d.ownerDeps(a)...)
	}

	was := o.MailNode()
	if was == mail {
		return
	}
	// Forwarders live with the mail: written before it moves, they move with it
	// (the conversion's archive carries them); written during the move, they could
	// land on the side the mail is leaving.
	var mailDeps []string
	if update != nil && slices.Contains(update.Fields, "forwarders") {
		mailDeps = []string{update.ID}
	}
	if lost := d.d.Nodes[was]; was != "" && lost != nil && lost.Lost {
		mid := cloneAccount(a)
		mid.Mail = nil
		c := d.add(&plan.Change{
			Address: x.addr,
			Action:  plan.Dedistribute,
			Flags:   plan.Flags{Disruptive: true, DataLoss: true},
			Before:  x.value(o, true),
			After:   x.value(mid, false),
			Fields:  []string{"mail.node"},
			Reason: fmt.Sprintf("%s is marked lost: %s's mail is forced back to %s and the mail held on %s is lost",
				was, x.user, a.Parent, was),
			Target: a.Parent,
			Parent: a.Parent,
		}, mailDeps...)
		if x.reseller {
			c.Warnings = append(c.Warnings, d.resellerDistributionWarnings(x.user, "", a.Parent, true)...)
		}
		if mail == "" {
			return
		}
		// Mail then goes to the child the fleet names, from the parent.
		c2 := d.add(&plan.Change{
			Address: x.addr,
			Action:  plan.Distribute,
			Before:  x.value(mid, false),
			After:   x.value(a, false),
			Fields:  []string{"mail.node"},
			Reason:  fmt.Sprintf("mail moves from %s to %s after the forced dedistribution; what is left on %s is copied first", a.Parent, mail, a.Parent),
			Target:  a.Parent,
			Parent:  a.Parent,
		}, append(d.accountDeps(a, mail), c.ID)...)
		if x.reseller {
			c2.Warnings = append(c2.Warnings, d.resellerDistributionWarnings(x.user, mail, a.Parent, true)...)
		}
		return
	}

	c := &plan.Change{
		Address: x.addr,
		Before:  x.value(o, true),
		After:   x.value(a, false),
		Fields:  []string{"mail.node"},
		Target:  a.Parent,
		Parent:  a.Parent,
	}
	switch {
	case mail == "":
		c.Action = plan.Dedistribute
		c.Flags.Disruptive = true
		c.Reason = fmt.Sprintf("mail moves from %s back to %s; the data stays on %s and open IMAP/POP3 sessions end", was, a.Parent, was)
	case was == "":
		c.Action = plan.Distribute
		c.Reason = fmt.Sprintf("mail moves from %s to %s: existing mail is copied to %s, then removed from %s", a.Parent, mail, mail, a.Parent)
	default:
		c.Action = plan.Distribute
		c.Flags.Disruptive = true
		// Cpanel/LinkedNode/Convert/CrossDistributed/Mail.pm: the new child downloads
		// the mail; cleanup ends the old child's mailbox connections and turns its
		// account into an ordinary one, its mail left in place.
		c.Reason = fmt.Sprintf("mail moves from %s to %s: existing mail is copied to %s first; %s keeps its copy, and open IMAP/POP3 sessions on %s end", was, mail, mail, was, was)
	}
	c = d.add(c, append(d.accountDeps(a, mail), mailDeps...)...)
	if x.reseller {
		c.Warnings = append(c.Warnings, d.resellerDistributionWarnings(x.user, mail, a.Parent, true)...)
	}
}

// accountDeps are the changes an account's change waits for: its mail child linked
// (and set up), its owner made a reseller.
func (d *differ) accountDeps(a *schema.Account, mail string) []string {
	deps := d.ownerDeps(a)
	if mail != "" {
		n := plan.NodeAddress(mail)
		deps = append(deps, plan.ChangeID(n, plan.Link), plan.ChangeID(n, plan.Update))
	}
	return deps
}

func (d *differ) ownerDeps(a *schema.Account) []string {
	if a.OwnerName() == "root" {
		return nil
	}
	r := plan.ResellerAddress(a.OwnerName())
	return []string{plan.ChangeID(r, plan.Create), plan.ChangeID(r, plan.Update)}
}

// resellerDistributionWarnings say what the linked nodes guide says about a
// distributed reseller, in the terms of this change.
func (d *differ) resellerDistributionWarnings(user, mail, parent string, changed bool) []string {
	var w []string
	if mail != "" {
		w = append(w,
			fmt.Sprintf("accounts %s creates from now on take its distribution at creation (mail on %s)", user, mail),
			fmt.Sprintf("%s has no reseller privileges on %s: a distributed reseller cannot log in to WHM on the child", user, mail))
	} else {
		w = append(w, fmt.Sprintf("accounts %s creates from now on keep their mail on %s", user, parent))
	}
	if changed {
		msg := fmt.Sprintf("changing %s's distribution does not move the accounts it already owns", user)
		if owned := d.ownedBy(user); len(owned) > 0 {
			msg += " (" + listNames(owned, 5) + "); each one's own change, if any, is listed separately"
		}
		w = append(w, msg)
	}
	return w
}

// ownedBy lists the observed accounts a reseller owns, sorted.
func (d *differ) ownedBy(reseller string) []string {
	if d.owned == nil {
		d.owned = map[string][]string{}
		for user, a := range d.o.Accounts {
			if a != nil && a.OwnerName() != "root" {
				d.owned[a.OwnerName()] = append(d.owned[a.OwnerName()], user)
			}
		}
		for _, users := range d.owned {
			sort.Strings(users)
		}
	}
	return d.owned[reseller]
}

// planRemoval removes an account or reseller that left the fleet, if pruning allows.
func (d *differ) planRemoval(addr string, o *schema.Account, protect bool, before any) *plan.Change {
	// Observe always names the server an account was read on; one without a server
	// has nowhere a removal could run, so it is never planned (FuzzDiff found it).
	if o.Parent == "" {
		return nil
	}
	reason := d.leftFleet(addr, o.Parent, "on "+o.Parent, protect)
	if reason == "" {
		return nil
	}
	if m := o.MailNode(); m != "" {
		reason += "; its mail on " + m + " goes with it"
	}
	return d.add(&plan.Change{
		Address: addr,
		Action:  plan.Delete,
		Flags:   plan.Flags{Destructive: true},
		Before:  before,
		Reason:  reason,
		Target:  o.Parent,
		Parent:  o.Parent,
	})
}

// diffResellerDeletes runs after the accounts, so a reseller is removed only after
// the accounts it owns that are removed too.
func (d *differ) diffResellerDeletes() {
	for _, user := range schema.Names(d.o.Resellers) {
		o := d.o.Resellers[user]
		if o == nil || d.d.Resellers[user] != nil || d.d.Accounts[user] != nil {
			continue
		}
		addr := plan.ResellerAddress(user)
		if d.isFailed(addr, o.Parent, o.MailNode()) {
			continue
		}
		c := d.planRemoval(addr, &o.Account, o.Protect, cloneReseller(o))
		if c == nil {
			continue
		}
		var staying []string
		for _, owned := range d.ownedBy(user) {
			oa := plan.AccountAddress(owned)
			if a := d.d.Accounts[owned]; a != nil && a.OwnerName() != user {
				// The fleet gives it another owner: that update comes first.
				d.dependOn(c, plan.ChangeID(oa, plan.Update))
				continue
			}
			if d.has(oa, plan.Delete) {
				d.dependOn(c, plan.ChangeID(oa, plan.Delete))
			} else {
				staying = append(staying, owned)
			}
		}
		if len(staying) > 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("accounts %s owns stay on %s and lose their reseller: %s", user, o.Parent, listNames(staying, 5)))
		}
	}
}

package reconciler

import (
	"fmt"
	"strings"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// liveDebt reports what the servers hold that breaks the documents' account rules,
// whatever the fleet says: the rules (TETHER-L06, L07, L09) check the files before
// any I/O, but an account changed by hand, or one Tether does not manage, can break
// them on the servers. Each is a warning naming the account, the rule and what the
// plan does about it (a planned change that repairs it, or how to repair it).
//
// The accounts are walked in map order and each one's address is made only when
// it is needed: the warnings are sorted when the plan is made, so the order says
// nothing, and sorting 100k names and making 100k addresses for the few accounts
// with something to say was most of this pass.
func (d *differ) liveDebt() {
	// The walk of the servers' accounts only reads the plan made so far, so with a
	// large fleet it runs on all cores, each goroutine keeping its own warnings
	// (sorted with the rest at the end of Diff).
	parts := walkAccounts(d.o.Accounts, d.workers, func(w *[]string, user string, o *schema.Account) {
		// An unsigned account with its mail on its parent has nothing to say unless the
		// fleet signs it, and diffAccounts saw whether the fleet signs any: most of a
		// large fleet's accounts are passed over without looking them up in the fleet.
		if o == nil || !o.DNSSEC && o.MailNode() == "" && !d.signedDesired {
			return
		}
		d.accountDebt(w, "account", user, plan.AccountAddress, o, d.d.Accounts[user])
	})
	for _, w := range parts {
		d.warnings = append(d.warnings, *w...)
	}
	for user, o := range d.o.Resellers {
		r := d.d.Resellers[user]
		if o == nil {
			continue
		}
		var a *schema.Account
		if r != nil {
			a = &r.Account
		}
		d.accountDebt(&d.warnings, "reseller", user, plan.ResellerAddress, &o.Account, a)
	}
}

// accountDebt adds its warnings to warnings, not d's own, and only reads d: the
// accounts' walk calls it from several goroutines at once.
func (d *differ) accountDebt(warnings *[]string, kind, user string, address func(string) string, o, a *schema.Account) {
	if o == nil {
		return
	}
	mail := o.MailNode()
	// Nothing below says anything of an account that is not signed, agrees with the
	// fleet on dnssec, and keeps its mail on its parent.
	if !o.DNSSEC && (a == nil || a.DNSSEC == o.DNSSEC) && mail == "" {
		return
	}
	// The address only for a scope check (when something failed) or a warning.
	var addr string
	if len(d.failed) > 0 {
		addr = address(user)
		if d.isFailed(addr, o.Parent, mail) {
			return
		}
	}
	// TETHER-D03 on the servers: a signed zone on a parent whose DNS cluster is on.
	// (The cheap field first: the look-ups cost a cache miss or two on each of a
	// large fleet's accounts, nearly none of them signed.)
	if o.DNSSEC && d.o.DNSClusters[o.Parent] != nil && d.o.DNSClusters[o.Parent].Enabled {
		warnf(warnings, "%s %s on %s: breaks %s on the servers: its zone is signed with DNSSEC and %s's DNS cluster is on; turn DNSSEC off for it in WHM, or the cluster off", kind, user, o.Parent, schema.RuleD03, o.Parent)
	}
	// dnssec is checked, not changed: a difference with what the fleet writes is said.
	if a != nil && a.DNSSEC != o.DNSSEC && declares(a, "dnssec") {
		warnf(warnings, "%s %s: dnssec is %s on %s and the fleet says %s; Tether checks DNSSEC but does not change it: change it in WHM (DNSSEC needs PowerDNS), or write dnssec: %t", kind, user, onOff(o.DNSSEC), o.Parent, onOff(a.DNSSEC), o.DNSSEC)
	}
	if mail == "" {
		return
	}
	// A change of this account that repairs the field, if one is planned.
	repairs := func(field string) bool {
		if addr == "" {
			addr = address(user)
		}
		c := d.byID[plan.ChangeID(addr, plan.Update)]
		if c != nil {
			for _, f := range c.Fields {
				if f == field {
					return true
				}
			}
		}
		// Taking the mail back to the parent repairs every distributed-account rule.
		return a != nil && a.MailNode() == "" && d.byID[plan.ChangeID(addr, plan.Dedistribute)] != nil
	}
	say := func(rule, what string, repaired bool, fix string) {
		if repaired {
			warnf(warnings, "%s %s on %s: breaks %s on the servers: %s; the planned change repairs it", kind, user, o.Parent, rule, what)
			return
		}
		warnf(warnings, "%s %s on %s: breaks %s on the servers: %s; %s", kind, user, o.Parent, rule, what, fix)
	}
	if o.IPv6 {
		say(schema.RuleL06, fmt.Sprintf("IPv6 is on while its mail is on %s", mail), repairs("ipv6"),
			"write ipv6: false for it in the fleet (Tether turns it off), or turn it off in WHM")
	}
	if on, read := o.Features["apitokens"]; read && !on {
		say(schema.RuleL07, fmt.Sprintf("the apitokens feature is off while its mail is on %s", mail), repairs("features") && a.Features["apitokens"],
			"write features: {apitokens: true} for it in the fleet, or turn the feature on in WHM")
	}
	var pipes []string
	for _, f := range o.Forwarders {
		if f.IsPipe() {
			pipes = append(pipes, fmt.Sprintf("%s → %s", f.From, strings.TrimSpace(f.To)))
		}
	}
	if len(pipes) > 0 {
		say(schema.RuleL09, fmt.Sprintf("forwarder(s) %s pipe to a program while its mail is on %s", strings.Join(pipes, ", "), mail), repairs("forwarders"),
			"write the account's forwarders in the fleet without them (Tether removes them), or remove them in cPanel")
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

package schema

import (
	"fmt"
	"regexp"
	"strings"
)

// What a forwarder may hold (TETHER-A03), from cPanel's own checks as Email::add_forwarder
// makes them (11.120 Cpanel/Email.pm addforward; Cpanel/Validate/EmailLocalPart.pm and
// EmailRFC.pm) and the UAPI reference "Create email account forwarder" (11.138):
//
//   - from, the address that forwards, is a local part cPanel accepts (RFC 5322's
//     characters without the separators + : % @, without / (a folder is named after
//     it) and without & ' * | ` (passed to a shell); dots only between characters),
//     or that local part @ the account's main domain. Tether reads forwarders back
//     with Email::list_forwarders for the main domain only (providers/whm
//     observeForwarders), so an address of any other domain, even one the account
//     holds as an addon, would be planned as an addition on every plan: cPanel
//     puts it on the other domain, or (for a domain the account does not hold) on
//     the domain parameter under the local part, neither of which reads back as
//     written.
//   - to is one destination: an address (EmailRFC: RFC 5322 local part, a domain of
//     letters, digits and hyphens), "|program" (fwdopt pipe), ":blackhole:",
//     ":fail:" with an optional message (fwdopt fail), or a system user (fwdopt
//     system). A comma-separated list is refused: cPanel keeps one line per
//     destination and lists them as separate forwarders, so the list itself never
//     reads back.
//
// fleet.cue states the same patterns (#ForwarderLocal, #ForwarderTo); a test keeps them
// equal.
const (
	forwarderLocalPattern  = `^[a-zA-Z0-9!#$=?^_{}~-]+(\.[a-zA-Z0-9!#$=?^_{}~-]+)*$`
	forwarderAddrPattern   = `^[a-zA-Z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+(\.[a-zA-Z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+)*@[0-9a-zA-Z]([0-9a-zA-Z-]*[0-9a-zA-Z])?(\.[0-9a-zA-Z]([0-9a-zA-Z-]*[0-9a-zA-Z])?)*$`
	forwarderSystemPattern = `^[a-z_][a-z0-9_.-]{0,31}$`
	forwarderPipePattern   = `^\|\s*\S`
)

var (
	forwarderLocalRE  = regexp.MustCompile(forwarderLocalPattern)
	forwarderAddrRE   = regexp.MustCompile(forwarderAddrPattern)
	forwarderSystemRE = regexp.MustCompile(forwarderSystemPattern)
	forwarderPipeRE   = regexp.MustCompile(forwarderPipePattern)
)

// Fixes of TETHER-A03, shared by the Go checks and the CUE loader.
const (
	fixForwarderFrom   = "write the local part alone (sales), or it @ the account's main domain; letters, digits and ! # $ - = ? ^ _ { } ~, dots between them"
	fixForwarderDomain = "write the local part alone: Tether manages the forwarders of the account's main domain"
	fixForwarderTo     = "one destination per forwarder: an address, |program, :blackhole:, :fail: message or a system user; write one forwarder per address"
)

// forwarderFromProblem says what is wrong with a forwarder's from on an account of
// domain, or "" when cPanel accepts it and Tether reads it back as written.
func forwarderFromProblem(from, domain string) (problem, fix string) {
	from = strings.TrimSpace(from)
	local, dom, hasDomain := strings.Cut(from, "@")
	// Compared lowered, as fleet.cue does (strings.ToLower on both): EqualFold also
	// takes ſ (long s) for s, which the schema refuses.
	if hasDomain && domain != "" && strings.ToLower(dom) != strings.ToLower(domain) {
		return fmt.Sprintf("is an address of %s, not of the account's domain %s", short(dom), short(domain)), fixForwarderDomain
	}
	if !forwarderLocalRE.MatchString(local) {
		return "is not a local part cPanel accepts", fixForwarderFrom
	}
	return "", ""
}

// forwarderToProblem says what is wrong with a forwarder's destination, or "".
func forwarderToProblem(to string) string {
	to = strings.TrimSpace(to)
	switch {
	case to == "":
		return "is empty"
	case strings.HasPrefix(to, "|"):
		if !forwarderPipeRE.MatchString(to) {
			return "pipes to no program"
		}
		return ""
	case to == ":blackhole:" || strings.HasPrefix(to, ":fail:"):
		return ""
	case strings.HasPrefix(to, ":"):
		return "is not :blackhole: or :fail: (cPanel's other : commands are not forwarders it creates)"
	case strings.ContainsAny(to, ",;"):
		return "lists several destinations (cPanel keeps, and lists, one forwarder per destination)"
	case strings.Contains(to, "@"):
		if !forwarderAddrRE.MatchString(to) {
			return "is not a valid email address"
		}
		return ""
	case !forwarderSystemRE.MatchString(to):
		return "is not an address, a program, :blackhole:, :fail: or a system user"
	}
	return ""
}

// forwarders checks each forwarder's from and to (TETHER-A03).
func (c *checker) forwarders(a *Account, obj objName) {
	for i, fw := range a.Forwarders {
		if p, fix := forwarderFromProblem(fw.From, a.Domain); p != "" {
			c.add(a.Src.At(fmt.Sprintf("forwarders[%d].from", i)), RuleA03, fmt.Sprintf("%s: forwarder from %q %s", obj, short(fw.From), p), fix)
		}
		if p := forwarderToProblem(fw.To); p != "" {
			c.add(a.Src.At(fmt.Sprintf("forwarders[%d].to", i)), RuleA03, fmt.Sprintf("%s: forwarder %s: to %q %s", obj, short(fw.From), short(fw.To), p), fixForwarderTo)
		}
	}
}

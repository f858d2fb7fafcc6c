package schema

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// reservedUsers are names refused for an account (TETHER-A01): the system users of a
// RHEL/AlmaLinux cPanel server, cPanel's service users, and mail role names
// (postmaster, abuse, webmaster...). Names starting with "test" or "cpanel" are
// refused too (reservedPrefixes). The list is ours, UNCONFIRMED against cPanel's own,
// so it lives in one place; fleet.cue's #ReservedUserNames must hold the same names
// (schema/cue_names_test.go compares them).
var reservedUsers = map[string]bool{
	"abrt": true, "abuse": true, "adm": true, "admin": true, "administrator": true,
	"all": true, "amanda": true, "anonymous": true, "apache": true, "backup": true,
	"bin": true, "clamav": true, "cpses": true, "daemon": true, "dbus": true,
	"dovecot": true, "dovenull": true, "exim": true, "ftp": true, "games": true,
	"gdm": true, "gopher": true, "haldaemon": true, "halt": true, "ident": true,
	"info": true, "ldap": true, "lp": true, "mail": true, "mailman": true,
	"mailnull": true, "mysql": true, "named": true, "news": true, "nfsnobody": true,
	"nobody": true, "nscd": true, "ntp": true, "nullmail": true, "operator": true,
	"pcap": true, "postfix": true, "postgres": true, "postmaster": true, "root": true,
	"rpc": true, "rpcuser": true, "rpm": true, "shutdown": true, "smmsp": true,
	"sshd": true, "sync": true, "system": true, "tomcat": true, "toor": true, "tss": true,
	"uucp": true, "vcsa": true, "virtfs": true, "webmaster": true, "wheel": true,
	"www": true, "xfs": true,
}

// isReservedUser reports whether a user name is reserved, and why.
func isReservedUser(name string) bool {
	if reservedUsers[name] {
		return true
	}
	for _, prefix := range reservedPrefixes {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// reservedPrefixes: cPanel refuses user names starting with these.
var reservedPrefixes = []string{"test", "cpanel"}

// userNameProblem returns what is wrong with a cPanel user name, or "".
func userNameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > 16:
		return "is longer than 16 characters"
	case name[0] < 'a' || name[0] > 'z':
		return "must start with a lowercase letter"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return "may hold only lowercase letters and digits"
		}
	}
	if isReservedUser(name) {
		for _, prefix := range reservedPrefixes {
			if strings.HasPrefix(name, prefix) {
				return fmt.Sprintf("starts with %q, which cPanel reserves", prefix)
			}
		}
		return "is a name cPanel reserves for the system"
	}
	return ""
}

// domainProblem returns what is wrong with a domain name, or "". It asks for what
// cPanel stores: a fully qualified name in lowercase without the trailing dot, of at
// least two labels of letters, digits and hyphens (IDNs in their xn-- form), each at
// most 63 characters, at most 253 in all, the last starting with a letter (so an IP
// address is not taken for a domain). fleet.cue's #Domain says the same.
func domainProblem(d string) string {
	switch {
	case d == "":
		return "is empty"
	case len(d) > 253:
		return "is longer than 253 characters"
	case strings.HasSuffix(d, "."):
		return "ends with a dot; write it without the trailing dot"
	case strings.ToLower(d) != d:
		return "has capital letters; write it in lowercase"
	}
	labels, last := 0, ""
	for rest := d; ; labels++ {
		l, more, found := strings.Cut(rest, ".")
		switch {
		case l == "":
			return "has an empty label: two dots in a row"
		case len(l) > 63:
			return "has a label longer than 63 characters"
		case l[0] == '-' || l[len(l)-1] == '-':
			return "has a label that starts or ends with a hyphen"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "may hold only letters, digits, hyphens and dots; an international name is written in its xn-- form"
			}
		}
		if !found {
			last = l
			labels++
			break
		}
		rest = more
	}
	if labels < 2 {
		return "has a single label, but a domain has at least two"
	}
	if last[0] < 'a' || last[0] > 'z' {
		return "has a last label that does not start with a letter; an IP address is not a domain"
	}
	return ""
}

// aliasProblem returns what is wrong with a node name used as a WHM link alias
// (link_server_node_with_api_token: [A-Za-z0-9_-], at most 50 characters), or "".
// LinkAliasProblem says what is wrong with name as a node name (a WHM link alias,
// TETHER-L10), or "" when it is valid. Code that makes a file or a path of a node
// name checks it first: a valid name holds no separator and no dot.
func LinkAliasProblem(name string) string { return aliasProblem(name) }

func aliasProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > 50:
		return "is longer than 50 characters"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "may hold only letters, digits, \"_\" and \"-\""
		}
	}
	return ""
}

func isIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && !a.Is4In6()
}

// validHostPort accepts host:port with a port 1..65535.
func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && p >= 1 && p <= 65535
}

// plausibleEmail checks the shape local@domain, one @ and no blanks (as fleet.cue's
// contactEmail pattern); deliverability is not Tether's concern.
func plausibleEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && at < len(s)-1 && strings.Count(s, "@") == 1 && !strings.ContainsAny(s, " \t\r\n")
}

// isEnvName: tokenEnv and secretEnv name an environment variable.
func isEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// normHost compares host and domain names: case-insensitive, trailing dot ignored.
func normHost(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

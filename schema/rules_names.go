package schema

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// reservedUsers are names cPanel refuses for an account (TETHER-A01): the system's own
// users and groups, cPanel's service users, and names that would collide with
// services, databases or mail routing. Names starting with "test" are refused too
// (isReservedUser). The list is ours: the system users of a RHEL/AlmaLinux cPanel
// server, cPanel's service users, and mail/role names; it is UNCONFIRMED against
// cPanel's own reserved list, so it is kept here, in one place, to be corrected in one
// place (README "TETHER-A01").
var reservedUsers = map[string]bool{
	"abrt": true, "adm": true, "admin": true, "all": true, "amanda": true, "apache": true,
	"bin": true, "cpanel": true, "cpaneleximfilter": true, "cpaneleximscanner": true,
	"cpanellogin": true, "cpanelphpmyadmin": true, "cpanelphppgadmin": true,
	"cpanelroundcube": true, "cpses": true, "daemon": true, "dbus": true, "dovecot": true,
	"dovenull": true, "ftp": true, "games": true, "gdm": true, "gopher": true, "halt": true,
	"haldaemon": true, "ident": true, "info": true, "ldap": true, "lp": true, "mail": true,
	"mailman": true, "mailnull": true, "mysql": true, "named": true, "news": true,
	"nfsnobody": true, "nobody": true, "nscd": true, "ntp": true, "nullmail": true,
	"operator": true, "pcap": true, "postfix": true, "postgres": true, "postmaster": true,
	"root": true, "rpc": true, "rpcuser": true, "rpm": true, "shutdown": true, "smmsp": true,
	"sshd": true, "sync": true, "system": true, "toor": true, "tss": true, "uucp": true,
	"vcsa": true, "virtfs": true, "webmaster": true, "wheel": true, "www": true, "xfs": true,
}

// isReservedUser reports whether a user name is reserved, and why.
func isReservedUser(name string) bool {
	return reservedUsers[name] || strings.HasPrefix(name, "test")
}

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
		if strings.HasPrefix(name, "test") {
			return "starts with \"test\", which cPanel reserves"
		}
		return "is a name cPanel reserves for the system"
	}
	return ""
}

// domainProblem returns what is wrong with a domain name, or "". It asks for a fully
// qualified name of at least two labels, letters, digits and hyphens (IDNs in their
// xn-- form), each label at most 63 characters, at most 253 in all, and a top-level
// label that is not a number (so an IP address is not taken for a domain).
func domainProblem(d string) string {
	d = strings.TrimSuffix(d, ".")
	switch {
	case d == "":
		return "is empty"
	case len(d) > 253:
		return "is longer than 253 characters"
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "has a single label; write the full name, e.g. example.com"
	}
	for _, l := range labels {
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
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return "may hold only letters, digits, hyphens and dots; an international name is written in its xn-- form"
			}
		}
	}
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return "ends in a number; an IP address is not a domain"
	}
	return ""
}

// aliasProblem returns what is wrong with a node name used as a WHM link alias
// (link_server_node_with_api_token: [A-Za-z0-9_-], at most 50 characters), or "".
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

// plausibleEmail checks the shape local@domain; deliverability is not Tether's concern.
func plausibleEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n") && domainProblem(s[at+1:]) == ""
}

// normHost compares host and domain names: case-insensitive, trailing dot ignored.
func normHost(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

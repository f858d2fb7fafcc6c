package whm

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// screenFields are the form fields each DNS cluster screen reads in the cPanel &
// WHM 11.120 source, and those it cannot do without (true). A request with a field
// the screen does not read, or without a required one, is a provider bug the sandbox
// might not show.
var screenFields = map[string]map[string]bool{
	// Whostmgr/DNS/Cluster/UI/Clusterstatus.pm
	cgiClusterStatus: {"cluster_user": false, "skip_companyid_check": false},
	// whostmgr/docroot/cgi/adjustclusterdns.cgi
	cgiAdjustCluster: {"clusterdns": true, "cluster_user": false},
	// whostmgr/docroot/cgi/adjustclusteroptions.cgi
	cgiClusterOptions: {"autodisablethreshold_control": false, "autodisablethreshold": false, "cluster_failure_notifications": false, "cluster_user": false},
	// activate_remote_nameservers.cgi, Whostmgr/DNS/Cluster.pm configure_provider,
	// Cpanel/NameServer/Setup/Remote/cPanel.pm setup (recurse: the credential check)
	cgiAddMember: {"module": true, "cluster_user": true, "dnsrole": true, "host": true, "user": true, "pass": true,
		"recurse": true, "synczones": false, "debug": false},
	// changeclusterdns.cgi, Cpanel/DNSLib/PeerConfig.pm change_dns_role
	cgiChangeRole: {"server": true, "dnsrole": true, "cluster_user": false},
	// remclusterserver.cgi
	cgiRemoveMember: {"server": true, "cluster_user": false},
	// enableclusterserver.cgi reads server only; the template's link adds cluster_user.
	cgiEnableMember: {"server": true, "cluster_user": false},
}

var ipv4Address = regexp.MustCompile(`^\d{1,3}(\.\d{1,3}){3}$`)

// checkScreen reports what is wrong with one request to a cluster screen.
func checkScreen(path string, form url.Values) []string {
	fields, ok := screenFields[path]
	if !ok {
		return nil
	}
	var bad []string
	for name := range form {
		if _, known := fields[name]; !known {
			bad = append(bad, fmt.Sprintf("%s: field %q is not read by the screen", path, name))
		}
	}
	for name, required := range fields {
		if required && form.Get(name) == "" {
			bad = append(bad, fmt.Sprintf("%s: required field %q missing or empty", path, name))
		}
	}
	// WHM keeps members under their address: server= is that address.
	if s := form.Get("server"); s != "" && !ipv4Address.MatchString(s) {
		bad = append(bad, fmt.Sprintf("%s: server=%q is not the member's address", path, s))
	}
	if r := form.Get("dnsrole"); r != "" && !isRole(r) {
		bad = append(bad, fmt.Sprintf("%s: dnsrole=%q", path, r))
	}
	sort.Strings(bad)
	return bad
}

// checkedScreens says which screens a run posted to, for a test's coverage check.
func checkedScreens(calls []recordedCall) (bad []string, seen map[string]bool) {
	seen = map[string]bool{}
	for _, c := range calls {
		if strings.HasPrefix(c.fn, "/") {
			seen[c.fn] = true
			bad = append(bad, checkScreen(c.fn, c.params)...)
		}
	}
	return bad, seen
}

package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tether-dev/tether/providers/whm/whmref"
)

// noPage lists the functions the sandbox serves that the reference has no response
// page for; their shapes rest on the 11.120 source named here.
var noPage = map[string]string{
	"listresellers":   "Whostmgr/API/1/Resellers.pm listresellers: {reseller: [user…]}",
	"unsetupreseller": "Whostmgr/API/1/Resellers.pm unsetupreseller: result and reason only, no data",
}

// mayLack lists documented fields the sandbox leaves out, with the reason. A field
// listed here is still checked for type whenever it is present.
var lackOK = map[string]string{
	// metadata.output is written only when a function has output (Whostmgr/API/1/Data/Wrapper.pm).
	"metadata.output": "only when there is output",
	// Fields that depend on what was asked.
	"getminimumpasswordstrengths.data.*":                                  "with name=, only that kind (Whostmgr/API/1/Security.pm)",
	"api_token_create.data.acls":                                          "only when acl was given (Whostmgr/API/1/Tokens.pm)",
	"api_token_create.data.whitelist_ips":                                 "only when whitelist_ip was given (Whostmgr/API/1/Tokens.pm)",
	"listaccts.data.acct.*":                                               "want= keeps only the named fields (reference: want)",
	"listaccts.data.acct.standalone_feature":                              "AI App Builder accounts only (11.138 page; absent from 11.120 Whostmgr/Accounts/List.pm); Tether models none",
	"listaccts.data.acct.standalone_feature_name":                         "as standalone_feature",
	"listzones.data":                                                      "no data when the server has no zones (11.120 Whostmgr/API/1/DNS.pm listzones)",
	"listaccts.data":                                                      "no data when no account matches (11.120 Whostmgr/API/1/Accounts.pm listaccts: return if !$count)",
	"enable_dnssec_for_domains.data.domains.nsec_error":                   "only on a failure",
	"fetch_ds_records_for_domains.data.domains.ds_records.keys":           "an unsigned domain's ds_records is {} (reference; Cpanel/DNSSEC.pm)",
	"fetch_ds_records_for_domains.data.domains.ds_records.nsec_details":   "as keys",
	"fetch_ds_records_for_domains.data.domains.ds_records.nsec_details.*": "with NSEC semantics only nsec_version (reference)",
	"enable_dnssec_for_domains.data.domains.new_key_id":                   "only on success",
	"enable_dnssec_for_domains.data.domains.nsec_version":                 "only on success",
}

// fromSource lists fields the reference does not document that the sandbox writes
// because cPanel's 11.120 source does.
var fromSource = map[string]string{
	"dumpzone.metadata.warnings":                            "Whostmgr/API/1/DNS.pm dumpzone: a warning when the zone's owner is distributed",
	"get_linked_server_node.data.alias":                     "Whostmgr/API/1/Cpanel.pm get_linked_server_node returns the node object with its alias (the page's sample omits it)",
	"list_linked_server_nodes.data.payload.system_settings": "Cpanel/LinkedNode/Privileged/Configuration.pm getters (get_linked_server_node's page documents it)",
	"metadata.output":                                       "Whostmgr/API/1/Data/Wrapper.pm: any function may report output (raw, messages, warnings)",
	"metadata.output.raw":                                   "as metadata.output",
	"metadata.output.messages":                              "as metadata.output",
	"metadata.output.warnings":                              "as metadata.output",
	"metadata.columns":                                      "Whostmgr/API/1/Data/Columns.pm: the API layer reports api.columns.* (reference \"WHM API 1 Output Columns\" documents the arguments, not this)",
	"metadata.columns.invalid_msg":                          "as metadata.columns",
	"metadata.columns.invalid":                              "as metadata.columns: the names the first record lacks",
	"uapi_cpanel Email::list_forwarders.data.uapi.metadata.proxied_from": "Cpanel/LinkedNode/Worker/cPanel.pm: a UAPI result proxied to a child names the child's host in metadata.proxied_from",
	"uapi_cpanel.data.uapi.metadata.proxied_from":                        "as above",
}

// exceptions are the conformance test's allowances, each with its reason above.
var exceptions = whmref.Exceptions{MayLack: mayLack, Extra: func(fn, path string) bool {
	_, ok := fromSource[fn+"."+path]
	_, any := fromSource[path]
	return ok || any
}, NoPage: func(fn string) bool {
	_, ok := noPage[fn]
	return ok
}}

// columnsExceptions are the allowances for an answer asked with api.columns.*: any
// field of data may be left out (Whostmgr/API/1/Data/Columns.pm keeps only the named
// ones); those present are still checked.
var columnsExceptions = whmref.Exceptions{MayLack: func(fn, path string) bool {
	return strings.HasPrefix(path, "data.") || mayLack(fn, path)
}, Extra: exceptions.Extra, NoPage: exceptions.NoPage}

func mayLack(fn, path string) bool {
	if strings.HasPrefix(path, "metadata.output") {
		return true
	}
	if _, ok := lackOK[fn+"."+path]; ok {
		return true
	}
	// fn.a.b.* lets any child of a.b be absent.
	for i := strings.LastIndex(path, "."); i > 0; i = strings.LastIndex(path[:i], ".") {
		if _, ok := lackOK[fn+"."+path[:i]+".*"]; ok {
			return true
		}
	}
	return false
}

func loadReference(t testing.TB) *whmref.Table {
	t.Helper()
	ref, err := whmref.Load(whmref.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestConformance calls every function the sandbox serves, in the states a real
// fleet is in (a distributed account, a suspended one, a reseller and the account it
// owns, an account with a temporary domain; a linked child and an unlinked server),
// and holds each answer against the reference (testdata/whm/reference): every field
// documented, of the documented type, within its enum, null only where documented,
// and no documented field missing.
func TestConformance(t *testing.T) {
	ref := loadReference(t)
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	ok := map[string]bool{}
	check := func(node string, e *env, kv ...string) {
		t.Helper()
		fn := e.Metadata.Command
		exc := exceptions
		if slices.Contains(kv, "api.columns.enable") {
			exc = columnsExceptions
		}
		if probs := ref.Check(fn, []byte(e.Raw), exc); len(probs) > 0 {
			t.Errorf("%s on %s %v:\n  %s\n  answer: %s", fn, node, kv, strings.Join(probs, "\n  "), e.Raw)
		}
	}
	call := func(node, fn string, kv ...string) *env {
		t.Helper()
		e := s.must(node, fn, kv...)
		ok[fn] = true
		check(node, e, kv...)
		return e
	}
	// Failures are checked too (metadata only: the pages document successes).
	failing := func(want, node, fn string, kv ...string) {
		t.Helper()
		check(node, s.refused(want, node, fn, kv...), kv...)
	}

	// The state.
	call("web1", "createacct", "username", "alice", "domain", "alice.example", "contactemail", "alice@example.org", "plan", "basic", "mail_node_alias", "mail1")
	call("web1", "createacct", "username", "bob", "domain", "bob.example", "reseller", "1")
	call("web1", "createacct", "username", "cust", "domain", "cust.example", "owner", "bob")
	call("web1", "createacct", "username", "carol", "domain", "carol.example")
	call("web1", "createacct", "username", "tmp")
	call("web1", "suspendacct", "user", "cust", "reason", "unpaid")
	call("web1", "suspendacct", "user", "alice")
	call("web1", "unsuspendacct", "user", "alice")
	call("web1", "setacls", "reseller", "bob", "acl-list-accts", "1", "acl-create-acct", "0")
	call("web1", "saveacllist", "acllist", "basic", "acl-list-accts", "1")
	call("web1", "setresellerlimits", "user", "bob", "enable_account_limit", "1", "account_limit", "5")
	call("web1", "changepackage", "user", "carol", "pkg", "gold")
	call("web1", "modifyacct", "user", "carol", "contactemail", "carol@example.org")
	call("web1", "add_override_features_for_user", "user", "carol", "features", `{"apitokens":0}`)
	call("web1", "setminimumpasswordstrengths", "virtual", "70")
	call("web1", "setupreseller", "user", "carol")
	call("web1", "unsetupreseller", "user", "carol")

	// Reads, on the parent, the linked child and an unlinked server.
	for _, node := range []string{"web1", "mail1", "mail2"} {
		call(node, "version")
		call(node, "myprivs")
		call(node, "get_current_profile")
		call(node, "servicestatus")
		call(node, "getminimumpasswordstrengths")
		call(node, "listaccts")
		call(node, "list_linked_server_nodes")
		call(node, "list_user_child_nodes")
		call(node, "listresellers")
		call(node, "listacls")
		call(node, "listzones")
	}
	call("web1", "getminimumpasswordstrengths", "name", "virtual")
	call("web1", "listaccts", "want", "user,child_nodes")
	call("web1", "listaccts", "searchtype", "owner", "search", "bob", "searchmethod", "exact")
	for _, user := range []string{"alice", "bob", "cust", "carol", "tmp"} {
		call("web1", "accountsummary", "user", user)
	}
	call("mail1", "accountsummary", "user", "alice")
	call("web1", "acctcounts", "user", "bob")
	call("web1", "verify_user_has_feature", "user", "alice", "feature", "apitokens")
	call("web1", "get_users_features_settings", "user", "alice", "user", "carol", "feature", "apitokens")
	call("web1", "get_users_features_settings", "user", "carol")
	call("web1", "get_linked_server_node", "alias", "mail1")
	call("web1", "cluster_member_has_trust_with", "host", "ns1.example.net")
	call("web1", "api_token_create", "token_name", "ci", "acl-0", "list-accts", "expires_at", "4102444800", "whitelist_ip", "192.0.2.0/24")
	call("web1", "api_token_create", "token_name", "plain")
	call("web1", "api_token_revoke", "token_name", "plain")
	call("web1", "batch", "command", "acctcounts?user=bob", "command", "version", "command", "listaccts?searchtype=user&search=alice", "command", "acctcounts?user=ghost")
	// Output columns (api.columns.*), alone and inside a batch.
	call("web1", "listaccts", "api.columns.enable", "1", "api.columns.a", "user", "api.columns.b", "child_nodes", "api.columns.c", "nosuch")
	call("web1", "accountsummary", "user", "alice", "api.columns.enable", "1", "api.columns.a", "suspendtime")
	call("web1", "batch", "command", "listaccts?api.columns.enable=1&api.columns.a=user&api.columns.b=nosuch")

	// Zones.
	z := s.must("web1", "parse_dns_zone", "zone", "carol.example")
	ok["parse_dns_zone"] = true
	check("web1", z)
	call("web1", "dumpzone", "domain", "carol.example")
	call("web1", "export_zone_files", "zone-0", "carol.example", "zone-1", "alice.example")
	call("web1", "mass_edit_dns_zone", "zone", "carol.example", "serial", strconv.Itoa(int(s.soaSerial("carol.example"))), "add", `{"dname":"www2","ttl":300,"record_type":"A","data":["192.0.2.99"]}`)

	// Linking and unlinking, profiles.
	call("web1", "link_server_node_with_api_token", "alias", "mail2", "hostname", "mail2.example.net", "username", "root", "api_token", s.eps.Nodes["mail2"].Token)
	call("web1", "update_linked_server_node", "alias", "mail2")
	call("web1", "unlink_server_node", "alias", "mail2")
	call("mail2", "start_profile_activation", "code", "MAILNODE", "optional", `{"SpamFilter":1}`)
	s.waitIdle()
	call("mail2", "is_role_enabled", "role", "SpamFilter")
	call("mail2", "is_role_enabled", "role", "DNS")

	// UAPI through WHM (uapi_cpanel): each answer is held against uapi_cpanel's page
	// and the UAPI function's own (the composite rows "uapi_cpanel Email::FN").
	uapi := func(node, user, fn string, kv ...string) *env {
		t.Helper()
		e := s.must(node, "uapi_cpanel", append([]string{"cpanel.user", user, "cpanel.module", "Email", "cpanel.function", fn}, kv...)...)
		ok["uapi_cpanel"] = true
		if probs := ref.Check("uapi_cpanel Email::"+fn, []byte(e.Raw), exceptions); len(probs) > 0 {
			t.Errorf("uapi_cpanel Email::%s on %s %v:\n  %s\n  answer: %s", fn, node, kv, strings.Join(probs, "\n  "), e.Raw)
		}
		var d struct {
			UAPI struct {
				Status int      `json:"status"`
				Errors []string `json:"errors"`
			} `json:"uapi"`
		}
		e.decode(t, &d)
		if d.UAPI.Status != 1 {
			t.Errorf("uapi_cpanel Email::%s on %s %v: status %d, errors %v", fn, node, kv, d.UAPI.Status, d.UAPI.Errors)
		}
		return e
	}
	// Local mail (carol, on the parent) and distributed mail (alice, proxied to mail1).
	for _, u := range []struct{ user, domain string }{{"carol", "carol.example"}, {"alice", "alice.example"}} {
		uapi("web1", u.user, "add_forwarder", "domain", u.domain, "email", "sales@"+u.domain, "fwdopt", "fwd", "fwdemail", "boss@example.org,desk@example.org")
		uapi("web1", u.user, "add_forwarder", "domain", u.domain, "email", "void", "fwdopt", "blackhole")
		uapi("web1", u.user, "list_forwarders", "domain", u.domain)
		uapi("web1", u.user, "list_forwarders", "domain", u.domain, "regex", "desk")
		uapi("web1", u.user, "delete_forwarder", "address", "sales@"+u.domain, "forwarder", "desk@example.org")
	}
	// The child refuses cPanel API calls for a distributed account unless its parent
	// sends them.
	failing("Send this request to the account’s parent node", "mail1", "uapi_cpanel", "cpanel.user", "alice", "cpanel.module", "Email", "cpanel.function", "list_forwarders", "domain", "alice.example")
	failing("Provide the “cpanel.function” parameter.", "web1", "uapi_cpanel", "cpanel.user", "carol", "cpanel.module", "Email")

	// Distribution and its repair; removal.
	call("web1", "modifyacct", "user", "carol", "mail_node_alias", "mail1")
	s.waitIdle()
	call("web1", "force_dedistribution_from_node", "node_alias", "mail1", "user", "alice")
	call("web1", "ipv6_disable_account", "user", "carol")
	if err := s.AddIPv6Range("web1", "Hosting_IPv6_Block", "2001:db8:100:6::/64"); err != nil {
		t.Fatal(err)
	}
	call("web1", "ipv6_enable_account", "range", "Hosting_IPv6_Block", "user", "carol,ghost")
	call("web1", "ipv6_range_list")
	failing("DNSSEC is only supported on servers configured with PowerDNS.", "web1", "fetch_ds_records_for_domains", "domain", "carol.example")
	if err := s.SetNameServer("web1", "powerdns"); err != nil {
		t.Fatal(err)
	}
	if err := s.SignZone("web1", "carol.example", true); err != nil {
		t.Fatal(err)
	}
	call("web1", "fetch_ds_records_for_domains", "domain", "carol.example", "domain-1", "bob.example")
	call("web1", "removeacct", "username", "cust")

	// Failures: metadata only.
	failing("Account does not exist.", "web1", "accountsummary", "user", "zed")
	failing("No accounts found.", "web1", "listaccts", "searchtype", "user", "search", "zed", "searchmethod", "exact")
	failing("No node link", "web1", "get_linked_server_node", "alias", "ghost")

	// Every function served was answered and checked.
	var missing []string
	for fn := range functions {
		if strings.HasPrefix(fn, "PRIVATE_") {
			continue
		}
		if why, ok := noPage[fn]; ok {
			if ref.Has(fn) {
				t.Errorf("%s has a page now: remove it from noPage (%s)", fn, why)
			}
			continue
		}
		if !ref.Has(fn) {
			t.Errorf("the sandbox serves %s, which the reference documents no response for", fn)
		}
		if !ok[fn] {
			missing = append(missing, fn)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("functions served but never checked here: %s", strings.Join(missing, ", "))
	}
}

// TestRecordingsConform holds every recorded response in testdata/whm (the
// sandbox's, and those the provider's observe test replays) against the reference.
func TestRecordingsConform(t *testing.T) {
	ref := loadReference(t)
	var files []string
	err := filepath.WalkDir(recordDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") && !strings.HasSuffix(path, ".golden.json") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("found only %d recordings in %s", len(files), recordDir)
	}
	for _, path := range files {
		fn, _, _ := strings.Cut(filepath.Base(path), ".")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if probs := ref.Check(fn, b, exceptions); len(probs) > 0 {
			t.Errorf("%s:\n  %s", path, strings.Join(probs, "\n  "))
		}
	}
}

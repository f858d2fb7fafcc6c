package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the recorded responses in testdata/whm")

// recordDir holds responses recorded from the sandbox, one per function, for the
// provider's tests. They are golden files: a change to a response shape shows here.
const recordDir = "../../testdata/whm"

var (
	reXID    = regexp.MustCompile(`\(XID [a-z0-9]{6}\)`)
	reTaskID = regexp.MustCompile(`alter_user_distribution-[a-z0-9]{8}`)
	// Zone serials are dated (YYYYMMDDnn): recordings must not change every day.
	reSerial  = regexp.MustCompile(`\b20[0-9]{8}\b`)
	volatiles = map[string]any{
		"token": "REDACTED", "create_time": 1700000000, "last_check": 1700000000, "unix_startdate": 1700000000,
		"startdate": "23 Nov 14 00:00", "log_id": "20260101T000000-xxxxxx", "suspendtime": 1700000000, "uid": 1000,
		"STARTDATE": "1700000000",
	}
)

func normalize(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			x[k] = normalize(val, k)
		}
		return x
	case []any:
		for i := range x {
			x[i] = normalize(x[i], key)
		}
		return x
	case string:
		if r, ok := volatiles[key]; ok {
			return r
		}
		if key == "data_b64" {
			if b, err := base64.StdEncoding.DecodeString(x); err == nil && reSerial.Match(b) {
				return base64.StdEncoding.EncodeToString(reSerial.ReplaceAll(b, []byte("2026010101")))
			}
		}
		x = reXID.ReplaceAllString(x, "(XID xxxxxx)")
		x = reSerial.ReplaceAllString(x, "2026010101")
		return reTaskID.ReplaceAllString(x, "alter_user_distribution-xxxxxxxx")
	case float64:
		if r, ok := volatiles[key]; ok && x != 0 {
			return r
		}
		if key == "new_serial" {
			return 2026010101
		}
	}
	return v
}

// record compares (or with -update writes) the response of fn as testdata/whm/NAME.json.
func record(t *testing.T, name string, e *env) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(e.Raw), &v); err != nil {
		t.Fatalf("record %s: %v", name, err)
	}
	v = normalize(v, "")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(recordDir, name+".json")
	if *update {
		if err := os.MkdirAll(recordDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("recorded response %s missing (run go test -update): %v", path, err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("response of %s changed:\n--- recorded\n%s\n--- now\n%s", name, want, buf.Bytes())
	}
}

// TestContract drives every function over HTTP, checks envelope, data and state, and
// pins each response against testdata/whm.
func TestContract(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	rec := func(name string, e *env) { record(t, name, e) }

	rec("version", s.must("web1", "version"))
	rec("get_current_profile", s.must("web1", "get_current_profile"))
	rec("link_server_node_with_api_token", s.must("web1", "link_server_node_with_api_token", "alias", "mail2", "hostname", "mail2.example.net", "username", "root", "api_token", s.eps.Nodes["mail2"].Token))
	rec("list_linked_server_nodes", s.must("web1", "list_linked_server_nodes"))
	rec("get_linked_server_node", s.must("web1", "get_linked_server_node", "alias", "mail1"))
	rec("update_linked_server_node", s.must("web1", "update_linked_server_node", "alias", "mail2"))
	rec("unlink_server_node", s.must("web1", "unlink_server_node", "alias", "mail2"))

	e := s.must("web1", "createacct", "username", "alice", "domain", "Alice.Example", "contactemail", "alice@example.org", "plan", "basic", "password", "Very-Long-Pass-123")
	if e.Metadata.Reason != "Account Creation Ok" {
		t.Fatalf("createacct reason %q", e.Metadata.Reason)
	}
	rec("createacct", e)
	s.refused("already exists", "web1", "createacct", "username", "alice", "domain", "other.example")
	s.refused("The domain “alice.example” already exists", "web1", "createacct", "username", "alice2", "domain", "alice.example")
	s.refused("does not meet the minimum strength", "web1", "createacct", "username", "weak", "domain", "weak.example", "password", "abc")
	s.refused("is not a reseller", "web1", "createacct", "username", "orphan", "domain", "orphan.example", "owner", "nobodyhere")
	s.refused("No node link with alias “nope”", "web1", "createacct", "username", "lost", "domain", "lost.example", "mail_node_alias", "nope")

	// Without a domain, the account gets a temporary one (reference, createacct).
	s.must("web1", "createacct", "username", "nodom")
	if a := s.account("web1", "nodom"); !strings.HasSuffix(a.Domain, ".192-0-2-10.cpanel.site") {
		t.Fatalf("temporary domain %q", a.Domain)
	}
	var tmp struct {
		Acct []map[string]any `json:"acct"`
	}
	s.must("web1", "accountsummary", "user", "nodom").decode(t, &tmp)
	if tmp.Acct[0]["is_temporary_domain"] != float64(1) {
		t.Fatalf("is_temporary_domain: %v", tmp.Acct[0])
	}
	s.must("web1", "removeacct", "username", "nodom")
	rec("listaccts", s.must("web1", "listaccts"))
	a := s.account("web1", "alice")
	if a.Domain != "alice.example" || a.Plan != "basic" || a.Owner != "root" || a.Email != "alice@example.org" || a.ChildNodes == nil {
		t.Fatalf("alice = %+v", a)
	}
	rec("accountsummary", s.must("web1", "accountsummary", "domain", "alice.example"))
	rec("accountsummary.missing", s.refused("Account does not exist.", "web1", "accountsummary", "user", "zed"))

	// listaccts searches and want.
	s.must("web1", "createacct", "username", "bob", "domain", "bob.example", "plan", "gold")
	searches := []struct {
		kv   []string
		want []string
	}{
		{[]string{"searchtype", "user", "search", "bob", "searchmethod", "exact"}, []string{"bob"}},
		{[]string{"searchtype", "domain", "search", "EXAMPLE"}, []string{"alice", "bob"}},
		{[]string{"searchtype", "package", "search", "^gold$"}, []string{"bob"}},
		{[]string{"searchtype", "owner", "search", "root", "searchmethod", "exact"}, []string{"alice", "bob"}},
		{[]string{"searchtype", "domain_and_user", "search", "ali"}, []string{"alice"}},
		{[]string{"searchtype", "domain", "search", "nothing-here"}, nil},
	}
	for _, sc := range searches {
		e := s.must("web1", "listaccts", sc.kv...)
		var d struct {
			Acct []acct `json:"acct"`
		}
		if e.hasData {
			e.decode(t, &d)
		}
		var got []string
		for _, a := range d.Acct {
			got = append(got, a.User)
		}
		if !slices.Equal(got, sc.want) {
			t.Errorf("listaccts %v = %v, want %v", sc.kv, got, sc.want)
		}
	}
	rec("listaccts.exact_miss", s.refused("No accounts found.", "web1", "listaccts", "searchtype", "user", "search", "zed", "searchmethod", "exact"))
	// 11.120 Whostmgr/API/1/Accounts.pm and Whostmgr/Accounts/List.pm: an unknown
	// searchtype is refused; an invalid expression, or no searchtype, filters nothing.
	s.refused("Unknown search type.", "web1", "listaccts", "searchtype", "color", "search", "x")
	for _, kv := range [][]string{{"searchtype", "user", "search", "("}, {"search", "nothing-matches-this"}} {
		var all struct {
			Acct []acct `json:"acct"`
		}
		s.must("web1", "listaccts", kv...).decode(t, &all)
		if len(all.Acct) != 2 {
			t.Fatalf("listaccts %v: %d accounts, want all 2", kv, len(all.Acct))
		}
	}
	var want struct {
		Acct []map[string]any `json:"acct"`
	}
	s.must("web1", "listaccts", "want", "user,child_nodes").decode(t, &want)
	if len(want.Acct[0]) != 2 {
		t.Fatalf("want=user,child_nodes gave %v", want.Acct[0])
	}

	rec("modifyacct", s.must("web1", "modifyacct", "user", "bob", "contactemail", "bob@example.org", "domain", "bob.example.com"))
	if a := s.account("web1", "bob"); a.Domain != "bob.example.com" || a.Email != "bob@example.org" {
		t.Fatalf("modifyacct did not apply: %+v", a)
	}
	s.refused("The user “zed” does not exist.", "web1", "modifyacct", "user", "zed", "contactemail", "z@example.org")

	rec("suspendacct", s.must("web1", "suspendacct", "user", "bob", "reason", "unpaid"))
	if a := s.account("web1", "bob"); a.Suspended != 1 || a.Reason != "unpaid" {
		t.Fatalf("suspend: %+v", a)
	}
	rec("unsuspendacct", s.must("web1", "unsuspendacct", "user", "bob"))
	if a := s.account("web1", "bob"); a.Suspended != 0 || a.Reason != "not suspended" {
		t.Fatalf("unsuspend: %+v", a)
	}
	rec("changepackage", s.must("web1", "changepackage", "user", "bob", "pkg", "silver"))
	if s.account("web1", "bob").Plan != "silver" {
		t.Fatal("changepackage did not apply")
	}

	// Resellers.
	rec("setupreseller", s.must("web1", "setupreseller", "user", "bob"))
	rec("listresellers", s.must("web1", "listresellers"))
	// Any value grants (reference, setacls): acl-suspend-acct=0 grants suspend-acct.
	e = s.must("web1", "setacls", "reseller", "bob", "acl-list-accts", "1", "acl-create-acct", "1", "acl-suspend-acct", "0")
	rec("setacls", e)
	var granted struct {
		ACL []string `json:"acl"`
	}
	e.decode(t, &granted)
	if !slices.Equal(granted.ACL, []string{"create-acct", "list-accts", "suspend-acct"}) {
		t.Fatalf("setacls granted %v", granted.ACL)
	}
	rec("setresellerlimits", s.must("web1", "setresellerlimits", "user", "bob", "enable_account_limit", "1", "account_limit", "1"))
	s.refused("unsigned integer", "web1", "setresellerlimits", "user", "bob", "account_limit", "-3")
	s.refused("is not a reseller", "web1", "setresellerlimits", "user", "alice", "account_limit", "3")
	s.must("web1", "createacct", "username", "cust", "domain", "cust.example", "owner", "bob")
	rec("acctcounts", s.must("web1", "acctcounts", "user", "bob"))
	var counts struct {
		Reseller struct {
			Active int  `json:"active"`
			Limit  *int `json:"limit"`
		} `json:"reseller"`
	}
	s.must("web1", "acctcounts", "user", "bob").decode(t, &counts)
	if counts.Reseller.Active != 1 || counts.Reseller.Limit == nil || *counts.Reseller.Limit != 1 {
		t.Fatalf("acctcounts = %+v", counts)
	}
	s.checkResellerCaller("bob")
	s.must("web1", "saveacllist", "acllist", "basic", "acl-list-accts", "1")
	rec("listacls", s.must("web1", "listacls"))
	var applied struct {
		ACL []string `json:"acl"`
	}
	s.must("web1", "setacls", "reseller", "bob", "acllist", "basic").decode(t, &applied)
	if !slices.Equal(applied.ACL, []string{"list-accts"}) {
		t.Fatalf("setacls acllist = %v", applied.ACL)
	}

	// A reseller's own token: it sees only its accounts and hits its account limit.
	rec("unsetupreseller", s.must("web1", "unsetupreseller", "user", "bob"))

	// Features.
	rec("verify_user_has_feature", s.must("web1", "verify_user_has_feature", "user", "alice", "feature", "apitokens"))
	rec("add_override_features_for_user", s.must("web1", "add_override_features_for_user", "user", "alice", "features", `{"apitokens":0}`))
	var hf struct {
		HasFeature int `json:"has_feature"`
	}
	s.must("web1", "verify_user_has_feature", "user", "alice", "feature", "apitokens").decode(t, &hf)
	if hf.HasFeature != 0 {
		t.Fatal("override did not switch apitokens off")
	}
	rec("get_users_features_settings", s.must("web1", "get_users_features_settings", "user", "alice", "feature", "apitokens"))
	s.refused("must be a JSON object", "web1", "add_override_features_for_user", "user", "alice", "features", "{apitokens")
	// Distribution needs API tokens: the task fails, the account stays, and the
	// failure goes to the server's contacts, never into an API answer.
	s.must("web1", "modifyacct", "user", "alice", "mail_node_alias", "mail1")
	s.waitIdle()
	if w := s.must("web1", "accountsummary", "user", "alice").warnings(); len(w) != 0 {
		t.Fatalf("a failed distribution shows in accountsummary: %v", w)
	}
	if n := s.Notifications("web1"); len(n) == 0 || !strings.Contains(n[len(n)-1], "Accounts::ChildDistributionFailure") || !strings.Contains(n[len(n)-1], "apitokens") {
		t.Fatalf("distribution without apitokens: notifications %v", n)
	}

	// Tokens, passwords, profile.
	e = s.must("web1", "api_token_create", "token_name", "ci", "acl", "all", "expires_at", "4102444800")
	rec("api_token_create", e)
	s.refused("already exists", "web1", "api_token_create", "token_name", "ci")
	s.refused("is invalid", "web1", "api_token_create", "token_name", "bad name")
	rec("getminimumpasswordstrengths", s.must("web1", "getminimumpasswordstrengths"))
	rec("setminimumpasswordstrengths", s.must("web1", "setminimumpasswordstrengths", "virtual", "70", "list", "60"))
	var pw map[string]int
	s.must("web1", "getminimumpasswordstrengths", "name", "virtual").decode(t, &pw)
	if pw["virtual"] != 70 {
		t.Fatalf("virtual strength = %v", pw)
	}
	s.must("web1", "getminimumpasswordstrengths", "name", "ftp").decode(t, &pw)
	if pw["ftp"] != defaultPwStrength {
		t.Fatalf("ftp falls back to default: %v", pw)
	}
	s.refused("from 0 to 100", "web1", "setminimumpasswordstrengths", "virtual", "101")
	s.refused("cannot be empty", "web1", "setminimumpasswordstrengths", "default", "")
	rec("start_profile_activation", s.must("mail2", "start_profile_activation", "code", "MAILNODE", "optional", `{"DNS":0}`))
	s.refused("already in progress", "mail2", "start_profile_activation", "code", "MAILNODE")
	s.waitIdle()
	var prof struct {
		Code string `json:"code"`
	}
	s.must("mail2", "get_current_profile").decode(t, &prof)
	if prof.Code != "MAILNODE" {
		t.Fatalf("profile after activation = %q", prof.Code)
	}
	s.refused("not a valid server profile code", "mail2", "start_profile_activation", "code", "MAIL")
	rec("cluster_member_has_trust_with", s.must("web1", "cluster_member_has_trust_with", "host", "ns1.example.net"))
	rec("list_user_child_nodes", s.must("web1", "list_user_child_nodes"))
	rec("force_dedistribution_from_node.non_user", s.refused("Non-user(s)", "web1", "force_dedistribution_from_node", "node_alias", "mail1", "user", "alice"))

	rec("removeacct", s.must("web1", "removeacct", "username", "cust"))
	s.must("web1", "removeacct", "user", "bob")
	s.refused("does not exist", "web1", "removeacct", "username", "bob")
	if s.HasAccount("web1", "bob") || s.HasAccount("web1", "cust") {
		t.Fatal("removeacct left accounts")
	}
}

// checkResellerCaller gives a reseller a token and checks what it may do with it.
func (s *testSB) checkResellerCaller(user string) {
	s.t.Helper()
	n := s.nodeByName("web1")
	tok := newTokenValue()
	n.mu.Lock()
	n.st.Tokens[user] = map[string]*apiToken{"t": {Name: "t", Hash: hashToken(tok), ACLs: []string{"all"}}}
	n.mu.Unlock()
	auth := "whm " + user + ":" + tok
	ep := s.eps.Nodes["web1"]
	// Only owned accounts are visible.
	e := s.raw("GET", ep.WHM+"/json-api/listaccts?api.version=1", auth, "")
	var d struct {
		Acct []acct `json:"acct"`
	}
	e.decode(s.t, &d)
	if len(d.Acct) != 1 || d.Acct[0].User != "cust" { // what bob owns: cust, not bob himself (owned by root)
		s.t.Fatalf("reseller sees %d accounts: %s", len(d.Acct), e.Raw)
	}
	// Root-only functions are refused.
	if e := s.raw("GET", ep.WHM+"/json-api/list_linked_server_nodes?api.version=1", auth, ""); e.Metadata.Result != 0 {
		s.t.Fatalf("reseller called a root function: %s", e.Raw)
	}
	// The account limit (1, already used by cust) holds for the reseller.
	if e := s.raw("GET", ep.WHM+"/json-api/createacct?api.version=1&username=cust3&domain=cust3.example", auth, ""); e.Metadata.Result != 0 || !strings.Contains(e.Metadata.Reason, "limit") {
		s.t.Fatalf("reseller over its limit: %s", e.Raw)
	}
	// Identifying as the parent is for root only.
	if e := s.raw("GET", ep.WHM+"/json-api/listaccts?api.version=1&api.persona=parent", auth, ""); !strings.Contains(e.Raw, "PersonaForbidden") {
		s.t.Fatalf("reseller with api.persona=parent: %s", e.Raw)
	}
}

func TestBatch(t *testing.T) {
	s := startTest(t, "")
	s.must("web1", "createacct", "username", "bob", "domain", "bob.example", "reseller", "1")
	e := s.must("web1", "batch", "command", "acctcounts?user=bob", "command", "version", "command", "acctcounts?user=ghost", "command", "listresellers")
	record(t, "batch", e)
	var d struct {
		Result []struct {
			Metadata struct {
				Command string `json:"command"`
				Result  int    `json:"result"`
			} `json:"metadata"`
		} `json:"result"`
	}
	e.decode(t, &d)
	if len(d.Result) != 4 || d.Result[0].Metadata.Command != "acctcounts" || d.Result[2].Metadata.Result != 0 || d.Result[3].Metadata.Result != 1 {
		t.Fatalf("batch = %s", e.Raw)
	}
	e = s.must("web1", "batch", "command", "acctcounts?user=ghost", "command", "version", "abort_on_error", "1")
	e.decode(t, &d)
	if len(d.Result) != 1 {
		t.Fatalf("abort_on_error ran on: %s", e.Raw)
	}
	s.refused("Provide the “command” parameter.", "web1", "batch")
	s.refused("another batch", "web1", "batch", "command", "batch?command=version")
	// Commands in a batch pass the same checks as direct calls.
	if e := s.must("web1", "batch", "command", "PRIVATE_mail_get?user=bob"); !strings.Contains(e.Raw, "Permission denied") {
		t.Fatalf("batch of a private function: %s", e.Raw)
	}
}

func TestTokens(t *testing.T) {
	s := startTest(t, "")
	ep := s.eps.Nodes["web1"]
	var tok struct {
		Token string `json:"token"`
	}
	// A short-lived token works until it expires; then the server answers 401. Two
	// seconds ahead, not one: expiring at the next whole second, a token made late in a
	// second on a loaded machine was already expired when first used.
	expAt := time.Now().Unix() + 2
	exp := strconv.FormatInt(expAt, 10)
	s.must("web1", "api_token_create", "token_name", "brief", "expires_at", exp).decode(t, &tok)
	if e := s.raw("GET", ep.WHM+"/json-api/version?api.version=1", "whm root:"+tok.Token, ""); e.Status != 200 {
		if time.Now().Unix() < expAt {
			t.Fatalf("fresh token: HTTP %d", e.Status)
		}
		t.Logf("the machine took over a second to use the token; its expiry is still checked below")
	}
	time.Sleep(time.Until(time.Unix(expAt, 0)) + 50*time.Millisecond)
	if e := s.raw("GET", ep.WHM+"/json-api/version?api.version=1", "whm root:"+tok.Token, ""); e.Status != 401 {
		t.Fatalf("expired token: HTTP %d", e.Status)
	}
	// A clustering-only token may ask about trust but not list accounts.
	s.must("web1", "api_token_create", "token_name", "dns", "acl-0", "clustering").decode(t, &tok)
	if e := s.raw("GET", ep.WHM+"/json-api/cluster_member_has_trust_with?api.version=1&host=ns1.example.net", "whm root:"+tok.Token, ""); !e.ok() {
		t.Fatalf("clustering token on its function: %s", e.Raw)
	}
	if e := s.raw("GET", ep.WHM+"/json-api/listaccts?api.version=1", "whm root:"+tok.Token, ""); e.Metadata.Result != 0 || e.Metadata.Reason != "Permission denied" {
		t.Fatalf("clustering token on listaccts: %s", e.Raw)
	}
	var privs struct {
		Privileges []map[string]int `json:"privileges"`
	}
	e := s.raw("GET", ep.WHM+"/json-api/myprivs?api.version=1", "whm root:"+tok.Token, "")
	e.decode(t, &privs)
	if privs.Privileges[0]["clustering"] != 1 || privs.Privileges[0]["all"] != 0 {
		t.Fatalf("myprivs of a clustering token = %v", privs.Privileges)
	}
	// Revoked tokens stop working.
	s.must("web1", "api_token_revoke", "token_name", "dns")
	if e := s.raw("GET", ep.WHM+"/json-api/version?api.version=1", "whm root:"+tok.Token, ""); e.Status != 401 {
		t.Fatalf("revoked token: HTTP %d", e.Status)
	}
	s.refused("No token named", "web1", "api_token_revoke", "token_name", "dns")
	record(t, "servicestatus", s.must("web1", "servicestatus"))
}

func TestUpdateLinkedHost(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail", "mail1")
	// Pointing the alias at another server re-registers the child there.
	s.must("web1", "update_linked_server_node", "alias", "mail", "hostname", "mail2.example.net", "api_token", s.eps.Nodes["mail2"].Token)
	var node map[string]any
	s.must("web1", "get_linked_server_node", "alias", "mail").decode(t, &node)
	if node["hostname"] != "mail2.example.net" || !strings.HasPrefix(node["version"].(string), "11.120.") {
		t.Fatalf("after update: %v", node)
	}
	s.refused("is an IP address", "web1", "update_linked_server_node", "alias", "mail", "hostname", "192.0.2.21")
	s.refused("No node link", "web1", "update_linked_server_node", "alias", "ghost")
	// A child that went offline cannot be updated.
	_ = s.SetFaults("mail2", Faults{Offline: true})
	s.refused("connection refused", "web1", "update_linked_server_node", "alias", "mail")
}

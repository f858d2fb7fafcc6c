package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// stateOf encodes a node's whole state, to prove a refused call changed nothing.
func (s *testSB) stateOf(name string) string {
	s.t.Helper()
	n := s.nodeByName(name)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.snapshotZones() // zones reach the state lazily, whenever the flusher runs
	b, err := json.Marshal(n.st)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

func TestMissingParameters(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example")
	before := s.stateOf("web1")
	cases := []struct {
		fn, missing string
		kv          []string
	}{
		{"start_profile_activation", "code", nil},
		{"link_server_node_with_api_token", "hostname", []string{"alias", "x"}},
		{"get_linked_server_node", "alias", nil},
		{"update_linked_server_node", "alias", nil},
		{"unlink_server_node", "alias", nil},
		{"createacct", "username", []string{"domain", "x.example"}},
		{"removeacct", "username", nil},
		{"suspendacct", "user", nil},
		{"unsuspendacct", "user", nil},
		{"changepackage", "pkg", []string{"user", "alice"}},
		{"changepackage", "user", []string{"pkg", "gold"}},
		{"setupreseller", "user", nil},
		{"unsetupreseller", "user", nil},
		{"setresellerlimits", "user", nil},
		{"api_token_create", "token_name", nil},
		{"verify_user_has_feature", "feature", []string{"user", "alice"}},
		{"add_override_features_for_user", "features", []string{"user", "alice"}},
		{"get_users_features_settings", "user", nil},
		{"force_dedistribution_from_node", "node_alias", []string{"user", "alice"}},
		{"force_dedistribution_from_node", "user", []string{"node_alias", "mail1"}},
		{"cluster_member_has_trust_with", "host", nil},
		{"saveacllist", "acllist", nil},
	}
	for _, tc := range cases {
		t.Run(tc.fn+"/"+tc.missing, func(t *testing.T) {
			e := s.refused("Provide the “"+tc.missing+"” parameter.", "web1", tc.fn, tc.kv...)
			if !strings.HasPrefix(e.Metadata.Reason, "API failure: (XID ") {
				t.Fatalf("reason %q lacks the API failure/XID prefix", e.Metadata.Reason)
			}
			if e.hasData {
				t.Fatalf("missing-parameter failure carries data: %s", e.Raw)
			}
		})
	}
	// setacls reports a missing reseller itself, without an exception (11.120
	// Whostmgr/API/1/Resellers.pm).
	// Functions that report a missing argument themselves, or die with a plain
	// string (no XID), as 11.120 Whostmgr/API/1/{Resellers,Accounts}.pm do.
	for _, tc := range []struct{ fn, reason string }{
		{"setacls", "No reseller specified."},
		{"modifyacct", "Must at least specify a user to modify."},
		{"accountsummary", "API failure: You must specify a user or domain to get a summary of."},
	} {
		if e := s.refused(tc.reason, "web1", tc.fn); e.Metadata.Reason != tc.reason {
			t.Errorf("%s without its argument: %q, want %q", tc.fn, e.Metadata.Reason, tc.reason)
		}
	}
	if after := s.stateOf("web1"); after != before {
		t.Fatal("refused calls changed the state")
	}
}

func TestMalformedInput(t *testing.T) {
	s := startTest(t, "")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example")
	s.must("web1", "setupreseller", "user", "alice")
	before := s.stateOf("web1")
	cases := []struct {
		fn, want string
		kv       []string
	}{
		{"createacct", "not a valid username", []string{"username", "Alice", "domain", "x.example"}},
		{"createacct", "not a valid username", []string{"username", "averyveryverylongname", "domain", "x.example"}},
		{"createacct", "not a valid username", []string{"username", "ünï", "domain", "x.example"}},
		{"createacct", "reserved", []string{"username", "root", "domain", "x.example"}},
		{"createacct", "reserved", []string{"username", "testing", "domain", "x.example"}},
		{"createacct", "not a valid domain", []string{"username", "xavier", "domain", "not a domain"}},
		{"createacct", "not a valid domain", []string{"username", "xavier", "domain", "x\x00.example"}},
		{"createacct", "not a valid email", []string{"username", "xavier", "domain", "x.example", "contactemail", "nope"}},
		{"createacct", "must be a whole number", []string{"username", "xavier", "domain", "x.example", "quota", "lots"}},
		{"createacct", "must be 1 or 0", []string{"username", "xavier", "domain", "x.example", "reseller", "perhaps"}},
		{"createacct", "child_workloads", []string{"username", "xavier", "domain", "x.example", "child_workloads", "Mail"}},
		{"modifyacct", "not a valid domain", []string{"user", "alice", "domain", "-bad-.example"}},
		{"modifyacct", "not a reseller", []string{"user", "alice", "owner", "ghost"}},
		{"modifyacct", "No node link", []string{"user", "alice", "mail_node_alias", "ghost"}},
		{"setresellerlimits", "unsigned integer", []string{"user", "alice", "account_limit", "ten"}},
		{"setresellerlimits", "must be 1 or 0", []string{"user", "alice", "enable_account_limit", "2"}},
		{"setacls", "does not exist", []string{"reseller", "alice", "acllist", "ghost"}},
		{"add_override_features_for_user", "must be 1 or 0", []string{"user", "alice", "features", `{"apitokens":"maybe"}`}},
		{"add_override_features_for_user", "JSON object", []string{"user", "alice", "features", `[1,2]`}},
		{"start_profile_activation", "JSON object", []string{"code", "MAILNODE", "optional", "{"}},
		{"start_profile_activation", "not an optional role", []string{"code", "MAILNODE", "optional", `{"WebServer":1}`}},
		{"api_token_create", "whole number", []string{"token_name", "x", "expires_at", "tomorrow"}},
		{"api_token_create", "in the future", []string{"token_name", "x", "expires_at", "5"}},
		{"api_token_create", "not a valid privilege", []string{"token_name", "x", "acl", "fly"}},
		{"verify_user_has_feature", "not a valid feature", []string{"user", "alice", "feature", "a b"}},
		{"verify_user_has_feature", "does not exist", []string{"user", "ghost", "feature", "apitokens"}},
		{"getminimumpasswordstrengths", "not a valid password-strength", []string{"name", "root"}},
		{"setminimumpasswordstrengths", "from 0 to 100", []string{"ftp", "high"}},
		{"suspendacct", "does not exist", []string{"user", "ghost"}},
		{"unsetupreseller", "does not exist", []string{"user", "ghost"}},
	}
	for _, tc := range cases {
		t.Run(tc.fn+"/"+tc.want, func(t *testing.T) {
			s.refused(tc.want, "web1", tc.fn, tc.kv...)
		})
	}
	if after := s.stateOf("web1"); after != before {
		t.Fatal("malformed calls changed the state")
	}
}

func TestTransportRefusals(t *testing.T) {
	s := startTest(t, "")
	ep := s.eps.Nodes["web1"]
	root := "whm root:" + ep.Token
	before := s.stateOf("web1")
	cases := []struct {
		name, method, path, auth, body string
		status                         int
		reason                         string
	}{
		{"no auth", "GET", "/json-api/version?api.version=1", "", "", 401, ""},
		{"wrong token", "GET", "/json-api/version?api.version=1", "whm root:NOTTHETOKEN", "", 401, ""},
		{"wrong user", "GET", "/json-api/version?api.version=1", "whm alice:" + ep.Token, "", 401, ""},
		{"no colon", "GET", "/json-api/version?api.version=1", "whm root" + ep.Token, "", 401, ""},
		{"basic scheme", "GET", "/json-api/version?api.version=1", "Basic cm9vdDpwdw==", "", 401, ""},
		{"upper-case scheme", "GET", "/json-api/version?api.version=1", "WHM root:" + ep.Token, "", 200, "OK"},
		{"no api.version", "GET", "/json-api/listaccts", root, "", 200, ""},
		{"api.version=0", "GET", "/json-api/listaccts?api.version=0", root, "", 200, ""},
		{"unknown function", "GET", "/json-api/make_coffee?api.version=1", root, "", 200, "Unknown app (“make_coffee”) requested for this version (1) of the API."},
		{"empty function", "GET", "/json-api/?api.version=1", root, "", 200, "Unknown app"},
		{"not json-api", "GET", "/cgi/nothing", root, "", 404, ""},
		{"bad form encoding", "POST", "/json-api/version?api.version=1", root, "%zz", 200, "The request could not be parsed"},
		{"100k parameters", "POST", "/json-api/version?api.version=1", root, strings.Repeat("a=1&", 100000), 200, "The request could not be parsed"},
		{"oversize mass_edit", "POST", "/json-api/mass_edit_dns_zone?api.version=1", root, "zone=alice.example&serial=1&add=" + strings.Repeat("a", maxBody), 200, fmt.Sprintf("The request is larger than %d bytes.", maxBody)},
		{"private from outside", "GET", "/json-api/PRIVATE_end_sessions?api.version=1&user=alice", root, "", 200, "Permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.raw(tc.method, ep.WHM+tc.path, tc.auth, tc.body)
			if e.Status != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", e.Status, tc.status, e.Raw)
			}
			if tc.reason != "" && !strings.Contains(e.Metadata.Reason, tc.reason) {
				t.Fatalf("reason %q, want %q", e.Metadata.Reason, tc.reason)
			}
			if tc.status == 401 && strings.Contains(e.Raw, ep.Token) {
				t.Fatal("a refusal echoes the token")
			}
		})
	}
	// API 0 refusal text.
	e := s.raw("GET", ep.WHM+"/json-api/listaccts", root, "")
	if !strings.Contains(e.Raw, "Unknown App Requested for this version (0) of the api: listaccts") {
		t.Fatalf("API 0 refusal = %s", e.Raw)
	}
	// Oversized body.
	big := "username=alice&domain=" + strings.Repeat("a", maxBody+10)
	e = s.raw("POST", ep.WHM+"/json-api/createacct?api.version=1", root, big)
	if e.Status != http.StatusOK || e.Metadata.Result != 0 || !strings.Contains(e.Metadata.Reason, "larger than") {
		t.Fatalf("big body: HTTP %d, %s", e.Status, e.Raw)
	}
	if after := s.stateOf("web1"); after != before {
		t.Fatal("refused requests changed the state")
	}
	// GET with a query works like POST.
	if e := s.get("web1", "createacct", "api.version=1&username=qq&domain=qq.example"); !e.ok() {
		t.Fatalf("GET createacct: %s", e.Raw)
	}
}

func TestArrayArguments(t *testing.T) {
	s := startTest(t, "")
	for _, u := range []string{"aa", "bb", "cc"} {
		s.must("web1", "createacct", "username", u, "domain", u+".example")
	}
	// Repeated keys and name-N keys fold into one list, in order.
	q := url.Values{"api.version": {"1"}, "user": {"aa"}, "user-1": {"cc"}, "user-0": {"bb"}, "feature": {"apitokens"}}
	e := s.get("web1", "get_users_features_settings", q.Encode())
	var d struct {
		S []struct {
			User string `json:"user"`
		} `json:"users_features_settings"`
	}
	e.decode(t, &d)
	var got []string
	for _, x := range d.S {
		got = append(got, x.User)
	}
	if strings.Join(got, ",") != "aa,bb,cc" {
		t.Fatalf("folded users = %v", got)
	}
}

// TestConcurrentCalls hammers one parent from many goroutines (run with -race).
func TestConcurrentCalls(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 6; i++ {
				u := fmt.Sprintf("u%dx%d", g, i)
				e := s.call("web1", "createacct", "username", u, "domain", u+".example")
				if !e.ok() {
					errs <- e.Metadata.Reason
					continue
				}
				if i%2 == 0 {
					s.call("web1", "modifyacct", "user", u, "mail_node_alias", "mail1")
				}
				s.call("web1", "listaccts", "searchtype", "user", "search", u)
				s.call("web1", "suspendacct", "user", u)
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	s.waitIdle()
	var d struct {
		Acct []acct `json:"acct"`
	}
	s.must("web1", "listaccts").decode(t, &d)
	distributed := 0
	for _, a := range d.Acct {
		if a.mailNode() == "mail1" {
			distributed++
		}
	}
	if len(d.Acct) != 48 || distributed != 24 {
		t.Fatalf("%d accounts, %d distributed; want 48 and 24", len(d.Acct), distributed)
	}
}

package whm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tether-dev/tether/internal/sandbox/dnscluster"
)

// This file is a small stateful WHM used by the provider's tests before (and beside)
// the sandbox. It is not a second sandbox: it implements only what the provider
// calls, and it checks every request against the official function list
// (testdata/whm/functions.tsv): function known, every parameter listed, required
// parameters present. A call outside the list fails the test that made it.

// officialFunctions maps a function to its parameters (name → required).
var officialFunctions = sync.OnceValues(func() (map[string]map[string]bool, error) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "whm", "functions.tsv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]map[string]bool{}
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 3 {
			continue
		}
		if out[cols[0]] == nil {
			out[cols[0]] = map[string]bool{}
		}
		if cols[1] != "" {
			out[cols[0]][cols[1]] = cols[2] == "yes"
		}
	}
	return out, sc.Err()
})

// checkOfficial reports what is wrong with a call against the official list.
func checkOfficial(function string, params url.Values) []string {
	fns, err := officialFunctions()
	if err != nil {
		return []string{err.Error()}
	}
	for _, cgi := range ClusterCGIs {
		if function == cgi {
			return nil
		}
	}
	known, ok := fns[function]
	if !ok {
		return []string{fmt.Sprintf("function %s is not in the official list", function)}
	}
	var bad []string
	if function == "uapi_cpanel" {
		// The UAPI function's parameters go alongside uapi_cpanel's own.
		bad = checkUAPI(params, known)
	}
	for k := range params {
		if strings.HasPrefix(k, "api.") || function == "uapi_cpanel" {
			continue
		}
		if _, ok := known[k]; !ok {
			bad = append(bad, fmt.Sprintf("%s: parameter %s is not in the official list", function, k))
		}
	}
	for k, req := range known {
		// removeacct lists both username (required) and user; the doc says either.
		if req && params.Get(k) == "" {
			bad = append(bad, fmt.Sprintf("%s: required parameter %s missing", function, k))
		}
	}
	sort.Strings(bad)
	return bad
}

type facct struct {
	User, Domain, Owner, Plan, Email string
	Suspended                        bool
	Mail                             string
	Features                         map[string]bool
}

// fakeWHM is one simulated node.
type fakeWHM struct {
	t     testing.TB
	user  string
	token string
	// childTokens: what link_server_node_with_api_token must receive per child host.
	childTokens map[string]string

	mu        sync.Mutex
	version   string
	profile   string
	pw        map[string]int
	linked    map[string]map[string]any
	accts     map[string]*facct
	resellers map[string]bool
	acls      map[string][]string
	limits    map[string]*int
	// cluster is the node's DNS cluster, answered by the sandbox's screens
	// (internal/sandbox/dnscluster), which mirror cPanel's 11.120 source: no status
	// page here is written by hand.
	cluster  *dnscluster.Guarded
	clusterH http.Handler
	// pending background tasks: they finish after a number of polls.
	pendingMail    map[string]string
	pendingProfile string
	optional       map[string]bool
	taskPolls      int
	polls          int
	calls          []string
	// fail makes a function fail (result 0) with the given reason.
	fail map[string]string
	// typedFail makes a function fail with a typed error (data.type).
	typedFail map[string]string
}

func newFakeWHM(t testing.TB, user, token string) *fakeWHM {
	return &fakeWHM{
		t: t, user: user, token: token, childTokens: map[string]string{},
		version: "11.118.0.5", profile: "STANDARD",
		pw:     map[string]int{"default": 65, "createacct": 65, "passwd": 65, "ftp": 65, "list": 65, "mysql": 65, "postgres": 65, "sshkey": 65, "virtual": 65},
		linked: map[string]map[string]any{}, accts: map[string]*facct{}, resellers: map[string]bool{},
		acls: map[string][]string{}, limits: map[string]*int{}, cluster: dnscluster.NewGuarded(dnscluster.DefaultConfig()),
		pendingMail: map[string]string{}, taskPolls: 2, fail: map[string]string{},
	}
}

// fakeAddresses is what the fake fleet's host names resolve to.
var fakeAddresses = map[string]string{"web1.example.net": "192.0.2.10", "mail1.example.net": "192.0.2.20",
	"mail2.example.net": "192.0.2.21", "ns1.example.net": "192.0.2.53"}

// clusterHandler serves the DNS cluster screens; every remote is a healthy 11.118
// server that accepts the token it is given.
func (f *fakeWHM) clusterHandler() http.Handler {
	if f.clusterH != nil {
		return f.clusterH
	}
	hostOf := func(ip string) string {
		for h, a := range fakeAddresses {
			if a == ip {
				return h
			}
		}
		return ""
	}
	f.clusterH = dnscluster.Handler(f.cluster, func(*http.Request) (dnscluster.Identity, bool) {
		return dnscluster.Identity{User: f.user, ACLs: []string{"all"}}, true
	}, dnscluster.Hooks{
		Resolve: func(h string) (string, bool) { ip, ok := fakeAddresses[strings.ToLower(h)]; return ip, ok },
		Remote: func(_ context.Context, ip, _, _ string) (dnscluster.RemoteInfo, error) {
			if h := hostOf(ip); h != "" {
				return dnscluster.RemoteInfo{Version: f.version, Hostname: h}, nil
			}
			return dnscluster.RemoteInfo{}, fmt.Errorf("500 Can't connect to %s:2087", ip)
		},
		ReverseTrust: func(context.Context, dnscluster.Member) error { return nil },
		Peer: func(context.Context, dnscluster.Member) dnscluster.PeerState {
			return dnscluster.PeerState{Reached: true, GoodPrivs: true, Version: f.version, DNSServer: "bind",
				DNSEnabled: true, DNSRunning: true, DNSMonitored: true, HasTrust: 1}
		},
	})
	return f.clusterH
}

func (f *fakeWHM) start() *httptest.Server {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	return srv
}

func (f *fakeWHM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "whm "+f.user+":"+f.token {
		http.Error(w, "Access denied", http.StatusUnauthorized)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.Form
	var function string
	isJSON := strings.HasPrefix(r.URL.Path, "/json-api/")
	if isJSON {
		function = strings.TrimPrefix(r.URL.Path, "/json-api/")
		if r.URL.Query().Get("api.version") != "1" {
			f.t.Errorf("%s: api.version=1 missing from the URL", function)
		}
		if function != "batch" {
			// batch's commands are checked one by one when it runs them.
			for _, bad := range checkOfficial(function, q) {
				f.t.Errorf("official list: %s", bad)
			}
		}
	} else {
		function = r.URL.Path
		if !contains(ClusterCGIs, function) {
			http.NotFound(w, r)
			return
		}
		for _, bad := range checkScreen(function, q) {
			f.t.Errorf("cluster screen: %s", bad)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, function)
	if typ, ok := f.typedFail[function]; ok {
		writeEnv(w, function, map[string]any{"type": typ, "detail": map[string]any{"chain": []string{}}}, "API failure: "+typ)
		return
	}
	if reason, ok := f.fail[function]; ok {
		if !isJSON {
			fmt.Fprintf(w, `<html><body><div class="errormsg">%s</div></body></html>`, html.EscapeString(reason))
			return
		}
		writeEnv(w, function, nil, reason)
		return
	}
	if !isJSON {
		f.clusterHandler().ServeHTTP(w, r)
		return
	}
	data, reason := f.call(function, q)
	writeEnv(w, function, data, reason)
}

func writeEnv(w http.ResponseWriter, function string, data any, reason string) {
	env := map[string]any{"metadata": map[string]any{"command": function, "version": 1, "result": 1, "reason": "OK"}}
	if reason != "" {
		env["metadata"].(map[string]any)["result"] = 0
		env["metadata"].(map[string]any)["reason"] = reason
	}
	if data != nil {
		env["data"] = data
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(env)
}

// call runs one API function with f.mu held; it returns data and a failure reason.
func (f *fakeWHM) call(fn string, q url.Values) (any, string) {
	switch fn {
	case "version":
		return map[string]any{"version": f.version}, ""
	case "get_current_profile":
		if f.pendingProfile != "" {
			if f.polls++; f.polls >= f.taskPolls {
				f.profile, f.pendingProfile, f.polls = f.pendingProfile, "", 0
			}
		}
		return map[string]any{"code": f.profile, "name": f.profile, "experimental": "0"}, ""
	case "start_profile_activation":
		f.pendingProfile = q.Get("code")
		f.optional = map[string]bool{}
		if o := q.Get("optional"); o != "" {
			var m map[string]int
			_ = json.Unmarshal([]byte(o), &m)
			for r, v := range m {
				f.optional[r] = v == 1
			}
		}
		return map[string]any{"log_id": "1"}, ""
	case "is_role_enabled":
		// STANDARD has every role on; another profile's optional roles are on as the
		// last activation set them (start_profile_activation's reference page).
		if f.profile == "STANDARD" || f.optional[q.Get("role")] {
			return map[string]any{"enabled": "1"}, ""
		}
		return map[string]any{"enabled": "0"}, ""
	case "getminimumpasswordstrengths":
		out := map[string]any{}
		for k, v := range f.pw {
			out[k] = strconv.Itoa(v) // strings, as the Perl back end often sends
		}
		return out, ""
	case "setminimumpasswordstrengths":
		for k := range q {
			if _, ok := f.pw[k]; ok {
				f.pw[k], _ = strconv.Atoi(q.Get(k))
			}
		}
		return nil, ""
	case "list_linked_server_nodes":
		var out []any
		for _, alias := range slices.Sorted(maps.Keys(f.linked)) {
			out = append(out, f.linked[alias])
		}
		return map[string]any{"payload": out}, ""
	case "link_server_node_with_api_token":
		alias, host := q.Get("alias"), q.Get("hostname")
		if _, dup := f.linked[alias]; dup {
			return nil, "API failure: alias in use"
		}
		if want := f.childTokens[host]; want == "" || q.Get("api_token") != want {
			return nil, "API failure: the remote server refused the API token"
		}
		f.linked[alias] = map[string]any{"alias": alias, "hostname": host, "username": q.Get("username"), "version": "11.118.0.5",
			"worker_capabilities": map[string]any{"Mail": map[string]any{}}, "tls_verified": 1}
		return nil, ""
	case "unlink_server_node":
		alias := q.Get("alias")
		n := 0
		for _, a := range f.accts {
			if a.Mail == alias {
				n++
			}
		}
		if n > 0 {
			return nil, fmt.Sprintf("%d account(s) use this linkage. The system cannot delete a linkage that is in use.", n)
		}
		delete(f.linked, alias)
		return nil, ""
	case "listaccts":
		return f.listaccts(q)
	case "createacct":
		u := q.Get("username")
		if _, dup := f.accts[u]; dup {
			return nil, "Sorry, a user named " + u + " already exists."
		}
		if alias := q.Get("mail_node_alias"); alias != "" && f.linked[alias] == nil {
			return nil, "No node link with alias “" + alias + "” exists on this system."
		}
		owner := q.Get("owner")
		if owner == "" {
			owner = "root"
		}
		plan := q.Get("plan")
		if plan == "" {
			plan = "default"
		}
		f.accts[u] = &facct{User: u, Domain: q.Get("domain"), Owner: owner, Plan: plan, Email: q.Get("contactemail"), Mail: q.Get("mail_node_alias"), Features: map[string]bool{}}
		return map[string]any{"package": plan}, ""
	case "modifyacct":
		a := f.accts[q.Get("user")]
		if a == nil {
			return nil, "Account does not exist."
		}
		if alias := q.Get("mail_node_alias"); alias != "" {
			if alias != localAlias && f.linked[alias] == nil {
				return nil, "No node link with alias “" + alias + "” exists on this system."
			}
			if alias == localAlias {
				alias = ""
			}
			f.pendingMail[a.User] = alias
			f.polls = 0
		}
		if v, ok := q["contactemail"]; ok {
			a.Email = v[0]
		}
		if v := q.Get("owner"); v != "" {
			a.Owner = v
		}
		if v := q.Get("domain"); v != "" {
			a.Domain = v
		}
		return map[string]any{"user": a.User, "domain": a.Domain}, ""
	case "changepackage":
		a := f.accts[q.Get("user")]
		if a == nil {
			return nil, "Account does not exist."
		}
		a.Plan = q.Get("pkg")
		return nil, ""
	case "suspendacct", "unsuspendacct":
		a := f.accts[q.Get("user")]
		if a == nil {
			return nil, "Account does not exist."
		}
		a.Suspended = fn == "suspendacct"
		return nil, ""
	case "removeacct":
		u := q.Get("username")
		if f.accts[u] == nil {
			return nil, "Account does not exist."
		}
		delete(f.accts, u)
		delete(f.resellers, u)
		return nil, ""
	case "force_dedistribution_from_node":
		var infos []any
		for _, u := range q["user"] {
			a := f.accts[u]
			if a == nil || a.Mail != q.Get("node_alias") {
				return nil, "Non-user(s) of “" + q.Get("node_alias") + "”: " + u
			}
			a.Mail = ""
			infos = append(infos, map[string]any{"username": u})
		}
		return map[string]any{"user_info": infos, "log": []any{}}, ""
	case "listresellers":
		return map[string]any{"reseller": slices.Sorted(maps.Keys(f.resellers))}, ""
	case "setupreseller":
		if f.accts[q.Get("user")] == nil {
			return nil, "Account does not exist."
		}
		f.resellers[q.Get("user")] = true
		return nil, ""
	case "setacls":
		var acls []string
		for k := range q {
			if strings.HasPrefix(k, "acl-") {
				acls = append(acls, strings.TrimPrefix(k, "acl-"))
			}
		}
		sort.Strings(acls)
		f.acls[q.Get("reseller")] = acls
		return map[string]any{"acl": acls}, ""
	case "setresellerlimits":
		u := q.Get("user")
		if q.Get("enable_account_limit") == "1" {
			n, _ := strconv.Atoi(q.Get("account_limit"))
			f.limits[u] = &n
		} else {
			f.limits[u] = nil
		}
		return nil, ""
	case "acctcounts":
		return f.acctcounts(q.Get("user")), ""
	case "batch":
		var results []any
		for _, cmd := range q["command"] {
			name, rawq, _ := strings.Cut(cmd, "?")
			sub, _ := url.ParseQuery(rawq)
			for _, bad := range checkOfficial(name, sub) {
				f.t.Errorf("official list (in batch): %s", bad)
			}
			// An injected failure refuses the command inside a batch too, doing nothing.
			d, reason := any(nil), f.fail[name]
			if reason == "" {
				d, reason = f.call(name, sub)
			}
			md := map[string]any{"command": name, "version": 1, "result": 1, "reason": "OK"}
			if reason != "" {
				md["result"], md["reason"] = 0, reason
			}
			results = append(results, map[string]any{"metadata": md, "data": d})
		}
		return map[string]any{"result": results}, ""
	case "get_users_features_settings":
		var out []any
		for _, u := range q["user"] {
			a := f.accts[u]
			if a == nil {
				continue
			}
			var cp any
			if v, ok := a.Features[q.Get("feature")]; ok {
				cp = b2i(v)
			}
			out = append(out, map[string]any{"user": u, "feature": q.Get("feature"), "feature_list": "default", "feature_list_setting": "1", "cpuser_setting": cp})
		}
		return map[string]any{"users_features_settings": out}, ""
	case "uapi_cpanel":
		// Only the reads observe makes: an account without forwarders (forwarder
		// writes are tested on the sandbox).
		if q.Get("cpanel.module") != "Email" || q.Get("cpanel.function") != "list_forwarders" || f.accts[q.Get("cpanel.user")] == nil {
			return nil, "the fake WHM runs only Email::list_forwarders for an account it has"
		}
		return map[string]any{"uapi": map[string]any{"data": []any{}, "errors": nil, "messages": nil, "metadata": map[string]any{"transformed": 1}, "status": 1, "warnings": nil}}, ""
	case "add_override_features_for_user":
		a := f.accts[q.Get("user")]
		if a == nil {
			return nil, "Account does not exist."
		}
		var m map[string]int
		if err := json.Unmarshal([]byte(q.Get("features")), &m); err != nil {
			return nil, "features is not JSON"
		}
		for k, v := range m {
			a.Features[k] = v == 1
		}
		return nil, ""
	}
	return nil, "Unknown app (" + fn + ") requested for this version (1) of the API."
}

func (f *fakeWHM) acctcounts(u string) any {
	var limit any
	if l := f.limits[u]; l != nil {
		limit = strconv.Itoa(*l)
	}
	return map[string]any{"reseller": map[string]any{"user": u, "active": 0, "suspended": 0, "limit": limit}}
}

func (f *fakeWHM) listaccts(q url.Values) (any, string) {
	// A pending distribution finishes after taskPolls reads, like WHM's queued task.
	if len(f.pendingMail) > 0 {
		if f.polls++; f.polls >= f.taskPolls {
			for u, alias := range f.pendingMail {
				if a := f.accts[u]; a != nil {
					a.Mail = alias
				}
			}
			f.pendingMail, f.polls = map[string]string{}, 0
		}
	}
	var users []string
	if q.Get("searchtype") == "user" {
		if f.accts[q.Get("search")] == nil {
			return nil, "No accounts found."
		}
		users = []string{q.Get("search")}
	} else {
		users = slices.Sorted(maps.Keys(f.accts))
	}
	var out []any
	for _, u := range users {
		a := f.accts[u]
		cn := []any{}
		if a.Mail != "" {
			cn = append(cn, map[string]any{"workload": "Mail", "alias": a.Mail})
		}
		email := a.Email
		if email == "" {
			email = "*unknown*"
		}
		out = append(out, map[string]any{"user": a.User, "domain": a.Domain, "owner": a.Owner, "plan": a.Plan, "email": email,
			"suspended": b2i(a.Suspended), "ipv6": []any{}, "child_nodes": cn})
	}
	return map[string]any{"acct": out}, ""
}

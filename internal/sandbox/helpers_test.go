package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/schema"
)

// testFleet: a parent, two mail children, a child too old to link, a DNS-only node and
// a second parent.
func testFleet() *schema.Fleet {
	return &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1":  {Role: schema.RoleParent, Host: "web1.example.net", IPv4: "192.0.2.10", Version: 118, Profile: "STANDARD"},
		"web2":  {Role: schema.RoleParent, Host: "web2.example.net", IPv4: "192.0.2.11", Version: 118, Profile: "STANDARD"},
		"mail1": {Role: schema.RoleChild, Parent: "web1", Host: "mail1.example.net", IPv4: "192.0.2.20", Version: 118},
		"mail2": {Role: schema.RoleChild, Parent: "web1", Host: "mail2.example.net", IPv4: "192.0.2.21", Version: 120},
		"old1":  {Role: schema.RoleChild, Parent: "web1", Host: "old1.example.net", IPv4: "192.0.2.22", Version: 110},
		"ns1":   {Role: schema.RoleDNSOnly, Host: "ns1.example.net", IPv4: "192.0.2.53", Version: 118},
	}}
}

type testSB struct {
	*Sandbox
	t      testing.TB
	dir    string
	eps    Endpoints
	client *http.Client // trusts the nodes' certificates; one, so connections are reused
}

func startTest(t testing.TB, dir string) *testSB {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	sb, err := Start(context.Background(), Options{
		StateDir: dir, Fleet: testFleet(), TaskDelay: 20 * time.Millisecond,
		RemoteTimeout: 2 * time.Second, FlushInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return newTestSB(t, sb, dir)
}

func newTestSB(t testing.TB, sb *Sandbox, dir string) *testSB {
	eps := sb.Endpoints()
	return &testSB{Sandbox: sb, t: t, dir: dir, eps: eps, client: eps.HTTPClient(0)}
}

// env is a decoded WHM API 1 answer.
type env struct {
	Status   int
	Raw      string
	Metadata struct {
		Command string         `json:"command"`
		Version int            `json:"version"`
		Result  int            `json:"result"`
		Reason  string         `json:"reason"`
		Output  map[string]any `json:"output"`
	} `json:"metadata"`
	Data    json.RawMessage `json:"data"`
	hasData bool
}

func (e *env) ok() bool { return e.Status == 200 && e.Metadata.Result == 1 }

func (e *env) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(e.Data, v); err != nil {
		t.Fatalf("decode data of %s: %v (%s)", e.Metadata.Command, err, e.Raw)
	}
}

func (e *env) warnings() []string {
	var out []string
	if w, ok := e.Metadata.Output["warnings"].([]any); ok {
		for _, s := range w {
			out = append(out, s.(string))
		}
	}
	return out
}

// call sends fn to node as root with params given as key, value pairs (POST form).
func (s *testSB) call(node, fn string, kv ...string) *env {
	s.t.Helper()
	ep := s.eps.Nodes[node]
	form := url.Values{"api.version": {"1"}}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	return s.raw(http.MethodPost, ep.WHM+"/json-api/"+fn, "whm root:"+ep.Token, form.Encode())
}

// get sends fn as a GET query.
func (s *testSB) get(node, fn, query string) *env {
	s.t.Helper()
	ep := s.eps.Nodes[node]
	return s.raw(http.MethodGet, ep.WHM+"/json-api/"+fn+"?"+query, "whm root:"+ep.Token, "")
}

func (s *testSB) raw(method, u, auth, body string) *env {
	s.t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e := &env{Status: resp.StatusCode, Raw: string(b)}
	if resp.StatusCode == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, e); err != nil {
			s.t.Fatalf("%s: not JSON: %v: %s", u, err, b)
		}
		var top map[string]json.RawMessage
		_ = json.Unmarshal(b, &top)
		_, e.hasData = top["data"]
	}
	return e
}

// must calls fn and fails the test unless it succeeded.
func (s *testSB) must(node, fn string, kv ...string) *env {
	s.t.Helper()
	e := s.call(node, fn, kv...)
	if !e.ok() {
		s.t.Fatalf("%s on %s: HTTP %d result %d: %s", fn, node, e.Status, e.Metadata.Result, e.Metadata.Reason)
	}
	if e.Metadata.Command != fn || e.Metadata.Version != 1 {
		s.t.Fatalf("%s: bad metadata %+v", fn, e.Metadata)
	}
	return e
}

// refused calls fn and fails the test unless it failed with a reason containing want.
func (s *testSB) refused(want, node, fn string, kv ...string) *env {
	s.t.Helper()
	e := s.call(node, fn, kv...)
	if e.Status != 200 || e.Metadata.Result != 0 {
		s.t.Fatalf("%s on %s: want result 0, got HTTP %d result %d (%s)", fn, node, e.Status, e.Metadata.Result, e.Raw)
	}
	if !strings.Contains(e.Metadata.Reason, want) {
		s.t.Fatalf("%s on %s: reason %q does not contain %q", fn, node, e.Metadata.Reason, want)
	}
	return e
}

// link links child to web1 with the child's root token.
func (s *testSB) link(parent, alias, child string) {
	s.t.Helper()
	ep := s.eps.Nodes[child]
	s.must(parent, "link_server_node_with_api_token", "alias", alias, "hostname", child+".example.net", "username", "root", "api_token", ep.Token)
}

type acct struct {
	User       string `json:"user"`
	Domain     string `json:"domain"`
	Owner      string `json:"owner"`
	Plan       string `json:"plan"`
	Email      string `json:"email"`
	Suspended  int    `json:"suspended"`
	Reason     string `json:"suspendreason"`
	ChildNodes []struct {
		Workload string `json:"workload"`
		Alias    string `json:"alias"`
	} `json:"child_nodes"`
}

func (s *testSB) account(node, user string) *acct {
	s.t.Helper()
	e := s.call(node, "accountsummary", "user", user)
	if !e.ok() {
		return nil
	}
	var d struct {
		Acct []acct `json:"acct"`
	}
	e.decode(s.t, &d)
	if len(d.Acct) != 1 {
		s.t.Fatalf("accountsummary %s: %d accounts", user, len(d.Acct))
	}
	return &d.Acct[0]
}

func (a *acct) mailNode() string {
	if a == nil || len(a.ChildNodes) == 0 {
		return ""
	}
	return a.ChildNodes[0].Alias
}

func (s *testSB) waitIdle() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitIdle(ctx); err != nil {
		s.t.Fatal(err)
	}
}

package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/schema"
)

func TestRestartKeepsTheFleet(t *testing.T) {
	dir := t.TempDir()
	s := startTest(t, dir)
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example", "mail_node_alias", "mail1")
	s.must("web1", "createacct", "username", "bob", "domain", "bob.example")
	_ = s.AddMail("mail1", "alice", "INBOX", 3)
	tok := s.eps.Nodes["web1"].Token
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(EndpointsFile(dir))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("endpoints.json mode: %v %v", info, err)
	}

	s2 := startTest(t, dir)
	if s2.eps.Nodes["web1"].Token != tok {
		t.Fatal("root token changed across a restart")
	}
	if a := s2.account("web1", "alice"); a == nil || a.mailNode() != "mail1" {
		t.Fatalf("alice after restart: %+v", a)
	}
	if s2.account("web1", "bob") == nil || s2.MessageCount("mail1", "alice") != 3 {
		t.Fatal("accounts or mail lost across a restart")
	}
	var ll struct {
		Payload []map[string]any `json:"payload"`
	}
	s2.must("web1", "list_linked_server_nodes").decode(t, &ll)
	if len(ll.Payload) != 1 {
		t.Fatalf("links after restart: %v", ll.Payload)
	}
	// The link's stored token still works over the new ports (proxying resolves
	// host names, not addresses).
	s2.must("web1", "suspendacct", "user", "alice")
	eps, err := ReadEndpoints(dir)
	if err != nil || eps.Nodes["web1"].WHM != s2.eps.Nodes["web1"].WHM {
		t.Fatalf("ReadEndpoints = %+v, %v", eps, err)
	}
}

// TestRestartResumesTasks: a distribution queued when the sandbox stops runs after the
// restart.
func TestRestartResumesTasks(t *testing.T) {
	dir := t.TempDir()
	sb, err := Start(context.Background(), Options{StateDir: dir, Fleet: testFleet(), TaskDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSB(t, sb, dir)
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example")
	_ = s.AddMail("web1", "alice", "INBOX", 6)
	s.must("web1", "modifyacct", "user", "alice", "mail_node_alias", "mail1")
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := startTest(t, dir)
	s2.waitIdle()
	if a := s2.account("web1", "alice"); a.mailNode() != "mail1" || s2.MessageCount("mail1", "alice") != 6 {
		t.Fatalf("queued distribution did not resume: %+v", a)
	}
}

func TestDamagedStateIsReported(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "nodes"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nodes", "web1.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), "web1") {
		t.Fatalf("damaged state: err = %v", err)
	}
}

func TestStartRefusals(t *testing.T) {
	fleet := testFleet()
	fleet.Nodes["twin"] = &schema.Node{Role: schema.RoleParent, Host: "WEB1.example.net", IPv4: "192.0.2.99", Version: 118}
	if _, err := Start(context.Background(), Options{StateDir: t.TempDir(), Fleet: fleet}); err == nil || !strings.Contains(err.Error(), "same host name") {
		t.Fatalf("duplicate host: err = %v", err)
	}
	fleet = testFleet()
	fleet.Nodes["nohost"] = &schema.Node{Role: schema.RoleParent}
	if _, err := Start(context.Background(), Options{StateDir: t.TempDir(), Fleet: fleet}); err == nil || !strings.Contains(err.Error(), "nohost") {
		t.Fatalf("node without host: err = %v", err)
	}
	if _, err := Start(context.Background(), Options{}); err == nil {
		t.Fatal("Start without a state folder")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Start(ctx, Options{StateDir: t.TempDir(), Fleet: testFleet()}); err == nil {
		t.Fatal("Start with a cancelled context")
	}
}

func TestFaults(t *testing.T) {
	s := startTest(t, "")
	ep := s.eps.Nodes["web1"]

	_ = s.SetFaults("web1", Faults{Latency: 60 * time.Millisecond})
	start := time.Now()
	s.must("web1", "version")
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("latency fault: answered in %v", d)
	}

	_ = s.SetFaults("web1", Faults{ErrorRate: 1})
	if e := s.call("web1", "version"); e.Status != http.StatusInternalServerError {
		t.Fatalf("error fault: HTTP %d", e.Status)
	}

	_ = s.SetFaults("web1", Faults{Timeout: true})
	c := &http.Client{Timeout: 80 * time.Millisecond}
	req, _ := http.NewRequest("GET", ep.WHM+"/json-api/version?api.version=1", nil)
	req.Header.Set("Authorization", "whm root:"+ep.Token)
	if _, err := c.Do(req); err == nil {
		t.Fatal("timeout fault: the request was answered")
	}

	_ = s.SetFaults("web1", Faults{Offline: true})
	_, err := http.Get(ep.WHM + "/json-api/version?api.version=1")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("offline fault: err = %v, want connection refused", err)
	}
	if c, err := net.DialTimeout("tcp", ep.DNS, time.Second); err == nil {
		c.Close()
		t.Fatal("offline fault: DNS over TCP still accepts connections")
	}
	// The admin endpoint of another node brings web1 back.
	other := s.eps.Nodes["mail1"]
	body := `{"latency":"1ms"}`
	e := s.raw("POST", other.WHM+"/sandbox/faults?node=web1", "whm root:"+other.Token, body)
	if e.Status != 200 {
		t.Fatalf("admin endpoint: HTTP %d %s", e.Status, e.Raw)
	}
	var got faultsJSON
	if err := json.Unmarshal([]byte(e.Raw), &got); err != nil || got.Latency != "1ms" || got.Offline {
		t.Fatalf("admin endpoint answer %s (%v)", e.Raw, err)
	}
	s.must("web1", "version")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example")
	if got := lastA(s.lookup("web1", "alice.example", dns.TypeA)); got != "192.0.2.10" {
		t.Fatalf("DNS after coming back online: %q", got)
	}
	if s.Faults("web1").Latency != time.Millisecond {
		t.Fatal("admin endpoint did not set the faults")
	}
	for _, tc := range []struct {
		auth, body string
		status     int
	}{
		{"", body, 401},
		{"whm root:" + other.Token, `{"latency":"soon"}`, 400},
		{"whm root:" + other.Token, `{"error_rate":2}`, 400},
		{"whm root:" + other.Token, `{"colour":"red"}`, 400},
	} {
		if e := s.raw("POST", other.WHM+"/sandbox/faults?node=web1", tc.auth, tc.body); e.Status != tc.status {
			t.Errorf("admin (auth %v) %q: HTTP %d, want %d", tc.auth != "", tc.body, e.Status, tc.status)
		}
	}
	if e := s.raw("GET", other.WHM+"/sandbox/faults?node=ghost", "whm root:"+other.Token, ""); e.Status != 404 {
		t.Errorf("admin unknown node: HTTP %d", e.Status)
	}
}

func TestParseFault(t *testing.T) {
	cases := []struct {
		spec, node string
		want       Faults
		err        bool
	}{
		{"web1:latency=20ms,errors=0.1", "web1", Faults{Latency: 20 * time.Millisecond, ErrorRate: 0.1}, false},
		{"mail1:offline", "mail1", Faults{Offline: true}, false},
		{"mail1:timeout,failtasks", "mail1", Faults{Timeout: true, FailTasks: true}, false},
		{"web1:", "web1", Faults{}, false},
		{"web1", "", Faults{}, true},
		{":offline", "", Faults{}, true},
		{"web1:latency=fast", "", Faults{}, true},
		{"web1:errors=2", "", Faults{}, true},
		{"web1:explode", "", Faults{}, true},
	}
	for _, tc := range cases {
		node, f, err := ParseFault(tc.spec)
		if (err != nil) != tc.err || node != tc.node || !reflect.DeepEqual(f, tc.want) {
			t.Errorf("ParseFault(%q) = %q, %+v, %v", tc.spec, node, f, err)
		}
	}
}

func TestStartOffline(t *testing.T) {
	dir := t.TempDir()
	sb, err := Start(context.Background(), Options{StateDir: dir, Fleet: testFleet(), Faults: map[string]Faults{"mail1": {Offline: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	addr := strings.TrimPrefix(sb.Endpoints().Nodes["mail1"].WHM, "http://")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("a node started offline accepts connections")
	}
}

func TestServing(t *testing.T) {
	dir := t.TempDir()
	if _, ok := Serving(dir); ok {
		t.Fatal("Serving on an empty folder")
	}
	s := startTest(t, dir)
	if _, ok := Serving(dir); ok {
		t.Fatal("Serving without a pid file")
	}
	if err := WritePID(dir); err != nil {
		t.Fatal(err)
	}
	eps, ok := Serving(dir)
	if !ok || eps.Nodes["web1"].Token != s.eps.Nodes["web1"].Token {
		t.Fatal("Serving does not see the live sandbox")
	}
	_ = s.Close()
	if _, ok := Serving(dir); ok {
		t.Fatal("Serving after Close")
	}
}

// TestStartRefusesUncheckedNodeNames: a node name becomes a file name in the state
// folder; Start refuses any that is not a valid link alias, whoever gives it.
func TestStartRefusesUncheckedNodeNames(t *testing.T) {
	for _, name := range []string{"../../../pwned", "a/b", "..", ""} {
		dir := filepath.Join(t.TempDir(), "a", "b", "c", "state")
		f := testFleet()
		f.Nodes[name] = &schema.Node{Role: schema.RoleDNSOnly, Host: "ns9.example.net", Version: 118}
		sb, err := Start(t.Context(), Options{StateDir: dir, Fleet: f})
		if err == nil {
			sb.Close()
			t.Fatalf("node %q was served", name)
		}
		if !strings.Contains(err.Error(), "TETHER-L10") {
			t.Errorf("node %q: error %q does not name the rule", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "..", "..", "..", "pwned.json")); err == nil {
			t.Fatalf("node %q: a file was written outside the state folder", name)
		}
	}
}

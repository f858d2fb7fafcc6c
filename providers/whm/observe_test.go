package whm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/sandbox/dnscluster"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/schema"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testdataDir = "../../testdata/whm"

// recorded serves responses recorded in testdata/whm/observe/NODE, checking auth and the official function list on the way.
func recorded(t testing.TB, dir, token string, calls *[]string, mu *sync.Mutex) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "whm root:"+token {
			http.Error(w, "denied", http.StatusUnauthorized)
			return
		}
		_ = r.ParseForm()
		var file, page string
		switch {
		case strings.HasPrefix(r.URL.Path, "/json-api/"):
			fn := strings.TrimPrefix(r.URL.Path, "/json-api/")
			if r.URL.Query().Get("api.version") != "1" {
				t.Errorf("%s without api.version=1", fn)
			}
			if fn != "batch" {
				for _, bad := range checkOfficial(fn, r.Form) {
					t.Errorf("official list: %s", bad)
				}
			}
			file = fn + ".json"
			if cmds := r.Form["command"]; fn == "batch" && len(cmds) > 0 && strings.HasPrefix(cmds[0], "uapi_cpanel?") {
				// The forwarder reads are a batch of their own (batch.uapi_cpanel.json,
				// recorded from the sandbox by its TestRecordObserveForwarders).
				file = "batch.uapi_cpanel.json"
			} else if fn == "batch" {
				// A batch of functions recorded one by one is answered as WHM answers
				// it: each command's whole envelope in data.result, in order. One
				// recorded as a batch (batch.json: acctcounts) is served as it is.
				if b, ok := recordedBatch(t, dir, cmds); ok {
					if calls != nil {
						mu.Lock()
						*calls = append(*calls, functionsOf(fn, r.Form)...)
						mu.Unlock()
					}
					_, _ = w.Write(b)
					return
				}
			}
		case r.URL.Path == cgiClusterStatus:
			// The page as the sandbox renders clusterstatus.tmpl: a sync member the
			// fleet names (by its address) and one WHM disabled that it does not.
			cfg := dnscluster.DefaultConfig()
			cfg.Enabled, cfg.Threshold = true, 3
			cfg.Members["192.0.2.53"] = &dnscluster.Member{Host: "192.0.2.53", Hostname: "ns1.example.net", User: "root", Role: "sync", Module: "cPanel"}
			cfg.Members["192.0.2.59"] = &dnscluster.Member{Host: "192.0.2.59", Hostname: "ns9.example.net", User: "root", Role: "standalone", Module: "cPanel", Disabled: true}
			peers := map[string]dnscluster.PeerState{"192.0.2.53": {Reached: true, GoodPrivs: true, Version: "11.118.0.5", DNSServer: "bind", DNSEnabled: true, DNSRunning: true, DNSMonitored: true, HasTrust: 1}}
			page = dnscluster.RenderStatus(cfg, peers, "root")
		default:
			http.NotFound(w, r)
			return
		}
		if calls != nil {
			mu.Lock()
			*calls = append(*calls, strings.TrimPrefix(r.URL.Path, "/json-api/"))
			mu.Unlock()
		}
		if page != "" {
			_, _ = w.Write([]byte(page))
			return
		}
		b, err := os.ReadFile(filepath.Join(testdataDir, "observe", dir, file))
		if err != nil {
			http.Error(w, "no recording", http.StatusNotFound)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// recordedBatch composes a batch answer from the recordings of its commands (each
// checked against the official list), or reports false when one has none.
func recordedBatch(t testing.TB, dir string, cmds []string) ([]byte, bool) {
	var results []json.RawMessage
	for _, cmd := range cmds {
		name, query, _ := strings.Cut(cmd, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Errorf("batch command %q: %v", cmd, err)
		}
		for _, bad := range checkOfficial(name, q) {
			t.Errorf("official list: %s", bad)
		}
		b, err := os.ReadFile(filepath.Join(testdataDir, "observe", dir, name+".json"))
		if err != nil {
			return nil, false
		}
		results = append(results, json.RawMessage(b))
	}
	b, err := json.Marshal(map[string]any{
		"data":     map[string]any{"result": results},
		"metadata": map[string]any{"command": "batch", "reason": "OK", "result": 1, "version": 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

func desiredFleet() *schema.Fleet {
	return &schema.Fleet{
		Nodes: map[string]*schema.Node{
			"web1":  {Role: schema.RoleParent, Host: "web1.example.net"},
			"mail1": {Role: schema.RoleChild, Parent: "web1", Host: "mail1.example.net"},
			"ns1":   {Role: schema.RoleDNSOnly, Host: "ns1.example.net"},
		},
		DNSClusters: map[string]*schema.DNSCluster{"web1": {Enabled: true, Members: map[string]*schema.Member{
			"primary-ns": {Node: "ns1", Role: schema.DNSRoleSync},
		}}},
	}
}

func TestObserveRecorded(t *testing.T) {
	var calls []string
	var mu sync.Mutex
	parent := recorded(t, "web1", "PARENTTOKEN", &calls, &mu)
	child := recorded(t, "mail1", "CHILDTOKEN", &calls, &mu)
	p, err := New(providers.Config{Endpoints: map[string]providers.Endpoint{
		"web1":  {URL: parent.URL, User: "root", Token: "PARENTTOKEN"},
		"mail1": {URL: child.URL, User: "root", Token: "CHILDTOKEN"},
	}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Scopes(desiredFleet()); !reflect.DeepEqual(got, []string{"ns1", "web1"}) {
		t.Fatalf("Scopes = %v, want [ns1 web1]", got)
	}
	got, err := p.Observe(context.Background(), "web1", desiredFleet())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "observe/observe.golden.json", b)
	// Not in the JSON: a second Mail child is kept for TETHER-L04.
	if d := got.Accounts["dave"]; d == nil || d.Mail == nil || len(d.Mail.ExtraNodes) != 1 || d.Mail.ExtraNodes[0] != "mail2" {
		t.Errorf("dave's extra mail nodes: %+v, want [mail2]", got.Accounts["dave"])
	}

	// Bulk reads only: one listaccts, one features call (4 users < batch), one batch
	// for reseller limits and one for the forwarders of the distributed accounts
	// (3 < batch), whatever the number of accounts.
	count := map[string]int{}
	for _, c := range calls {
		count[c]++
	}
	for fn, want := range map[string]int{"listaccts": 1, "get_users_features_settings": 1, "batch": 2, "list_linked_server_nodes": 1, "version": 2, cgiClusterStatus: 1} {
		if count[fn] != want {
			t.Errorf("%s called %d times, want %d (all calls: %v)", fn, count[fn], want, calls)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(testdataDir, name)
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(got)) {
		t.Errorf("%s differs from the golden file (go test -update to accept):\n%s", name, got)
	}
}

func TestObserveUnreachableParent(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there any more
	p, _ := New(providers.Config{Endpoints: map[string]providers.Endpoint{
		"web1": {URL: addr, User: "root", Token: "SECRET-TOKEN-1"},
	}}, Options{Client: whmapi.Options{Attempts: 2, BaseDelay: time.Millisecond}})
	_, err := p.Observe(context.Background(), "web1", desiredFleet())
	if err == nil {
		t.Fatal("Observe of a closed port succeeded")
	}
	if !strings.Contains(err.Error(), "parent web1") || !errors.Is(err, providers.ErrTransient) {
		t.Errorf("error %q: want it to name parent web1 and be transient", err)
	}
	if strings.Contains(err.Error(), "SECRET-TOKEN-1") {
		t.Errorf("token in error: %v", err)
	}
}

func TestObserveGarbageParent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>Service Unavailable, try later</html>"))
	}))
	defer srv.Close()
	p, _ := New(providers.Config{Endpoints: map[string]providers.Endpoint{
		"web1": {URL: srv.URL, User: "root", Token: "T"},
	}}, Options{})
	_, err := p.Observe(context.Background(), "web1", desiredFleet())
	var de *whmapi.DecodeError
	// The parent's first request is the batch of its version, profile and listings.
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "parent web1") || !strings.Contains(err.Error(), "batch") {
		t.Errorf("error %v: want a DecodeError naming parent web1 and the function", err)
	}
}

func TestObserveNoEndpoint(t *testing.T) {
	p, _ := New(providers.Config{}, Options{})
	_, err := p.Observe(context.Background(), "web1", desiredFleet())
	if err == nil || !strings.Contains(err.Error(), "web1") {
		t.Errorf("err = %v, want one naming web1", err)
	}
}

package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/cputime"
)

func benchSandbox(b *testing.B) (*Sandbox, Endpoint) {
	b.Helper()
	sb, err := Start(context.Background(), Options{StateDir: b.TempDir(), Fleet: testFleet(), TaskDelay: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sb.Close() })
	return sb, sb.Endpoints().Nodes["web1"]
}

func post(b *testing.B, c *http.Client, ep Endpoint, fn string, form url.Values) int {
	form.Set("api.version", "1")
	req, _ := http.NewRequest("POST", ep.WHM+"/json-api/"+fn, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "whm root:"+ep.Token)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"result":1`) {
		b.Fatalf("%s: %s", fn, body)
	}
	return len(body)
}

// BenchmarkCreateacct creates accounts over HTTP on one parent; state is flushed in
// the background, so the cost per account stays flat as the fleet grows.
func BenchmarkCreateacct(b *testing.B) {
	sb, ep := benchSandbox(b)
	eps := sb.Endpoints()
	c := eps.HTTPClient(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u := fmt.Sprintf("u%07d", i)
		post(b, c, ep, "createacct", url.Values{"username": {u}, "domain": {u + ".example"}})
	}
	b.StopTimer()
	if err := sb.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkListaccts10k lists a parent holding 10,000 accounts: every field, the
// fields Tether decodes asked with want= (listaccts' own argument), with the output
// columns (api.columns.*, the API layer's) as well, and with the columns alone.
func BenchmarkListaccts10k(b *testing.B) {
	sb, ep := benchSandbox(b)
	n := sb.nodeByName("web1")
	n.mu.Lock()
	for i := 0; i < 10000; i++ {
		u := fmt.Sprintf("u%07d", i)
		n.st.Accounts[u] = &account{User: u, Domain: u + ".example", Owner: "root", Plan: "default", IP: n.st.IPv4, FeatureList: "default"}
	}
	n.markDirty()
	n.mu.Unlock()
	const want = "user,domain,owner,plan,email,suspended,ipv6,child_nodes"
	columns := url.Values{"api.columns.enable": {"1"}}
	for i, k := range strings.Split(want, ",") {
		columns.Set("api.columns."+string(rune('a'+i)), k)
	}
	withWant := func(q url.Values) url.Values {
		q = maps.Clone(q)
		q.Set("want", want)
		return q
	}
	for _, bc := range []struct {
		name string
		q    url.Values
	}{
		{"all", url.Values{}},
		{"want", url.Values{"want": {want}}},
		{"want+columns", withWant(columns)},
		{"columns", columns},
	} {
		b.Run(bc.name, func(b *testing.B) {
			eps := sb.Endpoints()
			c := eps.HTTPClient(0)
			size := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				size = post(b, c, ep, "listaccts", maps.Clone(bc.q))
			}
			b.ReportMetric(float64(size), "B/answer")
		})
	}
}

// BenchmarkFlush10k writes the state of a parent holding 10,000 accounts.
func BenchmarkFlush10k(b *testing.B) {
	sb, _ := benchSandbox(b)
	n := sb.nodeByName("web1")
	n.mu.Lock()
	for i := 0; i < 10000; i++ {
		u := fmt.Sprintf("u%07d", i)
		n.st.Accounts[u] = &account{User: u, Domain: u + ".example", Owner: "root", Plan: "default", IP: n.st.IPv4, FeatureList: "default"}
	}
	n.mu.Unlock()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n.mu.Lock()
		n.markDirty()
		n.mu.Unlock()
		if err := n.flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStart10k restarts a sandbox whose parent holds 10,000 accounts and zones:
// the cost of loading the state (JSON and zone files) and starting every server.
func BenchmarkStart10k(b *testing.B) {
	dir := b.TempDir()
	sb, err := Start(context.Background(), Options{StateDir: dir, Fleet: testFleet()})
	if err != nil {
		b.Fatal(err)
	}
	n := sb.nodeByName("web1")
	for i := 0; i < 10000; i++ {
		u := fmt.Sprintf("u%07d", i)
		n.mu.Lock()
		n.st.Accounts[u] = &account{User: u, Domain: u + ".example", Owner: "root", Plan: "default", IP: n.st.IPv4, FeatureList: "default"}
		n.markDirty()
		n.mu.Unlock()
		n.zoneAccountCreated(u+".example", "")
	}
	if err := sb.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sb, err := Start(context.Background(), Options{StateDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if !sb.HasAccount("web1", "u0009999") {
			b.Fatal("state not loaded")
		}
		_ = sb.Close()
		b.StartTimer()
	}
}

// BenchmarkBatchAnswer encodes a parent's batch answer of 1,000 proxied
// list_forwarders results (one forwarder each), the answer a plan of the 100k fleet
// gets 33 times per parent: by encoding/json, as writeJSON did, and by appendAnswer.
func BenchmarkBatchAnswer(b *testing.B) {
	results := make([]any, 0, 1000)
	for i := range 1000 {
		d := fmt.Sprintf("info@u%07d.example", i)
		rows := []forwarderRow{{Dest: d, Forward: "ops@example.org", HTMLDest: d, HTMLForward: "ops@example.org", URIDest: url.QueryEscape(d), URIForward: url.QueryEscape("ops@example.org")}}
		u := uapiOK(rows)
		u.Metadata["proxied_from"] = []any{"m001.perf.test"}
		c := &call{fn: "uapi_cpanel"}
		results = append(results, c.envelope(map[string]any{"uapi": u}, nil))
	}
	env := (&call{fn: "batch"}).envelope(map[string]any{"result": results}, nil)
	for _, bc := range []struct {
		name string
		enc  func() ([]byte, error)
	}{
		{"encoding-json", func() ([]byte, error) {
			var buf strings.Builder
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			err := enc.Encode(env)
			return []byte(buf.String()), err
		}},
		{"appendAnswer", func() ([]byte, error) { return encodeAnswer(env) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.enc(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProxiedForwarderReads is the sandbox's side of a plan's forwarder reads of
// one parent: a batch of 200 uapi_cpanel Email::list_forwarders for accounts
// distributed to a mail child, as Tether sends them (the 100k fleet's plan sends
// 33,333), run by the parent's handler with each read proxied to the child in
// process. Reported per batch; divide by 200 for one proxied read.
func BenchmarkProxiedForwarderReads(b *testing.B) {
	s := startTest(b, "")
	s.link("web1", "mail1", "mail1")
	form := url.Values{}
	for i := range 200 {
		user := fmt.Sprintf("u%03d", i)
		s.must("web1", "createacct", "username", user, "domain", user+".example", "mail_node_alias", "mail1")
		q := url.Values{"cpanel.user": {user}, "cpanel.module": {"Email"}, "cpanel.function": {"list_forwarders"}, "domain": {user + ".example"}}
		form.Set(fmt.Sprintf("command-%d", i), "uapi_cpanel?"+q.Encode())
	}
	s.waitIdle()
	form.Set("api.version", "1")
	ep := s.eps.Nodes["web1"]
	auth := "whm " + ep.User + ":" + ep.Token
	web1 := s.nodeByName("web1")
	ans, err := web1.serveLocal(context.Background(), "batch", form, auth, false)
	if err != nil || ans.status != 200 || !strings.Contains(string(ans.body), `"proxied_from"`) {
		b.Fatalf("batch: %v, HTTP %d: %.300s", err, ans.status, ans.body)
	}
	b.ReportAllocs()
	cpu0 := cputime.Self()
	for b.Loop() {
		if _, err := web1.serveLocal(context.Background(), "batch", form, auth, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cputime.Self()-cpu0)/float64(b.N)/200, "cpu-ns/read")
}

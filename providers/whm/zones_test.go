package whm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/schema"
)

func b64s(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func record(line int, dname string, ttl any, typ string, data ...string) map[string]any {
	enc := make([]string, len(data))
	for i, d := range data {
		enc[i] = b64s(d)
	}
	m := map[string]any{"type": "record", "line_index": line, "dname_b64": b64s(dname), "record_type": typ, "data_b64": enc}
	if ttl != nil {
		m["ttl"] = ttl
	}
	return m
}

// TestParseWHMZone decodes parse_dns_zone's payload as whm-api.md documents it and as
// a Perl back end may type it: comments and $TTL lines, a TTL as a number, as a
// string or absent ($TTL applies), relative names, quoted and UTF-8 TXT strings.
func TestParseWHMZone(t *testing.T) {
	payload := []map[string]any{
		{"type": "comment", "line_index": 0, "text_b64": b64s("; cPanel first:118")},
		{"type": "control", "line_index": 1, "text_b64": b64s("$TTL 14400")},
		record(2, "alice.example.", 86400, "SOA", "ns1.example.net.", "hostmaster.alice.example.", "2026112301", "3600", "1800", "1209600", "86400"),
		record(3, "alice.example.", "86400", "NS", "ns1.example.net."),
		record(4, "alice.example.", nil, "A", "192.0.2.10"),
		record(5, "mail", 14400, "A", "192.0.2.20"),
		record(6, "alice.example.", 14400, "MX", "0", "mail.alice.example."),
		record(7, "alice.example.", 14400, "TXT", `v=spf1 +a "quoted" ~all`, "café"),
	}
	data, err := json.Marshal(map[string]any{"payload": payload})
	if err != nil {
		t.Fatal(err)
	}
	rrs, err := ParseWHMZone("alice.example", data)
	if err != nil {
		t.Fatal(err)
	}
	got := rrStrings(rrs)
	for _, want := range []string{
		"alice.example.\t86400\tIN\tSOA\tns1.example.net. hostmaster.alice.example. 2026112301",
		"alice.example.\t86400\tIN\tNS\tns1.example.net.",
		"alice.example.\t14400\tIN\tA\t192.0.2.10", // $TTL applies
		"mail.alice.example.\t14400\tIN\tA\t192.0.2.20",
		"alice.example.\t14400\tIN\tMX\t0 mail.alice.example.",
		`alice.example.	14400	IN	TXT	"v=spf1 +a \"quoted\" ~all" "caf\195\169"`,
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("zone lacks %q:\n%s", want, got)
		}
	}
}

// zoneFleet is one parent, the server whose zones are read.
func zoneFleet() *schema.Fleet {
	return &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1": {Role: schema.RoleParent, Host: "web1.example.net", IPv4: "192.0.2.10", Version: 118},
	}}
}

// createAccounts creates an account for each domain on node in one batch (the
// sandbox makes each one's zone, as WHM does).
func (f *sbFixture) createAccounts(t testing.TB, node string, domains ...string) {
	t.Helper()
	c, err := f.p.client(node)
	if err != nil {
		t.Fatal(err)
	}
	cmds := make([]whmapi.BatchCommand, len(domains))
	for i, d := range domains {
		cmds[i] = whmapi.BatchCommand{Function: "createacct", Params: url.Values{"username": {fmt.Sprintf("z%05d", i)}, "domain": {d}}}
	}
	_, errs, err := c.Batch(context.Background(), cmds)
	if err == nil {
		err = errors.Join(errs...)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// axfr is the zone as the node's own nameserver serves it.
func axfr(t *testing.T, addr, origin string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetAxfr(dns.Fqdn(origin))
	env, err := new(dns.Transfer).In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for e := range env {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
		for _, rr := range e.RR {
			seen[rr.String()] = true
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for s := range seen {
			if !yield(s) {
				return
			}
		}
	})
}

// TestSandboxZones reads a parent's zones over HTTPS: each is what the server's own
// nameserver serves, record for record; a wrong token, an unknown parent and a server
// answering 5xx are errors of their kind, and no token is shown.
func TestSandboxZones(t *testing.T) {
	f := startSandbox(t, zoneFleet())
	f.createAccounts(t, "web1", "alice.example", "bob.example")
	zones, err := f.p.Zones(context.Background(), "web1")
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != 2 {
		t.Fatalf("zones %d, want 2", len(zones))
	}
	for _, origin := range []string{"alice.example", "bob.example"} {
		var got []string
		for _, rr := range zones[origin] {
			got = append(got, rr.String())
		}
		slices.Sort(got)
		got = slices.Compact(got)
		if want := axfr(t, f.sb.Endpoints().Nodes["web1"].DNS, origin); !slices.Equal(got, want) {
			t.Errorf("%s read through parse_dns_zone:\n%s\nserved by the node:\n%s", origin, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	// A wrong token is reported without the token.
	ep := f.sb.Endpoints().Nodes["web1"].ProviderEndpoint()
	ep.Token = "WRONG-secret-token"
	bad, err := New(providers.Config{Endpoints: map[string]providers.Endpoint{"web1": ep}, Logger: quiet}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Zones(context.Background(), "web1")
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), "WRONG-secret-token") {
		t.Fatalf("wrong token: %v", err)
	}
	// An unknown parent and a server error.
	if _, err := f.p.Zones(context.Background(), "web9"); err == nil || !strings.Contains(err.Error(), "web9") {
		t.Fatalf("unknown parent: %v", err)
	}
	if err := f.sb.SetFaults("web1", sandbox.Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	f.p.opts.Client.Attempts, f.p.opts.Client.MaxDelay = 2, time.Millisecond
	f.p.clients = map[string]*whmapi.Client{}
	if _, err := f.p.Zones(context.Background(), "web1"); !errors.Is(err, providers.ErrTransient) {
		t.Fatalf("HTTP 500: %v, want transient", err)
	}
}

func TestParseWHMZoneBadInput(t *testing.T) {
	for name, data := range map[string]string{
		"not json":     `{`,
		"bad base64":   `{"payload":[{"type":"record","dname_b64":"!!","record_type":"A","data_b64":["MQ=="]}]}`,
		"unknown type": `{"payload":[{"type":"record","dname_b64":"` + b64s("a") + `","record_type":"NOPE","data_b64":[]}]}`,
		"bad rdata":    `{"payload":[{"type":"record","dname_b64":"` + b64s("a") + `","ttl":60,"record_type":"A","data_b64":["` + b64s("not-an-ip") + `"]}]}`,
	} {
		if _, err := ParseWHMZone("alice.example", json.RawMessage(data)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func rrStrings(rrs []dns.RR) string {
	var s []string
	for _, rr := range rrs {
		s = append(s, rr.String())
	}
	return strings.Join(s, "\n")
}

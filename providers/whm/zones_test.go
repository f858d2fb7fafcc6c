package whm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// TestParseZoneFile reads a zone file as WHM keeps it: comments and $TTL lines, a
// record without a TTL ($TTL applies), relative names, quoted and UTF-8 TXT strings.
func TestParseZoneFile(t *testing.T) {
	rrs, err := ParseZoneFile("alice.example", "; cPanel first:118\n$TTL 14400\n"+
		"alice.example. 86400 IN SOA ns1.example.net. hostmaster.alice.example. 2026112301 3600 1800 1209600 86400\n"+
		"alice.example. 86400 IN NS ns1.example.net.\n"+
		"alice.example. IN A 192.0.2.10\n"+
		"mail 14400 IN A 192.0.2.20\n"+
		"alice.example. 14400 IN MX 0 mail.alice.example.\n"+
		"alice.example. 14400 IN TXT \"v=spf1 +a \\\"quoted\\\" ~all\" \"caf\\195\\169\"\n")
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
			t.Errorf("%s read through export_zone_files:\n%s\nserved by the node:\n%s", origin, strings.Join(got, "\n"), strings.Join(want, "\n"))
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

func TestParseZoneFileBadInput(t *testing.T) {
	for name, text := range map[string]string{
		"unknown type": "a 60 IN NOPE x\n",
		"bad rdata":    "a 60 IN A not-an-ip\n",
		"bad ttl":      "$TTL forever\na IN A 192.0.2.1\n",
	} {
		if _, err := ParseZoneFile("alice.example", text); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// An export that leaves out a zone asked for, or answers bad base64, is an error:
// an empty zone pushed to a member would empty the member's copy.
func TestExportZoneFilesIncomplete(t *testing.T) {
	for name, body := range map[string]string{
		"zone left out": `{"data":{"payload":[]},"metadata":{"command":"export_zone_files","result":1,"reason":"OK","version":1}}`,
		"bad base64":    `{"data":{"payload":[{"zone":"alice.example","text_b64":"!!"}]},"metadata":{"command":"export_zone_files","result":1,"reason":"OK","version":1}}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/listzones") {
					fmt.Fprint(w, `{"data":{"zone":[{"domain":"alice.example","zonefile":"alice.example.db"}]},"metadata":{"command":"listzones","result":1,"reason":"OK","version":1}}`)
					return
				}
				fmt.Fprint(w, body)
			}))
			defer srv.Close()
			p, err := New(providers.Config{Endpoints: map[string]providers.Endpoint{"web1": {URL: srv.URL, User: "root", Token: "t", Insecure: true}}, Logger: quiet}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Zones(context.Background(), "web1"); err == nil || !strings.Contains(err.Error(), "alice.example") {
				t.Fatalf("err = %v, want one naming alice.example", err)
			}
		})
	}
}

func rrStrings(rrs []dns.RR) string {
	var s []string
	for _, rr := range rrs {
		s = append(s, rr.String())
	}
	return strings.Join(s, "\n")
}

package whm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
)

func b64s(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// zoneServer answers listzones and export_zone_files (zones by name → zone file text)
// the way their reference pages document them.
func zoneServer(t *testing.T, token string, zones map[string]string) *httptest.Server {
	return httptest.NewServer(whmHandler(token, zones))
}

func whmHandler(token string, zones map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "whm root:"+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		q := r.URL.Query()
		if q.Get("api.version") != "1" {
			fmt.Fprint(w, `{"metadata":{"result":0,"reason":"Unknown App Requested for this version (0) of the api"}}`)
			return
		}
		fn := strings.TrimPrefix(r.URL.Path, "/json-api/")
		var out map[string]any
		switch fn {
		case "listzones":
			var list []map[string]string
			for d := range zones {
				list = append(list, map[string]string{"domain": d, "zonefile": d + ".db"})
			}
			out = map[string]any{"data": map[string]any{"zone": list}, "metadata": map[string]any{"command": fn, "result": 1, "reason": "OK", "version": 1}}
		case "export_zone_files":
			var payload []map[string]string
			for i := 0; q.Has(fmt.Sprintf("zone-%d", i)); i++ {
				z := q.Get(fmt.Sprintf("zone-%d", i))
				text, ok := zones[z]
				if !ok {
					out = map[string]any{"metadata": map[string]any{"command": fn, "result": "0", "reason": "The DNS zone “" + z + "” does not exist on this server."}}
					break
				}
				payload = append(payload, map[string]string{"zone": z, "text_b64": b64s(text)})
			}
			if out == nil {
				out = map[string]any{"data": map[string]any{"payload": payload}, "metadata": map[string]any{"command": fn, "result": "1", "reason": "OK", "version": 1}}
			}
		default:
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(out)
	})
}

func TestWHMZones(t *testing.T) {
	const token = "WHMTOKEN-never-printed"
	srv := zoneServer(t, token, map[string]string{
		"alice.example": "; cPanel first:118\n$TTL 14400\n" +
			"alice.example. 86400 IN SOA ns1.example.net. hostmaster.alice.example. 2026112301 3600 1800 1209600 86400\n" +
			"alice.example. 86400 IN NS ns1.example.net.\n" +
			"alice.example. IN A 192.0.2.10\n" +
			"mail 14400 IN A 192.0.2.20\n" +
			"alice.example. 14400 IN MX 0 mail.alice.example.\n" +
			"alice.example. 14400 IN TXT \"v=spf1 +a \\\"quoted\\\" ~all\" \"caf\\195\\169\"\n",
	})
	defer srv.Close()
	src, err := New(providers.Config{Endpoints: map[string]providers.Endpoint{"web1": {URL: srv.URL, User: "root", Token: token}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	zones, err := src.Zones(context.Background(), "web1")
	if err != nil {
		t.Fatal(err)
	}
	got := rrStrings(zones["alice.example"])
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

	// A wrong token is reported without the token.
	bad, err := New(providers.Config{Endpoints: map[string]providers.Endpoint{"web1": {URL: srv.URL, User: "root", Token: "WRONG-secret-token"}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Zones(context.Background(), "web1")
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), "WRONG-secret-token") {
		t.Fatalf("wrong token: %v", err)
	}
	// An unknown parent and a server error.
	if _, err := src.Zones(context.Background(), "web9"); err == nil || !strings.Contains(err.Error(), "web9") {
		t.Fatalf("unknown parent: %v", err)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer down.Close()
	downP, err := New(providers.Config{Endpoints: map[string]providers.Endpoint{"web1": {URL: down.URL, User: "root", Token: token}}},
		Options{Client: whmapi.Options{Attempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = downP.Zones(context.Background(), "web1")
	if !errors.Is(err, providers.ErrTransient) {
		t.Fatalf("HTTP 502: %v, want transient", err)
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
			p, err := New(providers.Config{Endpoints: map[string]providers.Endpoint{"web1": {URL: srv.URL, User: "root", Token: "t"}}}, Options{})
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

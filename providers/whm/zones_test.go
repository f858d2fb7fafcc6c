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

// zoneServer answers listzones and parse_dns_zone the way whm-api.md documents them.
func zoneServer(t *testing.T, token string, zones map[string][]map[string]any) *httptest.Server {
	return httptest.NewServer(whmHandler(token, zones))
}

func whmHandler(token string, zones map[string][]map[string]any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "whm root:"+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("api.version") != "1" {
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
		case "parse_dns_zone":
			p, ok := zones[r.URL.Query().Get("zone")]
			if !ok {
				out = map[string]any{"metadata": map[string]any{"command": fn, "result": "0", "reason": "Zone does not exist."}}
				break
			}
			out = map[string]any{"data": map[string]any{"payload": p}, "metadata": map[string]any{"command": fn, "result": "1", "reason": "OK", "version": 1}}
		default:
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(out)
	})
}

func TestWHMZones(t *testing.T) {
	const token = "WHMTOKEN-never-printed"
	srv := zoneServer(t, token, map[string][]map[string]any{
		"alice.example": {
			{"type": "comment", "line_index": 0, "text_b64": b64s("; cPanel first:118")},
			{"type": "control", "line_index": 1, "text_b64": b64s("$TTL 14400")},
			record(2, "alice.example.", 86400, "SOA", "ns1.example.net.", "hostmaster.alice.example.", "2026112301", "3600", "1800", "1209600", "86400"),
			record(3, "alice.example.", "86400", "NS", "ns1.example.net."),
			record(4, "alice.example.", nil, "A", "192.0.2.10"),
			record(5, "mail", 14400, "A", "192.0.2.20"),
			record(6, "alice.example.", 14400, "MX", "0", "mail.alice.example."),
			record(7, "alice.example.", 14400, "TXT", `v=spf1 +a "quoted" ~all`, "café"),
		},
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

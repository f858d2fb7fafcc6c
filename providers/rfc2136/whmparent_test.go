package rfc2136

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/bindtest"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

func b64s(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// whmHandler answers listzones and export_zone_files (zone name → zone file text)
// the way their reference pages document them.
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
				if text, ok := zones[z]; ok {
					payload = append(payload, map[string]string{"zone": z, "text_b64": b64s(text)})
				}
			}
			out = map[string]any{"data": map[string]any{"payload": payload}, "metadata": map[string]any{"command": fn, "result": "1", "reason": "OK", "version": 1}}
		default:
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(out)
	})
}

// TestWHMParentToBIND runs the whole path: the parent's zone read from (fake) WHM by
// the whm provider (the zone source the session wires in), pushed to a real named,
// answered by it. Only this test joins the two providers; their code never does.
func TestWHMParentToBIND(t *testing.T) {
	n := bindtest.Start(t, map[string]string{"alice.example": preparedZone("alice.example")}, bindtest.Options{})
	payload := func(mailIP string) string {
		return "$TTL 14400\n" +
			"alice.example. 86400 IN SOA ns1.example.net. hostmaster.alice.example. 2026112301 3600 1800 1209600 86400\n" +
			"alice.example. 86400 IN NS ns1.example.net.\n" +
			"alice.example. 86400 IN NS ns2.example.net.\n" +
			"alice.example. 14400 IN A " + parentIP + "\n" +
			"mail 14400 IN A " + mailIP + "\n" +
			"webmail 14400 IN A " + mailIP + "\n" +
			"alice.example. 14400 IN MX 0 mail.alice.example.\n"
	}
	zones := map[string]string{"alice.example": payload(parentIP)}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		whmHandler("tok", zones).ServeHTTP(w, r)
	}))
	defer srv.Close()
	fleet := testFleet(schema.Threshold{}, map[string]*schema.Member{"bind1": member(schema.DNSRoleSync, n.Addr, "NS2_TSIG_SECRET")})
	parents, err := whm.New(providers.Config{Endpoints: map[string]providers.Endpoint{"web1": {URL: srv.URL, User: "root", Token: "tok"}}}, whm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(providers.Config{
		Secrets: secretsFrom(map[string]string{"NS2_TSIG_SECRET": n.Secret}),
		Zones:   parents,
	}, Options{Store: NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	for _, mailIP := range []string{parentIP, childIP} {
		mu.Lock()
		zones["alice.example"] = payload(mailIP)
		mu.Unlock()
		if scopes := p.Scopes(fleet); len(scopes) != 1 || scopes[0] != "web1/bind1" {
			t.Fatalf("scopes %v", scopes)
		}
		if err := p.Apply(context.Background(), change(plan.Update, "bind1", fleet.DNSClusters["web1"].Members["bind1"])); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"mail.alice.example", "webmail.alice.example"} {
			m := new(dns.Msg)
			m.SetQuestion(name+".", dns.TypeA)
			r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, n.Addr)
			if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != mailIP {
				t.Fatalf("%s = %v (%v), want %s", name, r, err, mailIP)
			}
		}
	}
}

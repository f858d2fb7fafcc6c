package whmapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// SignedDomainsBatch reads each list's signed domains from one batch answer; a
// server without PowerDNS is ErrNoDNSSEC per list; a server that refuses batch is
// asked call by call, with the same outcomes.
func TestSignedDomainsBatch(t *testing.T) {
	const (
		ds        = `{"domains":[{"domain":"A.example","ds_records":{"keys":{"257":{}}}},{"domain":"b.example","ds_records":{}}]}`
		ds2       = `{"domains":[{"domain":"c.example","ds_records":{}}]}`
		okMeta    = `"metadata":{"command":"fetch_ds_records_for_domains","result":1,"reason":"OK","version":1}`
		noPDNS    = `"metadata":{"command":"fetch_ds_records_for_domains","result":0,"reason":"(XID x) DNSSEC is only supported on servers configured with PowerDNS.","version":1}`
		batchOK   = `{"data":{"result":[{"data":` + ds + `,` + okMeta + `},{"data":` + ds2 + `,` + okMeta + `}]},"metadata":{"command":"batch","result":1,"reason":"OK","version":1}}`
		batchBIND = `{"data":{"result":[{"data":null,` + noPDNS + `},{"data":null,` + noPDNS + `}]},"metadata":{"command":"batch","result":1,"reason":"OK","version":1}}`
		refused   = `{"data":{"type":"x"},"metadata":{"command":"batch","result":0,"reason":"Unknown app","version":1}}`
	)
	lists := [][]string{{"a.example", "b.example"}, {"c.example"}}
	for _, tc := range []struct {
		name     string
		batch    string // the batch answer; single calls answer as the lists ask
		bind     bool   // single calls answer without PowerDNS
		want     []map[string]bool
		noDNSSEC bool
		requests int
	}{
		{"batch", batchOK, false, []map[string]bool{{"a.example": true, "b.example": false}, {"c.example": false}}, false, 1},
		{"batch, BIND", batchBIND, true, nil, true, 1},
		{"refused", refused, false, []map[string]bool{{"a.example": true, "b.example": false}, {"c.example": false}}, false, 3},
		{"refused, BIND", refused, true, nil, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				switch {
				case strings.HasSuffix(r.URL.Path, "/batch"):
					io.WriteString(w, tc.batch)
				case tc.bind:
					io.WriteString(w, `{"data":null,`+noPDNS+`}`)
				case r.URL.Query()["domain"][0] == "c.example":
					io.WriteString(w, `{"data":`+ds2+`,`+okMeta+`}`)
				default:
					io.WriteString(w, `{"data":`+ds+`,`+okMeta+`}`)
				}
			}))
			defer srv.Close()
			c := newClient(t, srv.URL, Options{})
			got, errs, err := c.SignedDomainsBatch(context.Background(), lists)
			if err != nil {
				t.Fatal(err)
			}
			if n := int(requests.Load()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			for i := range lists {
				if tc.noDNSSEC {
					if !errors.Is(errs[i], ErrNoDNSSEC) {
						t.Errorf("list %d: error %v, want ErrNoDNSSEC", i, errs[i])
					}
					continue
				}
				if errs[i] != nil {
					t.Fatalf("list %d: %v", i, errs[i])
				}
				if len(got[i]) != len(tc.want[i]) {
					t.Errorf("list %d: %v, want %v", i, got[i], tc.want[i])
				}
				for d, s := range tc.want[i] {
					if v, ok := got[i][d]; !ok || v != s {
						t.Errorf("list %d: %s signed %v (%v), want %v", i, d, v, ok, s)
					}
				}
			}
		})
	}
}

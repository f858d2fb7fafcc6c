package whmapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestEncodeQueryIsURLEncode: encodeQuery writes what url.Values.Encode writes, for
// every byte value and the shapes of query Tether sends.
func TestEncodeQueryIsURLEncode(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	for _, tc := range []struct {
		name string
		v    url.Values
	}{
		{"empty", url.Values{}},
		{"nil", nil},
		{"every byte", url.Values{"k": {string(all)}, string(all): {"v"}}},
		{"UTF-8 and spaces", url.Values{"domain": {"exämple.test"}, "reason": {"a b+c"}}},
		{"keys sorted, repeated values in order", url.Values{"user": {"b", "a", ""}, "api.version": {"1"}, "feature": {"apitokens"}}},
		{"a batch", url.Values{"api.version": {"1"}, "command": {
			"uapi_cpanel?cpanel.function=list_forwarders&cpanel.module=Email&cpanel.user=u00001&domain=u00001.example.test",
			"listaccts?api.columns.a=user&api.columns.enable=1&want=user%2Cdomain"}}},
		{"more than eight keys", url.Values{"a": {"1"}, "b": {"2"}, "c": {"3"}, "d": {"4"}, "e": {"5"}, "f": {"6"}, "g": {"7"}, "h": {"8"}, "i": {"9"}, "j": {"10"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := encodeQuery(tc.v), tc.v.Encode(); got != want {
				t.Errorf("encodeQuery = %q\nEncode      = %q", got, want)
			}
		})
	}
	if got, want := commandQuery("listaccts", url.Values{"want": {"user,domain"}}), "listaccts?want=user%2Cdomain"; got != want {
		t.Errorf("commandQuery = %q, want %q", got, want)
	}
}

// forwardersCommand writes what commandQuery writes for the same read, whatever the
// user and domain hold.
func TestForwardersCommandIsCommandQuery(t *testing.T) {
	for _, tc := range []struct{ user, domain string }{
		{"alice", "alice.example"},
		{"", ""},
		{"user_01", "xn--bcher-kva.example"},
		{"a b+c", "d&e=f.example"},
		{"%41~.-_", "ü.example"},
		{"caf\xc3", "\x00\xff/?#"},
	} {
		checkForwardersCommand(t, tc.user, tc.domain)
	}
}

func FuzzForwardersCommand(f *testing.F) {
	f.Add("alice", "alice.example")
	f.Add("a b+c", "d&e=f.example")
	f.Fuzz(checkForwardersCommand)
}

func checkForwardersCommand(t *testing.T, user, domain string) {
	want := commandQuery("uapi_cpanel", uapiParams(user, "Email", "list_forwarders", url.Values{"domain": {domain}}))
	if got := forwardersCommand(user, domain); got != want {
		t.Errorf("forwardersCommand(%q, %q) = %q, want %q", user, domain, got, want)
	}
}

// A read's query reaches the server as encodeQuery writes it (set on the parsed URL,
// not parsed from the string), after the base URL's path and the function's.
func TestReadQueryOnTheWire(t *testing.T) {
	var (
		mu             sync.Mutex
		rawQuery, path string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		rawQuery, path = r.URL.RawQuery, r.URL.Path
		mu.Unlock()
		io.WriteString(w, okVersion)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name   string
		base   string
		params url.Values
	}{
		{"no params", "", nil},
		{"escapes", "", url.Values{"user": {"a b+c&d=e"}, "domain": {"ü.example"}, "api.version": {"7"}}},
		{"base path", "/prefix/", url.Values{"command": {"version?", "listaccts?want=user%2Cdomain"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, srv.URL+tc.base, Options{})
			if _, err := c.Call(context.Background(), Read, "version", tc.params, nil); err != nil {
				t.Fatal(err)
			}
			want := url.Values{"api.version": {"1"}}
			for k, v := range tc.params {
				if k != "api.version" {
					want[k] = v
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if rawQuery != want.Encode() {
				t.Errorf("query %q, want %q", rawQuery, want.Encode())
			}
			if wantPath := strings.TrimRight(tc.base, "/") + "/json-api/version"; path != wantPath {
				t.Errorf("path %q, want %q", path, wantPath)
			}
		})
	}
}

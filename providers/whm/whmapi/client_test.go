package whmapi

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-dev/tether/providers"
)

const token = "TOKEN-7f3a9c-DO-NOT-LEAK"

func fast(o Options) Options {
	if o.BaseDelay == 0 {
		o.BaseDelay = time.Millisecond
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = 5 * time.Millisecond
	}
	return o
}

func newClient(t *testing.T, srvURL string, o Options) *Client {
	t.Helper()
	c, err := New("web1", providers.Endpoint{URL: srvURL, User: "root", Token: token}, fast(o))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const okVersion = `{"data":{"version":"11.118.0.5"},"metadata":{"command":"version","reason":"OK","result":1,"version":1}}`

func TestRequestShape(t *testing.T) {
	type seen struct {
		method, path, auth, ctype, apiVersion string
		form                                  url.Values
	}
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got = append(got, seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.URL.Query().Get("api.version"), r.PostForm})
		io.WriteString(w, `{"metadata":{"command":"x","version":1,"result":1,"reason":"OK"}}`)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, Options{})
	ctx := context.Background()
	if _, err := c.Call(ctx, Read, "listaccts", url.Values{"want": {"user"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(ctx, Once, "link_server_node_with_api_token", url.Values{"api_token": {"CHILD"}, "user": {"a", "b"}}, nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d requests", len(got))
	}
	for _, s := range got {
		if s.auth != "whm root:"+token {
			t.Errorf("%s: Authorization %q", s.path, s.auth)
		}
		if s.apiVersion != "1" {
			t.Errorf("%s: api.version=%q in the URL, want 1", s.path, s.apiVersion)
		}
	}
	if got[0].method != http.MethodGet || got[0].path != "/json-api/listaccts" {
		t.Errorf("read: %s %s, want GET /json-api/listaccts", got[0].method, got[0].path)
	}
	if got[1].method != http.MethodPost || got[1].ctype != "application/x-www-form-urlencoded" {
		t.Errorf("write: %s %s", got[1].method, got[1].ctype)
	}
	if got[1].form.Get("api_token") != "CHILD" || len(got[1].form["user"]) != 2 {
		t.Errorf("write body: %v, want api_token and a repeated user", got[1].form)
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name      string
		kind      Kind
		failures  int    // how many requests fail before success
		failHow   string // "500", "close", "reason0"
		attempts  int
		wantCalls int32
		wantErr   bool
		transient bool
	}{
		{"5xx then ok", Read, 2, "500", 4, 3, false, false},
		{"5xx exhausts attempts", Read, 10, "500", 3, 3, true, true},
		{"dropped connection then ok", Read, 1, "close", 4, 2, false, false},
		{"result 0 is not retried", Read, 10, "reason0", 4, 1, true, false},
		{"idempotent write retried on 5xx", Idempotent, 1, "500", 4, 2, false, false},
		// The request reached the server: a createacct must not be sent again.
		{"once not retried after the request reached the server (5xx)", Once, 1, "500", 4, 1, true, true},
		{"once not retried after the request reached the server (drop)", Once, 1, "close", 4, 1, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				if int(n) <= tt.failures {
					switch tt.failHow {
					case "500":
						http.Error(w, "Internal Server Error", 500)
					case "close":
						hj, _ := w.(http.Hijacker)
						conn, _, _ := hj.Hijack()
						conn.Close()
					case "reason0":
						io.WriteString(w, `{"metadata":{"command":"version","version":1,"result":0,"reason":"no"}}`)
					}
					return
				}
				io.WriteString(w, okVersion)
			}))
			defer srv.Close()
			c := newClient(t, srv.URL, Options{Attempts: tt.attempts})
			_, err := c.Call(context.Background(), tt.kind, "version", nil, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %t", err, tt.wantErr)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("%d calls, want %d", got, tt.wantCalls)
			}
			if err != nil && errors.Is(err, providers.ErrTransient) != tt.transient {
				t.Errorf("transient = %t, want %t (%v)", !tt.transient, tt.transient, err)
			}
		})
	}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A Once call whose request was never written (connection refused) is safe to retry.
func TestOnceRetriedWhenNeverSent(t *testing.T) {
	var calls atomic.Int32
	rt := rtFunc(func(r *http.Request) (*http.Response, error) {
		if calls.Add(1) < 3 {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		}
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(okVersion)), Header: http.Header{}}, nil
	})
	c := newClient(t, "https://web1.example.net:2087", Options{Transport: rt})
	if _, err := c.Call(context.Background(), Once, "createacct", url.Values{"username": {"a"}}, nil); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Errorf("%d attempts, want 3", calls.Load())
	}
}

func TestTypedErrors(t *testing.T) {
	tests := []struct {
		typ  string
		want error
	}{
		{"SendToParent", ErrSendToParent},
		{"TLSVerification", ErrTLSVerification},
		{"Stale", ErrStale},
		{"InvalidZoneFile", ErrInvalidZoneFile},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"data":{"type":"`+tt.typ+`","detail":{"chain":[]}},"metadata":{"command":"f","version":1,"result":0,"reason":"API failure: (XID abc) nope"}}`)
			}))
			defer srv.Close()
			_, err := newClient(t, srv.URL, Options{}).Call(context.Background(), Read, "f", nil, nil)
			var ae *APIError
			if !errors.As(err, &ae) || !errors.Is(err, tt.want) || ae.Type != tt.typ || len(ae.Detail) == 0 {
				t.Fatalf("err = %#v, want APIError of type %s wrapping %v", err, tt.typ, tt.want)
			}
			if errors.Is(err, providers.ErrTransient) {
				t.Error("a typed API failure must not be transient")
			}
			if !strings.Contains(err.Error(), "node web1") || !strings.Contains(err.Error(), "f:") {
				t.Errorf("message %q: want node and function", err)
			}
		})
	}
}

func TestHTTPFailures(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		check  func(error) bool
		words  []string
	}{
		{"401", 401, "Access denied " + token, func(e error) bool { var x *AuthError; return errors.As(e, &x) }, []string{"web1", `"root"`, "refused the API token"}},
		{"403", 403, "", func(e error) bool { var x *AuthError; return errors.As(e, &x) }, []string{"web1", "root"}},
		{"404", 404, "not here", func(e error) bool { var x *HTTPError; return errors.As(e, &x) && !errors.Is(e, providers.ErrTransient) }, []string{"HTTP 404"}},
		{"garbage", 200, "<html>login " + token + "</html>", func(e error) bool { var x *DecodeError; return errors.As(e, &x) }, []string{"web1", "listaccts", "not a WHM API 1 response", "<html>"}},
		{"no metadata", 200, `{"hello":1}`, func(e error) bool { var x *DecodeError; return errors.As(e, &x) }, []string{"no metadata"}},
		{"truncated", 200, `{"metadata":{"command":"listaccts","res`, func(e error) bool { var x *DecodeError; return errors.As(e, &x) }, []string{"listaccts"}},
		{"redirect", 302, "", func(e error) bool { var x *HTTPError; return errors.As(e, &x) }, []string{"redirected"}},
		{"reason echoes token", 200, `{"metadata":{"command":"listaccts","version":1,"result":0,"reason":"bad token ` + token + `"}}`, func(e error) bool { var x *APIError; return errors.As(e, &x) }, []string{"[REDACTED]"}},
		{"503 echoes token", 503, "upstream " + token, func(e error) bool { return errors.Is(e, providers.ErrTransient) }, []string{"HTTP 503"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.status == 302 {
					w.Header().Set("Location", "/login")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			_, err := newClient(t, srv.URL, Options{Attempts: 2}).Call(context.Background(), Read, "listaccts", nil, nil)
			if err == nil || !tt.check(err) {
				t.Fatalf("err = %v (%T)", err, err)
			}
			for _, w := range tt.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("token leaked: %v", err)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	t.Run("per call", func(t *testing.T) {
		c := newClient(t, srv.URL, Options{CallTimeout: 30 * time.Millisecond, Attempts: 2})
		start := time.Now()
		_, err := c.Call(context.Background(), Read, "version", nil, nil)
		if err == nil || !errors.Is(err, providers.ErrTransient) || !strings.Contains(err.Error(), "no answer within") {
			t.Fatalf("err = %v, want a transient timeout", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %s", d)
		}
	})
	t.Run("overall via ctx", func(t *testing.T) {
		c := newClient(t, srv.URL, Options{CallTimeout: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
		defer cancel()
		_, err := c.Call(ctx, Read, "version", nil, nil)
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "web1") {
			t.Fatalf("err = %v, want the caller's deadline, naming the node", err)
		}
	})
}

func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, okVersion) }))
	defer srv.Close()
	ctx := context.Background()

	t.Run("CA file", func(t *testing.T) {
		c, err := New("web1", providers.Endpoint{URL: srv.URL, User: "root", Token: token, CAFile: writeCA(t, srv)}, fast(Options{}))
		if err != nil {
			t.Fatal(err)
		}
		if v, err := c.Version(ctx); err != nil || v != "11.118.0.5" {
			t.Fatalf("Version = %q, %v", v, err)
		}
	})
	t.Run("unknown CA is refused, permanently", func(t *testing.T) {
		var calls atomic.Int32
		srv2 := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
		defer srv2.Close()
		c := newClient(t, srv2.URL, Options{})
		_, err := c.Version(ctx)
		var te *TransportError
		if !errors.As(err, &te) || !te.Permanent || errors.Is(err, providers.ErrTransient) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a permanent certificate error", err)
		}
	})
	fp := CertFingerprint(srv.Certificate().Raw)
	t.Run("an unverified server is an error naming node, fingerprint and the pin", func(t *testing.T) {
		_, err := newClient(t, srv.URL, Options{}).Version(ctx)
		var ue *UntrustedError
		if !errors.As(err, &ue) || ue.Fingerprint != fp {
			t.Fatalf("err = %v, want an UntrustedError with %s", err, fp)
		}
		for _, want := range []string{"web1", fp, `tls: {fingerprint: "` + fp + `"}`, "caFile"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
	pins := []struct {
		name, pin string
		ok        bool
	}{
		{"pinned fingerprint", fp, true},
		{"pinned, upper case with colons as openssl prints it", "SHA256:" + colons(strings.ToUpper(strings.TrimPrefix(fp, "sha256:"))), true},
		{"another certificate's fingerprint", "sha256:" + strings.Repeat("ab", 32), false},
	}
	for _, tc := range pins {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New("web1", providers.Endpoint{URL: srv.URL, User: "root", Token: token, Fingerprint: tc.pin}, fast(Options{}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Version(ctx)
			var ue *UntrustedError
			switch {
			case tc.ok && err != nil:
				t.Fatalf("pinned: %v", err)
			case !tc.ok && (!errors.As(err, &ue) || ue.Fingerprint != fp || !strings.Contains(err.Error(), "not the one node web1 pins")):
				t.Fatalf("wrong pin: %v", err)
			}
		})
	}
	t.Run("a malformed pin is refused before any request", func(t *testing.T) {
		if _, err := New("web1", providers.Endpoint{URL: srv.URL, User: "root", Token: token, Fingerprint: "sha1:00"}, Options{}); err == nil || !strings.Contains(err.Error(), "tls.fingerprint") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("address reaches the server while the certificate is checked against the URL's name", func(t *testing.T) {
		// httptest's certificate names example.com: the URL says example.com, the
		// connection goes to the test server.
		addr := strings.TrimPrefix(srv.URL, "https://")
		c, err := New("web1", providers.Endpoint{URL: "https://example.com:2087", Address: addr, User: "root", Token: token, CAFile: writeCA(t, srv)}, fast(Options{}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Version(ctx); err != nil {
			t.Fatalf("through address: %v", err)
		}
		c, _ = New("web1", providers.Endpoint{URL: "https://web1.example.net:2087", Address: addr, User: "root", Token: token, CAFile: writeCA(t, srv)}, fast(Options{}))
		if _, err := c.Version(ctx); err == nil || !strings.Contains(err.Error(), "web1.example.net") {
			t.Fatalf("a certificate for another name: %v", err)
		}
	})
	t.Run("bad CA file", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "ca.pem")
		os.WriteFile(bad, []byte("not a pem"), 0o600)
		_, err := New("web1", providers.Endpoint{URL: srv.URL, User: "root", Token: token, CAFile: bad}, Options{})
		if err == nil || !strings.Contains(err.Error(), "no PEM") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("insecure warns once, naming the node", func(t *testing.T) {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		c, err := New("mail1", providers.Endpoint{URL: srv.URL, User: "root", Token: token, Insecure: true}, fast(Options{Logger: log}))
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := c.Version(ctx); err != nil {
				t.Fatal(err)
			}
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], `"level":"WARN"`) || !strings.Contains(lines[0], `"node":"mail1"`) {
			t.Errorf("log = %q, want one warning naming mail1", buf.String())
		}
		if strings.Contains(buf.String(), token) {
			t.Error("token in the log")
		}
	})
}

// TestRedaction makes requests fail in every way the client knows and checks that no
// error message, and no log line, carries the token.
func TestRedaction(t *testing.T) {
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	handlers := map[string]http.HandlerFunc{
		"401": func(w http.ResponseWriter, r *http.Request) { http.Error(w, r.Header.Get("Authorization"), 401) },
		"500": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "echo "+r.Header.Get("Authorization"), 500)
		},
		"garbage": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<pre>"+r.Header.Get("Authorization")+"</pre>")
		},
		"reason": func(w http.ResponseWriter, r *http.Request) {
			b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"command": "x", "version": 1, "result": 0, "reason": r.Header.Get("Authorization")}})
			w.Write(b)
		},
		"typed": func(w http.ResponseWriter, r *http.Request) {
			b, _ := json.Marshal(map[string]any{"data": map[string]any{"type": "TLSVerification", "detail": r.Header.Get("Authorization")},
				"metadata": map[string]any{"command": "x", "version": 1, "result": 0, "reason": "tls " + r.Header.Get("Authorization")}})
			w.Write(b)
		},
		"bad json data": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"metadata":{"command":"x","version":1,"result":1,"reason":"OK"},"data":{"version":["`+token+`"]}}`)
		},
		"slow": func(w http.ResponseWriter, r *http.Request) {
			// Read the body so the server notices the client hanging up.
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		},
		"drop": func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + token))
			conn.Close()
		},
	}
	var errs []error
	for name, h := range handlers {
		srv := httptest.NewServer(h)
		c, err := New("web1", providers.Endpoint{URL: srv.URL, User: "root", Token: token}, fast(Options{Logger: log, CallTimeout: 20 * time.Millisecond, Attempts: 2}))
		if err != nil {
			t.Fatal(err)
		}
		for _, kind := range []Kind{Read, Once} {
			var out struct {
				Version int `json:"version"`
			}
			_, err := c.Call(context.Background(), kind, "version", url.Values{"x": {"y"}}, &out)
			if err == nil {
				t.Errorf("%s: no error", name)
				continue
			}
			errs = append(errs, err)
			_, err = c.Form(context.Background(), kind, "/cgi/adjustclusterdns.cgi", nil)
			if err != nil {
				errs = append(errs, err)
			}
		}
		srv.Close()
		// Once closed: connection refused.
		if _, err := c.Call(context.Background(), Read, "version", nil, nil); err != nil {
			errs = append(errs, err)
		}
	}
	// TLS failure and constructor errors.
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	c, _ := New("web1", providers.Endpoint{URL: tlsSrv.URL, User: "root", Token: token}, fast(Options{Logger: log}))
	if _, err := c.Version(context.Background()); err != nil {
		errs = append(errs, err)
	}
	if _, err := New("web1", providers.Endpoint{URL: "ftp://x", User: "root", Token: token}, Options{}); err != nil {
		errs = append(errs, err)
	}
	if _, err := New("web1", providers.Endpoint{URL: "https://x", User: "root", Token: token, CAFile: "/nonexistent/" + token}, Options{}); err != nil {
		// The path is the operator's, not the token; the test token only stands in.
		if strings.Contains(err.Error(), token) {
			t.Log("CA path echoed (expected: it is a path, not a secret)")
		}
	}
	if len(errs) < 20 {
		t.Fatalf("only %d failures produced", len(errs))
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), url.QueryEscape(token)) {
			t.Errorf("token in error: %v", err)
		}
		if strings.Contains(fmtAll(err), token) {
			t.Errorf("token in a wrapped error of: %v", err)
		}
	}
	if strings.Contains(logBuf.String(), token) {
		t.Errorf("token in log:\n%s", logBuf.String())
	}
}

// fmtAll renders an error and everything it wraps.
func fmtAll(err error) string {
	var b strings.Builder
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		b.WriteString(e.Error())
		b.WriteByte('\n')
		switch x := e.(type) {
		case interface{ Unwrap() []error }:
			for _, y := range x.Unwrap() {
				walk(y)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	return b.String()
}

func TestBatch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cmds := r.URL.Query()["command"]
		if len(cmds) != 2 || cmds[0] != "acctcounts?user=bob" {
			t.Errorf("commands %q", cmds)
		}
		io.WriteString(w, `{"data":{"result":[
{"data":{"reseller":{"user":"bob","limit":"5","active":"2","suspended":0}},"metadata":{"command":"acctcounts","result":1,"reason":"OK","version":1}},
{"data":{"reseller":{"user":"eve","limit":null,"active":0,"suspended":null}},"metadata":{"command":"acctcounts","result":1,"reason":"OK","version":1}}
]},"metadata":{"command":"batch","result":1,"reason":"OK","version":1}}`)
	}))
	defer srv.Close()
	got, err := newClient(t, srv.URL, Options{}).AcctCounts(context.Background(), []string{"bob", "eve"})
	if err != nil {
		t.Fatal(err)
	}
	if !got["bob"].Limit.Valid || got["bob"].Limit.N != 5 || got["eve"].Limit.Valid {
		t.Errorf("got %+v", got)
	}
}

// A server without batch: one acctcounts each.
func TestBatchFallback(t *testing.T) {
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls = append(calls, r.URL.Path)
		if strings.HasSuffix(r.URL.Path, "/batch") {
			io.WriteString(w, `{"metadata":{"command":"batch","result":0,"reason":"Unknown app","version":1}}`)
			return
		}
		io.WriteString(w, `{"data":{"reseller":{"user":"`+r.URL.Query().Get("user")+`","limit":7}},"metadata":{"command":"acctcounts","result":1,"reason":"OK","version":1}}`)
	}))
	defer srv.Close()
	got, err := newClient(t, srv.URL, Options{}).AcctCounts(context.Background(), []string{"bob", "eve"})
	if err != nil {
		t.Fatal(err)
	}
	if got["eve"].Limit.N != 7 || len(calls) != 3 {
		t.Errorf("got %+v after %v", got, calls)
	}
}

func TestNewRejects(t *testing.T) {
	for _, ep := range []providers.Endpoint{
		{URL: "", User: "root", Token: "t"},
		{URL: "web1:2087", User: "root", Token: "t"},
		{URL: "https://web1:2087", User: "", Token: "t"},
		{URL: "https://web1:2087", User: "root", Token: ""},
	} {
		if _, err := New("web1", ep, Options{}); err == nil || !strings.Contains(err.Error(), "web1") {
			t.Errorf("New(%+v) = %v, want an error naming the node", ep, err)
		}
	}
}

// colons writes hex as openssl prints a fingerprint: AB:CD:…
func colons(hex string) string {
	var b strings.Builder
	for i := 0; i < len(hex); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(hex[i : i+2])
	}
	return b.String()
}

// TestTLSResumption: a node's second connection resumes its first one's TLS session,
// verified by a pin or by a CA file, and a session is only its node's: another
// client of the same server (another node behind the same host name) makes a full
// handshake.
func TestTLSResumption(t *testing.T) {
	var resumed []bool
	var mu sync.Mutex
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		resumed = append(resumed, r.TLS.DidResume)
		mu.Unlock()
		io.WriteString(w, okVersion)
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		ep   providers.Endpoint
	}{
		{"pinned", providers.Endpoint{Fingerprint: CertFingerprint(srv.Certificate().Raw)}},
		{"CA file", providers.Endpoint{CAFile: writeCA(t, srv)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := tc.ep
			ep.URL, ep.User, ep.Token = srv.URL, "root", token
			mu.Lock()
			resumed = nil
			mu.Unlock()
			for _, node := range []string{"web1", "web2"} {
				c, err := New(node, ep, fast(Options{}))
				if err != nil {
					t.Fatal(err)
				}
				for range 2 {
					if _, err := c.Version(ctx); err != nil {
						t.Fatal(err)
					}
					c.CloseIdleConnections() // the next call opens a new connection
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if want := []bool{false, true, false, true}; !slices.Equal(resumed, want) {
				t.Errorf("resumed %v, want %v (web1's two connections, then web2's)", resumed, want)
			}
		})
	}
}

// TestSharedSecretsRedacted: the strings of a SecretSet shared by many clients, and
// their URL-escaped forms, are redacted as a client's own Secrets are.
func TestSharedSecretsRedacted(t *testing.T) {
	const other, own = "OTHER/node+token", "OWN/secret+x"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"command": "x", "version": 1, "result": 0,
			"reason": "echo " + other + " " + url.QueryEscape(other) + " " + own + " " + url.QueryEscape(own)}})
		w.Write(b)
	}))
	defer srv.Close()
	shared := NewSecretSet([]string{"", other})
	for _, o := range []Options{{SharedSecrets: shared, Secrets: []string{own}}, {SharedSecrets: shared, Secrets: []string{own}}} {
		_, err := newClient(t, srv.URL, o).Call(context.Background(), Read, "x", nil, nil)
		if err == nil || strings.Contains(err.Error(), "OTHER") || strings.Contains(err.Error(), "OWN") || strings.Count(err.Error(), "[REDACTED]") != 4 {
			t.Errorf("err = %v, want each secret and its escaped form redacted", err)
		}
	}
}

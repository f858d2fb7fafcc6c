package notify

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestParseURLs(t *testing.T) {
	got := ParseURLs("# chat\nslack://hook:A-B-C@webhook\n\n  teams://x@y/z/w/v?host=h.example  generic+https://h.example/p\n")
	want := []string{"slack://hook:A-B-C@webhook", "teams://x@y/z/w/v?host=h.example", "generic+https://h.example/p"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("ParseURLs = %q, want %q", got, want)
	}
}

func TestNewChecksServicesWithoutLeaking(t *testing.T) {
	const secret = "xoxb-SECRET-TOKEN-123"
	for _, tc := range []struct {
		urls    []string
		wantErr string
	}{
		{[]string{"slack://hook:" + secret + "@webhook", "teams://g@t/a/o/e?host=org.webhook.office.com", "matrix://:" + secret + "@matrix.example.org/?rooms=!room:example.org", "generic+https://hooks.example.net/" + secret}, ""},
		{[]string{"slakc://hook:" + secret + "@webhook"}, `notification URL 1: "slakc" is not a service`},
		{[]string{"no scheme " + secret}, "notification URL 1: not a URL"},
	} {
		n, err := New(tc.urls)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("New(%d URLs): %v", len(tc.urls), err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("New: error %v, want %q", err, tc.wantErr)
		case err != nil && strings.Contains(err.Error(), secret):
			t.Errorf("the error shows the secret: %v", err)
		case err == nil && len(n.Services()) != len(tc.urls):
			t.Errorf("services %v", n.Services())
		}
	}
}

// A notification goes through shoutrrr to the service; here its generic webhook, which
// a test server can stand for (Slack, Teams and Matrix need their hosts).
func TestSendDelivers(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, r.URL.Path+" "+string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	n, err := New([]string{"generic+http://" + host + "/hooks/tether"})
	if err != nil {
		t.Fatal(err)
	}
	m := Message{Kind: "drift", Commit: "0123456789ab", Text: "2 change(s): update account.alice, delete account.bob"}
	if err := n.Send(m); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || !strings.HasPrefix(bodies[0], "/hooks/tether ") || !strings.Contains(bodies[0], "update account.alice") || !strings.Contains(bodies[0], "Tether: drift at 0123456789ab") {
		t.Fatalf("delivered %q", bodies)
	}
}

func TestSendFailureNamesServiceNotSecret(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	const secret = "T0KEN-in-the-path-42"
	n, err := New([]string{"generic+http://" + addr + "/hooks/" + secret + "?@Authorization=Bearer%20" + secret})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Send(Message{Kind: "failure", Text: "x"})
	if err == nil {
		t.Fatal("a send to a closed port succeeded")
	}
	if !strings.HasPrefix(err.Error(), "generic+http: ") || strings.Contains(err.Error(), secret) {
		t.Fatalf("error %q: want it to name the service and hide the URL", err)
	}
}

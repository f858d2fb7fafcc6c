package watch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/gitsource"
)

const testHookToken = "hook-s3cret"

func sign(key, body string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

// TestHookAuthentication posts to /hook of a running daemon in every form a forge or a
// script sends its secret, right and wrong.
func TestHookAuthentication(t *testing.T) {
	const body = `{"ref":"refs/heads/master"}`
	tests := []struct {
		name    string
		secret  string
		open    bool
		headers map[string]string
		want    int
	}{
		{"no secret configured: closed", "", false, nil, http.StatusForbidden},
		{"no secret configured, bearer sent: still closed", "", false, map[string]string{"Authorization": "Bearer x"}, http.StatusForbidden},
		{"--hook-open on loopback: open", "", true, nil, http.StatusAccepted},
		{"no credentials", testHookToken, false, nil, http.StatusUnauthorized},
		{"bearer token", testHookToken, false, map[string]string{"Authorization": "Bearer " + testHookToken}, http.StatusAccepted},
		{"wrong bearer token", testHookToken, false, map[string]string{"Authorization": "Bearer " + testHookToken + "x"}, http.StatusUnauthorized},
		{"basic auth is not a bearer", testHookToken, false, map[string]string{"Authorization": "Basic " + testHookToken}, http.StatusUnauthorized},
		{"GitLab token", testHookToken, false, map[string]string{"X-Gitlab-Token": testHookToken}, http.StatusAccepted},
		{"wrong GitLab token", testHookToken, false, map[string]string{"X-Gitlab-Token": "nope"}, http.StatusUnauthorized},
		{"GitHub signature", testHookToken, false, map[string]string{"X-Hub-Signature-256": "sha256=" + sign(testHookToken, body)}, http.StatusAccepted},
		{"GitHub signature of another body", testHookToken, false, map[string]string{"X-Hub-Signature-256": "sha256=" + sign(testHookToken, body+" ")}, http.StatusUnauthorized},
		{"GitHub signature with another key", testHookToken, false, map[string]string{"X-Hub-Signature-256": "sha256=" + sign("other", body)}, http.StatusUnauthorized},
		{"GitHub signature without its prefix", testHookToken, false, map[string]string{"X-Hub-Signature-256": sign(testHookToken, body)}, http.StatusUnauthorized},
		{"Gitea signature", testHookToken, false, map[string]string{"X-Gitea-Signature": sign(testHookToken, body)}, http.StatusAccepted},
		{"Forgejo signature", testHookToken, false, map[string]string{"X-Forgejo-Signature": sign(testHookToken, body)}, http.StatusAccepted},
		{"Gitea signature not hex", testHookToken, false, map[string]string{"X-Gitea-Signature": "zz"}, http.StatusUnauthorized},
		{"a wrong bearer beside a right signature", testHookToken, false, map[string]string{"Authorization": "Bearer x", "X-Gitea-Signature": sign(testHookToken, body)}, http.StatusUnauthorized},
		{"--hook-open with a secret: the secret is required", testHookToken, true, nil, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startHook(t, "127.0.0.1:0", tt.secret, tt.open)
			req, _ := http.NewRequest(http.MethodPost, "http://"+d.Addr()+"/hook", strings.NewReader(body))
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, msg, tt.want)
			}
			if tt.secret != "" && strings.Contains(string(msg), tt.secret) {
				t.Fatalf("the answer quotes the secret: %s", msg)
			}
		})
	}
}

// TestOpenHookRefusedOffLoopback: an unauthenticated hook on an address others can
// reach is a start-up error, not a warning.
func TestOpenHookRefusedOffLoopback(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0"} {
		d := newHookDaemon(t, listen, "", true)
		srv, err := d.serveHTTP()
		if err == nil {
			srv.Close()
			t.Fatalf("--hook-open on %s was accepted", listen)
		}
		if !strings.Contains(err.Error(), "--hook-open") || !strings.Contains(err.Error(), "TETHER_HOOK_TOKEN") {
			t.Errorf("error %q does not say what to do", err)
		}
	}
	// With a secret, any address will do.
	d := newHookDaemon(t, "0.0.0.0:0", testHookToken, false)
	srv, err := d.serveHTTP()
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}

func TestEqualConst(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{{"abc", "abc", true}, {"abc", "abd", false}, {"abc", "abcd", false}, {"", "", true}, {"", "a", false}} {
		if got := equalConst(tt.a, tt.b); got != tt.want {
			t.Errorf("equalConst(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

func newHookDaemon(t *testing.T, listen, secret string, open bool) *Daemon {
	t.Helper()
	g := newRepo(t)
	g.commit("accounts: one\n", nil)
	src, err := gitsource.Open(t.Context(), gitsource.Options{Repo: g.dir})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Source: src, Branch: "master", Interval: time.Hour, Poll: time.Hour, StateDir: t.TempDir(),
		Listen: listen, HookToken: secret, HookOpen: open, Runner: &fakeRunner{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func startHook(t *testing.T, listen, secret string, open bool) *Daemon {
	t.Helper()
	d := newHookDaemon(t, listen, secret, open)
	srv, err := d.serveHTTP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return d
}

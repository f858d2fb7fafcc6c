package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestWatchRedactsRepoCredentials: a repository URL with a password is logged at
// start-up and in every failed fetch; none of them may show the password.
func TestWatchRedactsRepoCredentials(t *testing.T) {
	// A server that refuses everything, so fetches fail with the URL in the error.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	repo := strings.Replace(srv.URL, "http://", "http://user:PASS-9f3k@", 1) + "/fleet.git"
	sb := filepath.Join(t.TempDir(), "sandbox")
	w := startWatch(t, sb, "--repo", repo)
	w.waitFor("watching", 1, "repo", "***@")
	w.waitFor("sync failed", 1)
	// The daemon is stopped by the test's cleanup; its log so far holds both sites.
	if strings.Contains(w.log.String(), "PASS-9f3k") {
		t.Fatalf("the repository password was logged:\n%s", w.log.String())
	}
}

// TestLoggersRedact: the loggers the commands build (text on a terminal, JSON
// elsewhere) take credentials out of every URL they are given.
func TestLoggersRedact(t *testing.T) {
	const u = "https://user:PASS-9f3k@git.example.org/f.git?token=T0K"
	for _, term := range []bool{false, true} {
		c := testCLI()
		c.terminal = func(any) bool { return term }
		var b bytes.Buffer
		log := c.newLogger(&b)
		log.Warn("notification not delivered to "+u, "url", u, "err", errors.New("Post \""+u+"\": refused"))
		if s := b.String(); strings.Contains(s, "PASS-9f3k") || strings.Contains(s, "T0K") || !strings.Contains(s, "***@git.example.org") {
			t.Errorf("terminal=%v: %s", term, s)
		}
	}
}

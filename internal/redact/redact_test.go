package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://user:s3cret@git.example.org/fleet.git", "https://***@git.example.org/fleet.git"},
		{"https://ghp_T0KEN@github.com/o/r.git", "https://***@github.com/o/r.git"},
		{"https://x-access-token:T0KEN@github.com/o/r", "https://***@github.com/o/r"},
		{"https://git.example.org/fleet.git", "https://git.example.org/fleet.git"},
		{"file:///tmp/x", "file:///tmp/x"},
		{"/tmp/fleet", "/tmp/fleet"},
		{"git@github.com:o/r.git", "git@github.com:o/r.git"},
		{"https://hooks.example.com/notify?token=s3cret&channel=ops", "https://hooks.example.com/notify?channel=ops&token=%2A%2A%2A"},
		{"https://h.example/x?access_token=s3cret", "https://h.example/x?access_token=%2A%2A%2A"},
		{"https://h.example/x?page=2", "https://h.example/x?page=2"},
		// url.Parse refuses the bad escape; the user information still goes.
		{"https://user:pa%zzss@host.example/x", "https://***@host.example/x"},
		{"https://u:p@w@host.example/x", "https://***@host.example/x"},
	}
	for _, tt := range tests {
		got := URL(tt.in)
		if got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for _, secret := range []string{"s3cret", "T0KEN", "pa%zzss"} {
			if strings.Contains(got, secret) {
				t.Errorf("URL(%q) = %q keeps a secret", tt.in, got)
			}
		}
	}
}

func TestText(t *testing.T) {
	in := `clone https://user:PASS@git.example.org/f.git: Get "https://user:PASS@git.example.org/f.git/info/refs": dial tcp: refused`
	got := Text(in)
	if strings.Contains(got, "PASS") {
		t.Fatalf("Text kept the password: %s", got)
	}
	if want := `clone https://***@git.example.org/f.git: Get "https://***@git.example.org/f.git/info/refs": dial tcp: refused`; got != want {
		t.Errorf("Text = %s\nwant   %s", got, want)
	}
	if s := "no url here"; Text(s) != s {
		t.Errorf("Text changed %q", s)
	}
}

func TestErrorKeepsTheChain(t *testing.T) {
	err := Error(fmt.Errorf("fetch https://u:PASS@h.example/r: %w", fs.ErrNotExist))
	if strings.Contains(err.Error(), "PASS") || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Error = %v (Is ErrNotExist: %v)", err, errors.Is(err, fs.ErrNotExist))
	}
	plain := errors.New("nothing to hide")
	if Error(plain) != plain {
		t.Error("an error without a URL was wrapped")
	}
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

// TestLoggers: every kind of attribute that can carry a URL, through both handlers.
func TestLoggers(t *testing.T) {
	const u = "https://user:PASS@git.example.org/fleet.git"
	for name, mk := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, Options(nil)) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, Options(slog.LevelInfo)) },
	} {
		var b bytes.Buffer
		log := slog.New(mk(&b))
		log.Info("watching "+u, "repo", u, "err", errors.New("clone "+u+": refused"), "s", stringer{u},
			slog.Group("g", "url", u))
		log.With("repo", u).Warn("fetch failed")
		if strings.Contains(b.String(), "PASS") {
			t.Errorf("%s: the password was logged:\n%s", name, b.String())
		}
		if c := strings.Count(b.String(), "***@git.example.org"); c != 6 {
			t.Errorf("%s: %d redacted URLs, want 6:\n%s", name, c, b.String())
		}
	}
}

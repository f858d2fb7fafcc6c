package gitsource

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// repoWith makes a work tree with one commit per files map, returning the repo and
// its folder.
func repoWith(t *testing.T, commits []map[string]string, signer *openpgp.Entity) (*git.Repository, string) {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := r.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for i, files := range commits {
		for name, body := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := wt.Add(name); err != nil {
				t.Fatal(err)
			}
		}
		_, err := wt.Commit("commit "+string(rune('A'+i)), &git.CommitOptions{
			Author:  &object.Signature{Name: "Op", Email: "op@example.org", When: time.Unix(1700000000+int64(i), 0)},
			SignKey: signer,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return r, dir
}

func TestExportAtCommit(t *testing.T) {
	_, dir := repoWith(t, []map[string]string{
		{"fleet/a.yaml": "nodes: {}\n", "README.md": "x"},
		{"fleet/a.yaml": "accounts: {}\n", "fleet/b.yml": "resellers: {}\n"},
	}, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name, ref string
		want      map[string]string
	}{
		{"head", "", map[string]string{"a.yaml": "accounts: {}\n", "b.yml": "resellers: {}\n"}},
		{"parent", "HEAD~1", map[string]string{"a.yaml": "nodes: {}\n"}},
		{"branch", "master", map[string]string{"a.yaml": "accounts: {}\n", "b.yml": "resellers: {}\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, Options{Repo: dir, Path: "fleet"})
			if err != nil {
				t.Fatal(err)
			}
			h, err := s.Resolve(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Export(h, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(out)
			if len(entries) != len(tc.want) {
				t.Fatalf("exported %d files, want %d", len(entries), len(tc.want))
			}
			for name, body := range tc.want {
				got, err := os.ReadFile(filepath.Join(out, name))
				if err != nil || string(got) != body {
					t.Errorf("%s = %q, %v; want %q", name, got, err, body)
				}
			}
		})
	}
}

func TestResolveUnknownRef(t *testing.T) {
	_, dir := repoWith(t, []map[string]string{{"f.yaml": "{}"}}, nil)
	s, err := Open(context.Background(), Options{Repo: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve("no-such-branch"); err == nil || !strings.Contains(err.Error(), "no-such-branch") {
		t.Fatalf("err = %v, want it to name the ref", err)
	}
}

func TestRemoteFetchFollowsForcePush(t *testing.T) {
	r, dir := repoWith(t, []map[string]string{{"f.yaml": "one\n"}}, nil)
	ctx := context.Background()
	s, err := Open(ctx, Options{Repo: "file://" + dir, Ref: "master", CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite history: a new root commit replaces the branch (a force push).
	wt, _ := r.Worktree()
	os.WriteFile(filepath.Join(dir, "f.yaml"), []byte("two\n"), 0o644)
	wt.Add("f.yaml")
	h, err := wt.Commit("rewritten", &git.CommitOptions{Amend: true, Author: &object.Signature{Name: "Op", Email: "op@example.org", When: time.Unix(1800000000, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	second, err := s.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	if second == first || second != h {
		t.Fatalf("after force push resolved %s, want %s (was %s)", second, h, first)
	}
}

func TestVerifySignature(t *testing.T) {
	trusted, err := openpgp.NewEntity("Ops", "", "ops@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := openpgp.NewEntity("Mallory", "", "m@example.org", nil)
	keyring := armored(t, trusted)

	_, signedDir := repoWith(t, []map[string]string{{"f.yaml": "{}"}}, trusted)
	_, strangerDir := repoWith(t, []map[string]string{{"f.yaml": "{}"}}, stranger)
	_, unsignedDir := repoWith(t, []map[string]string{{"f.yaml": "{}"}}, nil)

	for _, tc := range []struct {
		name, dir string
		ok        bool
		unsigned  bool
	}{
		{"trusted", signedDir, true, false},
		{"untrusted key", strangerDir, false, false},
		{"unsigned", unsignedDir, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), Options{Repo: tc.dir})
			if err != nil {
				t.Fatal(err)
			}
			h, _ := s.Resolve("")
			who, err := s.Verify(h, keyring)
			if tc.ok {
				if err != nil || !strings.Contains(who, "ops@example.org") {
					t.Fatalf("Verify = %q, %v", who, err)
				}
				return
			}
			if err == nil {
				t.Fatal("Verify accepted a commit it must refuse")
			}
			if tc.unsigned != errors.Is(err, ErrUnsigned) {
				t.Fatalf("err = %v, unsigned=%v", err, tc.unsigned)
			}
		})
	}
}

func armored(t *testing.T, e *openpgp.Entity) string {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.String()
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:s3cret@git.example.org/fleet.git": "https://***@git.example.org/fleet.git",
		"https://git.example.org/fleet.git":             "https://git.example.org/fleet.git",
		"file:///tmp/x":                                 "file:///tmp/x",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

package gitsource

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

func TestExportBase(t *testing.T) {
	r, dir := repoWith(t, []map[string]string{
		{"fleet/fleet.yaml": "base\n", "other/x.yaml": "not the fleet\n"},
		{"fleet/fleet.yaml": "head\n", "single.yaml": "one file\n"},
	}, nil)
	head, err := r.Head()
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	base := c.ParentHashes[0]
	// What CI has: the base branch as a remote-tracking ref.
	if err := r.Storer.SetReference(plumbing.NewHashReference("refs/remotes/origin/main", base)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, fleet, ref string
		want             string // the exported file's content; "" for ErrNoFleetAtRef
		file             string // the file to read, relative to the returned path
	}{
		{"folder at a remote-tracking branch", filepath.Join(dir, "fleet"), "origin/main", "base\n", "fleet.yaml"},
		{"folder at a commit", filepath.Join(dir, "fleet"), base.String(), "base\n", "fleet.yaml"},
		{"folder at HEAD", filepath.Join(dir, "fleet"), "HEAD", "head\n", "fleet.yaml"},
		{"a fleet file", filepath.Join(dir, "fleet", "fleet.yaml"), "origin/main", "base\n", ""},
		{"a file the base lacks", filepath.Join(dir, "single.yaml"), "origin/main", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			b, err := ExportBase(tc.fleet, tc.ref, out)
			if tc.want == "" {
				if !errors.Is(err, ErrNoFleetAtRef) || b.Commit != base.String() {
					t.Fatalf("ExportBase = %+v, %v; want ErrNoFleetAtRef at %s", b, err, base)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := b.Path
			if tc.file != "" {
				p = filepath.Join(p, tc.file)
			}
			got, err := os.ReadFile(p)
			if err != nil || string(got) != tc.want {
				t.Fatalf("exported %s = %q, %v; want %q", p, got, err, tc.want)
			}
			if !strings.HasPrefix(b.Path, out) {
				t.Errorf("exported outside the folder: %s", b.Path)
			}
			if _, err := os.Stat(filepath.Join(out, "other")); err == nil {
				t.Error("files outside the fleet path were exported")
			}
		})
	}
	if _, err := ExportBase(filepath.Join(dir, "fleet"), "no-such-branch", t.TempDir()); err == nil || !strings.Contains(err.Error(), `resolve "no-such-branch"`) {
		t.Errorf("an unknown ref: %v", err)
	}
	if _, err := ExportBase(t.TempDir(), "main", t.TempDir()); err == nil || !strings.Contains(err.Error(), "not in a git work tree") {
		t.Errorf("outside a repository: %v", err)
	}
}

// A lazy remote contacts nothing when opened; every fetch reports the failure, and
// reads say the repository was never fetched rather than crash.
func TestLazyRemoteUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/fleet.git"
	ln.Close()
	s, err := Open(context.Background(), Options{Repo: url, CacheDir: filepath.Join(t.TempDir(), "clone"), Lazy: true})
	if err != nil {
		t.Fatalf("a lazy Open contacted the remote: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "clone") {
			t.Fatalf("fetch %d of a closed port: %v", i, err)
		}
	}
	if _, err := s.Resolve("main"); !errors.Is(err, errNotCloned) {
		t.Fatalf("Resolve before any fetch: %v", err)
	}
	if _, err := s.Export(plumbing.NewHash("0123456789012345678901234567890123456789"), t.TempDir()); !errors.Is(err, errNotCloned) {
		t.Fatalf("Export before any fetch: %v", err)
	}
	if _, err := Open(context.Background(), Options{Repo: url, CacheDir: filepath.Join(t.TempDir(), "clone")}); err == nil {
		t.Fatal("an eager Open of a closed port succeeded")
	}
}

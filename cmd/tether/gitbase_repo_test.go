package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// gitRepo is a real git repository in a temporary folder, written with go-git so the
// tests need no git binary. Commits have fixed authors and times: their hashes, and so
// the golden files that show them, are the same on every run.
type gitRepo struct {
	t   *testing.T
	dir string
	r   *git.Repository
	n   int
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	return &gitRepo{t: t, dir: dir, r: newGitRepoAt(t, dir)}
}

// newGitRepoAt makes a repository with a main branch in dir.
func newGitRepoAt(t *testing.T, dir string) *git.Repository {
	t.Helper()
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// resetHard puts the work tree back to where HEAD points.
var resetHard = git.ResetOptions{Mode: git.HardReset}

// write puts content at rel (slash-separated) in the work tree.
func (g *gitRepo) write(rel, content string) {
	g.t.Helper()
	p := filepath.Join(g.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// edit replaces from with to in rel, failing when from is absent.
func (g *gitRepo) edit(rel, from, to string) {
	g.t.Helper()
	b, err := os.ReadFile(filepath.Join(g.dir, filepath.FromSlash(rel)))
	if err != nil {
		g.t.Fatal(err)
	}
	if !strings.Contains(string(b), from) {
		g.t.Fatalf("%s has no %q", rel, from)
	}
	g.write(rel, strings.Replace(string(b), from, to, 1))
}

// commit stages everything and commits on the current branch, signed when key is set.
func (g *gitRepo) commit(msg string, key *openpgp.Entity) plumbing.Hash {
	g.t.Helper()
	wt, err := g.r.Worktree()
	if err != nil {
		g.t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		g.t.Fatal(err)
	}
	g.n++
	sig := &object.Signature{Name: "Op", Email: "op@example.org", When: time.Date(2026, 1, 2, 3, g.n, 0, 0, time.UTC)}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, SignKey: key, AllowEmptyCommits: true})
	if err != nil {
		g.t.Fatal(err)
	}
	return h
}

// setRef points a reference (refs/remotes/origin/main, refs/heads/main) at h.
func (g *gitRepo) setRef(name string, h plumbing.Hash) {
	g.t.Helper()
	if err := g.r.Storer.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(name), h)); err != nil {
		g.t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Package gitsource reads a fleet out of a git repository: a local work tree or a remote
// URL (https with a token from the environment, or ssh with a key file), at a branch,
// tag or commit. It exports the fleet's files at one commit into a folder for
// schema.Load, verifies OpenPGP commit signatures against a keyring, and records the
// commit so plans and journals can say where they came from.
package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"

	"github.com/tether-dev/tether/internal/redact"
)

// Options say where the fleet lives.
type Options struct {
	// Repo is a local path (a work tree or a bare repository) or a remote URL.
	Repo string
	// Ref is a branch, tag or commit; empty means the remote's default branch (or the
	// local HEAD).
	Ref string
	// Path is the fleet's folder or file inside the repository; empty means the root.
	Path string
	// CacheDir holds clones of remote repositories; empty means a temp folder.
	CacheDir string
	// TokenEnv names the environment variable holding an https token
	// (default TETHER_GIT_TOKEN). The token is never logged or put in an error.
	TokenEnv string
	// SSHKeyFile is a private key for ssh URLs.
	SSHKeyFile string
	// Lazy makes Open of a remote repository contact nothing: the first Fetch clones
	// (or refreshes a kept clone). A daemon starts, and keeps reporting, while the
	// forge is unreachable.
	Lazy bool
}

// Source is an opened repository.
type Source struct {
	opts     Options
	repo     *git.Repository
	remote   bool
	auth     transport.AuthMethod
	cacheDir string
}

// IsRemote reports whether repo names a remote URL rather than a local path.
func IsRemote(repo string) bool {
	return strings.Contains(repo, "://") || (strings.Contains(repo, "@") && strings.Contains(repo, ":") && !filepath.IsAbs(repo))
}

// Open opens a local repository or clones (or reuses the clone of) a remote one.
func Open(ctx context.Context, opts Options) (*Source, error) {
	s := &Source{opts: opts, remote: IsRemote(opts.Repo)}
	if !s.remote {
		r, err := git.PlainOpenWithOptions(opts.Repo, &git.PlainOpenOptions{DetectDotGit: true})
		if err != nil {
			return nil, fmt.Errorf("open git repository %s: %w", opts.Repo, err)
		}
		s.repo = r
		return s, nil
	}
	auth, err := authFor(opts)
	if err != nil {
		return nil, err
	}
	s.auth = auth
	dir := opts.CacheDir
	if dir == "" {
		dir, err = os.MkdirTemp("", "tether-git-")
		if err != nil {
			return nil, fmt.Errorf("clone %s: %w", redactURL(opts.Repo), err)
		}
	}
	s.cacheDir = dir
	if r, err := git.PlainOpen(dir); err == nil {
		s.repo = r
		if opts.Lazy {
			return s, nil
		}
		return s, s.Fetch(ctx)
	}
	if opts.Lazy {
		return s, nil
	}
	if err := s.clone(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Source) clone(ctx context.Context) error {
	r, err := git.PlainCloneContext(ctx, s.cacheDir, true, &git.CloneOptions{URL: s.opts.Repo, Auth: s.auth, Tags: git.AllTags})
	if err != nil {
		// A failed clone leaves a half-made folder that PlainOpen would later accept.
		os.RemoveAll(s.cacheDir)
		return fmt.Errorf("clone %s: %w", redactURL(s.opts.Repo), scrub(err, s.opts))
	}
	s.repo = r
	return nil
}

// errNotCloned is returned by reads of a lazy remote that no Fetch has cloned yet.
var errNotCloned = errors.New("the repository has not been fetched yet")

func authFor(opts Options) (transport.AuthMethod, error) {
	if strings.HasPrefix(opts.Repo, "https://") || strings.HasPrefix(opts.Repo, "http://") {
		env := opts.TokenEnv
		if env == "" {
			env = "TETHER_GIT_TOKEN"
		}
		if tok := os.Getenv(env); tok != "" {
			// Forges accept any user name with a token as the password.
			return &githttp.BasicAuth{Username: "tether", Password: tok}, nil
		}
		return nil, nil
	}
	if opts.SSHKeyFile != "" {
		keys, err := gitssh.NewPublicKeysFromFile("git", opts.SSHKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("ssh key %s: %w", opts.SSHKeyFile, err)
		}
		return keys, nil
	}
	return nil, nil
}

// Fetch brings a remote clone up to date; a force-pushed branch simply moves. Local
// repositories need no fetch: their refs are read as they are.
func (s *Source) Fetch(ctx context.Context) error {
	if !s.remote {
		return nil
	}
	if s.repo == nil {
		return s.clone(ctx)
	}
	err := s.repo.FetchContext(ctx, &git.FetchOptions{
		Auth:     s.auth,
		Force:    true,
		Tags:     git.AllTags,
		RefSpecs: []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetch %s: %w", redactURL(s.opts.Repo), scrub(err, s.opts))
	}
	return nil
}

// Resolve turns the configured ref (or ref, when given) into a commit hash.
func (s *Source) Resolve(ref string) (plumbing.Hash, error) {
	if s.repo == nil {
		return plumbing.ZeroHash, fmt.Errorf("resolve %q in %s: %w", ref, redactURL(s.opts.Repo), errNotCloned)
	}
	if ref == "" {
		ref = s.opts.Ref
	}
	if ref == "" {
		h, err := s.repo.Head()
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("resolve HEAD of %s: %w", redactURL(s.opts.Repo), err)
		}
		return h.Hash(), nil
	}
	for _, cand := range []string{ref, "refs/heads/" + ref, "refs/remotes/origin/" + ref, "refs/tags/" + ref} {
		if h, err := s.repo.ResolveRevision(plumbing.Revision(cand)); err == nil {
			return *h, nil
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("resolve %q in %s: no such branch, tag or commit", ref, redactURL(s.opts.Repo))
}

// Commit returns the commit object for a hash.
func (s *Source) Commit(h plumbing.Hash) (*object.Commit, error) {
	if s.repo == nil {
		return nil, fmt.Errorf("commit %s: %w", h, errNotCloned)
	}
	c, err := s.repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	return c, nil
}

// ErrUnsigned is returned by Verify for a commit with no signature.
var ErrUnsigned = errors.New("commit is not signed")

// Verify checks the commit's OpenPGP signature against an armored keyring and returns
// the signer's identity. A commit that is unsigned, or signed by a key not in the
// keyring, is refused.
func (s *Source) Verify(h plumbing.Hash, armoredKeyring string) (string, error) {
	c, err := s.Commit(h)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(c.PGPSignature) == "" {
		return "", fmt.Errorf("commit %s: %w", h.String()[:12], ErrUnsigned)
	}
	e, err := c.Verify(armoredKeyring)
	if err != nil {
		return "", fmt.Errorf("commit %s: signature not from a trusted key: %w", h.String()[:12], err)
	}
	for name := range e.Identities {
		return name, nil
	}
	return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint), nil
}

// maxExportBytes bounds a single exported file, matching the loader's own limit, so a
// hostile commit cannot fill the disk.
const maxExportBytes = 64 << 20

// Export writes the fleet's files (opts.Path) at commit h into dir and returns the
// path inside dir to hand to schema.Load. Only the fleet's files are written.
func (s *Source) Export(h plumbing.Hash, dir string) (string, error) {
	c, err := s.Commit(h)
	if err != nil {
		return "", err
	}
	tree, err := c.Tree()
	if err != nil {
		return "", fmt.Errorf("commit %s: tree: %w", h, err)
	}
	sub := strings.Trim(path.Clean("/"+filepath.ToSlash(s.opts.Path)), "/")
	if sub != "" {
		if f, err := tree.File(sub); err == nil {
			out := filepath.Join(dir, filepath.FromSlash(sub))
			return out, writeBlob(f, out)
		}
		tree, err = tree.Tree(sub)
		if err != nil {
			return "", fmt.Errorf("commit %s: fleet path %q: %w", h.String()[:12], s.opts.Path, err)
		}
	}
	root := filepath.Join(dir, filepath.FromSlash(sub))
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	// Only the top level: the loader does not recurse either.
	for _, e := range tree.Entries {
		if !e.Mode.IsFile() {
			continue
		}
		f, err := tree.TreeEntryFile(&e)
		if err != nil {
			return "", fmt.Errorf("commit %s: %s: %w", h.String()[:12], e.Name, err)
		}
		if err := writeBlob(f, filepath.Join(root, e.Name)); err != nil {
			return "", err
		}
	}
	return root, nil
}

func writeBlob(f *object.File, out string) error {
	if f.Size > maxExportBytes {
		return fmt.Errorf("%s: %d bytes is over the %d-byte limit", f.Name, f.Size, maxExportBytes)
	}
	r, err := f.Reader()
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	defer r.Close()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	w, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, io.LimitReader(r, maxExportBytes)); err != nil {
		w.Close()
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	return w.Close()
}

// redactURL drops any user info from a URL so a token embedded in it is never shown.
func redactURL(u string) string { return redact.URL(u) }

// scrub removes the https token from an error's text: transport libraries sometimes
// echo credentials.
func scrub(err error, opts Options) error {
	err = redact.Error(err)
	env := opts.TokenEnv
	if env == "" {
		env = "TETHER_GIT_TOKEN"
	}
	tok := os.Getenv(env)
	if tok == "" || !strings.Contains(err.Error(), tok) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), tok, "***"))
}

// ErrNoFleetAtRef is returned (wrapped) by ExportBase when the fleet's path does not
// exist at the base commit: the pull request adds the fleet.
var ErrNoFleetAtRef = errors.New("the fleet's path does not exist at that commit")

// Base is the fleet of a git work tree as it was at another ref.
type Base struct {
	// Path is what to hand to schema.Load (inside the export folder).
	Path string
	// Commit is the base commit's hash.
	Commit string
	// Rel is the fleet's path relative to the repository root, slash-separated.
	Rel string
}

// ExportBase finds the repository holding fleetPath (a work tree), resolves ref in it
// (a branch, remote-tracking branch such as origin/main, tag or commit) and exports the
// same fleet path, relative to the repository root, as it was at that commit into dir.
// A fleet path missing at ref is reported with ErrNoFleetAtRef, with Commit filled in.
func ExportBase(fleetPath, ref, dir string) (Base, error) {
	abs, err := filepath.Abs(fleetPath)
	if err != nil {
		return Base{}, fmt.Errorf("fleet %s: %w", fleetPath, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	r, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return Base{}, fmt.Errorf("--git-base: %s is not in a git work tree: %w", fleetPath, err)
	}
	wt, err := r.Worktree()
	if err != nil {
		return Base{}, fmt.Errorf("--git-base: %s: %w", fleetPath, err)
	}
	root := wt.Filesystem.Root()
	if real, err := filepath.EvalSymlinks(root); err == nil {
		root = real
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return Base{}, fmt.Errorf("--git-base: %s is outside its repository %s", fleetPath, root)
	}
	if rel == "." {
		rel = ""
	}
	s := &Source{opts: Options{Repo: root, Path: rel}, repo: r}
	h, err := s.Resolve(ref)
	if err != nil {
		return Base{}, fmt.Errorf("--git-base: %w", err)
	}
	b := Base{Commit: h.String(), Rel: filepath.ToSlash(rel)}
	c, err := s.Commit(h)
	if err != nil {
		return b, err
	}
	tree, err := c.Tree()
	if err != nil {
		return b, fmt.Errorf("commit %s: tree: %w", h, err)
	}
	if b.Rel != "" {
		if _, ferr := tree.File(b.Rel); ferr != nil {
			if _, terr := tree.Tree(b.Rel); terr != nil {
				return b, fmt.Errorf("%s at %s: %w", b.Rel, h.String()[:12], ErrNoFleetAtRef)
			}
		}
	}
	b.Path, err = s.Export(h, dir)
	return b, err
}

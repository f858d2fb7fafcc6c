package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// tourBlock returns the shell block between the README's tour markers.
func tourBlock(t *testing.T, readme string) string {
	t.Helper()
	const begin, end = "<!-- tour:begin -->", "<!-- tour:end -->"
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q … %q markers around the tour", begin, end)
	}
	block := readme[i+len(begin) : j]
	a := strings.Index(block, "```sh\n")
	b := strings.LastIndex(block, "```")
	if a < 0 || b <= a {
		t.Fatalf("the tour holds no ```sh block")
	}
	return block[a+len("```sh\n") : b]
}

// TestREADMETour runs the README's tour verbatim, as a new user pasting it into a
// fresh clone would: in a copy of the repository's files (a git repository on branch
// main, as a clone is), with `tether` the binary built from this tree, each command
// stopping the tour on failure.
func TestREADMETour(t *testing.T) {
	if testing.Short() {
		t.Skip("the tour builds tether and applies on the sandbox (~30 s)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	tour := tourBlock(t, string(readme))
	if !strings.Contains(tour, "tether ") {
		t.Fatalf("the tour runs no tether command:\n%s", tour)
	}

	// The clone: the tracked and untracked-but-not-ignored files, as committed on main.
	clone := filepath.Join(t.TempDir(), "tether")
	files := gitOut(t, root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	for _, f := range strings.Split(strings.TrimRight(files, "\x00"), "\x00") {
		src := filepath.Join(root, f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a link
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(clone, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	gitOut(t, clone, "init", "-q", "-b", "main")
	gitOut(t, clone, "add", "-A")
	gitOut(t, clone, "-c", "user.name=tour", "-c", "user.email=tour@example.net", "commit", "-q", "-m", "clone")

	// `tether` in the tour is this tree's binary.
	bin := t.TempDir()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(goTool, "build", "-o", filepath.Join(bin, "tether"), "./cmd/tether")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	script := filepath.Join(t.TempDir(), "tour.sh")
	if err := os.WriteFile(script, []byte("set -euo pipefail\nset -x\n"+tour), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = clone
	// The user's environment, less anything of Tether's that would point the tour
	// elsewhere (a state folder, an etcd, a notification hook).
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TETHER_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README tour fails (%v) after %v:\n%s", err, time.Since(start).Round(time.Millisecond), lastChars(out.String(), 6000))
	}
	t.Logf("the README tour ran in %v", time.Since(start).Round(time.Millisecond))
	// What the tour shows of the daemon: the quickstart's parent and its DNS members.
	for _, want := range []string{"Commit in force: ", "web1  ", "web1/ns1", "in service"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the tour's `tether watch status` lacks %q:\n%s", want, lastChars(out.String(), 3000))
		}
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func lastChars(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-dev/tether/reconciler/desired"
)

// -update (declared in readme_test.go, one flag per package) also rewrites the golden
// pull-request comment in testdata/pr.
var updatePR = updateREADME

// prRepo is the sample pull request of testdata/pr (see its README): the base
// commit, applied on the sandbox, is origin/main; the head commit is checked out.
func prRepo(t *testing.T) (g *gitRepo, fleetDir, sandboxDir string) {
	t.Helper()
	g = newGitRepo(t)
	g.write("fleet/fleet.yaml", readFile(t, "../../testdata/pr/base/fleet.yaml"))
	base := g.commit("quickstart", nil)
	g.setRef("refs/remotes/origin/main", base)
	fleetDir = filepath.Join(g.dir, "fleet")
	sandboxDir = filepath.Join(t.TempDir(), "sandbox")
	r := tether(t, t.Context(), "", "apply", "--auto-approve", "--no-verify", "--sandbox", "--sandbox-state", sandboxDir, fleetDir)
	expect(t, r, 0, "Apply complete!")
	g.write("fleet/fleet.yaml", readFile(t, "../../testdata/pr/head/fleet.yaml"))
	g.commit("zoe, dave to mail1, bob may have 80 accounts", nil)
	return g, fleetDir, sandboxDir
}

func TestGitBasePullRequestComment(t *testing.T) {
	_, fleetDir, sb := prRepo(t)
	plan := func(format string) result {
		return tether(t, t.Context(), "", "plan", fleetDir, "--git-base", "origin/main", "--format", format,
			"--detailed-exitcode", "--sandbox", "--sandbox-state", sb)
	}

	md := plan("markdown")
	expect(t, md, 2)
	golden := "../../testdata/pr/comment.md"
	if *updatePR {
		if err := os.WriteFile(golden, []byte(md.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := readFile(t, golden); md.stdout != want {
		t.Errorf("the Markdown comment differs from %s (go test -run %s -update rewrites it):\n%s", golden, t.Name(), md.stdout)
	}
	if len(md.stdout) > 65536 {
		t.Errorf("the comment is %d bytes, over GitHub's limit", len(md.stdout))
	}
	if i, j := strings.Index(md.stdout, "### Desired state"), strings.Index(md.stdout, "### Live plan"); i < 0 || j < i {
		t.Errorf("the desired state does not come before the live plan:\n%s", md.stdout)
	}

	txt := plan("text")
	expect(t, txt, 2, "Desired state: 3 object(s) differ from origin/main (",
		"~ account.dave (changed)", `mail.node: "mail2" → "mail1"`, "+ account.zoe (added)",
		"limits.accounts: 50 → 80")

	js := plan("json")
	expect(t, js, 2)
	var doc struct {
		FormatVersion  string          `json:"format_version"`
		Changes        []any           `json:"changes"`
		DesiredChanges *desired.Report `json:"desired_changes"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &doc); err != nil {
		t.Fatalf("--format json is not JSON: %v\n%s", err, js.stdout)
	}
	if doc.FormatVersion == "" || len(doc.Changes) == 0 || doc.DesiredChanges == nil || len(doc.DesiredChanges.Objects) != 3 ||
		len(doc.DesiredChanges.BaseCommit) != 40 {
		t.Fatalf("JSON plan lacks its fields or the desired changes: %+v", doc)
	}
}

func TestGitBaseInvalidOrMissingAtBase(t *testing.T) {
	g := newGitRepo(t)
	g.write("fleet/fleet.yaml", "nodes:\n  web1: {role: parent, hots: x}\n")
	g.commit("broken", nil)
	g.setRef("refs/remotes/origin/main", g.commit("still broken", nil))
	g.write("fleet/fleet.yaml", readFile(t, "testdata/e2e/fleet.yaml"))
	g.commit("fixed", nil)
	sb := filepath.Join(t.TempDir(), "sandbox")
	fleetDir := filepath.Join(g.dir, "fleet")

	r := tether(t, t.Context(), "", "plan", fleetDir, "--git-base", "origin/main", "--sandbox", "--sandbox-state", sb)
	expect(t, r, 0, "Desired state: the fleet at origin/main (", "is invalid", "fleet/fleet.yaml:2:", "+ account.alice")

	// A pull request that creates the fleet: its folder is not at the base.
	g2 := newGitRepo(t)
	g2.write("README", "fleet to come\n")
	g2.setRef("refs/remotes/origin/main", g2.commit("empty", nil))
	g2.write("fleet/fleet.yaml", readFile(t, "testdata/e2e/fleet.yaml"))
	r = tether(t, t.Context(), "", "plan", filepath.Join(g2.dir, "fleet"), "--git-base", "origin/main", "--format", "markdown", "--sandbox", "--sandbox-state", sb+"2")
	expect(t, r, 0, "The fleet does not exist at the base", "`+ account.alice` added")

	r = tether(t, t.Context(), "", "plan", fleetDir, "--git-base", "no-such-branch", "--sandbox", "--sandbox-state", sb)
	expect(t, r, 1, `resolve "no-such-branch"`)
	r = tether(t, t.Context(), "", "plan", "testdata/e2e", "--git-base", "main", "--sandbox", "--sandbox-state", sb)
	if r.code != 1 && !strings.Contains(r.stdout, "Desired state") {
		t.Fatalf("outside a work tree, or in this repository: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// A pull request too big for one comment still gives one comment under GitHub's
// limit, saying what it left out.
func TestGitBaseCommentFitsLimit(t *testing.T) {
	g := newGitRepo(t)
	g.write("fleet/fleet.yaml", readFile(t, "testdata/e2e/fleet.yaml"))
	g.setRef("refs/remotes/origin/main", g.commit("small", nil))
	var b strings.Builder
	b.WriteString(readFile(t, "testdata/e2e/fleet.yaml"))
	for i := 0; i < 700; i++ {
		fmt.Fprintf(&b, "  user%03d:\n    parent: web1\n    domain: user%03d.example\n    plan: basic\n    contactEmail: user%03d@example.org\n    mail: {node: mail%d}\n", i, i, i, 1+i%2)
	}
	g.write("fleet/fleet.yaml", b.String())
	r := tether(t, t.Context(), "", "plan", filepath.Join(g.dir, "fleet"), "--git-base", "origin/main", "--format", "markdown",
		"--sandbox", "--sandbox-state", filepath.Join(t.TempDir(), "sandbox"))
	expect(t, r, 0, "### Desired state: 700 added", "more object(s) not shown", "### Live plan: 707 to create")
	if len(r.stdout) > 65536 {
		t.Fatalf("the comment is %d bytes, over GitHub's 65536", len(r.stdout))
	}
}

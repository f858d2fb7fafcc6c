package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/internal/testproc"
)

// A remote that cannot be reached is reported on every poll; the daemon keeps
// running and serving its endpoints.
func TestWatchUnreachableRemoteKeepsRunning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	sb := filepath.Join(t.TempDir(), "sandbox")
	w := startWatch(t, sb, "--repo", "http://"+closed+"/hosting/fleet.git", "--path", "fleet")
	w.waitFor("sync failed", 3, "err", "connection refused")
	w.running()
	if body := httpGet(t, "http://"+w.addr()+"/healthz"); body != "ok\n" {
		t.Fatalf("/healthz = %q", body)
	}
	resp, err := http.Get("http://" + w.addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d with nothing ever synced", resp.StatusCode)
	}
	if m := httpGet(t, "http://"+w.addr()+"/metrics"); !strings.Contains(m, `tether_reconciles_total{result="failed",trigger="commit"}`) {
		t.Fatalf("/metrics lacks the failures:\n%s", m)
	}
}

// A remote that is missing at start is reported; once it exists it is cloned and
// applied; a force-push on it is followed.
func TestWatchRemoteAppearsAndIsForcePushed(t *testing.T) {
	origin := newGitRepo(t)
	url := "file://" + filepath.Join(origin.dir, "not-yet")
	sb := filepath.Join(t.TempDir(), "sandbox")
	w := startWatch(t, sb, "--repo", url, "--path", "fleet", "--poll", "100ms")
	w.waitFor("sync failed", 2, "err", "clone")

	// The repository appears at the URL.
	g := &gitRepo{t: t, dir: filepath.Join(origin.dir, "not-yet")}
	g.r = newGitRepoAt(t, g.dir)
	g.write("fleet/fleet.yaml", e2eFleet(t, ""))
	first := g.commit("the fleet", nil)
	w.waitFor("applied", 1, "commit", first.String()[:12], "trigger", "poll")

	g.edit("fleet/fleet.yaml", "contactEmail: frank@example.org", "contactEmail: frank@example.net")
	second := g.commit("frank", nil)
	w.waitFor("applied", 1, "commit", second.String()[:12])
	// Rewrite history: main goes back to the first commit and takes another path.
	g.setRef("refs/heads/main", first)
	wt, err := g.r.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.Reset(&resetHard); err != nil {
		t.Fatal(err)
	}
	g.edit("fleet/fleet.yaml", "contactEmail: dave@example.org", "contactEmail: dave@example.net")
	rewritten := g.commit("dave instead", nil)
	w.waitFor("applied", 1, "commit", rewritten.String()[:12])
	if got := contactEmail(t, sb, "frank"); got != "frank@example.org" {
		t.Errorf("after the force-push frank's address is %q; the dropped commit is still in force", got)
	}
	if got := contactEmail(t, sb, "dave"); got != "dave@example.net" {
		t.Errorf("after the force-push dave's address is %q", got)
	}
}

// The helper process: `tether watch` with a slow web1, killed by the test mid-apply.
func TestWatchHelperProcess(t *testing.T) {
	args := os.Getenv("TETHER_WATCH_HELPER_ARGS")
	if args == "" {
		t.Skip("run by TestWatchKilledMidApplyIsFinishedOnRestart")
	}
	c := testCLI()
	fast := c.session
	c.session = func(o *session.Options) {
		fast(o)
		o.SandboxOptions.Faults = map[string]sandbox.Faults{"web1": {Latency: 40 * time.Millisecond}}
	}
	os.Exit(run(c, strings.Split(args, "\x1f")))
}

// startHelper runs `tether watch` (slow web1, one change at a time per node) in a
// child process on repo g, and returns it once its apply is half-way: some changes
// done, some not.
func startHelper(t *testing.T, g *gitRepo, sb, sd string) (*exec.Cmd, *state.Journal, string) {
	t.Helper()
	args := []string{"watch", "--repo", g.dir, "--path", "fleet", "--sandbox", "--sandbox-state", sb,
		"--state-dir", sd, "--listen", "", "--interval", "1h", "--per-node", "1"}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchHelperProcess$")
	cmd.Env = append(os.Environ(), "TETHER_WATCH_HELPER_ARGS="+strings.Join(args, "\x1f"))
	testproc.Prepare(cmd)
	logf, err := os.Create(filepath.Join(t.TempDir(), "helper.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	stateDir := session.StateDirFor("", true, sb)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if js := journals(t, stateDir); len(js) == 1 {
			if done := len(js[0].Changes) - len(js[0].Remaining()); done >= 2 && len(js[0].Remaining()) > 1 {
				return cmd, js[0], logf.Name()
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("the helper never got half-way through its apply:\n%s", b)
		}
	}
}

// The daemon killed with SIGKILL mid-apply leaves a journal; the next start reads it,
// finishes the work and closes it.
func TestWatchKilledMidApplyIsFinishedOnRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second process")
	}
	g := newGitRepo(t)
	g.write("fleet/fleet.yaml", e2eFleet(t, ""))
	h := g.commit("the fleet", nil)
	dir := t.TempDir()
	sb, sd := filepath.Join(dir, "sandbox"), filepath.Join(dir, "watch")
	cmd, j, _ := startHelper(t, g, sb, sd)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	stateDir := session.StateDirFor("", true, sb)
	left := journals(t, stateDir)
	if len(left) != 1 || left[0].ID != j.ID || len(left[0].Remaining()) == 0 {
		t.Fatalf("after SIGKILL the journal is %+v", left)
	}
	if left[0].Commit != h.String() {
		t.Errorf("the journal records commit %q, want %s", left[0].Commit, h)
	}

	w := startWatchDirs(t, sb, sd, "--repo", g.dir, "--path", "fleet")
	w.waitFor("an earlier apply did not finish; this one re-read the fleet and finishes it", 1, "journal", "did not finish")
	w.waitFor("applied", 1, "commit", h.String()[:12])
	if js := journals(t, stateDir); len(js) != 0 {
		t.Fatalf("journals left after the restart finished the apply: %+v", js)
	}
	waitConverged(t, sb, filepath.Join(g.dir, "fleet"))
}

// SIGTERM mid-apply: the running change finishes, no new one starts, the process
// exits cleanly, and the next start applies the rest.
func TestWatchSIGTERMFinishesRunningChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second process")
	}
	g := newGitRepo(t)
	g.write("fleet/fleet.yaml", e2eFleet(t, ""))
	h := g.commit("the fleet", nil)
	dir := t.TempDir()
	sb, sd := filepath.Join(dir, "sandbox"), filepath.Join(dir, "watch")
	cmd, _, logPath := startHelper(t, g, sb, sd)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("after SIGTERM the daemon exited with %v:\n%s", err, b)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon did not stop within 20s of SIGTERM")
	}
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), `"msg":"watch stopping"`) {
		t.Errorf("no orderly stop in the log:\n%s", b)
	}
	stateDir := session.StateDirFor("", true, sb)
	left := journals(t, stateDir)
	if len(left) != 1 || len(left[0].Remaining()) == 0 {
		t.Fatalf("after SIGTERM mid-apply the journal is %+v", left)
	}
	for id, st := range left[0].Steps {
		if st.Status != state.StepDone {
			t.Errorf("change %s was cut short by the stop: %s %s", id, st.Status, st.Error)
		}
	}
	w := startWatchDirs(t, sb, sd, "--repo", g.dir, "--path", "fleet")
	w.waitFor("applied", 1, "commit", h.String()[:12])
	if js := journals(t, stateDir); len(js) != 0 {
		t.Fatalf("journals left after the restart: %+v", js)
	}
	waitConverged(t, sb, filepath.Join(g.dir, "fleet"))
}

func journals(t *testing.T, dir string) []*state.Journal {
	t.Helper()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	js, err := st.Journals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return js
}

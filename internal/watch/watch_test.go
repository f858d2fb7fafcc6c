package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/tether-dev/tether/internal/gitsource"
)

// fakeRunner stands for plan+apply against a live fleet: "live" is what the servers
// hold; applying copies the fleet file's content into it. A file containing INVALID
// fails validation; one containing "drift: correct" asks for drift correction.
type fakeRunner struct {
	mu      sync.Mutex
	live    string
	applied []string // commits applied
	dryRuns int      // reconciles with apply false
}

func (r *fakeRunner) Reconcile(_ context.Context, path, commit string, apply bool) (Outcome, error) {
	b, err := os.ReadFile(filepath.Join(path, "fleet.yaml"))
	if err != nil {
		return Outcome{}, err
	}
	want := string(b)
	out := Outcome{Drift: "warn"}
	if strings.Contains(want, "drift: correct") {
		out.Drift = "correct"
	}
	if strings.Contains(want, "INVALID") {
		out.Problems = []string{filepath.Join(path, "fleet.yaml") + ":1:1: TETHER-SCHEMA: bad"}
		return out, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !apply {
		r.dryRuns++
	}
	if r.live != want {
		out.Changes = 1
		out.Summary = "1 to change"
	}
	if apply && out.Changes > 0 {
		r.live = want
		out.Applied = 1
		r.applied = append(r.applied, commit)
	}
	return out, nil
}

func (r *fakeRunner) setLive(s string) { r.mu.Lock(); r.live = s; r.mu.Unlock() }
func (r *fakeRunner) getLive() string  { r.mu.Lock(); defer r.mu.Unlock(); return r.live }

type repo struct {
	t   *testing.T
	dir string
	r   *git.Repository
	n   int
}

func newRepo(t *testing.T) *repo {
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return &repo{t: t, dir: dir, r: r}
}

func (g *repo) commit(body string, key *openpgp.Entity) string {
	g.t.Helper()
	g.n++
	if err := os.WriteFile(filepath.Join(g.dir, "fleet.yaml"), []byte(body), 0o644); err != nil {
		g.t.Fatal(err)
	}
	wt, _ := g.r.Worktree()
	wt.Add("fleet.yaml")
	h, err := wt.Commit("change", &git.CommitOptions{SignKey: key,
		Author: &object.Signature{Name: "Op", Email: "op@example.org", When: time.Unix(1700000000+int64(g.n), 0)}})
	if err != nil {
		g.t.Fatal(err)
	}
	return h.String()
}

type events struct {
	mu sync.Mutex
	ev []Event
}

func (e *events) add(ev Event) { e.mu.Lock(); e.ev = append(e.ev, ev); e.mu.Unlock() }
func (e *events) kinds() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var k []string
	for _, ev := range e.ev {
		k = append(k, ev.Kind)
	}
	return strings.Join(k, ",")
}

func start(t *testing.T, g *repo, run Runner, keyring string, interval time.Duration) (*Daemon, *events) {
	t.Helper()
	src, err := gitsource.Open(context.Background(), gitsource.Options{Repo: g.dir})
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	d, err := New(Config{Source: src, LocalDir: g.dir, Branch: "master", Interval: interval, Poll: time.Hour,
		Keyring: keyring, StateDir: t.TempDir(), Listen: "127.0.0.1:0", HookToken: testHookToken, Runner: run, Notify: ev.add,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return d, ev
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestCommitIsAppliedAndInvalidCommitIsNot(t *testing.T) {
	g := newRepo(t)
	first := g.commit("accounts: one\n", nil)
	run := &fakeRunner{}
	d, ev := start(t, g, run, "", time.Hour)
	eventually(t, "first commit applied", func() bool { return run.getLive() == "accounts: one\n" })

	start := time.Now()
	g.commit("accounts: two\n", nil)
	eventually(t, "second commit applied via fsnotify", func() bool { return run.getLive() == "accounts: two\n" })
	t.Logf("commit to applied: %v", time.Since(start))

	g.commit("INVALID\n", nil)
	eventually(t, "invalid commit reported", func() bool { return strings.Contains(ev.kinds(), "invalid") })
	if run.getLive() != "accounts: two\n" {
		t.Fatalf("invalid commit changed the fleet: %q", run.getLive())
	}
	if got := d.lastGoodHash().String(); got == first {
		t.Fatalf("last good commit did not advance past the first")
	}
	resp, err := http.Get("http://" + d.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`tether_changes_total{parent="",result="applied"} 2`, `tether_reconciles_total{result="invalid",trigger="commit"} 1`, `tether_reconciles_total{result="ok",trigger="commit"} 2`, "tether_last_sync_commit_info{commit=", "tether_suspended 0"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("metrics lack %q", m)
		}
	}
}

func TestDriftWarnAndCorrect(t *testing.T) {
	for _, tc := range []struct {
		fleet     string
		corrected bool
	}{
		{"accounts: one\n", false},
		{"accounts: one\ndrift: correct\n", true},
	} {
		t.Run(strings.TrimSpace(strings.ReplaceAll(tc.fleet, "\n", " ")), func(t *testing.T) {
			g := newRepo(t)
			g.commit(tc.fleet, nil)
			run := &fakeRunner{}
			_, ev := start(t, g, run, "", 50*time.Millisecond)
			eventually(t, "applied", func() bool { return run.getLive() == tc.fleet })
			run.setLive("changed behind Tether's back")
			eventually(t, "drift reported", func() bool { return strings.Contains(ev.kinds(), "drift") })
			if tc.corrected {
				eventually(t, "drift corrected", func() bool { return run.getLive() == tc.fleet })
				// The mode is known from the applied commit: each check reads the
				// fleet once and corrects from that reading, with no dry run first.
				run.mu.Lock()
				dry := run.dryRuns
				run.mu.Unlock()
				if dry != 0 {
					t.Errorf("correct mode made %d dry runs before correcting", dry)
				}
				return
			}
			time.Sleep(150 * time.Millisecond)
			if run.getLive() == tc.fleet {
				t.Fatal("warn mode corrected drift")
			}
		})
	}
}

func TestUnsignedCommitRefusedWithKeyring(t *testing.T) {
	key, _ := openpgp.NewEntity("Ops", "", "ops@example.org", nil)
	var buf strings.Builder
	w, _ := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	key.Serialize(w)
	w.Close()

	g := newRepo(t)
	g.commit("accounts: signed\n", key)
	run := &fakeRunner{}
	_, ev := start(t, g, run, buf.String(), time.Hour)
	eventually(t, "signed commit applied", func() bool { return run.getLive() == "accounts: signed\n" })
	g.commit("accounts: unsigned\n", nil)
	eventually(t, "unsigned commit refused", func() bool { return strings.Contains(ev.kinds(), "refused") })
	if run.getLive() != "accounts: signed\n" {
		t.Fatal("unsigned commit was applied")
	}
}

func TestSuspendAndWebhook(t *testing.T) {
	g := newRepo(t)
	g.commit("accounts: one\n", nil)
	run := &fakeRunner{}
	d, _ := start(t, g, run, "", time.Hour)
	eventually(t, "applied", func() bool { return run.getLive() == "accounts: one\n" })
	if err := Suspend(d.cfg.StateDir, "maintenance"); err != nil {
		t.Fatal(err)
	}
	g.commit("accounts: two\n", nil)
	time.Sleep(200 * time.Millisecond)
	if run.getLive() != "accounts: one\n" {
		t.Fatal("suspended daemon applied a commit")
	}
	Resume(d.cfg.StateDir)
	// The commit seen while suspended is applied on the next sync, here a webhook call.
	req, _ := http.NewRequest(http.MethodPost, "http://"+d.Addr()+"/hook", nil)
	req.Header.Set("Authorization", "Bearer "+testHookToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("hook status %d", resp.StatusCode)
	}
	eventually(t, "applied after resume", func() bool { return run.getLive() == "accounts: two\n" })
	r, _ := http.Get("http://" + d.Addr() + "/readyz")
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("readyz = %d", r.StatusCode)
	}
}

// flakyRunner fails its first reconciles, as a server that cannot be read would.
type flakyRunner struct {
	*fakeRunner
	mu    sync.Mutex
	fails int
}

func (r *flakyRunner) Reconcile(ctx context.Context, path, commit string, apply bool) (Outcome, error) {
	r.mu.Lock()
	if r.fails > 0 {
		r.fails--
		r.mu.Unlock()
		return Outcome{}, errors.New("web1 could not be read")
	}
	r.mu.Unlock()
	return r.fakeRunner.Reconcile(ctx, path, commit, apply)
}

// TestFailedCommitIsRetried: a commit whose reconcile failed is tried again on the
// next trigger, not left unapplied until another commit arrives.
func TestFailedCommitIsRetried(t *testing.T) {
	g := newRepo(t)
	g.commit("accounts: one\n", nil)
	run := &flakyRunner{fakeRunner: &fakeRunner{}, fails: 1}
	d, ev := start(t, g, run, "", time.Hour)
	eventually(t, "the failure reported", func() bool { return strings.Contains(ev.kinds(), "failure") })
	if run.getLive() != "" {
		t.Fatal("applied despite the failure")
	}
	d.Sync("webhook")
	eventually(t, "the same commit applied on the next trigger", func() bool { return run.getLive() == "accounts: one\n" })
}

// A drift notice names what drifted, at most maxDriftNamed changes, and counts the rest.
func TestDriftListNamesAndCaps(t *testing.T) {
	var many []string
	for i := range 13 {
		many = append(many, fmt.Sprintf("update account.u%02d", i))
	}
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"update account.alice"}, "; drifted: update account.alice"},
		{many, "; drifted: update account.u00, update account.u01, update account.u02, update account.u03, update account.u04, update account.u05, update account.u06, update account.u07, update account.u08, update account.u09 and 3 more"},
	} {
		if got := driftList(tt.in); got != tt.want {
			t.Errorf("driftList(%d) = %q, want %q", len(tt.in), got, tt.want)
		}
	}
}

package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/tether-dev/tether/internal/watch"
)

// A commit to the watched branch reaches the sandbox; so does a force-push back.
func TestWatchAppliesCommitsAndFollowsForcePush(t *testing.T) {
	g := newGitRepo(t)
	g.write("fleet/fleet.yaml", e2eFleet(t, ""))
	first := g.commit("the fleet", nil)
	fleetDir := filepath.Join(g.dir, "fleet")
	sb := filepath.Join(t.TempDir(), "sandbox")
	w := startWatch(t, sb, "--repo", g.dir, "--branch", "main", "--path", "fleet")
	w.waitFor("applied", 1, "commit", first.String()[:12])
	if r := planSandbox(t, sb, fleetDir); r.code != 0 {
		t.Fatalf("after the first sync the sandbox does not match:\n%s%s", r.stdout, r.stderr)
	}
	resp, err := http.Get("http://" + w.addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz = %d after a sync", resp.StatusCode)
	}

	g.edit("fleet/fleet.yaml", "contactEmail: frank@example.org", "contactEmail: frank@example.net")
	start := time.Now()
	second := g.commit("frank moved", nil)
	w.waitFor("applied", 1, "commit", second.String()[:12])
	t.Logf("commit → applied on the sandbox: %v", time.Since(start))
	if got := contactEmail(t, sb, "frank"); got != "frank@example.net" {
		t.Fatalf("frank's contact address is %q after the commit was applied", got)
	}

	// A force-push (here: the branch reset to the first commit) is followed like any
	// other move of the branch.
	g.setRef("refs/heads/main", first)
	w.waitFor("applied", 2, "commit", first.String()[:12])
	if got := contactEmail(t, sb, "frank"); got != "frank@example.org" {
		t.Fatalf("after the force-push frank's contact address is %q", got)
	}
	if strings.Contains(w.log.String(), `"level":"ERROR"`) {
		t.Errorf("errors logged while following the branch:\n%s", w.log.String())
	}
	metrics := httpGet(t, "http://"+w.addr()+"/metrics")
	for _, want := range []string{`tether_last_sync_commit_info{commit="` + first.String() + `"} 1`, `tether_reconciles_total{result="ok",trigger="commit"} 3`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
	if got := sumMetric(metrics, "tether_changes_total", `result="applied"`); got != 9 {
		t.Errorf("tether_changes_total{result=\"applied\"} sums to %v, want 9:\n%s", got, metrics)
	}

	// tether watch status, from the daemon's folder and from its endpoint.
	if r := tether(t, context.Background(), "", "watch", "suspend", "--state-dir", w.stateDir, "--reason", "change freeze"); r.code != 0 {
		t.Fatalf("suspend: %s", r.stderr)
	}
	for _, from := range [][]string{{"--state-dir", w.stateDir}, {"--url", w.addr()}} {
		r := tether(t, context.Background(), "", append([]string{"watch", "status", "--format", "json"}, from...)...)
		if r.code != 0 {
			t.Fatalf("watch status %v: %s", from, r.stderr)
		}
		var s watch.Status
		if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
			t.Fatalf("watch status %v: %v\n%s", from, err, r.stdout)
		}
		if s.Commit != first.String() || !s.Suspended || s.SuspendReason != "change freeze" || s.Parents["web1"] == nil || s.Parents["web1"].LastApply.IsZero() || s.Drift != 0 {
			t.Errorf("watch status %v: %+v", from, s)
		}
		r = tether(t, context.Background(), "", append([]string{"watch", "status"}, from...)...)
		for _, want := range []string{"Commit in force: " + first.String()[:12], "Suspended: yes: change freeze", "Drift: 0 change(s)", "web1 "} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("watch status %v lacks %q:\n%s", from, want, r.stdout)
			}
		}
	}
}

// sumMetric adds the values of a metric's series whose labels hold match.
func sumMetric(metrics, name, match string) float64 {
	var sum float64
	for _, l := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(l, name+"{") || !strings.Contains(l, match) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Drift made through the WHM API behind Tether's back: reported in warn mode,
// undone in correct mode.
func TestWatchDrift(t *testing.T) {
	for _, mode := range []string{"warn", "correct"} {
		t.Run(mode, func(t *testing.T) {
			g := newGitRepo(t)
			g.write("fleet/fleet.yaml", e2eFleet(t, "policy:\n  drift: "+mode+"\n"))
			h := g.commit("the fleet", nil)
			sb := filepath.Join(t.TempDir(), "sandbox")
			w := startWatch(t, sb, "--repo", g.dir, "--path", "fleet")
			w.waitFor("applied", 1, "commit", h.String()[:12])

			whm(t, sb, "web1", "modifyacct", url.Values{"user": {"frank"}, "contactemail": {"intruder@example.com"}})
			w.waitFor("drift", 1, "mode", mode, "changes", "1")
			if mode == "warn" {
				// Two more drift checks later the change is still there.
				w.waitFor("drift", 3, "mode", mode)
				if got := contactEmail(t, sb, "frank"); got != "intruder@example.com" {
					t.Fatalf("warn mode changed the account: contact address %q", got)
				}
				if strings.Contains(w.log.String(), `"level":"ERROR"`) {
					t.Errorf("errors logged:\n%s", w.log.String())
				}
				return
			}
			waitConverged(t, sb, filepath.Join(g.dir, "fleet"))
			if got := contactEmail(t, sb, "frank"); got != "frank@example.org" {
				t.Fatalf("correct mode left contact address %q", got)
			}
		})
	}
}

// With --keyring only commits signed by its keys are applied.
func TestWatchRefusesUnsignedCommits(t *testing.T) {
	trusted, err := openpgp.NewEntity("Ops", "", "ops@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := openpgp.NewEntity("Stranger", "", "x@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	keyring := filepath.Join(t.TempDir(), "trusted.asc")
	writeArmoredPublic(t, keyring, trusted)

	g := newGitRepo(t)
	g.write("fleet/fleet.yaml", e2eFleet(t, ""))
	signed := g.commit("signed", trusted)
	sb := filepath.Join(t.TempDir(), "sandbox")
	w := startWatch(t, sb, "--repo", g.dir, "--path", "fleet", "--keyring", keyring)
	w.waitFor("applied", 1, "commit", signed.String()[:12], "signer", "Ops")

	g.edit("fleet/fleet.yaml", "contactEmail: frank@example.org", "contactEmail: unsigned@example.net")
	unsigned := g.commit("unsigned", nil)
	w.waitFor("commit refused", 1, "commit", unsigned.String()[:12], "err", "not signed")
	g.edit("fleet/fleet.yaml", "contactEmail: unsigned@example.net", "contactEmail: stranger@example.net")
	other := g.commit("signed by a stranger", stranger)
	w.waitFor("commit refused", 1, "commit", other.String()[:12], "err", "not from a trusted key")
	if got := contactEmail(t, sb, "frank"); got != "frank@example.org" {
		t.Fatalf("a refused commit reached the sandbox: contact address %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(w.stateDir, "last-good-commit")); strings.TrimSpace(string(b)) != signed.String() {
		t.Fatalf("last good commit = %q, want the signed one", b)
	}
}

func writeArmoredPublic(t *testing.T, path string, e *openpgp.Entity) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	aw, err := armorEncode(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(aw); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
}

// A commit with a broken fleet is reported; the last good commit stays in force,
// and drift is still checked against it.
func TestWatchBrokenCommitKeepsLastGood(t *testing.T) {
	// The fleet's policy.notifyWebhook hears of the refusal and the drift.
	var mu sync.Mutex
	var kinds []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Kind, Commit, Message string }
		if err := json.NewDecoder(r.Body).Decode(&ev); err == nil {
			mu.Lock()
			kinds = append(kinds, ev.Kind)
			mu.Unlock()
		}
	}))
	defer hook.Close()
	// A chat service (through shoutrrr; its generic webhook stands for Slack, Teams,
	// Matrix) hears the same, in words.
	var said []string
	chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		said = append(said, string(b))
		mu.Unlock()
	}))
	defer chat.Close()
	urls := filepath.Join(t.TempDir(), "notify-urls")
	if err := os.WriteFile(urls, []byte("# where the daemon reports\ngeneric+"+chat.URL+"/tether\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := newGitRepo(t)
	g.write("fleet/fleet.yaml", e2eFleet(t, "policy:\n  drift: correct\n  notifyWebhook: "+hook.URL+"\n"))
	good := g.commit("good", nil)
	sb := filepath.Join(t.TempDir(), "sandbox")
	w := startWatch(t, sb, "--repo", g.dir, "--path", "fleet", "--notify-urls-file", urls)
	w.waitFor("applied", 1, "commit", good.String()[:12])

	g.edit("fleet/fleet.yaml", "contactEmail: frank@example.org", "contactEmial: frank@example.net")
	bad := g.commit("typo", nil)
	w.waitFor("invalid fleet", 1, "commit", bad.String()[:12])
	if !strings.Contains(w.log.String(), "fleet/fleet.yaml:") || !strings.Contains(w.log.String(), good.String()[:12]+" stays in force") {
		t.Errorf("the refusal does not name the file or the commit in force:\n%s", w.log.String())
	}
	// The last good commit still rules: drift is corrected back to it.
	whm(t, sb, "web1", "modifyacct", url.Values{"user": {"dave"}, "contactemail": {"intruder@example.com"}})
	w.waitFor("drift", 1, "commit", good.String()[:12])
	if !strings.Contains(w.log.String(), "update account.dave") {
		t.Errorf("the drift report does not name what drifted:\n%s", w.log.String())
	}
	for deadline := time.Now().Add(20 * time.Second); contactEmail(t, sb, "dave") != "dave@example.org"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("drift was not corrected to the last good commit:\n%s", w.log.String())
		}
	}
	if b, _ := os.ReadFile(filepath.Join(w.stateDir, "last-good-commit")); strings.TrimSpace(string(b)) != good.String() {
		t.Fatalf("last good commit = %q", b)
	}
	// The notification may be posted after the correction it reports: wait for it.
	heard := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(kinds, ",")
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(heard(), "invalid") || !strings.Contains(heard(), "drift"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the webhook heard %q, want the invalid commit and the drift", heard())
		}
	}
	chatSaid := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(said, "\n")
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(chatSaid(), "Tether: drift at "+good.String()[:12]) || !strings.Contains(chatSaid(), "update account.dave") || !strings.Contains(chatSaid(), "Tether: invalid at "+bad.String()[:12]); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the chat service heard %q, want the invalid commit and the drift naming account.dave", chatSaid())
		}
	}

	g.edit("fleet/fleet.yaml", "contactEmial: frank@example.net", "contactEmail: frank@example.net")
	fixed := g.commit("fixed", nil)
	w.waitFor("applied", 1, "commit", fixed.String()[:12])
	if got := contactEmail(t, sb, "frank"); got != "frank@example.net" {
		t.Fatalf("the fixed commit was not applied: %q", got)
	}
}

// Time from `git commit` (the real git binary) in a local repository to the change
// applied on the sandbox. The target is 2 s; the daemon usually takes milliseconds
// (one session kept across reconciles, fsnotify with no debounce).
func TestWatchCommitLatency(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git binary")
	}
	g := newGitRepo(t)
	g.write("fleet/fleet.yaml", e2eFleet(t, ""))
	g.commit("the fleet", nil)
	sb := filepath.Join(t.TempDir(), "sandbox")
	w := startWatch(t, sb, "--repo", g.dir, "--path", "fleet")
	w.waitFor("applied", 1)
	var times []time.Duration
	for i, addr := range []string{"frank@example.net", "frank@example.com", "frank@example.org", "f@example.net", "f@example.org"} {
		g.write("fleet/fleet.yaml", strings.Replace(e2eFleet(t, ""), "contactEmail: frank@example.org", "contactEmail: "+addr, 1))
		git := func(args ...string) string {
			cmd := exec.Command(gitBin, append([]string{"-C", g.dir, "-c", "user.name=Op", "-c", "user.email=op@example.org"}, args...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("git %v: %v\n%s", args, err, out)
			}
			return strings.TrimSpace(string(out))
		}
		git("add", "-A")
		start := time.Now()
		git("commit", "-q", "-m", fmt.Sprintf("change %d", i))
		w.waitFor("applied", 1, "commit", git("rev-parse", "--short=12", "HEAD"))
		times = append(times, time.Since(start))
		if got := contactEmail(t, sb, "frank"); got != addr {
			t.Fatalf("applied, but frank's address is %q, want %q", got, addr)
		}
	}
	slices.Sort(times)
	// Reported, not asserted: timing belongs to measurements, not to pass/fail on a
	// shared CI machine (the figure is in the closing note of the GitOps issue).
	t.Logf("git commit → applied on the sandbox, 5 commits: min %v, median %v, max %v", times[0], times[2], times[4])
}

// `tether watch suspend` stops a running daemon from applying; resume applies the
// commit it held back.
func TestWatchSuspendResume(t *testing.T) {
	g := newGitRepo(t)
	g.write("fleet/fleet.yaml", e2eFleet(t, ""))
	g.commit("the fleet", nil)
	sb := filepath.Join(t.TempDir(), "sandbox")
	// The hook takes the forge's signature: GitHub's HMAC of the body, keyed by the
	// secret the daemon reads from $TETHER_HOOK_TOKEN.
	t.Setenv("TETHER_HOOK_TOKEN", "hook-secret")
	w := startWatch(t, sb, "--repo", g.dir, "--path", "fleet")
	w.waitFor("applied", 1)

	// A mistyped --state-dir is refused, and not created.
	typo := w.stateDir + "-typo"
	expect(t, tether(t, t.Context(), "", "watch", "suspend", "--state-dir", typo), 1, "no watch daemon uses "+typo)
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Fatalf("suspend created %s (%v)", typo, err)
	}
	expect(t, tether(t, t.Context(), "", "watch", "resume", "--state-dir", t.TempDir()), 1, "no watch daemon uses", "holds no watch-daemon file")
	expect(t, tether(t, t.Context(), "", "watch", "suspend", "--state-dir", w.stateDir, "--reason", "maintenance"), 0, "suspended")
	g.edit("fleet/fleet.yaml", "contactEmail: frank@example.org", "contactEmail: frank@example.net")
	held := g.commit("while suspended", nil)
	w.waitFor("suspended: new commit seen, not applied", 1, "commit", held.String()[:12])
	if got := contactEmail(t, sb, "frank"); got != "frank@example.org" {
		t.Fatalf("a suspended daemon applied: %q", got)
	}
	expect(t, tether(t, t.Context(), "", "watch", "resume", "--state-dir", w.stateDir), 0, "resumed")
	// The next trigger (the webhook, or the poll if it comes first) applies what was
	// held back.
	mac := hmac.New(sha256.New, []byte("hook-secret"))
	mac.Write([]byte("{}"))
	req, _ := http.NewRequest(http.MethodPost, "http://"+w.addr()+"/hook", strings.NewReader("{}"))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	w.waitFor("applied", 1, "commit", held.String()[:12])
	if got := contactEmail(t, sb, "frank"); got != "frank@example.net" {
		t.Fatalf("after resume frank's address is %q", got)
	}
}

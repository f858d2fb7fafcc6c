package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// cueBomb is a comprehension over a billion elements: its evaluation grows without a
// bound anyone would set.
const cueBomb = `import "list"

_bomb: [for i in list.Range(0, 1000000000, 1) {"element \(i) of a comprehension bomb"}]
"x-bomb": len(_bomb)
`

// TestWatchSurvivesCUEBomb: a commit whose CUE never finishes evaluating is stopped
// in a child process at the memory bound; the daemon's own memory stays under that
// bound plus 200 MB and /healthz answers throughout; restarted with the bomb at HEAD,
// the daemon does not evaluate it again.
func TestWatchSurvivesCUEBomb(t *testing.T) {
	const limit = 256 << 20
	t.Setenv("TETHER_CUE_MEMORY", "256MiB")
	t.Setenv("TETHER_CUE_TIMEOUT", "2m")
	g := newGitRepo(t)
	g.write("fleet/fleet.yaml", e2eFleet(t, ""))
	good := g.commit("the fleet", nil)
	sb := filepath.Join(t.TempDir(), "sandbox")
	sd := filepath.Join(t.TempDir(), "watch")
	w := startWatchDirs(t, sb, sd, "--repo", g.dir, "--path", "fleet")
	w.waitFor("applied", 1, "commit", good.String()[:12])

	// Watch the daemon (this process) while the bomb is handled.
	var (
		mu          sync.Mutex
		maxRSS      uint64
		healthFails int
		healthOK    int
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			rss := selfRSS(t)
			resp, err := client.Get("http://" + w.addr() + "/healthz")
			mu.Lock()
			maxRSS = max(maxRSS, rss)
			if err == nil && resp.StatusCode == http.StatusOK {
				healthOK++
			} else {
				healthFails++
			}
			mu.Unlock()
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
	base := selfRSS(t)
	g.write("fleet/bomb.cue", cueBomb)
	bomb := g.commit("a comprehension bomb", nil)
	start := time.Now()
	w.waitFor("invalid fleet", 1, "commit", bomb.String()[:12])
	took := time.Since(start)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("bomb stopped after %v; daemon RSS %d MiB before, at most %d MiB during; /healthz %d ok, %d failed",
		took, base>>20, maxRSS>>20, healthOK, healthFails)
	if maxRSS > limit+200<<20 {
		t.Errorf("the daemon grew to %d MiB, more than the bound (%d MiB) plus 200 MB", maxRSS>>20, limit>>20)
	}
	if healthFails > 0 || healthOK == 0 {
		t.Errorf("/healthz failed %d times (%d ok) while the bomb was handled", healthFails, healthOK)
	}
	if !strings.Contains(w.log.String(), "used more than 256 MiB of memory and was stopped") {
		t.Errorf("the refusal does not say why:\n%s", w.log.String())
	}
	// The fleet in force is still the good commit.
	if got := contactEmail(t, sb, "frank"); got != "frank@example.org" {
		t.Fatalf("frank's address is %q", got)
	}
	b, err := os.ReadFile(filepath.Join(sd, "stopped-commits"))
	if err != nil || !strings.Contains(string(b), bomb.String()) {
		t.Fatalf("the stopped commit is not remembered: %q, %v", b, err)
	}

	// Restarted with the bomb at HEAD: it is not evaluated again.
	w.stop()
	w2 := startWatchDirs(t, sb, sd, "--repo", g.dir, "--path", "fleet")
	w2.waitFor("commit not evaluated: its evaluation was stopped before; push a fixed commit", 1, "commit", bomb.String()[:12])
	if strings.Contains(w2.log.String(), "invalid fleet") {
		t.Errorf("the restarted daemon evaluated the bomb again:\n%s", w2.log.String())
	}
	// A fixed commit is evaluated and applied as usual.
	g.remove("fleet/bomb.cue")
	fixed := g.commit("remove the bomb", nil)
	w2.waitFor("applied", 1, "commit", fixed.String()[:12])
}

// selfRSS is this process's resident memory, from /proc/self/statm.
func selfRSS(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Error(err)
		return 0
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// remove deletes rel (slash-separated) from the work tree and the index.
func (g *gitRepo) remove(rel string) {
	g.t.Helper()
	wt, err := g.r.Worktree()
	if err != nil {
		g.t.Fatal(err)
	}
	if _, err := wt.Remove(rel); err != nil {
		g.t.Fatal(err)
	}
}

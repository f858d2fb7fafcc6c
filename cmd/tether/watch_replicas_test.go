package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tether-dev/tether/internal/etcdtest"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/shard"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/internal/testproc"
	"github.com/tether-dev/tether/schema"
)

// replicaFleet is a fleet of n parents, each holding accounts acct1..acctK.
func replicaFleet(n, k int) string {
	var b strings.Builder
	b.WriteString("nodes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  p%02d:\n    role: parent\n    host: p%02d.example.net\n    ipv4: 192.0.2.%d\n    version: 118\n    credentials: {user: root, tokenEnv: P%02d_TOKEN}\n", i, i, 10+i, i)
	}
	b.WriteString("accounts:\n")
	for i := range n {
		for j := 1; j <= k; j++ {
			fmt.Fprintf(&b, "  u%02dx%d:\n    parent: p%02d\n    domain: u%02dx%d.example\n    plan: basic\n    contactEmail: u%02dx%d@example.org\n", i, j, i, i, j, i, j)
		}
	}
	return b.String()
}

// createsTwice lists the parents whose sandbox served more createacct calls (alone
// or inside a batch, sandbox.Calls) than accounts the fleet declares there (k each).
func createsTwice(sbx *sandbox.Sandbox, parents, k int) []string {
	var out []string
	for i := range parents {
		p := fmt.Sprintf("p%02d", i)
		if n := sbx.Calls(p)["createacct"]; n > k {
			out = append(out, fmt.Sprintf("%s: %d createacct for %d accounts", p, n, k))
		}
	}
	return out
}

// replicaProc is `tether watch` as a separate process: this test binary run again.
type replicaProc struct {
	id   string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

func startReplica(t *testing.T, id, sb, repo, stateURL string) *replicaProc {
	t.Helper()
	p := &replicaProc{id: id, log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "watch", "--sandbox", "--sandbox-state", sb,
		"--state-dir", filepath.Join(t.TempDir(), "watch"), "--listen", "127.0.0.1:0",
		"--interval", "1s", "--poll", "300ms", "--repo", repo, "--branch", "main", "--path", "fleet",
		"--state", stateURL, "--replica-id", id, "--replica-ttl", "3s")
	p.cmd.Env = append(os.Environ(), "TETHER_TEST_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	testproc.Prepare(p.cmd) // dies with the test binary, even a killed one
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("replica %s log (tail):\n%s", id, lastLines(p.log.String(), 30))
		}
	})
	return p
}

// addr is the replica's HTTP address, from its "listening" log record.
func (p *replicaProc) addr(t *testing.T) string {
	t.Helper()
	for _, l := range strings.Split(p.log.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "listening" {
			return fmt.Sprint(m["addr"])
		}
	}
	t.Fatalf("replica %s logged no address", p.id)
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitUntil polls cond every 100ms and fails the test after d, saying what.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, d, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Three replicas of `tether watch` on one etcd divide 30 parents; one is killed with
// SIGKILL in the middle of applying a commit; the other two take its parents over,
// finish its work and close its journal: every parent owned once, the fleet
// converged, no account created twice (counted from the sandbox's own calls).
func TestReplicasDivideTheFleetAndTakeOverAKilledOne(t *testing.T) {
	if testing.Short() {
		t.Skip("three daemons and a takeover: not in -short")
	}
	const parents = 30
	srv := etcdtest.Start(t)
	stateURL := fmt.Sprintf("etcd://%s/tether?ttl=3", srv.Endpoint)

	g := newGitRepo(t)
	g.write("fleet/fleet.yaml", replicaFleet(parents, 1))
	g.commit("30 parents, one account each", nil)
	fleet, ds, err := schema.Load(filepath.Join(g.dir, "fleet"))
	if err != nil || len(ds) > 0 {
		t.Fatalf("fleet: %v %v", err, ds)
	}

	// The sandbox is served by this process, so the replicas (other processes) share
	// it and every call they make is counted here.
	sb := filepath.Join(t.TempDir(), "sandbox")
	sbx, err := sandbox.Start(context.Background(), sandbox.Options{StateDir: sb, Fleet: fleet, TaskDelay: 5 * time.Millisecond,
		FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sbx.Close()
	if err := sandbox.WritePID(sb); err != nil {
		t.Fatal(err)
	}

	ec, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	st, err := state.OpenURL(context.Background(), stateURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	start := time.Now()
	reps := map[string]*replicaProc{}
	for _, id := range []string{"r1", "r2", "r3"} {
		reps[id] = startReplica(t, id, sb, g.dir, stateURL)
	}
	// ownedOnce: every parent owned by exactly one of the live replicas, the one it
	// ranks first among them (the division settled).
	ownedOnce := func(live ...string) func() (bool, string) {
		return func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			a, err := shard.Read(ctx, ec, "tether")
			if err != nil {
				return false, err.Error()
			}
			per := map[string]int{}
			for i := range parents {
				o := a.Owners[fmt.Sprintf("p%02d", i)]
				per[o]++
				if p := fmt.Sprintf("p%02d", i); o != shard.Rank(p, live) {
					return false, fmt.Sprintf("%s owned by %q, not by %s; owners %v", p, o, shard.Rank(p, live), per)
				}
			}
			return true, ""
		}
	}
	converged := func(k int) func() (bool, string) {
		return func() (bool, string) {
			for i := range parents {
				for j := 1; j <= k; j++ {
					if u := fmt.Sprintf("u%02dx%d", i, j); !sbx.HasAccount(fmt.Sprintf("p%02d", i), u) {
						return false, u + " missing"
					}
				}
			}
			return true, ""
		}
	}
	noJournal := func() (bool, string) {
		js, err := st.Journals(context.Background())
		if err != nil {
			return false, err.Error()
		}
		if len(js) > 0 {
			var open []string
			for _, j := range js {
				open = append(open, fmt.Sprintf("%s (parents %v)", j.Summary(), j.Parents))
			}
			return false, fmt.Sprintf("%d journal(s) open: %s", len(js), strings.Join(open, "; "))
		}
		return true, ""
	}
	waitUntil(t, 60*time.Second, "three replicas own every parent once", ownedOnce("r1", "r2", "r3"))
	waitUntil(t, 60*time.Second, "the fleet converges", converged(1))
	t.Logf("3 replicas, %d parents: every parent owned once and the fleet converged after %s", parents, time.Since(start).Round(100*time.Millisecond))
	a, _ := shard.Read(context.Background(), ec, "tether")
	per := map[string]int{}
	for _, o := range a.Owners {
		per[o]++
	}
	t.Logf("division: %v", per)

	// Each replica reports its share: /readyz, /metrics, and /status (what `tether
	// watch status` shows) names the owner of every parent.
	for _, id := range []string{"r1", "r2", "r3"} {
		addr := reps[id].addr(t)
		want := fmt.Sprintf("replica %s owns %d of %d parents", id, per[id], parents)
		waitUntil(t, 10*time.Second, id+" /readyz", func() (bool, string) {
			got := httpGet(t, "http://"+addr+"/readyz")
			return strings.Contains(got, want), got
		})
		if got := httpGet(t, "http://"+addr+"/metrics"); !strings.Contains(got, fmt.Sprintf(`tether_owned_parents{replica="%s"} %d`, id, per[id])) {
			t.Errorf("%s /metrics lacks tether_owned_parents = %d", id, per[id])
		}
	}
	var status struct {
		Parents map[string]struct{ Owner string } `json:"parents"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+reps["r1"].addr(t)+"/status")), &status); err != nil {
		t.Fatal(err)
	}
	for p, owner := range a.Owners {
		if got := status.Parents[p].Owner; got != owner {
			t.Errorf("r1's status says %s is owned by %q; etcd says %q", p, got, owner)
		}
	}

	// The victim is killed at its first create of the next commit: its apply is
	// running (the servers answer slowly), some of its changes done, others not.
	for _, n := range sbx.Nodes() {
		if err := sbx.SetFaults(n, sandbox.Faults{Latency: 150 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	if dup := createsTwice(sbx, parents, 1); len(dup) > 0 {
		t.Fatalf("after the first commit: %v", dup)
	}
	victim := "r2"
	var mine []string
	for p, o := range a.Owners {
		if o == victim {
			mine = append(mine, p)
		}
	}
	g.write("fleet/fleet.yaml", replicaFleet(parents, 2))
	g.commit("a second account on every parent", nil)
	var first string
	waitUntil(t, 60*time.Second, "the victim starts applying the second commit", func() (bool, string) {
		for _, p := range mine {
			if sbx.Calls(p)["createacct"] > 1 {
				first = p
				return true, ""
			}
		}
		return false, "no second createacct on " + strings.Join(mine, ",")
	})
	reps[victim].cmd.Process.Signal(syscall.SIGKILL)
	kill := time.Now()
	<-reps[victim].done
	secondCreates := func() int {
		n := 0
		for _, p := range mine {
			n += sbx.Calls(p)["createacct"] - 1
		}
		return n
	}
	atKill := secondCreates()
	t.Logf("killed %s with SIGKILL once its create on %s was answered: %d of its %d creates of the commit served by then (requests in flight still land)", victim, first, atKill, len(mine))

	waitUntil(t, 60*time.Second, "the two others own every parent once", ownedOnce("r1", "r3"))
	takeover := time.Since(kill)
	waitUntil(t, 90*time.Second, "the fleet converges without the victim", converged(2))
	convergedAfter := time.Since(kill)
	// The victim's journal spans parents now split between the two survivors; each
	// finishes its part (state.Core.ReleaseJournal), the second ends it.
	waitUntil(t, 30*time.Second, "no journal left open", noJournal)
	t.Logf("the victim's journal was finished by the two survivors %s after the kill; its parents' creates: %d at the kill, %d in all (one each)",
		time.Since(kill).Round(100*time.Millisecond), atKill, secondCreates())
	t.Logf("after SIGKILL: parents owned again in %s, fleet converged in %s (replica TTL 3s, lock TTL 3s)",
		takeover.Round(100*time.Millisecond), convergedAfter.Round(100*time.Millisecond))
	if dup := createsTwice(sbx, parents, 2); len(dup) > 0 {
		t.Errorf("accounts created more than once: %v", dup)
	}
}

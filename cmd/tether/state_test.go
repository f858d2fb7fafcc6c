package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/etcdtest"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/state"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// `tether state locks` names the holder and `tether state unlock` breaks an etcd
// lock; on a folder it lists and refuses to break a live process's lock.
func TestStateLocksAndUnlock(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	spec := "etcd://" + srv.Endpoint + "/cli?ttl=2"
	folder := t.TempDir()
	for _, tc := range []struct{ name, spec, unlocked string }{
		{"etcd", spec, "The lock of web1 is broken."},
		{"folder", folder, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := state.OpenURL(ctx, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if out, code := execute(t, "state", "locks", "--state", tc.spec, t.TempDir()); code != 0 || !strings.Contains(out, "No parent is locked") {
				t.Fatalf("exit %d: %s", code, out)
			}
			l, err := st.Lock(ctx, "web1")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Unlock()
			out, code := execute(t, "state", "locks", "--state", tc.spec, t.TempDir())
			if code != 0 || !strings.Contains(out, "web1\theld by pid "+strconv.Itoa(os.Getpid())) {
				t.Fatalf("exit %d: %q", code, out)
			}
			out, code = execute(t, "state", "locks", "--format", "json", "--state", tc.spec, t.TempDir())
			var doc locksJSON
			if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || len(doc.Locks) != 1 || doc.Locks[0].Parent != "web1" || doc.Locks[0].PID != os.Getpid() {
				t.Fatalf("locks --format json: exit %d, %v: %s", code, err, out)
			}
			root := newRoot(testCLI())
			var o, e strings.Builder
			root.SetOut(&o)
			root.SetErr(&e)
			root.SetArgs([]string{"state", "unlock", "web1", "--yes", "--state", tc.spec, t.TempDir()})
			err = root.Execute()
			if tc.unlocked != "" {
				if err != nil || !strings.Contains(o.String(), tc.unlocked) {
					t.Fatalf("unlock: %v %s", err, o.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "live process") {
				t.Fatalf("folder unlock: %v", err)
			}
		})
	}
}

// calls sums the sandbox's API calls over its nodes, by function.
func calls(sb *sandbox.Sandbox) map[string]int {
	out := map[string]int{}
	for _, n := range sb.Nodes() {
		for fn, k := range sb.Calls(n) {
			out[fn] += k
		}
	}
	return out
}

// since is what was called after before.
func since(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for fn, k := range after {
		if d := k - before[fn]; d > 0 {
			out[fn] = d
		}
	}
	return out
}

// A lock broken mid-apply (its lease revoked, as `tether state unlock` does) stops
// the apply from starting changes: the one running ends, the apply exits 1 naming the
// parent and the lost lock, the sandbox served no call of a change started after the
// loss, and the next apply finishes the rest — each object created once.
func TestLostLockStopsTheApply(t *testing.T) {
	srv := etcdtest.Start(t)
	spec := "etcd://" + srv.Endpoint + "/lost?ttl=2"
	e := newEnv(t)
	expect(t, e.run(t, "plan", e.fleet), 0)
	sb := servedSandbox(t, e)
	admin, err := state.OpenEtcd(context.Background(), spec, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	var atStart, atLoss map[string]int
	var started, afterLoss []string
	lost := false
	c := withEvents(func(ev engine.Event) {
		switch ev.Kind {
		case engine.EventStart:
			if lost {
				afterLoss = append(afterLoss, ev.Change.ID)
			}
			started = append(started, ev.Change.ID)
			if len(started) > 1 {
				return
			}
			// The first change is about to run: break web1's lock, and slow the
			// servers so that it is still running when the apply sees its lease gone
			// (its keepalive asks every ttl/3).
			atStart = calls(sb)
			if err := admin.BreakLock(context.Background(), "web1"); err != nil {
				t.Errorf("break: %v", err)
			}
			for _, n := range sb.Nodes() {
				sb.SetFaults(n, sandbox.Faults{Latency: 3 * time.Second})
			}
		case engine.EventLockLost:
			lost = true
			atLoss = calls(sb)
			for _, n := range sb.Nodes() {
				sb.SetFaults(n, sandbox.Faults{})
			}
		}
	})
	r := e.runWith(t, c, "apply", "--auto-approve", "--no-verify", "--parallelism", "1", "--state", spec, e.fleet)
	expect(t, r, 1, "lock lost: the lock of parent web1 was lost while applying", "no change was started after that", "6 not started",
		"Apply incomplete: 1 applied")
	if !lost || len(started) != 1 || len(afterLoss) != 0 {
		t.Fatalf("lost seen %v; started %v; started after the loss %v", lost, started, afterLoss)
	}
	// What the servers were asked from the loss on is the running change's own work,
	// and nothing of a change that was not started.
	first := since(atStart, calls(sb))
	t.Logf("calls of %s: %v (at the loss: %v)", started[0], first, since(atStart, atLoss))
	if first["createacct"] > 1 {
		t.Fatalf("more than the running change reached the servers: %v", first)
	}

	// The next apply holds web1 and finishes the journal: every account and reseller
	// is created exactly once over the two applies, and no journal is left.
	before := calls(sb)
	r = e.run(t, "apply", "--auto-approve", "--no-verify", "--state", spec, e.fleet)
	expect(t, r, 0, "did not finish", "Apply complete! 6 created")
	rest := since(before, calls(sb))
	if got := first["createacct"] + rest["createacct"]; got != 5 {
		t.Errorf("createacct called %d times over the two applies, want 5 (4 accounts, 1 reseller): %v then %v", got, first, rest)
	}
	if js, err := admin.Journals(context.Background()); err != nil || len(js) != 0 {
		t.Fatalf("journals left: %v, %v", js, err)
	}
}

// Two CLI applies race for one parent on etcd state: while the first holds web1 (it
// stops at its first change), the second, told not to wait, fails naming the holder
// (host, pid, command, the fleet commit it applies);
// the first then completes. Every wait is bounded, so a regression fails, not hangs.
func TestTwoAppliesRaceOnEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	spec := "etcd://" + srv.Endpoint + "/race?ttl=3"
	e := newEnv(t)
	expect(t, e.run(t, "plan", e.fleet), 0)
	servedSandbox(t, e) // one sandbox for both commands
	// The fleet is a git checkout: the holder names the commit being applied.
	g := &gitRepo{t: t, dir: e.fleet, r: newGitRepoAt(t, e.fleet)}
	commit := g.commit("the fleet", nil).String()
	hook, started, release := holdAtFirstStart()
	first := make(chan result, 1)
	go func() {
		first <- e.runWith(t, withEvents(hook), "apply", "--auto-approve", "--no-verify", "--state", spec, e.fleet)
	}()
	awaitFirstChange(t, started, first)
	second := e.run(t, "apply", "--auto-approve", "--no-verify", "--lock-timeout", "0", "--state", spec, e.fleet)
	close(release)
	expect(t, second, 1, "cannot apply to web1", "locked by another writer",
		fmt.Sprintf("held by pid %d on ", os.Getpid()), "(tether apply, commit "+commit[:12]+")")
	select {
	case r := <-first:
		expect(t, r, 0, "Apply complete! 7 created")
	case <-time.After(time.Minute):
		t.Fatal("the first apply did not end within a minute of its release")
	}
}

// Two CLI applies race for one parent and the second waits (--lock-timeout): it made
// its plan before the first applied, so once it holds web1 it plans again, finds the
// first did everything, and applies nothing — each account created once, counted
// from the sandbox's calls.
func TestWaitingApplyPlansAgain(t *testing.T) {
	srv := etcdtest.Start(t)
	spec := "etcd://" + srv.Endpoint + "/wait?ttl=3"
	e := newEnv(t)
	expect(t, e.run(t, "plan", e.fleet), 0)
	sb := servedSandbox(t, e)
	hook, started, release := holdAtFirstStart()
	first, second := make(chan result, 1), make(chan result, 1)
	go func() {
		first <- e.runWith(t, withEvents(hook), "apply", "--auto-approve", "--no-verify", "--state", spec, e.fleet)
	}()
	awaitFirstChange(t, started, first)
	go func() {
		second <- e.run(t, "apply", "--auto-approve", "--no-verify", "--lock-timeout", "1m", "--state", spec, e.fleet)
	}()
	// The second waits when its key is queued behind the first's on web1's mutex.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		r, err := cli.Get(context.Background(), "wait/locks/web1/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		if r.Count >= 2 {
			break
		}
		select {
		case r := <-second:
			t.Fatalf("the second apply ended without waiting: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the second apply never waited for web1")
		}
	}
	close(release)
	for i, ch := range []chan result{first, second} {
		select {
		case r := <-ch:
			if i == 0 {
				expect(t, r, 0, "Apply complete! 7 created")
			} else {
				expect(t, r, 0, "Plan: 7 to create", "while this apply waited for another writer's lock", "it applies the plan made now instead. No changes.", "Apply complete! Nothing to change.")
			}
		case <-time.After(time.Minute):
			t.Fatalf("apply %d did not end within a minute", i+1)
		}
	}
	if n := calls(sb)["createacct"]; n != 5 {
		t.Errorf("createacct called %d times, want 5 (4 accounts, 1 reseller, once each)", n)
	}
}

// awaitFirstChange waits until the first apply starts a change (it then holds its
// locks), failing rather than hanging when it ends first or never starts.
func awaitFirstChange(t *testing.T, started <-chan struct{}, first <-chan result) {
	t.Helper()
	select {
	case <-started:
	case r := <-first:
		t.Fatalf("the first apply ended before its first change: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	case <-time.After(time.Minute):
		t.Fatal("the first apply did not start a change within a minute")
	}
}

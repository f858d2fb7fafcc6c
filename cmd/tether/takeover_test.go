package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/etcdtest"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/internal/testproc"
)

// The helper process: `tether apply` as TestKilledApplyIsFinishedByAnotherProcess
// starts it, killed by the test mid-apply.
func TestApplyHelperProcess(t *testing.T) {
	args := os.Getenv("TETHER_APPLY_HELPER_ARGS")
	if args == "" {
		t.Skip("run by TestKilledApplyIsFinishedByAnotherProcess")
	}
	os.Exit(run(testCLI(), strings.Split(args, "\x1f")))
}

// An apply killed with SIGKILL mid-journal, on etcd state, is finished by another
// process applying the same fleet from another checkout: it waits for the dead
// process's lease to lapse, takes web1, re-reads the fleet, applies what is left and
// ends the journal. Counted from the sandbox's calls, nothing is applied twice.
func TestKilledApplyIsFinishedByAnotherProcess(t *testing.T) {
	srv := etcdtest.Start(t)
	spec := "etcd://" + srv.Endpoint + "/takeover?ttl=2"
	e := newEnv(t)
	expect(t, e.run(t, "plan", e.fleet), 0)
	sb := servedSandbox(t, e)
	for _, n := range sb.Nodes() {
		sb.SetFaults(n, sandbox.Faults{Latency: 100 * time.Millisecond})
	}
	st, err := state.OpenEtcd(context.Background(), spec, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	args := []string{"apply", "--auto-approve", "--no-verify", "--parallelism", "1", "--state", spec,
		"--sandbox", "--sandbox-state", e.sandbox, e.fleet}
	cmd := exec.Command(os.Args[0], "-test.run=^TestApplyHelperProcess$")
	cmd.Env = append(os.Environ(), "TETHER_APPLY_HELPER_ARGS="+strings.Join(args, "\x1f"))
	testproc.Prepare(cmd)
	logPath := filepath.Join(t.TempDir(), "helper.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { testproc.Stop(cmd, exited) })

	// Half-way: some changes recorded done, several not.
	var j *state.Journal
	for deadline := time.Now().Add(time.Minute); j == nil; time.Sleep(20 * time.Millisecond) {
		js, err := st.Journals(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(js) == 1 && len(js[0].Changes)-len(js[0].Remaining()) >= 2 && len(js[0].Remaining()) >= 2 {
			j = js[0]
		}
		select {
		case <-exited:
			t.Fatalf("the helper ended before it was half-way:\n%s", testproc.LogTail(logPath, 30))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the helper never got half-way through its apply:\n%s", testproc.LogTail(logPath, 30))
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	js, err := st.Journals(context.Background())
	if err != nil || len(js) != 1 || js[0].ID != j.ID || len(js[0].Remaining()) == 0 {
		t.Fatalf("after SIGKILL the journals are %+v, %v", js, err)
	}
	for _, n := range sb.Nodes() {
		sb.SetFaults(n, sandbox.Faults{})
	}

	// Another process's checkout of the same fleet: another path, same nodes.
	other := filepath.Join(e.dir, "checkout2")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "fleet.yaml"), []byte(readFile(t, filepath.Join(e.fleet, "fleet.yaml"))), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "apply", "--auto-approve", "--no-verify", "--lock-timeout", "30s", "--state", spec, other)
	expect(t, r, 0, "Note: an apply of "+e.fleet, "did not finish", "This apply re-reads the fleet and finishes it", "Apply complete!")
	if js, err := st.Journals(context.Background()); err != nil || len(js) != 0 {
		t.Fatalf("journals left: %+v, %v", js, err)
	}
	got := calls(sb)
	if got["createacct"] != 5 || got["link_server_node_with_api_token"] != 2 {
		t.Errorf("over both processes: createacct %d (want 5: 4 accounts, 1 reseller), links %d (want 2): %v",
			got["createacct"], got["link_server_node_with_api_token"], got)
	}
	e.assertConverged(t)
}

package etcdtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/testproc"
)

// A go test killed outright (SIGKILL: a timeout's last resort, a cancelled CI job)
// leaves no etcd behind: the helper below starts one and is killed; the etcd must be
// gone within seconds.
func TestEtcdDiesWithTheTest(t *testing.T) {
	if os.Getenv("ETCDTEST_HELPER") == "1" {
		srv := Start(t)
		fmt.Printf("ETCDPID %d\n", srv.cmd.Process.Pid)
		time.Sleep(time.Minute) // killed long before
		return
	}
	Require(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestEtcdDiesWithTheTest$")
	cmd.Env = append(os.Environ(), "ETCDTEST_HELPER=1")
	testproc.Prepare(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pids := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "ETCDPID "); ok {
				n, _ := strconv.Atoi(v)
				pids <- n
			}
		}
		close(pids)
	}()
	var pid int
	select {
	case pid = <-pids:
	case <-time.After(30 * time.Second):
		t.Fatal("the helper did not start etcd within 30s")
	}
	if pid == 0 || !alive(pid) {
		t.Fatalf("the helper's etcd (pid %d) is not running", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("etcd (pid %d) outlived the killed test process by 10s", pid)
		}
	}
}

// alive says whether pid runs: a zombie waiting for a parent that does not reap it
// (as in a container whose init does not) counts as gone.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) STATE ...: comm may hold spaces, so the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

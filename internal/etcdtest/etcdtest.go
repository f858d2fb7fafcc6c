// Package etcdtest runs a real etcd server on loopback for tests: a temporary data
// folder, two free ports (clients, peers), one member, started as the current user
// and stopped by its PID when the test ends. Nothing it starts listens off 127.0.0.1.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/testproc"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Server is a running etcd.
type Server struct {
	// Endpoint is "127.0.0.1:PORT", where etcd serves clients (plain HTTP/2).
	Endpoint string
	// Dir holds the data folder and etcd's log (etcd.log).
	Dir string

	name   string // etcd's --name, unique to this attempt
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	err    error
}

// Lookup finds etcd: in PATH, then /usr/bin (Debian's etcd-server).
func Lookup() (string, bool) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, true
	}
	if st, err := os.Stat("/usr/bin/etcd"); err == nil && !st.IsDir() {
		return "/usr/bin/etcd", true
	}
	return "", false
}

// Require skips the test when etcd is missing, except under CI=true where a missing
// server is a failure: CI installs etcd-server, so its absence is a bug.
func Require(t testing.TB) string {
	t.Helper()
	if p, ok := Lookup(); ok {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("etcd is not installed; CI must install etcd-server (see .ci/run)")
	}
	t.Skip("etcd is not installed (apt-get install etcd-server); skipping the real-etcd test")
	return ""
}

// attempts bounds how many port pairs Start tries. Each failed attempt is one whose
// port another process took between freePorts and etcd's bind (or etcd's own two
// ports collided): cheap to retry, and on a loaded machine shared with other test
// binaries three were sometimes all taken.
const attempts = 10

// errPortTaken is an attempt that lost one of its ports to another process.
var errPortTaken = errors.New("port already in use")

// Start starts etcd and waits until it answers; it is stopped when the test ends.
// Ports are found free and then handed to etcd, which binds them itself: another
// process can take one in between, so an attempt whose etcd could not bind (or whose
// client port answers as another etcd) is retried on new ports.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Require(t)
	var lastErr error
	for range attempts {
		s := &Server{Dir: t.TempDir(), exited: make(chan struct{})}
		ports, err := pickPorts(2)
		if err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		s.Endpoint = fmt.Sprintf("127.0.0.1:%d", ports[0])
		// A name no other etcd has: the probe checks that the etcd answering on the
		// client port is this one, not another test's that holds the port.
		s.name = fmt.Sprintf("etcdtest-%d-%d", os.Getpid(), started.Add(1))
		lastErr = s.start(t, bin, ports[1])
		if lastErr == nil {
			return s
		}
		if !errors.Is(lastErr, errPortTaken) {
			break
		}
	}
	t.Fatalf("etcdtest: etcd did not start: %v", lastErr)
	return nil
}

// started counts the attempts of this process, for etcd names no two share.
var started atomic.Int64

// pickPorts is freePorts; a test puts a taken port first.
var pickPorts = freePorts

// freePorts returns n distinct loopback TCP ports that were free: all n are held
// open together, since a port closed and asked for again can come back the same
// (etcd then fails binding its own second port).
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (s *Server) start(t testing.TB, bin string, peerPort int) error {
	logf, err := os.Create(filepath.Join(s.Dir, "etcd.log"))
	if err != nil {
		return fmt.Errorf("create etcd.log: %w", err)
	}
	client := "http://" + s.Endpoint
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	s.cmd = exec.Command(bin,
		"--name", s.name,
		"--data-dir", filepath.Join(s.Dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", s.name+"="+peer, "--initial-cluster-state", "new",
		// Tests want quick elections and no fsync stalls on a shared machine.
		"--heartbeat-interval", "50", "--election-timeout", "500",
		"--unsafe-no-fsync")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	testproc.Prepare(s.cmd)
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		err := s.cmd.Wait()
		logf.Close()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.exited)
	}()
	t.Cleanup(s.Stop)

	c, err := clientv3.New(clientv3.Config{Endpoints: []string{s.Endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		s.Stop()
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			s.mu.Lock()
			defer s.mu.Unlock()
			tail := s.LogTail(20)
			err := fmt.Errorf("etcd exited: %v\n%s", s.err, tail)
			if strings.Contains(tail, "address already in use") {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return err
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		ours, err := s.answers(ctx, c)
		if err == nil && ours {
			// Ours, and serving reads: its member has a leader.
			_, err = c.Get(ctx, "etcdtest-probe")
		}
		cancel()
		if err == nil && ours {
			return nil
		}
		// Another etcd on the port (ours will exit, unable to bind it), or ours not
		// ready yet: wait for either.
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("etcd on %s did not answer within 20s\n%s", s.Endpoint, s.LogTail(20))
}

// answers reports whether the etcd answering on the client port is this Server's:
// its only member carries the attempt's name.
func (s *Server) answers(ctx context.Context, c *clientv3.Client) (bool, error) {
	r, err := c.MemberList(ctx)
	if err != nil {
		return false, err
	}
	for _, m := range r.Members {
		if m.Name == s.name {
			return true, nil
		}
	}
	return false, nil
}

// PID is etcd's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop ends etcd by its PID (SIGTERM, then SIGKILL after 5s). Safe to call twice.
func (s *Server) Stop() { testproc.Stop(s.cmd, s.exited) }

// LogTail returns the last lines of etcd's log, for failure messages.
func (s *Server) LogTail(n int) string {
	return testproc.LogTail(filepath.Join(s.Dir, "etcd.log"), n)
}

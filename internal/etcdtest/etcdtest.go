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
	"sync"
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

// Start starts etcd and waits until it answers; it is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Require(t)
	var lastErr error
	// A port found free can be taken before etcd binds it; try a few.
	for range 3 {
		s := &Server{Dir: t.TempDir(), exited: make(chan struct{})}
		cport, err1 := freePort()
		pport, err2 := freePort()
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		s.Endpoint = fmt.Sprintf("127.0.0.1:%d", cport)
		if lastErr = s.start(t, bin, pport); lastErr == nil {
			return s
		}
	}
	t.Fatalf("etcdtest: etcd did not start: %v", lastErr)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start(t testing.TB, bin string, peerPort int) error {
	logf, err := os.Create(filepath.Join(s.Dir, "etcd.log"))
	if err != nil {
		return fmt.Errorf("create etcd.log: %w", err)
	}
	client := "http://" + s.Endpoint
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	s.cmd = exec.Command(bin,
		"--name", "test",
		"--data-dir", filepath.Join(s.Dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test="+peer, "--initial-cluster-state", "new",
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
			return fmt.Errorf("etcd exited: %v\n%s", s.err, s.LogTail(20))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := c.Get(ctx, "etcdtest-probe")
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("etcd on %s did not answer within 20s\n%s", s.Endpoint, s.LogTail(20))
}

// PID is etcd's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop ends etcd by its PID (SIGTERM, then SIGKILL after 5s). Safe to call twice.
func (s *Server) Stop() { testproc.Stop(s.cmd, s.exited) }

// LogTail returns the last lines of etcd's log, for failure messages.
func (s *Server) LogTail(n int) string {
	return testproc.LogTail(filepath.Join(s.Dir, "etcd.log"), n)
}

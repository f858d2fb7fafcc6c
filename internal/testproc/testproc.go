// Package testproc holds what the test helpers that run a real server process
// (internal/bindtest for named, internal/etcdtest for etcd) share: stopping the
// process and reading the end of its log for a failure message.
package testproc

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Stop ends cmd's process: SIGTERM, then SIGKILL after 5s. exited is closed when
// the process has been waited for; Stop returns once it is. Safe to call twice.
func Stop(cmd *exec.Cmd, exited <-chan struct{}) {
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// LogTail returns the last n lines of the log file at path ("" when it cannot be
// read), for failure messages.
func LogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

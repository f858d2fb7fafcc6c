//go:build unix && !linux

package testproc

import (
	"os/exec"
	"syscall"
)

// Prepare sets up a test's child process before Start: its own process group, so a
// Ctrl-C to go test reaches the test, which then stops the child in order. Only Linux
// can also tie the child's life to the test's (see the Linux version).
func Prepare(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

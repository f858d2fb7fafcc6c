//go:build unix

package testproc

import (
	"os/exec"
	"syscall"
)

// OwnGroup starts cmd in its own process group, so a test's Ctrl-C (sent to the
// test's group) does not reach the server before the test has stopped it.
func OwnGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

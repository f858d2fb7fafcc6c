//go:build unix

package cueguard

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the child in its own process group, so nothing it starts outlives it.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// killGroup ends the child and everything it started.
func killGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

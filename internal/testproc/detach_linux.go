package testproc

import (
	"os/exec"
	"syscall"
)

// Prepare sets up a test's child process before Start: its own process group, so a
// Ctrl-C to go test reaches the test, which then stops the child in order; and death
// with the test (PR_SET_PDEATHSIG, SIGKILL), so a go test killed outright (a timeout,
// SIGKILL, a CI job cancelled) leaves no etcd or named behind holding ports and
// folders. The kernel sends the signal when the thread that started the child ends;
// Go's threads live as long as the process unless a goroutine locked to one exits
// locked, which test helpers do not do.
func Prepare(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

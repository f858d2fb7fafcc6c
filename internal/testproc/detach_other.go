//go:build !unix

package testproc

import "os/exec"

// Prepare sets up a test's child process before Start; elsewhere than on Unix there
// is nothing to set.
func Prepare(cmd *exec.Cmd) {}

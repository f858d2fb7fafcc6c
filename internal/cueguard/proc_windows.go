//go:build windows

package cueguard

import "os/exec"

// ownGroup does nothing on Windows: the child evaluates CUE and starts no process of
// its own, so ending it (killGroup) ends everything it ran.
func ownGroup(*exec.Cmd) {}

// killGroup ends the child (TerminateProcess).
func killGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

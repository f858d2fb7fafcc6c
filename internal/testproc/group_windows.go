//go:build windows

package testproc

import "os/exec"

// OwnGroup does nothing on Windows, where a console's Ctrl-C is not sent by process
// group; the servers these helpers run (named, etcd) are Unix test dependencies.
func OwnGroup(*exec.Cmd) {}

//go:build windows

package schema

import "errors"

// mkfifo: Windows has no named pipes in the file system (the test skips).
func mkfifo(string) error { return errors.New("no FIFOs on Windows") }

//go:build windows

package schema

import (
	"errors"
	"time"
)

// mkfifo: Windows has no named pipes in the file system (the test skips).
func mkfifo(string) error { return errors.New("no FIFOs on Windows") }

// cpuTime is not measured on Windows (the benchmark reports 0).
func cpuTime() time.Duration { return 0 }

//go:build !unix

package rfc2136

import (
	"os"
	"testing"
)

// selfSwitches is not counted here (the DNS benchmarks run against named on Linux).
func selfSwitches(*testing.B) int64 { return 0 }

// processSwitches is not counted here.
func processSwitches(*os.ProcessState) int64 { return 0 }

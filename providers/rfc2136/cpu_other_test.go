//go:build !unix

package rfc2136

import "time"

// selfCPU is not measured here: the benchmarks that report it need named, which runs
// on unix only.
func selfCPU() time.Duration { return 0 }

//go:build !unix

package engine_test

import "time"

// selfCPU is unknown off Unix: the benchmarks report wall time only there.
func selfCPU() time.Duration { return 0 }

//go:build !unix

package workspace

import "time"

// selfCPU is unknown off Unix: the benchmarks report wall time only there.
func selfCPU() time.Duration { return 0 }

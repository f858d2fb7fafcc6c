//go:build !unix

package cputime

import "time"

// Self is not measured off Unix: benchmarks report 0 CPU there, and wall time.
func Self() time.Duration { return 0 }

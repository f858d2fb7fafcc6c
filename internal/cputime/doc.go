// Package cputime reads the CPU time the process has used. The benchmarks report it
// beside wall time because the machines they run on are shared: wall time says mostly
// how busy the neighbours were, CPU time what the run cost.
package cputime

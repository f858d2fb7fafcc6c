//go:build !unix

package schema_test

func cpuTime() int64 { return 0 }

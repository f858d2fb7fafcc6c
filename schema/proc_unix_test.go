//go:build unix

package schema

import "syscall"

// mkfifo makes a named pipe at p (the reader must refuse it).
func mkfifo(p string) error { return syscall.Mkfifo(p, 0o644) }

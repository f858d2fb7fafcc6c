// Package cueguard evaluates a CUE fleet first in a child process that can be stopped,
// so a long-running process (the watch daemon) never runs an evaluation it cannot end.
//
// CUE's evaluator cannot be cancelled: a goroutine given a comprehension over a huge
// range keeps allocating after its caller has given up on it, and the heap of the
// process goes with it. A child process can be killed, and its memory is the
// kernel's to take back. So Check re-executes the running binary (os.Executable) with
// an environment variable that makes it load the fleet and exit; the parent kills it
// when it runs past the time bound or its resident memory passes the memory bound. A
// fleet that loaded in the child within both is then loaded again in process: the
// evaluation is deterministic, so it takes the same time and memory there.
//
// The binary must call RunChildIfAsked first thing in main (and a test binary in
// TestMain), so the child does its job instead of running the program.
package cueguard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tether-dev/tether/schema"
)

// childEnv carries the fleet path to the child; its presence makes the binary a child.
const childEnv = "TETHER_CUEGUARD_FLEET"

// poll is how often the parent reads the child's resident memory.
const poll = 20 * time.Millisecond

// Limits bound one evaluation in the child; zero means no bound.
type Limits struct {
	Timeout time.Duration
	Memory  uint64 // bytes of resident memory
}

// LimitsFromEnv reads the bounds schema applies in process ($TETHER_CUE_TIMEOUT,
// $TETHER_CUE_MEMORY), so the child is held to what the operator configured.
func LimitsFromEnv() (Limits, error) {
	t, m, err := schema.CUELimits()
	return Limits{Timeout: t, Memory: m}, err
}

// StoppedError says the child was stopped at a bound: the fleet is refused.
type StoppedError struct {
	Files []string // the fleet's .cue files, for the message
	Why   string   // "used more than 512 MiB of memory", "took longer than 1m0s"
	Fix   string
}

func (e *StoppedError) Error() string {
	return fmt.Sprintf("evaluating the CUE of %s %s and was stopped", strings.Join(e.Files, ", "), e.Why)
}

// Diagnostic is the refusal as a TETHER-LOAD line, positioned at the first file.
func (e *StoppedError) Diagnostic() schema.Diagnostic {
	file := ""
	if len(e.Files) > 0 {
		file = e.Files[0]
	}
	return schema.Diagnostic{Pos: schema.Pos{File: file}, Rule: schema.RuleLoad, Message: e.Error(),
		Fix: "look for a comprehension over a very large range (list.Range, a long for loop) or a recursive definition; " + e.Fix}
}

// HasCUE reports whether the fleet at path has CUE to evaluate (a .cue file, or a
// folder holding one); YAML fleets are decoded, not evaluated, and need no child.
func HasCUE(path string) bool {
	return len(cueFiles(path)) > 0
}

func cueFiles(path string) []string {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if !fi.IsDir() {
		if strings.HasSuffix(path, ".cue") {
			return []string{path}
		}
		return nil
	}
	var out []string
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && p != path && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".cue") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// Check loads the fleet at path in a child process held to lim. It returns nil when
// the child finished (whatever the fleet's diagnostics: the caller loads it again and
// reports them), a *StoppedError when a bound stopped it, or another error when the
// child could not run.
func Check(ctx context.Context, path string, lim Limits) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cueguard: find the running binary: %w", err)
	}
	cmd := exec.Command(exe)
	// The child evaluates without schema's in-process bounds: the parent holds it to
	// them from outside, which is what stops it for good.
	cmd.Env = append(os.Environ(), childEnv+"="+path, schema.CUETimeoutEnv+"=0", schema.CUEMemoryEnv+"=0")
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cueguard: start the evaluation: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	kill := func() {
		killGroup(cmd)
		<-done
	}
	var deadline <-chan time.Time
	if lim.Timeout > 0 {
		t := time.NewTimer(lim.Timeout)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	stopped := func(why, fix string) error {
		return &StoppedError{Files: shorten(cueFiles(path)), Why: why, Fix: fix}
	}
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("cueguard: the evaluation failed: %w: %s", err, strings.TrimSpace(stderr.String()))
			}
			return nil
		case <-ctx.Done():
			kill()
			return ctx.Err()
		case <-deadline:
			kill()
			return stopped(fmt.Sprintf("took longer than %s", lim.Timeout),
				fmt.Sprintf("if the fleet is simply that large, raise the limit with %s=5m", schema.CUETimeoutEnv))
		case <-tick.C:
			if lim.Memory == 0 {
				continue
			}
			if rss, err := residentBytes(cmd.Process.Pid); err == nil && rss > lim.Memory {
				kill()
				return stopped(fmt.Sprintf("used more than %d MiB of memory", lim.Memory>>20),
					fmt.Sprintf("if the fleet is simply that large, raise the limit with %s=8GiB", schema.CUEMemoryEnv))
			}
		}
	}
}

// shorten names at most four files, as the loader's own diagnostic does.
func shorten(files []string) []string {
	if len(files) > 4 {
		return append(files[:3:3], fmt.Sprintf("%d more files", len(files)-3))
	}
	return files
}

// residentBytes is a process's resident set, from /proc/PID/statm (in pages).
func residentBytes(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "statm"))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, errors.New("statm: short")
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * uint64(os.Getpagesize()), nil
}

// RunChildIfAsked makes the process the child of a Check when the environment says
// so: it loads the fleet, and exits 0 when the load finished (diagnostics or not) and 1
// when it could not run. Otherwise it returns at once.
func RunChildIfAsked() {
	path, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	if _, _, err := schema.Load(path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// limitedWriter keeps the first n bytes written to it and drops the rest.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		if len(p) > room {
			l.w.Write(p[:room])
		} else {
			l.w.Write(p)
		}
	}
	return len(p), nil
}

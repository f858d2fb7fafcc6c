package schema

import (
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"cuelang.org/go/cue/ast"
)

// DefaultCUETimeout bounds one evaluation of a CUE fleet. A fleet of 10k accounts
// evaluates in seconds; a minute means a comprehension over a huge range
// (list.Range(0, 1e9, 1)) or a runaway recursion, not a large fleet.
const DefaultCUETimeout = 60 * time.Second

// CUETimeoutEnv overrides DefaultCUETimeout: a Go duration ("5m", "90s") or a number
// of seconds; 0 turns the bound off.
const CUETimeoutEnv = "TETHER_CUE_TIMEOUT"

// DefaultCUEMemory bounds how much the heap may grow while one CUE fleet evaluates.
// A 10k-account fleet needs a few hundred MiB; past this the evaluation is stopped
// with a diagnostic rather than left to the kernel's OOM killer.
const DefaultCUEMemory = 4 << 30

// CUEMemoryEnv overrides DefaultCUEMemory: bytes, or a number with KiB, MiB or GiB;
// 0 turns the bound off.
const CUEMemoryEnv = "TETHER_CUE_MEMORY"

// cueMemory is the heap growth bound in force, and a diagnostic when the variable is
// not one.
func cueMemory() (uint64, *Diagnostic) {
	s := strings.TrimSpace(os.Getenv(CUEMemoryEnv))
	if s == "" {
		return DefaultCUEMemory, nil
	}
	num, unit := s, uint64(1)
	for _, u := range []struct {
		suffix string
		size   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			num, unit = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.size
			break
		}
	}
	if n, err := strconv.ParseUint(num, 10, 64); err == nil && n <= (1<<63)/unit {
		return n * unit, nil
	}
	return 0, &Diagnostic{Rule: RuleLoad,
		Message: fmt.Sprintf("$%s=%q is not a size", CUEMemoryEnv, s),
		Fix:     "write a whole number of bytes, KiB, MiB or GiB (e.g. 8GiB), or 0 for no limit"}
}

// heapBytes is the memory held by heap objects, live or not yet swept.
func heapBytes() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// cueMemoryPoll is how often the heap is looked at during an evaluation; reading the
// metric costs about a microsecond.
const cueMemoryPoll = 50 * time.Millisecond

// cueTimeout is the bound in force, and a diagnostic when the variable is not one.
func cueTimeout() (time.Duration, *Diagnostic) {
	s := strings.TrimSpace(os.Getenv(CUETimeoutEnv))
	if s == "" {
		return DefaultCUETimeout, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil && n >= 0 && n < 1e9 {
		return time.Duration(n * float64(time.Second)), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, &Diagnostic{Rule: RuleLoad,
		Message: fmt.Sprintf("$%s=%q is not a duration", CUETimeoutEnv, s),
		Fix:     "write a duration such as 90s or 5m, a number of seconds, or 0 for no limit"}
}

// CUELimits returns the bounds on one CUE evaluation in force ($TETHER_CUE_TIMEOUT,
// $TETHER_CUE_MEMORY, or their defaults; 0 is no bound), for code that evaluates in a
// child process and holds it to the same bounds from outside.
func CUELimits() (time.Duration, uint64, error) {
	t, bad := cueTimeout()
	if bad != nil {
		return 0, 0, fmt.Errorf("%s (%s)", bad.Message, bad.Fix)
	}
	m, bad := cueMemory()
	if bad != nil {
		return 0, 0, fmt.Errorf("%s (%s)", bad.Message, bad.Fix)
	}
	return t, m, nil
}

// evalCUE evaluates with a deadline and a bound on heap growth. CUE's evaluator cannot
// be cancelled, so it runs in a goroutine that is abandoned when a bound is passed:
// the command reports and exits, and the process takes the goroutine with it. (The
// heap is the process's, so the growth bound is approximate when other work runs.)
func evalCUE(files []*ast.File, cross bool) (*Fleet, Diagnostics) {
	f, ds, _ := evalCUEStopped(files, cross)
	return f, ds
}

// evalCUEStopped is evalCUE that also says whether a bound stopped the evaluation
// (then ds is the one diagnostic saying so): the lean evaluation (cue_lean.go) does
// not try the whole schema after it, which does more of the same work.
func evalCUEStopped(files []*ast.File, cross bool) (f *Fleet, ds Diagnostics, stopped bool) {
	limit, bad := cueTimeout()
	if bad == nil {
		var memLimit uint64
		memLimit, bad = cueMemory()
		if bad == nil {
			return evalCUEBounded(files, cross, limit, memLimit)
		}
	}
	bad.Pos = Pos{File: operatorFiles(files)[0]}
	return nil, Diagnostics{*bad}, false
}

func evalCUEBounded(files []*ast.File, cross bool, limit time.Duration, memLimit uint64) (*Fleet, Diagnostics, bool) {
	if limit == 0 && memLimit == 0 {
		f, ds := evalCUEUnbounded(files, cross)
		return f, ds, false
	}
	type result struct {
		f  *Fleet
		ds Diagnostics
	}
	done := make(chan result, 1) // buffered: an abandoned evaluation must not block forever
	base := heapBytes()
	go func() {
		f, ds := evalCUEUnbounded(files, cross)
		done <- result{f, ds}
	}()
	var deadline <-chan time.Time
	if limit > 0 {
		timer := time.NewTimer(limit)
		defer timer.Stop()
		deadline = timer.C
	}
	var poll <-chan time.Time
	if memLimit > 0 {
		ticker := time.NewTicker(cueMemoryPoll)
		defer ticker.Stop()
		poll = ticker.C
	}
	stopped := func(why, fix string) (*Fleet, Diagnostics, bool) {
		names := operatorFiles(files)
		shown := names
		if len(shown) > 4 {
			shown = append(shown[:3:3], fmt.Sprintf("%d more files", len(names)-3))
		}
		return nil, Diagnostics{{Pos: Pos{File: names[0]}, Rule: RuleLoad,
			Message: fmt.Sprintf("evaluating the CUE of %s %s and was stopped", strings.Join(shown, ", "), why),
			Fix:     "look for a comprehension over a very large range (list.Range, a long for loop) or a recursive definition; " + fix}}, true
	}
	for {
		select {
		case r := <-done:
			return r.f, r.ds, false
		case <-deadline:
			return stopped(fmt.Sprintf("took longer than %s", limit),
				fmt.Sprintf("if the fleet is simply that large, raise the limit with %s=5m", CUETimeoutEnv))
		case <-poll:
			if h := heapBytes(); h > base && h-base > memLimit {
				return stopped(fmt.Sprintf("used more than %d MiB of memory", memLimit>>20),
					fmt.Sprintf("if the fleet is simply that large, raise the limit with %s=8GiB", CUEMemoryEnv))
			}
		}
	}
}

// operatorFiles names the files the operator wrote (files[0] is the embedded schema).
func operatorFiles(files []*ast.File) []string {
	var names []string
	for _, f := range files {
		if f.Filename != schemaFileName {
			names = append(names, f.Filename)
		}
	}
	if len(names) == 0 {
		names = []string{schemaFileName}
	}
	return names
}

package schema

import (
	"fmt"
	"os"
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

// evalCUE evaluates with a deadline. CUE's evaluator cannot be cancelled, so it runs
// in a goroutine that is abandoned when the deadline passes: the command reports and
// exits, and the process takes the goroutine with it.
func evalCUE(files []*ast.File, cross bool) (*Fleet, Diagnostics) {
	limit, bad := cueTimeout()
	if bad != nil {
		bad.Pos = Pos{File: operatorFiles(files)[0]}
		return nil, Diagnostics{*bad}
	}
	if limit == 0 {
		return evalCUEUnbounded(files, cross)
	}
	type result struct {
		f  *Fleet
		ds Diagnostics
	}
	done := make(chan result, 1) // buffered: an abandoned evaluation must not block forever
	go func() {
		f, ds := evalCUEUnbounded(files, cross)
		done <- result{f, ds}
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.f, r.ds
	case <-timer.C:
		names := operatorFiles(files)
		shown := names
		if len(shown) > 4 {
			shown = append(shown[:3:3], fmt.Sprintf("%d more files", len(names)-3))
		}
		return nil, Diagnostics{{Pos: Pos{File: names[0]}, Rule: RuleLoad,
			Message: fmt.Sprintf("evaluating the CUE of %s took longer than %s and was stopped", strings.Join(shown, ", "), limit),
			Fix: fmt.Sprintf("look for a comprehension over a very large range (list.Range, a long for loop) or a recursive definition; "+
				"if the fleet is simply that large, raise the limit with %s=5m", CUETimeoutEnv)}}
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

package reconciler

import (
	"errors"
	"fmt"
	"sort"
)

// ScopeError is the failure to observe one scope of one provider. The scope names
// what could not be read (a parent for whm, a member for rfc2136); Diff makes no
// change under it, so nothing is planned for lack of information. The engine
// (internal/engine.Observe) returns it; the planner only reads it.
type ScopeError struct {
	Provider string
	Scope    string
	Err      error
}

func (e *ScopeError) Error() string {
	return fmt.Sprintf("observe %s (%s): %v", e.Scope, e.Provider, e.Err)
}

func (e *ScopeError) Unwrap() error { return e.Err }

// FailedScopes collects the scopes named by ScopeErrors among errs.
func FailedScopes(errs []error) map[string]bool {
	out := map[string]bool{}
	for _, err := range errs {
		var se *ScopeError
		if errors.As(err, &se) {
			out[se.Scope] = true
		}
	}
	return out
}

// sortedKeys lists a map's names in order. An empty name is left out: an object
// without a name has no address, so nothing can be planned or reported for it (the
// loader refuses such fleets; observed ones never have them).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

package reconciler

import (
	"errors"
	"fmt"
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

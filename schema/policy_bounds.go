package schema

import "time"

// PolicyDurationProblem says what is wrong with s as a policy duration
// (callTimeout, changeTimeout), or "" when it is one: a Go duration above zero.
func PolicyDurationProblem(s string) string {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return "is not a duration"
	case d <= 0:
		return "must be longer than zero"
	}
	return ""
}

// Bounds are the policy's bounds on talking to servers; zero where the fleet sets
// none (the command line's defaults then apply).
type Bounds struct {
	CallTimeout   time.Duration
	CallAttempts  int
	ChangeTimeout time.Duration
}

// Bounds reads the policy's callTimeout, callAttempts and changeTimeout; values the
// loader refused are left out.
func (p *Policy) Bounds() Bounds {
	var b Bounds
	if p == nil {
		return b
	}
	if d, err := time.ParseDuration(p.CallTimeout); err == nil && d > 0 {
		b.CallTimeout = d
	}
	if d, err := time.ParseDuration(p.ChangeTimeout); err == nil && d > 0 {
		b.ChangeTimeout = d
	}
	if p.CallAttempts != nil && *p.CallAttempts > 0 {
		b.CallAttempts = *p.CallAttempts
	}
	return b
}

package schema

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// MemberBackend is what the loader and the rules know of one DNS member backend (a
// member's `backend:`): which of a member's fields it needs and takes, and whether a
// member is a node of the fleet. The member's fields themselves are the fleet
// format's and the same for every backend (DESIGN.md); a backend only says which of
// them it uses.
//
// Schema names no backend: each registers its own from its provider's folder
// (providers.Register does it for the member backends a provider serves), so adding
// a backend touches that folder only. Until something registers, no backend is known
// and a fleet with a DNS member does not load: programs and tests that load fleets
// import providers/all.
type MemberBackend struct {
	// Name is how a fleet writes it: backend: NAME.
	Name string
	// Default makes this the backend of a member that names none. At most one
	// backend is the default.
	Default bool
	// OnNode: a member is a node of the fleet, named by node:, and its host is that
	// node's host. Otherwise a member is a server outside the fleet named by host:.
	OnNode bool
	// Needs lists the fields a member of this backend must have besides role.
	Needs []string
	// Takes lists the further fields it may have; backend, role and dnssec are taken
	// by every backend. Any other member field is refused.
	Takes []string
	// Refuse words the refusal of a field the backend does not take: what is wrong
	// and how to fix it. Nil gives a plain wording.
	Refuse func(field string) (problem, fix string)
	// NodeFix is the fix offered when an OnNode member's node names no node.
	NodeFix string
}

// memberCommonFields are taken by every backend.
var memberCommonFields = []string{"backend", "role", "dnssec"}

var (
	backendsMu sync.RWMutex
	backends   = map[string]MemberBackend{}
)

// RegisterMemberBackend adds a member backend. A second backend of one name, a
// second default, or a field that is not a member field is a programming error and
// refused loudly, at init.
func RegisterMemberBackend(b MemberBackend) {
	if err := registerMemberBackend(b); err != nil {
		panic(err)
	}
}

func registerMemberBackend(b MemberBackend) error {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if b.Name == "" || strings.ContainsAny(b.Name, "\"\\ \t\n") {
		return fmt.Errorf("schema: member backend %q: want a plain name", b.Name)
	}
	if _, dup := backends[b.Name]; dup {
		return fmt.Errorf("schema: member backend %q is already registered", b.Name)
	}
	for _, f := range append(slices.Clone(b.Needs), b.Takes...) {
		if !slices.Contains(memberFields, f) || slices.Contains(memberCommonFields, f) {
			return fmt.Errorf("schema: member backend %q: %q is not a member field it can need or take (member fields: %s)", b.Name, f, strings.Join(memberFields, ", "))
		}
	}
	if b.Default {
		for _, o := range backends {
			if o.Default {
				return fmt.Errorf("schema: member backend %q: %q is already the default", b.Name, o.Name)
			}
		}
	}
	b.Needs, b.Takes = slices.Clone(b.Needs), slices.Clone(b.Takes)
	backends[b.Name] = b
	return nil
}

// MemberBackends lists the registered backends by name.
func MemberBackends() []MemberBackend {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	out := make([]MemberBackend, 0, len(backends))
	for _, b := range backends {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// MemberBackendNames lists the registered backends' names, sorted.
func MemberBackendNames() []string {
	bs := MemberBackends()
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Name
	}
	return out
}

// LookupMemberBackend returns the backend registered under name.
func LookupMemberBackend(name string) (MemberBackend, bool) {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	b, ok := backends[name]
	return b, ok
}

// DefaultMemberBackend is the name of the default backend, or "" when none is
// registered.
func DefaultMemberBackend() string {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	for _, b := range backends {
		if b.Default {
			return b.Name
		}
	}
	return ""
}

// OnNode reports whether m's backend makes it a node of the fleet (MemberBackend.OnNode).
func (m *Member) OnNode() bool {
	b, ok := LookupMemberBackend(m.BackendName())
	return ok && b.OnNode
}

// refusal words the refusal of field for backend b.
func (b MemberBackend) refusal(field string) (problem, fix string) {
	if b.Refuse != nil {
		return b.Refuse(field)
	}
	return fmt.Sprintf("a %s member does not take %s", b.Name, field), "remove " + field + ":"
}

// memberProblem is a member field that does not fit the member's backend: one it
// needs and lacks (Missing), or one it sets and the backend does not take.
type memberProblem struct {
	Field        string
	Missing      bool
	Problem, Fix string
}

// checkFields holds a member's fields against its backend, in memberFields order:
// has reports whether the member sets a field. Both decoders report what it finds, so
// a YAML and a CUE fleet are held to the one registered schema with one wording.
func (b MemberBackend) checkFields(obj string, has func(field string) bool) []memberProblem {
	var out []memberProblem
	for _, f := range b.Needs {
		if !has(f) {
			out = append(out, memberProblem{Field: f, Missing: true, Problem: fmt.Sprintf("%s has no %s", obj, f), Fix: fmt.Sprintf("add %s:", f)})
		}
	}
	for _, f := range memberFields {
		if has(f) && !slices.Contains(memberCommonFields, f) && !slices.Contains(b.Needs, f) && !slices.Contains(b.Takes, f) {
			problem, fix := b.refusal(f)
			out = append(out, memberProblem{Field: f, Problem: obj + ": " + problem, Fix: fix})
		}
	}
	return out
}

// backendsCUEText is the CUE the registered backends add to the embedded schema:
// #Backend, the names a member's backend may take, and the default of a member's
// backend.
func backendsCUEText() string {
	names := MemberBackendNames()
	if len(names) == 0 {
		// No backend: a member's backend field cannot be given (a fleet without
		// members still loads).
		return "\n#Member: backend?: _|_\n"
	}
	var b strings.Builder
	// No comment is attached to the definitions: the JSON Schema would carry it.
	b.WriteString("\n#Backend: ")
	for i, n := range names {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(strconv.Quote(n))
	}
	b.WriteString("\n")
	if d := DefaultMemberBackend(); d != "" {
		b.WriteString("#Member: backend?: *" + strconv.Quote(d) + " | #Backend\n")
	} else {
		b.WriteString("#Member: backend?: #Backend\n")
	}
	return b.String()
}

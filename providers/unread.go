package providers

import (
	"fmt"
	"sort"
	"strings"
)

// UnreadError is what Observe returns, beside the fleet it did read, when parts of its
// scope could not be read: a linked child that does not answer, a child that is not
// linked yet. The rest of the scope is still worth planning (a parent's accounts do
// not depend on a child answering), so the engine keeps the fleet and reports each
// node here as unread: nothing is planned on it and the plan is incomplete.
type UnreadError struct {
	// Nodes maps each node that could not be read to why.
	Nodes map[string]error
}

func (e *UnreadError) Error() string {
	names := make([]string, 0, len(e.Nodes))
	for n := range e.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s: %v", n, e.Nodes[n])
	}
	return "could not read " + strings.Join(parts, "; ")
}

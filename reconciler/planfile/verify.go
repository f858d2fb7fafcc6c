package planfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tether-dev/tether/reconciler/plan"
)

// MismatchError refuses a saved plan whose changes are not the ones the fleet and the
// live servers give now. A saved plan is a record of what was reviewed, never an
// instruction: apply makes the plan again and runs only what both agree on, so a file
// edited after it was written (a delete added, a flag cleared, a value changed) is
// refused instead of run.
type MismatchError struct {
	Plan string // the planfile's path
	// Index is the position of the first differing change (0-based); ID names it
	// (from the saved plan when it has one there, else from the plan made now).
	Index int
	ID    string
	// How says what differs: "only in the saved plan", "only in the plan made now",
	// or the fields that differ ("flags", "after", …).
	How string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("saved plan %s does not match the plan made now from the fleet and the servers: change %d, %s, %s; it was edited after tether wrote it, or Tether's state moved since. Nothing was applied; make a new plan (tether plan -out FILE)",
		e.Plan, e.Index+1, e.ID, e.How)
}

// Verify compares the saved plan with fresh, the plan made now from the same fleet and
// the live state, change for change and field for field (as the plan JSON writes
// them), and returns a *MismatchError naming the first change that differs, or nil.
// Only the changes count: summary, warnings and unmanaged objects are derived and are
// taken from fresh when applying.
func (f *File) Verify(path string, fresh *plan.Plan) error {
	var saved []*plan.Change
	if f.Plan != nil {
		saved = f.Plan.Changes
	}
	var now []*plan.Change
	if fresh != nil {
		now = fresh.Changes
	}
	for i := 0; i < max(len(saved), len(now)); i++ {
		switch {
		case i >= len(now):
			return &MismatchError{Plan: path, Index: i, ID: changeID(saved[i]), How: "only in the saved plan"}
		case i >= len(saved):
			return &MismatchError{Plan: path, Index: i, ID: changeID(now[i]), How: "missing from the saved plan"}
		}
		s, n := saved[i], now[i]
		if s == nil {
			return &MismatchError{Plan: path, Index: i, ID: changeID(n), How: "empty in the saved plan"}
		}
		if s.ID != n.ID {
			return &MismatchError{Plan: path, Index: i, ID: s.ID, How: fmt.Sprintf("in the saved plan where the plan made now has %s", n.ID)}
		}
		if fields := differingFields(s, n); len(fields) > 0 {
			return &MismatchError{Plan: path, Index: i, ID: s.ID, How: strings.Join(fields, ", ") + " differ"}
		}
	}
	return nil
}

func changeID(c *plan.Change) string {
	if c == nil {
		return "(empty)"
	}
	if c.ID != "" {
		return c.ID
	}
	return plan.ChangeID(c.Address, c.Action)
}

// differingFields lists the JSON fields of a and b whose encodings differ. Both
// sides go through the plan JSON encoder, so a saved change (decoded into the model's
// types) and a fresh one compare as written, secrets excluded.
func differingFields(a, b *plan.Change) []string {
	ma, errA := fieldsOf(a)
	mb, errB := fieldsOf(b)
	if errA != nil || errB != nil {
		return []string{"the change (it cannot be encoded)"}
	}
	var out []string
	for k, va := range ma {
		if vb, ok := mb[k]; !ok || !bytes.Equal(va, vb) {
			out = append(out, k)
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func fieldsOf(c *plan.Change) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range m {
		// Re-encode to a canonical form (key order, spacing) before comparing.
		// Numbers stay as written (UseNumber), so no digit is rounded away.
		var x any
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		if err := dec.Decode(&x); err != nil {
			return nil, err
		}
		if m[k], err = json.Marshal(x); err != nil {
			return nil, err
		}
	}
	return m, nil
}

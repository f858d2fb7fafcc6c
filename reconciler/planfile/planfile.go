// Package planfile saves a plan with what it was made from, and checks, before a saved
// plan is applied, that neither the desired fleet nor the observed one has moved.
//
// The file is JSON:
//
//	{
//	  "tether_planfile": 1,
//	  "created": "2026-11-23T04:00:00Z",
//	  "fleet": {"path": "/abs/fleet", "fingerprint": "sha256:…", "commit": "…"},
//	  "observed": {"fingerprint": "sha256:…", "objects": {"account.alice": "…", …}},
//	  "plan": { the plan JSON: format_version, changes, summary, … }
//	}
//
// Changes are read back typed (a *schema.Account for account.USER, …), so a provider
// gets the same values from a saved plan as from a fresh one.
package planfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tether-dev/tether/reconciler/plan"
)

// Version is the planfile format this package writes and reads.
const Version = 1

// File is a saved plan.
type File struct {
	Tether   int         `json:"tether_planfile"`
	Created  time.Time   `json:"created"`
	Fleet    plan.Source `json:"fleet"`
	Observed Observed    `json:"observed"`
	Plan     *plan.Plan  `json:"plan"`
}

// New makes the file for plan p, made from the fleet src and the observation obs. It
// records src and obs's fingerprint in the plan too, for renderers and journals.
func New(p *plan.Plan, src plan.Source, obs Observed, now time.Time) *File {
	p.Source = src
	p.Observed = obs.Fingerprint
	return &File{Tether: Version, Created: now.UTC(), Fleet: src, Observed: obs, Plan: p}
}

// Write saves f to path (written to a temporary file and renamed, so a reader never
// sees half a plan). The plan holds no secrets; the file is still private to its
// owner, as it describes the fleet.
func Write(path string, f *File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	return nil
}

// sniffLen is how much of a file Is reads to recognise a saved plan.
const sniffLen = 512

// Is reports whether path is a saved plan rather than a fleet: a regular file whose
// JSON starts with the tether_planfile key (Write puts it first).
func Is(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		return false
	}
	buf := make([]byte, sniffLen)
	n, _ := io.ReadFull(f, buf)
	head := bytes.TrimLeft(buf[:n], " \t\r\n")
	if !bytes.HasPrefix(head, []byte("{")) {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(head[1:], " \t\r\n"), []byte(`"tether_planfile"`))
}

// Read loads a saved plan, with each change's before and after decoded into the
// fleet model's types.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", path, err)
	}
	// plan.Change decodes Before and After into the type its address names.
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("read plan %s: not a usable saved plan: %w", path, err)
	}
	if f.Tether != Version {
		return nil, fmt.Errorf("read plan %s: planfile version %d, this tether reads %d (make the plan again)", path, f.Tether, Version)
	}
	if f.Plan == nil {
		return nil, fmt.Errorf("read plan %s: it holds no plan", path)
	}
	for i, c := range f.Plan.Changes {
		if c == nil {
			return nil, fmt.Errorf("read plan %s: change %d is empty", path, i)
		}
	}
	return &f, nil
}

// StaleError refuses a saved plan: what it was made from has moved.
type StaleError struct {
	Plan string // the planfile's path
	// FleetChanged: the fleet's files differ; the commits say from what to what.
	FleetChanged         bool
	OldCommit, NewCommit string
	// Objects observed differently now than when the plan was made.
	Objects []ObjectChange
}

func (e *StaleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "saved plan %s is stale; make a new plan", e.Plan)
	if e.FleetChanged {
		b.WriteString("\n  the fleet changed since the plan was made")
		if e.OldCommit != e.NewCommit {
			fmt.Fprintf(&b, " (commit %s, now %s)", orNone(e.OldCommit), orNone(e.NewCommit))
		}
	}
	if len(e.Objects) > 0 {
		fmt.Fprintf(&b, "\n  %d objects on the servers changed since the plan was made:", len(e.Objects))
		for _, o := range e.Objects {
			fmt.Fprintf(&b, "\n    %s (%s)", o.Address, o.How)
		}
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Check compares the saved plan's fleet and observation with the current ones and
// returns a *StaleError naming what moved, or nil.
func (f *File) Check(path string, fleet plan.Source, obs Observed) error {
	e := &StaleError{Plan: path, OldCommit: f.Fleet.Commit, NewCommit: fleet.Commit}
	e.FleetChanged = f.Fleet.Fingerprint != fleet.Fingerprint || f.Fleet.Commit != fleet.Commit
	if f.Observed.Fingerprint != obs.Fingerprint {
		e.Objects = f.Observed.Diff(obs)
		if len(e.Objects) == 0 {
			// Same objects, different overall fingerprint: the file was edited.
			e.Objects = []ObjectChange{{Address: "(the saved observation)", How: "changed"}}
		}
	}
	if !e.FleetChanged && len(e.Objects) == 0 {
		return nil
	}
	return e
}

package workspace

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tether-dev/tether/internal/gitsource"
	"github.com/tether-dev/tether/reconciler/desired"
	"github.com/tether-dev/tether/schema"
)

// DesiredChanges compares the fleet as it was at ref (the pull request's base) with the
// work tree's, already loaded as head. A fleet invalid at ref is reported in the
// result, not as an error: the work tree's plan is what the reviewer needs most.
func DesiredChanges(fleetPath, ref string, head *schema.Fleet) (*desired.Report, error) {
	dir, err := os.MkdirTemp("", "tether-base-")
	if err != nil {
		return nil, fmt.Errorf("--git-base: %w", err)
	}
	defer os.RemoveAll(dir)
	b, err := gitsource.ExportBase(fleetPath, ref, dir)
	r := &desired.Report{Base: ref, BaseCommit: b.Commit, Objects: []desired.ObjectChange{}}
	switch {
	case errors.Is(err, gitsource.ErrNoFleetAtRef):
		r.NoBaseFleet = true
		r.Objects = desired.Diff(nil, head)
		return r, nil
	case err != nil:
		return nil, err
	}
	// Diagnostics name files in the export folder; the reviewer knows them by their
	// path in the repository.
	repoPath := func(s string) string { return strings.ReplaceAll(s, dir+string(os.PathSeparator), "") }
	base, ds, err := schema.Load(b.Path)
	if err != nil {
		r.BaseProblems = []string{repoPath(err.Error())}
		return r, nil
	}
	if len(ds) > 0 {
		for _, d := range ds {
			r.BaseProblems = append(r.BaseProblems, repoPath(d.String()))
		}
		return r, nil
	}
	if objs := desired.Diff(base, head); objs != nil {
		r.Objects = objs
	}
	return r, nil
}

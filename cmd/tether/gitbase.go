package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tether-dev/tether/internal/gitsource"
	"github.com/tether-dev/tether/reconciler/desired"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/reconciler/render"
	"github.com/tether-dev/tether/schema"
)

// desiredReport compares the fleet as it was at ref (the pull request's base) with the
// work tree's, already loaded as head. A fleet invalid at ref is reported in the
// result, not as an error: the work tree's plan is what the reviewer needs most.
func desiredReport(fleetPath, ref string, head *schema.Fleet) (*desired.Report, error) {
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

// renderWithDesired puts the desired-state section above the live plan: text and
// Markdown print it first; JSON gains a `desired_changes` field, leaving every other
// field as it is.
func renderWithDesired(w io.Writer, p *plan.Plan, format string, d *desired.Report) error {
	if d == nil {
		return renderPlan(w, p, format)
	}
	switch format {
	case "json":
		var buf bytes.Buffer
		if err := render.JSON(&buf, p); err != nil {
			return fmt.Errorf("render the plan: %w", err)
		}
		extra, err := json.MarshalIndent(d, "  ", "  ")
		if err != nil {
			return fmt.Errorf("render the desired changes: %w", err)
		}
		// The plan is one JSON object; the field goes before its closing brace so
		// consumers of the documented fields see the same document.
		doc := bytes.TrimRight(buf.Bytes(), "\n")
		if len(doc) < 2 || doc[len(doc)-1] != '}' {
			return errors.New("render the plan: not a JSON object")
		}
		out := append([]byte{}, bytes.TrimRight(doc[:len(doc)-1], "\n ")...)
		out = append(out, ",\n  \"desired_changes\": "...)
		out = append(out, extra...)
		out = append(out, "\n}\n"...)
		_, err = w.Write(out)
		return err
	case "markdown":
		// Half the comment at most for the desired state; the live plan takes the rest.
		section := desired.Markdown(d, render.DefaultMarkdownMaxBytes/2)
		if _, err := io.WriteString(w, section); err != nil {
			return err
		}
		err := render.Markdown(w, p, render.MarkdownOptions{MaxBytes: render.DefaultMarkdownMaxBytes - len(section), Title: "Live plan"})
		if err != nil {
			return fmt.Errorf("render the plan: %w", err)
		}
		return nil
	default:
		if err := desired.Text(w, d); err != nil {
			return err
		}
		return renderPlan(w, p, format)
	}
}

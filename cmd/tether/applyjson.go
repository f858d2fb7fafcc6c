package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/workspace"
	"github.com/tether-dev/tether/reconciler"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/reconciler/render"
)

// applyJSON is `tether apply --format json`: what became of each change, in one
// document on stdout (documented in reconciler/render/JSON.md). Progress stays on
// stderr.
type applyJSON struct {
	Summary     string                  `json:"summary"`
	Plan        string                  `json:"plan"`
	Complete    bool                    `json:"complete"`
	Converged   bool                    `json:"converged"`
	Created     int                     `json:"created"`
	Changed     int                     `json:"changed"`
	Removed     int                     `json:"removed"`
	Failed      int                     `json:"failed"`
	Skipped     int                     `json:"skipped"`
	NotStarted  int                     `json:"not_started"`
	Interrupted bool                    `json:"interrupted"`
	Changes     []applyChangeJSON       `json:"changes"`
	Errors      []string                `json:"errors"`
	DNS         *workspace.VerifyReport `json:"dns"`
}

type applyChangeJSON struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Action   string `json:"action"`
	Target   string `json:"target"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error"`
}

// newApplyJSON describes p's apply; res is nil when the engine did not run.
func newApplyJSON(p *plan.Plan, res *engine.Result, err error) *applyJSON {
	doc := &applyJSON{Plan: render.SummaryLine(p), Complete: p.Complete(), Changes: []applyChangeJSON{}, Errors: append([]string{}, p.Errors...)}
	if res != nil {
		for _, c := range res.Changes {
			ch := applyChangeJSON{ID: c.Change.ID, Address: c.Change.Address, Action: string(c.Change.Action), Target: c.Change.Target,
				Status: string(c.Status), Attempts: c.Attempts}
			if c.Err != nil {
				ch.Error = c.Err.Error()
			}
			doc.Changes = append(doc.Changes, ch)
			if c.Status != engine.StatusDone {
				continue
			}
			switch c.Change.Action.Kind() {
			case "create":
				doc.Created++
			case "remove":
				doc.Removed++
			default:
				doc.Changed++
			}
		}
		doc.Failed, doc.Skipped, doc.NotStarted, doc.Interrupted = res.Failed, res.Skipped, res.NotStarted, res.Interrupted
		doc.Converged = err == nil && res.Failed == 0 && res.Skipped == 0 && res.NotStarted == 0
	} else {
		doc.Converged = err == nil && p.Empty()
	}
	if err != nil {
		for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
			doc.Errors = append(doc.Errors, line)
		}
	}
	switch {
	case doc.Converged && doc.Complete && len(doc.Changes) == 0:
		doc.Summary = "Apply complete! Nothing to change."
	case doc.Converged:
		doc.Summary = "Apply complete!"
	default:
		doc.Summary = "Apply incomplete."
	}
	return doc
}

func (doc *applyJSON) write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// reportApplyJSON is reportApply under --format json: the same checks and exit codes,
// one document.
func (c *cli) reportApplyJSON(ctx context.Context, out io.Writer, w *workspace.Workspace, res *workspace.Applied, err error, noVerify bool) error {
	err = errors.Join(err, res.ProtectionErr)
	doc := newApplyJSON(res.Plan, res.Result, err)
	if res.Converged && !noVerify && workspace.TouchesDNS(res.Plan) {
		r, verr := workspace.Verify(ctx, w.Fleet, w.Session)
		if verr != nil {
			doc.Errors = append(doc.Errors, "DNS verification could not run: "+verr.Error())
		} else {
			doc.DNS = r
			if len(r.Mismatches) > 0 {
				doc.Converged = false
				doc.Summary = "Apply complete, but DNS verification found mismatches."
			}
		}
	}
	if werr := doc.write(out); werr != nil {
		return werr
	}
	if !doc.Converged || !doc.Complete {
		return exitError{code: 1}
	}
	return nil
}

// gatedJSON writes a refused plan as an errors document: the fix is the flags that
// lift it, when flags can.
func gatedJSON(out io.Writer, gated *workspace.Gated) error {
	item := errorItem{Message: gated.Err.Error()}
	var se *reconciler.SafetyError
	if errors.As(gated.Err, &se) && allFlagged(se) {
		item.Fix = "nothing was applied; to apply it anyway, add " + strings.Join(se.Flags(), " ")
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(errorJSON{Errors: []errorItem{item}}); err != nil {
		return err
	}
	return exitError{code: 1}
}

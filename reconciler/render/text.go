// Package render writes plans for people and machines: Text for a terminal, JSON (a
// versioned contract, see JSON.md) and Markdown for a pull-request comment. All three
// take a plan.Plan and nothing else, and show values through their JSON form, so a
// secret the model does not serialise cannot be printed.
package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/tether-dev/tether/reconciler/plan"
)

// TextOptions tune the text render.
type TextOptions struct {
	// Color adds ANSI colours; only when asked (a terminal that wants them).
	Color bool
}

// Symbol is the mark a change is drawn with, Terraform-like.
func Symbol(a plan.Action) string {
	switch a {
	case plan.Create:
		return "+"
	case plan.Update:
		return "~"
	case plan.Delete:
		return "-"
	case plan.Distribute:
		return "->"
	case plan.Dedistribute:
		return "<-"
	case plan.Link:
		return "<>"
	case plan.Unlink:
		return "><"
	case plan.Enable:
		return "^"
	case plan.Disable:
		return "v"
	case plan.Resync:
		return "@"
	}
	return "?"
}

// verb says what happens to the object, for the line above it.
func verb(a plan.Action) string {
	switch a {
	case plan.Create:
		return "will be created"
	case plan.Update:
		return "will be updated in place"
	case plan.Delete:
		return "will be removed"
	case plan.Distribute:
		return "will have its mail moved to a child"
	case plan.Dedistribute:
		return "will have its mail brought back to the parent"
	case plan.Link:
		return "will be linked"
	case plan.Unlink:
		return "will be unlinked"
	case plan.Enable:
		return "will be enabled"
	case plan.Disable:
		return "will be disabled"
	case plan.Resync:
		return "will be resynchronised"
	}
	return "will change"
}

var actionOrder = []plan.Action{plan.Create, plan.Update, plan.Delete, plan.Link, plan.Unlink,
	plan.Distribute, plan.Dedistribute, plan.Enable, plan.Disable, plan.Resync}

// RiskMarks are the markers of a change's flags, most severe first.
func RiskMarks(f plan.Flags) []string {
	var m []string
	if f.DataLoss {
		m = append(m, "!! data loss")
	}
	if f.Destructive {
		m = append(m, "! destructive")
	}
	if f.Disruptive {
		m = append(m, "! disruptive")
	}
	return m
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

type painter bool

func (p painter) paint(code, s string) string {
	if !p {
		return s
	}
	return code + s + ansiReset
}

func actionColor(a plan.Action) string {
	switch a.Kind() {
	case "create":
		return ansiGreen
	case "remove":
		return ansiRed
	}
	if a == plan.Distribute || a == plan.Dedistribute {
		return ansiCyan
	}
	return ansiYellow
}

// SummaryLine is the last line of a text plan. An empty plan claims the fleet
// matches only when everything could be observed; an incomplete one never does.
func SummaryLine(p *plan.Plan) string {
	if p.Empty() && !p.Complete() {
		return "Incomplete plan: nothing to change in what could be read, but parts of the fleet are unknown (see the errors above)."
	}
	if p.Empty() {
		return "No changes. The fleet matches the configuration."
	}
	s := p.Summary
	return fmt.Sprintf("Plan: %d to create, %d to change, %d to remove.", s.Create, s.Change, s.Remove)
}

// Text writes the plan for a person at a terminal.
func Text(w io.Writer, p *plan.Plan, opts TextOptions) error {
	if p == nil {
		p = &plan.Plan{}
	}
	ew := &errWriter{w: w}
	c := painter(opts.Color)

	if h := IncompleteHeadline(p); h != "" {
		ew.printf("%s\n\n", c.paint(ansiRed+ansiBold, h))
	}
	if len(p.Errors) > 0 {
		ew.printf("%s\n", c.paint(ansiRed+ansiBold, "Errors (nothing is planned where they apply):"))
		for _, e := range p.Errors {
			ew.printf("  - %s\n", e)
		}
		ew.printf("\n")
	}
	if !p.Empty() {
		used := map[plan.Action]bool{}
		for _, ch := range p.Changes {
			used[ch.Action] = true
		}
		var legend []string
		for _, a := range actionOrder {
			if used[a] {
				legend = append(legend, c.paint(actionColor(a), Symbol(a))+" "+string(a))
			}
		}
		ew.printf("Tether will perform the following actions (%s):\n", strings.Join(legend, ", "))
		for _, ch := range p.Changes {
			ew.printf("\n")
			writeTextChange(ew, c, ch)
		}
		ew.printf("\n")
	}
	if len(p.Warnings) > 0 {
		ew.printf("%s\n", c.paint(ansiYellow, "Warnings:"))
		for _, wn := range p.Warnings {
			ew.printf("  - %s\n", wn)
		}
		ew.printf("\n")
	}
	if len(p.Unmanaged) > 0 {
		ew.printf("Unmanaged (on the servers, not changed):\n")
		for _, u := range p.Unmanaged {
			ew.printf("  - %s: %s\n", u.Address, u.Reason)
		}
		ew.printf("\n")
	}
	if len(p.Adoptable) > 0 {
		ew.printf("Adoptable (declared and on the servers, but not created by Tether, so pruning never removes them; adopt with tether adopt ADDRESS...):\n")
		for i, a := range p.Adoptable {
			if i == maxListed {
				ew.printf("  ... and %d more (the JSON plan lists them all)\n", len(p.Adoptable)-maxListed)
				break
			}
			ew.printf("  - %s on %s\n", a.Address, a.Target)
		}
		ew.printf("\n")
	}
	if len(p.Gates) > 0 {
		ew.printf("%s\n", c.paint(ansiRed+ansiBold, "Apply refuses this plan unless:"))
		for _, g := range p.Gates {
			ew.printf("  - %s: %s\n", GateLabel(g), g.Message)
		}
		ew.printf("\n")
	}
	if n := p.Summary.Risky; n > 0 {
		what := "changes are"
		if n == 1 {
			what = "change is"
		}
		ew.printf("%s\n", c.paint(ansiRed, fmt.Sprintf("%d %s risky (marked !! or ! above).", n, what)))
	}
	if !p.Complete() && !p.Empty() {
		ew.printf("%s\n", c.paint(ansiRed+ansiBold, "This plan is INCOMPLETE (see the top): it covers only what could be read."))
	}
	// The summary line stays exactly as scripts expect it, alone on the last line.
	ew.printf("%s\n", c.paint(ansiBold, SummaryLine(p)))
	return ew.err
}

// maxListed caps lists a person reads (adoptable objects); JSON has them all.
const maxListed = 20

// IncompleteHeadline is the first line of an incomplete plan ("" for a complete one):
// what could not be read, so nobody mistakes the plan for the whole truth.
func IncompleteHeadline(p *plan.Plan) string {
	if p.Complete() {
		return ""
	}
	var scopes []string
	for _, u := range p.Unread {
		scopes = append(scopes, u.Scope)
	}
	what := fmt.Sprintf("%d error(s) leave parts of the fleet unplanned", len(p.Errors))
	if len(scopes) > 0 {
		what = fmt.Sprintf("%d part(s) of the fleet could not be read (%s)", len(scopes), listCapped(scopes, 5))
		if extra := len(p.Errors) - len(scopes); extra > 0 {
			what += fmt.Sprintf(" and %d other error(s)", extra)
		}
	}
	return "INCOMPLETE PLAN: " + what + "; nothing is planned there, so this plan may not show all that differs."
}

// GateLabel names what lifts a gate: its flag, or that no flag does.
func GateLabel(g plan.Gate) string {
	if g.Flag == "" {
		return "no flag (" + g.Kind + ")"
	}
	return g.Flag
}

func listCapped(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}

func writeTextChange(ew *errWriter, c painter, ch *plan.Change) {
	head := fmt.Sprintf("  # %s %s on %s", ch.Address, verb(ch.Action), ch.Target)
	if marks := RiskMarks(ch.Flags); len(marks) > 0 {
		head += "  " + c.paint(ansiRed+ansiBold, strings.Join(marks, "  "))
	}
	ew.printf("%s\n", head)
	if ch.Reason != "" {
		ew.printf("  #   %s\n", ch.Reason)
	}
	ew.printf("  %s %s\n", c.paint(actionColor(ch.Action)+ansiBold, Symbol(ch.Action)), ch.Address)
	var rows [][2]string
	switch ch.Action {
	case plan.Create, plan.Link:
		for _, l := range flatten(ch.After) {
			rows = append(rows, [2]string{l.path, l.value})
		}
	case plan.Delete, plan.Unlink:
		for _, l := range flatten(ch.Before) {
			rows = append(rows, [2]string{l.path, l.value})
		}
	default:
		for _, fc := range fieldChanges(ch) {
			rows = append(rows, [2]string{fc.path, show(fc.before) + " → " + show(fc.after)})
		}
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		ew.printf("      %-*s = %s\n", width, r[0], r[1])
	}
	for _, wn := range ch.Warnings {
		ew.printf("      %s %s\n", c.paint(ansiYellow, "!"), wn)
	}
	if len(ch.DependsOn) > 0 {
		ew.printf("      (after %s)\n", strings.Join(ch.DependsOn, ", "))
	}
}

func show(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// errWriter keeps the first write error so rendering code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}

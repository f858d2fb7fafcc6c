package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/progress"
	"github.com/tether-dev/tether/internal/redact"
	"github.com/tether-dev/tether/reconciler/desired"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/reconciler/render"
)

// renderWithDesired puts the desired-state section above the live plan: text and
// Markdown print it first; JSON gains a `desired_changes` field, leaving every other
// field as it is.
func (c *cli) renderWithDesired(w io.Writer, p *plan.Plan, format string, d *desired.Report) error {
	if d == nil {
		return c.renderPlan(w, p, format)
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
		return c.renderPlan(w, p, format)
	}
}

func (c *cli) renderPlan(w io.Writer, p *plan.Plan, format string) error {
	var err error
	switch format {
	case "json":
		err = render.JSON(w, p)
	case "markdown":
		err = render.Markdown(w, p, render.MarkdownOptions{})
	default:
		err = render.Text(w, p, render.TextOptions{Color: c.color(w)})
	}
	if err != nil {
		return fmt.Errorf("render the plan: %w", err)
	}
	return nil
}

// newLogger writes logs to stderr: warnings and errors as text on a terminal; off a
// terminal, text lines (key=value) or, with --log-format json, one JSON object a line
// for machines. Every attribute goes through redact, so no log site can write a URL's
// credentials.
func (c *cli) newLogger(w io.Writer) *slog.Logger {
	if c.terminal(w) {
		return slog.New(slog.NewTextHandler(w, redact.Options(slog.LevelWarn)))
	}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, redact.Options(nil)))
	}
	return slog.New(slog.NewTextHandler(w, redact.Options(nil)))
}

// checkLogFormat refuses a --log-format no command writes.
func (c *cli) checkLogFormat() error {
	switch c.logFormat {
	case "", "text", "json":
		return nil
	}
	return fmt.Errorf("--log-format %q: want text or json", c.logFormat)
}

// reading shows the fleet being read on stderr: a line kept up to date on a terminal,
// a line per server read elsewhere (a slog record each with --log-format json).
func (c *cli) reading(errw io.Writer) func(engine.ObserveEvent) {
	switch {
	case c.terminal(errw):
		return progress.Reading(errw, true)
	case c.logFormat == "json":
		logger := c.newLogger(errw)
		return func(ev engine.ObserveEvent) {
			if ev.Kind != engine.ObserveRead {
				return
			}
			attrs := []any{"scope", ev.Scope, "provider", ev.Provider, "duration", ev.Elapsed.Round(time.Millisecond).String(), "done", ev.Done, "total", ev.Total}
			if ev.Err != nil {
				logger.Warn("could not read", append(attrs, "error", ev.Err)...)
				return
			}
			logger.Info("read", attrs...)
		}
	default:
		return progress.Reading(errw, false)
	}
}

// Package progress shows an apply as it runs: one line kept up to date on a terminal,
// structured log lines (log/slog) anywhere else, such as CI logs and the daemon's
// journal.
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tether-dev/tether/internal/engine"
)

// Log reports every change's outcome, retries and interruptions as slog records.
// Starts are logged at debug level: a CI log of ten thousand creations is long enough.
func Log(logger *slog.Logger) func(engine.Event) {
	return func(ev engine.Event) {
		attrs := []any{}
		if c := ev.Change; c != nil {
			attrs = append(attrs, "address", c.Address, "action", string(c.Action), "target", c.Target)
		}
		counts := []any{"done", ev.Done, "failed", ev.Failed, "skipped", ev.Skipped, "total", ev.Total}
		switch ev.Kind {
		case engine.EventBegin:
			logger.Info("apply started", "total", ev.Total)
		case engine.EventStart:
			logger.Debug("change started", attrs...)
		case engine.EventRetry:
			logger.Warn("change will be retried", append(attrs, "attempt", ev.Attempt, "wait", ev.Wait.String(), "error", ev.Err)...)
		case engine.EventDone:
			logger.Info("change applied", append(append(attrs, "duration", ev.Elapsed.Round(time.Millisecond).String()), counts...)...)
		case engine.EventFailed:
			logger.Error("change failed", append(append(attrs, "attempts", ev.Attempt, "error", ev.Err), counts...)...)
		case engine.EventSkipped:
			logger.Warn("change skipped", append(attrs, "reason", ev.Err)...)
		case engine.EventInterrupted:
			logger.Warn("apply interrupted: no new change starts; waiting for the running ones", "running", ev.Running)
		case engine.EventLockLost:
			logger.Error("lock lost: another writer may hold these parents now; no new change starts; waiting for the running ones",
				"parents", ev.Parents, "running", ev.Running)
		case engine.EventEnd:
			logger.Info("apply finished", counts...)
		}
	}
}

// Line keeps one status line up to date on a terminal, and prints failures, skips and
// retries above it as they happen, so they stay on screen.
type Line struct {
	w        io.Writer
	mu       sync.Mutex
	last     time.Time
	every    time.Duration
	now      func() time.Time
	start    time.Time
	lastText string
}

// NewLine returns a Line writing to w (a terminal).
func NewLine(w io.Writer) *Line {
	return &Line{w: w, every: 100 * time.Millisecond, now: time.Now}
}

// Event updates the display with one event. It redraws at most every 100 ms, so a
// fast apply is not slowed down by the terminal.
func (l *Line) Event(ev engine.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	switch ev.Kind {
	case engine.EventBegin:
		l.start = now
	case engine.EventFailed:
		l.above(fmt.Sprintf("✗ %s %s on %s: %v", ev.Change.Action, ev.Change.Address, ev.Change.Target, ev.Err))
	case engine.EventSkipped:
		l.above(fmt.Sprintf("- %s %s: %v", ev.Change.Action, ev.Change.Address, ev.Err))
	case engine.EventRetry:
		l.above(fmt.Sprintf("↻ %s %s: attempt %d failed, retrying in %s: %v", ev.Change.Action, ev.Change.Address, ev.Attempt, ev.Wait, ev.Err))
	case engine.EventInterrupted:
		l.above(fmt.Sprintf("Interrupted: starting nothing new, waiting for %d running changes…", ev.Running))
	case engine.EventLockLost:
		l.above(fmt.Sprintf("The lock of %s was lost (its lease expired or was broken): starting nothing new, waiting for %d running changes…",
			strings.Join(ev.Parents, ", "), ev.Running))
	case engine.EventEnd:
		l.draw(ev, now)
		fmt.Fprintln(l.w)
		return
	}
	if ev.Kind == engine.EventBegin || now.Sub(l.last) >= l.every {
		l.draw(ev, now)
	}
}

// above prints msg on its own line and leaves the status line under it.
func (l *Line) above(msg string) {
	fmt.Fprintf(l.w, "\r\033[K%s\n%s", msg, l.lastText)
}

func (l *Line) draw(ev engine.Event, now time.Time) {
	l.last = now
	finished := ev.Done + ev.Failed + ev.Skipped
	text := fmt.Sprintf("Applying: %d/%d", finished, ev.Total)
	if ev.Running > 0 {
		text += fmt.Sprintf(" · %d running", ev.Running)
	}
	if ev.Failed > 0 {
		text += fmt.Sprintf(" · %d failed", ev.Failed)
	}
	if ev.Skipped > 0 {
		text += fmt.Sprintf(" · %d skipped", ev.Skipped)
	}
	text += fmt.Sprintf(" · %s", now.Sub(l.start).Round(100*time.Millisecond))
	l.lastText = text
	fmt.Fprintf(l.w, "\r\033[K%s", text)
}

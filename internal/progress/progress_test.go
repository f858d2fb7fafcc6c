package progress

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/reconciler/plan"
)

var change = &plan.Change{ID: "account.a/create", Address: "account.a", Action: plan.Create, Target: "web1"}

func events() []engine.Event {
	return []engine.Event{
		{Kind: engine.EventBegin, Total: 3},
		{Kind: engine.EventStart, Change: change, Total: 3, Running: 1},
		{Kind: engine.EventRetry, Change: change, Attempt: 1, Wait: time.Second, Err: errors.New("503"), Total: 3, Running: 1},
		{Kind: engine.EventFailed, Change: change, Attempt: 2, Err: errors.New("boom"), Total: 3, Failed: 1},
		{Kind: engine.EventSkipped, Change: change, Err: errors.New("skipped: it depends on x"), Total: 3, Failed: 1, Skipped: 1},
		{Kind: engine.EventLockLost, Parents: []string{"web1"}, Total: 3, Failed: 1, Skipped: 1, Running: 1},
		{Kind: engine.EventDone, Change: change, Elapsed: 20 * time.Millisecond, Total: 3, Done: 1, Failed: 1, Skipped: 1},
		{Kind: engine.EventEnd, Total: 3, Done: 1, Failed: 1, Skipped: 1},
	}
}

func TestLogWritesStructuredRecords(t *testing.T) {
	var buf bytes.Buffer
	emit := Log(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	for _, ev := range events() {
		emit(ev)
	}
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		msgs = append(msgs, rec["msg"].(string))
		if rec["msg"] == "change failed" && (rec["address"] != "account.a" || rec["error"] != "boom" || rec["failed"] != 1.0) {
			t.Errorf("failure record %v", rec)
		}
	}
	want := []string{"apply started", "change will be retried", "change failed", "change skipped",
		"lock lost: another writer may hold these parents now; no new change starts; waiting for the running ones", "change applied", "apply finished"}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Fatalf("messages %v, want %v (starts are debug)", msgs, want)
	}
}

func TestLineKeepsFailuresOnScreen(t *testing.T) {
	var buf bytes.Buffer
	l := NewLine(&buf)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	for _, ev := range events() {
		l.Event(ev)
	}
	out := buf.String()
	for _, s := range []string{
		"✗ create account.a on web1: boom\n",
		"↻ create account.a: attempt 1 failed, retrying in 1s: 503\n",
		"- create account.a: skipped: it depends on x\n",
		"The lock of web1 was lost (its lease expired or was broken): starting nothing new, waiting for 1 running changes…\n",
		"Applying: 3/3 · 1 failed · 1 skipped · 7s\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%q", s, out)
		}
	}
}

package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/workspace"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// stubProvider observes parents "ok" (two accounts) and "bad" (an error).
type stubProvider struct{}

func (stubProvider) Name() string                         { return "whm" }
func (stubProvider) Capabilities() providers.Capabilities { return nil }
func (stubProvider) Scopes(*schema.Fleet) []string        { return []string{"ok", "bad"} }
func (stubProvider) Apply(context.Context, *plan.Change) error {
	return errors.New("not here")
}
func (stubProvider) Observe(_ context.Context, scope string, _ *schema.Fleet) (*schema.Fleet, error) {
	if scope == "bad" {
		return nil, errors.New("unreachable")
	}
	return &schema.Fleet{Accounts: map[string]*schema.Account{"a": {}, "b": {}}}, nil
}

// The progress line counts servers read, accounts held and failures, and nothing is
// printed once the import stopped reading.
func TestImportProgress(t *testing.T) {
	c := &workspace.ImportCounter{}
	p := workspace.Counting(stubProvider{}, c)
	c.Total.Store(int64(len(p.Scopes(nil))))
	var w lockedBuf
	stop := importProgress(context.Background(), &w, c, time.Now(), 2*time.Millisecond)
	for _, scope := range p.Scopes(nil) {
		_, _ = p.Observe(context.Background(), scope, nil)
	}
	const want = "import: read 2 of 2 server(s), 2 account(s) so far, 1 failed…"
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(w.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no progress line %q in:\n%s", want, w.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	stop()
	n := len(w.String())
	time.Sleep(10 * time.Millisecond)
	if len(w.String()) != n {
		t.Errorf("progress printed after stop:\n%s", w.String()[n:])
	}
}

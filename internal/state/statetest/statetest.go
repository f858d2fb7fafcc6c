// Package statetest is the conformance suite every state backend passes: the folder
// backend today, the etcd one when it comes. A backend's test calls Run with a
// function that returns fresh, empty stores sharing one state (as two processes on
// one folder, or two clients of one etcd cluster, would).
package statetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/state"
)

// Factory returns a new handle on the same shared state each time it is called.
type Factory func(t *testing.T) state.Store

// Run runs the whole suite; each subtest gets its own state from newState.
func Run(t *testing.T, newState func(t *testing.T) Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"inventory", testInventory},
		{"inventory concurrent updates", testInventoryConcurrent},
		{"protected", testProtected},
		{"journals", testJournals},
		{"health", testHealth},
		{"pushed and forget", testPushed},
		{"locks", testLocks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newState(t)) })
	}
}

func testInventory(t *testing.T, open Factory) {
	ctx := context.Background()
	a, b := open(t), open(t)
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := a.UpdateInventory(ctx, []state.Entry{{Address: "account.x", Target: "web1", Created: when}, {Address: "node.mail1"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateInventory(ctx, []state.Entry{{Address: "account.y"}}, []string{"node.mail1", "account.none"}); err != nil {
		t.Fatal(err)
	}
	inv, err := a.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(inv)); !slices.Equal(got, []string{"account.x", "account.y"}) {
		t.Fatalf("inventory %v", got)
	}
	if e := inv["account.x"]; e.Target != "web1" || !e.Created.Equal(when) {
		t.Errorf("entry %+v", e)
	}
}

func testInventoryConcurrent(t *testing.T, open Factory) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 4 {
		s := open(t)
		wg.Go(func() {
			for i := range 10 {
				if err := s.UpdateInventory(ctx, []state.Entry{{Address: fmt.Sprintf("account.g%dn%d", g, i)}}, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	inv, err := open(t).Inventory(ctx)
	if err != nil || len(inv) != 40 {
		t.Fatalf("%d entries (want 40), %v", len(inv), err)
	}
}

func testProtected(t *testing.T, open Factory) {
	ctx := context.Background()
	s := open(t)
	if err := s.UpdateProtected(ctx, []string{"account.a", "account.b"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := open(t).UpdateProtected(ctx, []string{"reseller.r"}, []string{"account.b"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Protected(ctx)
	if err != nil || !slices.Equal(slices.Sorted(maps.Keys(got)), []string{"account.a", "reseller.r"}) {
		t.Fatalf("protected %v, %v", got, err)
	}
}

func testJournals(t *testing.T, open Factory) {
	ctx := context.Background()
	a, b := open(t), open(t)
	h1 := state.JournalHeader{ID: "j1", Started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Fleet: "/f", Parents: []string{"web1"},
		Changes: []state.PlannedChange{{ID: "c1"}, {ID: "c2"}, {ID: "c3"}}}
	h2 := state.JournalHeader{ID: "j2", Started: h1.Started.Add(time.Second), Fleet: "/f", Parents: []string{"web2"},
		Changes: []state.PlannedChange{{ID: "d1"}}}
	if err := a.BeginJournal(ctx, h1); err != nil {
		t.Fatal(err)
	}
	if err := b.BeginJournal(ctx, h2); err != nil {
		t.Fatal(err)
	}
	for _, s := range []state.Step{{ID: "c1", Status: state.StepDone}, {ID: "c2", Status: state.StepFailed, Error: "boom"}, {ID: "c2", Status: state.StepDone}} {
		if err := a.RecordStep(ctx, "j1", s); err != nil {
			t.Fatal(err)
		}
	}
	js, err := b.Journals(ctx)
	if err != nil || len(js) != 2 || js[0].ID != "j1" || js[1].ID != "j2" {
		t.Fatalf("journals %v, %v", js, err)
	}
	if rem := js[0].Remaining(); len(rem) != 1 || rem[0].ID != "c3" {
		t.Fatalf("remaining %+v (the last outcome of c2 counts)", rem)
	}
	if err := b.EndJournal(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordStep(ctx, "j1", state.Step{ID: "c3", Status: state.StepDone}); err == nil {
		t.Error("a step was recorded into a journal another handle ended")
	}
	js, err = a.Journals(ctx)
	if err != nil || len(js) != 1 || js[0].ID != "j2" {
		t.Fatalf("after ending j1: %v, %v", js, err)
	}
	if err := a.EndJournal(ctx, "j1"); err != nil {
		t.Errorf("ending an ended journal: %v", err)
	}
}

func testHealth(t *testing.T, open Factory) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		s := open(t)
		wg.Go(func() {
			for range 5 {
				if _, err := s.UpdateHealth(ctx, "web1/ns1", func(h *state.Health) { h.ConsecutiveFailures++ }); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	h, err := open(t).UpdateHealth(ctx, "web1/ns1", func(h *state.Health) { h.Disabled = true })
	if err != nil || h.ConsecutiveFailures != 20 || !h.Disabled {
		t.Fatalf("health %+v, %v (increments must not be lost)", h, err)
	}
	all, err := open(t).Health(ctx)
	if err != nil || all["web1/ns1"] != h {
		t.Fatalf("health map %v, %v", all, err)
	}
}

func testPushed(t *testing.T, open Factory) {
	ctx := context.Background()
	a, b := open(t), open(t)
	if got, err := a.Pushed(ctx, "web1/bind1"); err != nil || len(got) != 0 {
		t.Fatalf("nothing pushed yet: %v, %v", got, err)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		s := []state.Store{a, b}[i%2]
		wg.Go(func() {
			if err := s.UpdatePushed(ctx, "web1/bind1", map[string]string{fmt.Sprintf("z%d.example", i): "v1 d"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := b.UpdatePushed(ctx, "web2/bind1", map[string]string{"other.example": "v1 o"}); err != nil {
		t.Fatal(err)
	}
	got, err := open(t).Pushed(ctx, "web1/bind1")
	if err != nil || len(got) != 10 || got["z3.example"] != "v1 d" {
		t.Fatalf("pushed %v, %v (writes must not be lost)", got, err)
	}
	if _, err := a.UpdateHealth(ctx, "web1/bind1", func(h *state.Health) { h.Role, h.NeedsResync = "sync", true }); err != nil {
		t.Fatal(err)
	}
	if h, _ := b.Health(ctx); !h["web1/bind1"].NeedsResync || h["web1/bind1"].Role != "sync" {
		t.Fatalf("health fields lost: %+v", h)
	}
	if err := b.ForgetMember(ctx, "web1/bind1"); err != nil {
		t.Fatal(err)
	}
	if err := b.ForgetMember(ctx, "web1/never"); err != nil {
		t.Fatalf("forgetting an unknown member: %v", err)
	}
	if got, _ := a.Pushed(ctx, "web1/bind1"); len(got) != 0 {
		t.Fatalf("forgotten member still has pushed zones: %v", got)
	}
	if h, _ := a.Health(ctx); len(h) != 0 {
		t.Fatalf("forgotten member still has health: %v", h)
	}
	if got, _ := a.Pushed(ctx, "web2/bind1"); got["other.example"] != "v1 o" {
		t.Fatalf("forgetting one member dropped another's: %v", got)
	}
}

func testLocks(t *testing.T, open Factory) {
	a, b := open(t), open(t)
	l, err := a.Lock(context.Background(), "web1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(ctx, "web1"); !errors.Is(err, state.ErrLocked) {
		t.Fatalf("second writer: %v", err)
	}
	other, err := b.Lock(context.Background(), "web2")
	if err != nil {
		t.Fatalf("another parent: %v", err)
	}
	other.Unlock()
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	l2, err := b.Lock(ctx2, "web1")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Unlock()
}

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
	"os"
	"slices"
	"strconv"
	"strings"
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
		{"journal released by parts", testReleaseJournal},
		{"key-value updates", testKVUpdate},
		{"key-value namespaces", testKVNamespaces},
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
	if err := a.RecordStep(ctx, "j1", state.Step{ID: "c1", Status: state.StepDone}); err != nil {
		t.Fatal(err)
	}
	// Several steps in one write (the engine's writer batches them): in order, so
	// the last outcome of a change wins.
	if err := state.RecordSteps(ctx, a, "j1", []state.Step{{ID: "c2", Status: state.StepFailed, Error: "boom"}, {ID: "c2", Status: state.StepDone}}); err != nil {
		t.Fatal(err)
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
	if err := state.RecordSteps(ctx, a, "j1", []state.Step{{ID: "c3", Status: state.StepDone}, {ID: "c1", Status: state.StepDone}}); err == nil {
		t.Error("steps were recorded into a journal another handle ended")
	}
	js, err = a.Journals(ctx)
	if err != nil || len(js) != 1 || js[0].ID != "j2" {
		t.Fatalf("after ending j1: %v, %v", js, err)
	}
	if err := a.EndJournal(ctx, "j1"); err != nil {
		t.Errorf("ending an ended journal: %v", err)
	}
}

// testReleaseJournal: two handles finish the two halves of one journal at once (two
// processes that took over its parents); the journal ends exactly once, after both,
// with its steps; releasing an ended journal says it ended.
func testReleaseJournal(t *testing.T, open Factory) {
	ctx := context.Background()
	a, b := open(t), open(t)
	h := state.JournalHeader{ID: "split", Started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Fleet: "/f",
		Parents: []string{"web1", "web2", "web3"}, Changes: []state.PlannedChange{{ID: "c1"}, {ID: "c2"}}}
	if err := a.BeginJournal(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordStep(ctx, "split", state.Step{ID: "c1", Status: state.StepDone}); err != nil {
		t.Fatal(err)
	}
	ended, err := b.ReleaseJournal(ctx, "split", []string{"web3", "other"})
	if err != nil || ended {
		t.Fatalf("release web3: ended %v, %v", ended, err)
	}
	js, err := a.Journals(ctx)
	if err != nil || len(js) != 1 || !slices.Equal(js[0].Parents, []string{"web1", "web2"}) || js[0].Steps["c1"].Status != state.StepDone {
		t.Fatalf("after releasing web3: %+v, %v", js, err)
	}
	var wg sync.WaitGroup
	endings := make([]bool, 2)
	for i, part := range [][]string{{"web1"}, {"web2"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := a
			if i == 1 {
				st = b
			}
			e, err := st.ReleaseJournal(ctx, "split", part)
			if err != nil {
				t.Errorf("release %v: %v", part, err)
			}
			endings[i] = e
		}()
	}
	wg.Wait()
	if endings[0] == endings[1] {
		t.Fatalf("the two halves ended the journal %v times", endings)
	}
	if js, err := b.Journals(ctx); err != nil || len(js) != 0 {
		t.Fatalf("after both halves: %+v, %v", js, err)
	}
	if ended, err := a.ReleaseJournal(ctx, "split", []string{"web1"}); err != nil || !ended {
		t.Fatalf("releasing an ended journal: %v, %v", ended, err)
	}
}

// testKVUpdate: concurrent read-modify-writes of one key from several handles lose
// nothing (a DNS member's failure count), and deleting works.
func testKVUpdate(t *testing.T, open Factory) {
	ctx := context.Background()
	incr := func(old string, _ bool) (string, bool) {
		n, _ := strconv.Atoi(old)
		return strconv.Itoa(n + 1), false
	}
	var wg sync.WaitGroup
	for range 4 {
		s := open(t)
		wg.Go(func() {
			for range 5 {
				if _, err := s.Update(ctx, "p/health", "web1/ns1", incr); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	v, err := open(t).Update(ctx, "p/health", "web1/ns1", incr)
	if err != nil || v != "21" {
		t.Fatalf("value %q, %v (increments must not be lost)", v, err)
	}
	if got, ok, err := open(t).Get(ctx, "p/health", "web1/ns1"); err != nil || !ok || got != "21" {
		t.Fatalf("get %q %v %v", got, ok, err)
	}
	// An fn that returns what it was given changes nothing; del removes the key.
	if v, err := open(t).Update(ctx, "p/health", "web1/ns1", func(old string, _ bool) (string, bool) { return old, false }); err != nil || v != "21" {
		t.Fatalf("unchanged update: %q %v", v, err)
	}
	if _, err := open(t).Update(ctx, "p/health", "web1/ns1", func(string, bool) (string, bool) { return "", true }); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := open(t).Get(ctx, "p/health", "web1/ns1"); ok || err != nil {
		t.Fatalf("deleted key still there: %v %v", ok, err)
	}
	if _, err := open(t).Update(ctx, "p/health", "never", func(_ string, ok bool) (string, bool) {
		if ok {
			t.Error("an absent key was given as present")
		}
		return "", true
	}); err != nil {
		t.Fatalf("deleting an absent key: %v", err)
	}
}

// testKVNamespaces: Put writes many keys at once without losing concurrent writes,
// namespaces are apart, and Drop removes one namespace only.
func testKVNamespaces(t *testing.T, open Factory) {
	ctx := context.Background()
	a, b := open(t), open(t)
	if got, err := a.List(ctx, "p/pushed/web1/bind1"); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty namespace: %v, %v", got, err)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		s := []state.Store{a, b}[i%2]
		wg.Go(func() {
			if err := s.Put(ctx, "p/pushed/web1/bind1", map[string]string{fmt.Sprintf("z%d.example", i): "v1 d"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := b.Put(ctx, "p/pushed/web2/bind1", map[string]string{"other.example": "v1 o", "x.example": "v1 x"}); err != nil {
		t.Fatal(err)
	}
	got, err := open(t).List(ctx, "p/pushed/web1/bind1")
	if err != nil || len(got) != 10 || got["z3.example"] != "v1 d" {
		t.Fatalf("pushed %v, %v (writes must not be lost)", got, err)
	}
	if err := b.Drop(ctx, "p/pushed/web1/bind1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Drop(ctx, "p/pushed/web1/never"); err != nil {
		t.Fatalf("dropping an unknown namespace: %v", err)
	}
	if got, _ := a.List(ctx, "p/pushed/web1/bind1"); len(got) != 0 {
		t.Fatalf("dropped namespace still has keys: %v", got)
	}
	if got, _ := a.List(ctx, "p/pushed/web2/bind1"); len(got) != 2 || got["other.example"] != "v1 o" {
		t.Fatalf("dropping one namespace changed another: %v", got)
	}
	if _, err := a.List(ctx, ""); err == nil {
		t.Fatal("an empty namespace name was accepted")
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

	// A context already done means "do not wait", not "do not try"; the refusal names
	// the holder as it recorded itself (what WithHolder said, and the process).
	done, stop := context.WithCancel(context.Background())
	stop()
	const commit = "0123456789abcdef0123"
	l3, err := a.Lock(state.WithHolder(done, state.Holder{Command: "tether apply", Commit: commit}), "web3")
	if err != nil {
		t.Fatalf("a free lock with no wait: %v", err)
	}
	defer l3.Unlock()
	_, err = b.Lock(done, "web3")
	if !errors.Is(err, state.ErrLocked) {
		t.Fatalf("a held lock with no wait: %v", err)
	}
	for _, want := range []string{"parent web3", fmt.Sprintf("held by pid %d on ", os.Getpid()), "(tether apply, commit 0123456789ab)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
	}
}

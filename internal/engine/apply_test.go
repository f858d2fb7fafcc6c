package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// applyFake records what it is asked to do and how much ran at once.
type applyFake struct {
	name  string
	delay time.Duration
	// errs gives, per change ID, the error of each successive attempt; past the end
	// of the list an attempt succeeds.
	errs map[string][]error
	// hook runs at the start of each Apply (to cancel a context, to panic).
	hook func(c *plan.Change)

	mu           sync.Mutex
	attempts     map[string]int
	finished     []string // IDs in the order they succeeded
	running      int
	maxRunning   int
	perTarget    map[string]int
	maxPerTarget map[string]int
}

func newApplyFake() *applyFake {
	return &applyFake{name: "whm", errs: map[string][]error{}, attempts: map[string]int{},
		perTarget: map[string]int{}, maxPerTarget: map[string]int{}}
}

func (f *applyFake) Name() string                         { return f.name }
func (f *applyFake) Capabilities() providers.Capabilities { return nil }
func (f *applyFake) Scopes(*schema.Fleet) []string        { return nil }
func (f *applyFake) Observe(context.Context, string, *schema.Fleet) (*schema.Fleet, error) {
	return &schema.Fleet{}, nil
}

func (f *applyFake) Apply(ctx context.Context, c *plan.Change) error {
	if f.hook != nil {
		f.hook(c)
	}
	f.mu.Lock()
	f.attempts[c.ID]++
	n := f.attempts[c.ID]
	f.running++
	f.perTarget[c.Target]++
	f.maxRunning = max(f.maxRunning, f.running)
	f.maxPerTarget[c.Target] = max(f.maxPerTarget[c.Target], f.perTarget[c.Target])
	f.mu.Unlock()
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running--
	f.perTarget[c.Target]--
	if es := f.errs[c.ID]; n <= len(es) && es[n-1] != nil {
		return es[n-1]
	}
	f.finished = append(f.finished, c.ID)
	return nil
}

// ch builds a change: "account.a/create@web1" with dependencies.
func ch(id string, deps ...string) *plan.Change {
	target := "web1"
	if i := strings.IndexByte(id, '@'); i >= 0 {
		id, target = id[:i], id[i+1:]
	}
	addr, action, _ := strings.Cut(id, "/")
	return &plan.Change{ID: id, Address: addr, Action: plan.Action(action), Provider: "whm", Target: target, DependsOn: deps}
}

func planOf(cs ...*plan.Change) *plan.Plan {
	return &plan.Plan{FormatVersion: plan.FormatVersion, Changes: cs, Source: plan.Source{Path: "/fleet"}}
}

// noSleep records backoffs instead of waiting.
type noSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *noSleep) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func provs(f *applyFake) map[string]providers.Provider {
	return map[string]providers.Provider{f.name: f}
}

func statuses(r *Result) map[string]Status {
	out := map[string]Status{}
	for _, c := range r.Changes {
		out[c.Change.ID] = c.Status
	}
	return out
}

func TestApplyRespectsDependencies(t *testing.T) {
	f := newApplyFake()
	f.delay = time.Millisecond
	p := planOf(
		ch("account.c/distribute", "account.c/create"),
		ch("account.c/create", "reseller.r/create", "node.mail1/link"),
		ch("reseller.r/create"),
		ch("node.mail1/link"),
		ch("node.mail1/unlink", "account.c/distribute"),
		ch("account.x/create"),
	)
	res, err := Apply(context.Background(), p, provs(f), ApplyOptions{Parallelism: 8, PerTarget: 8})
	if err != nil {
		t.Fatal(err)
	}
	if res.Done != 6 || res.Failed+res.Skipped+res.NotStarted != 0 {
		t.Fatalf("result %+v", res)
	}
	pos := map[string]int{}
	for i, id := range f.finished {
		pos[id] = i
	}
	for _, c := range p.Changes {
		for _, d := range c.DependsOn {
			if pos[d] > pos[c.ID] {
				t.Errorf("%s finished before its dependency %s: %v", c.ID, d, f.finished)
			}
		}
	}
}

func TestApplyBounds(t *testing.T) {
	tests := []struct {
		name          string
		targets       int
		changes       int
		parallelism   int
		perTarget     int
		wantMax       int // the overall maximum observed must reach exactly this
		wantPerTarget int
	}{
		{"overall bound", 10, 60, 5, 100, 5, 5},
		{"per-target bound on one parent", 1, 20, 10, 3, 3, 3},
		{"per-target bound times targets", 2, 40, 10, 3, 6, 3},
		{"defaults", 4, 60, 0, 0, DefaultApplyParallelism, DefaultPerTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newApplyFake()
			f.delay = 3 * time.Millisecond
			var cs []*plan.Change
			for i := range tt.changes {
				cs = append(cs, ch(fmt.Sprintf("account.u%d/create@web%d", i, i%tt.targets)))
			}
			res, err := Apply(context.Background(), planOf(cs...), provs(f), ApplyOptions{Parallelism: tt.parallelism, PerTarget: tt.perTarget})
			if err != nil || res.Done != tt.changes {
				t.Fatalf("err %v, result %+v", err, res)
			}
			if f.maxRunning != tt.wantMax {
				t.Errorf("at most %d ran at once, want %d", f.maxRunning, tt.wantMax)
			}
			for tg, m := range f.maxPerTarget {
				if m > tt.wantPerTarget {
					t.Errorf("%s: %d ran at once, bound %d", tg, m, tt.wantPerTarget)
				}
			}
		})
	}
}

func TestApplyFailureSkipsOnlyDependents(t *testing.T) {
	boom := errors.New("createacct: domain taken")
	denied := errors.New("link: token lacks the all ACL")
	f := newApplyFake()
	f.errs["account.a/create"] = []error{boom}
	f.errs["node.mail2/link"] = []error{denied}
	p := planOf(
		ch("account.a/create"),
		ch("account.a/distribute", "account.a/create"),
		ch("node.mail1/unlink", "account.a/distribute"),
		ch("account.b/create"),
		ch("account.b/distribute", "account.b/create"),
		ch("node.mail2/link@web2"),
		ch("account.c/distribute@web2", "node.mail2/link"),
		ch("account.d/create@web2"),
	)
	res, err := Apply(context.Background(), p, provs(f), ApplyOptions{})
	want := map[string]Status{
		"account.a/create": StatusFailed, "account.a/distribute": StatusSkipped, "node.mail1/unlink": StatusSkipped,
		"account.b/create": StatusDone, "account.b/distribute": StatusDone,
		"node.mail2/link": StatusFailed, "account.c/distribute": StatusSkipped, "account.d/create": StatusDone,
	}
	got := statuses(res)
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %s, want %s", id, got[id], w)
		}
	}
	if res.Done != 3 || res.Failed != 2 || res.Skipped != 3 {
		t.Errorf("counts done %d failed %d skipped %d", res.Done, res.Failed, res.Skipped)
	}
	var me *multierror.Error
	if !errors.As(err, &me) || len(me.Errors) != 2 {
		t.Fatalf("want a multierror with both failures, got %v", err)
	}
	if !errors.Is(err, boom) || !errors.Is(err, denied) {
		t.Errorf("error does not wrap both failures: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "2 problems:\n  - create account.a on web1: createacct: domain taken\n  - link node.mail2 on web2: ") {
		t.Errorf("error format:\n%v", err)
	}
	for _, s := range []string{"create account.a on web1", "link node.mail2 on web2"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not say %q:\n%v", s, err)
		}
	}
	for _, c := range res.Changes {
		if c.Change.ID == "node.mail1/unlink" && (c.Err == nil || !strings.Contains(c.Err.Error(), "account.a/create, which failed")) {
			t.Errorf("a skip must name the failed change it waited for: %v", c.Err)
		}
	}
	if f.attempts["account.a/create"] != 1 {
		t.Errorf("a permanent failure was retried: %d attempts", f.attempts["account.a/create"])
	}
}

func TestApplyRetriesTransientFailures(t *testing.T) {
	transient := fmt.Errorf("%w: 503 from web1", providers.ErrTransient)
	tests := []struct {
		name         string
		errs         []error
		want         Status
		wantAttempts int
		wantWaits    []time.Duration
	}{
		{"recovers", []error{transient, transient}, StatusDone, 3, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{"gives up after the attempts", []error{transient, transient, transient, transient, transient}, StatusFailed, 4,
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}},
		{"permanent after transient", []error{transient, errors.New("no such package")}, StatusFailed, 2, []time.Duration{100 * time.Millisecond}},
		// The provider's client retried its call already: retries are never nested.
		{"retried by the provider", []error{fmt.Errorf("%w: %w: 503 after 4 tries", providers.ErrTransient, providers.ErrRetried)}, StatusFailed, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newApplyFake()
			f.errs["account.a/create"] = tt.errs
			s := &noSleep{}
			var retries int
			res, err := Apply(context.Background(), planOf(ch("account.a/create")), provs(f), ApplyOptions{
				Retry: Retry{Attempts: 4, Backoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond},
				Sleep: s.sleep,
				Events: func(e Event) {
					if e.Kind == EventRetry {
						retries++
					}
				},
			})
			r := res.Changes[0]
			if r.Status != tt.want || r.Attempts != tt.wantAttempts || f.attempts["account.a/create"] != tt.wantAttempts {
				t.Fatalf("status %s after %d attempts (provider saw %d), want %s after %d", r.Status, r.Attempts, f.attempts["account.a/create"], tt.want, tt.wantAttempts)
			}
			// The waits double up to the cap, each within the policy's ±50 % jitter.
			ok := len(s.waits) == len(tt.wantWaits) && retries == len(tt.wantWaits)
			for i := 0; ok && i < len(s.waits); i++ {
				ok = s.waits[i] >= tt.wantWaits[i]/2 && s.waits[i] <= tt.wantWaits[i]*3/2
			}
			if !ok {
				t.Errorf("waits %v (%d retry events), want %v ±50%%", s.waits, retries, tt.wantWaits)
			}
			if (err == nil) != (tt.want == StatusDone) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// The order changes start in: the changes of the longest chain of dependencies
// first, its head first; then the target with the most changes left (so no large parent is left to
// drain at the end), equal targets in turns, a smaller one whenever the larger are at
// their bound; never before a change's dependencies. With Parallelism 1
// every start waits for the change before it, so the whole order is deterministic;
// with more, the first wave is (started before any change ends).
func TestApplyStartOrder(t *testing.T) {
	// "b1@web2<b0": account.b1 created on web2 once account.b0 is.
	cs := func(ids ...string) []*plan.Change {
		var out []*plan.Change
		for _, id := range ids {
			id, dep, _ := strings.Cut(id, "<")
			var deps []string
			if dep != "" {
				deps = []string{"account." + dep + "/create"}
			}
			user, target, _ := strings.Cut(id, "@")
			out = append(out, ch("account."+user+"/create@"+target, deps...))
		}
		return out
	}
	tests := []struct {
		name                   string
		changes                []*plan.Change
		fail                   string // this change fails (its dependents are skipped)
		parallelism, perTarget int
		want                   []string // addresses of the first len(want) starts
	}{
		{"equal targets take turns", cs("a0@web1", "a1@web1", "b0@web2", "b1@web2"), "", 1, 1,
			[]string{"a0", "b0", "a1", "b1"}},
		{"the target with the most left first, ties to the first in the plan", cs("a0@web1", "b0@web2", "b1@web2", "b2@web2"), "", 1, 1,
			[]string{"b0", "b1", "a0", "b2"}},
		{"changes waiting on others count as left", cs("a0@web1", "a1@web1<a0", "b0@web2", "b1@web2<b0", "b2@web2<b0", "b3@web2<b0"), "", 1, 1,
			[]string{"b0", "a0", "b1", "b2", "a1", "b3"}},
		{"skipped changes no longer count", cs("f0@web1", "f1@web1<f0", "f2@web1<f0", "f3@web1<f0", "a4@web1", "a5@web1", "b0@web2", "b1@web2", "b2@web2"), "f0", 1, 1,
			[]string{"f0", "b0", "a4", "b1", "a5", "b2"}},
		{"a change others wait on goes first, whatever its target's size", cs("d0@web1<c0", "a0@web1", "a1@web1", "a2@web1", "c0@web2"), "", 1, 1,
			[]string{"c0", "d0", "a0", "a1", "a2"}},
		{"and before the changes of its target ahead of it in the plan, and what waits on it after it", cs("a0@web1", "a1@web1", "g0@web1", "b0@web2<g0"), "", 1, 1,
			[]string{"g0", "b0", "a0", "a1"}},
		{"the longest chain first, all of it", cs("a0@web1", "x0@web2", "x1@web2<x0", "y0@web3", "y1@web3<y0", "y2@web3<y1"), "", 1, 1,
			[]string{"y0", "y1", "y2", "x0", "x1", "a0"}},
		{"a target at its bound leaves room to the others", cs("a0@web1", "a1@web1", "a2@web1", "a3@web1", "a4@web1", "b0@web2"), "", 3, 2,
			[]string{"a0", "a1", "b0"}},
		{"a target's changes wait for their dependencies", cs("a0@web1", "a1@web1<a0", "a2@web1<a1", "b0@web2"), "", 2, 2,
			[]string{"a0", "b0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newApplyFake()
			if tt.fail != "" {
				f.errs["account."+tt.fail+"/create"] = []error{errors.New("refused")}
			}
			var mu sync.Mutex
			var order []string
			_, _ = Apply(context.Background(), planOf(tt.changes...), provs(f), ApplyOptions{Parallelism: tt.parallelism, PerTarget: tt.perTarget,
				Events: func(e Event) {
					if e.Kind == EventStart {
						mu.Lock()
						order = append(order, strings.TrimPrefix(e.Change.Address, "account."))
						mu.Unlock()
					}
				}})
			if len(order) < len(tt.want) || !slices.Equal(order[:len(tt.want)], tt.want) {
				t.Fatalf("started %v, want first %v", order, tt.want)
			}
		})
	}
}

// Ctrl-C while a change waits to retry: it is not tried again (it fails with its
// last error, its dependents are skipped) and nothing new starts.
func TestApplyInterruptedDuringBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newApplyFake()
	f.errs["account.a/create"] = []error{fmt.Errorf("%w: timeout", providers.ErrTransient)}
	res, err := Apply(ctx, planOf(ch("account.a/create"), ch("account.b/create", "account.a/create"), ch("account.c/create")), provs(f), ApplyOptions{
		Parallelism: 1,
		Retry:       Retry{Attempts: 3, Backoff: time.Hour},
		Events: func(e Event) {
			if e.Kind == EventRetry {
				cancel()
			}
		},
	})
	if f.attempts["account.a/create"] != 1 || !res.Interrupted || res.Changes[0].Status != StatusFailed ||
		res.Changes[1].Status != StatusSkipped || res.Changes[2].Status != StatusNotStarted {
		t.Fatalf("attempts %d, result %+v", f.attempts["account.a/create"], res.Changes)
	}
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, providers.ErrTransient) {
		t.Fatalf("err = %v", err)
	}
}

func TestApplyRefusesBadGraphs(t *testing.T) {
	tests := []struct {
		name string
		p    *plan.Plan
		want string
	}{
		{"unknown dependency", planOf(ch("account.a/create", "node.x/link")), "depends on node.x/link, which is not in the plan"},
		{"cycle", planOf(ch("a/create", "c/create"), ch("b/create", "a/create"), ch("c/create", "b/create")), "dependency cycle: a/create → c/create → b/create → a/create"},
		{"self", planOf(ch("a/create", "a/create")), "depends on itself"},
		{"duplicate", planOf(ch("a/create"), ch("a/create")), "share the id a/create"},
		{"no id", planOf(&plan.Change{Address: "account.a", Action: plan.Create}), "has no id"},
		{"nil change", planOf(nil), "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newApplyFake()
			res, err := Apply(context.Background(), tt.p, provs(f), ApplyOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if res != nil || len(f.attempts) != 0 {
				t.Fatalf("something ran: %v", f.attempts)
			}
		})
	}
}

func TestApplyProviderProblemsFailOneChange(t *testing.T) {
	f := newApplyFake()
	f.hook = func(c *plan.Change) {
		if c.ID == "account.p/create" {
			panic("nil map")
		}
	}
	other := ch("dns.web1.member.bind1/create")
	other.Provider = "rfc2136"
	res, err := Apply(context.Background(), planOf(ch("account.p/create"), other, ch("account.ok/create")), provs(f), ApplyOptions{})
	got := statuses(res)
	if got["account.p/create"] != StatusFailed || got["dns.web1.member.bind1/create"] != StatusFailed || got["account.ok/create"] != StatusDone {
		t.Fatalf("statuses %v", got)
	}
	for _, s := range []string{`provider whm panicked: nil map`, `no provider "rfc2136" is configured`} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q: %v", s, err)
		}
	}
}

func TestApplyEmptyPlan(t *testing.T) {
	res, err := Apply(context.Background(), planOf(), nil, ApplyOptions{})
	if err != nil || res.Done != 0 || len(res.Changes) != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	res, err = Apply(context.Background(), nil, nil, ApplyOptions{State: openState(t)})
	if err != nil || res == nil || res.JournalID != "" {
		t.Fatalf("nil plan: %+v, %v", res, err)
	}
}

func openState(t *testing.T) *state.Folder {
	t.Helper()
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestApplyKeepsInventory(t *testing.T) {
	ctx := context.Background()
	st := openState(t)
	if err := st.UpdateInventory(ctx, []state.Entry{{Address: "account.old"}, {Address: "node.mail9"}}, nil); err != nil {
		t.Fatal(err)
	}
	f := newApplyFake()
	f.errs["account.bad/create"] = []error{errors.New("refused")}
	p := planOf(ch("account.a/create"), ch("account.bad/create"), ch("node.mail1/link"),
		ch("account.old/delete"), ch("node.mail9/unlink"), ch("account.a/update"))
	if _, err := Apply(ctx, p, provs(f), ApplyOptions{State: st, Locks: []string{"web1"}}); err == nil {
		t.Fatal("the failure was not reported")
	}
	inv, err := st.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for a := range inv {
		got = append(got, a)
	}
	slices.Sort(got)
	if want := []string{"account.a", "node.mail1"}; !slices.Equal(got, want) {
		t.Fatalf("inventory %v, want %v", got, want)
	}
	if inv["account.a"].Target != "web1" || inv["account.a"].Created.IsZero() {
		t.Errorf("entry %+v", inv["account.a"])
	}
}

// Ctrl-C in the middle: running changes finish, nothing new starts, the journal stays;
// the next apply (a new plan of what remains) reports it, finishes and closes it.
func TestApplyInterruptedThenFinished(t *testing.T) {
	st := openState(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newApplyFake()
	f.delay = 5 * time.Millisecond
	f.hook = func(c *plan.Change) {
		if c.ID == "account.b/create" {
			cancel()
		}
	}
	p := planOf(
		ch("account.a/create"),
		ch("account.b/create", "account.a/create"),
		ch("account.b/distribute", "account.b/create"),
		ch("account.c/create", "account.b/distribute"),
	)
	var sawInterrupt bool
	res, err := Apply(ctx, p, provs(f), ApplyOptions{State: st, Locks: []string{"web1"}, Events: func(e Event) {
		sawInterrupt = sawInterrupt || e.Kind == EventInterrupted
	}})
	if !errors.Is(err, ErrInterrupted) || !res.Interrupted || !sawInterrupt {
		t.Fatalf("err %v, interrupted %v, event %v", err, res.Interrupted, sawInterrupt)
	}
	got := statuses(res)
	if got["account.a/create"] != StatusDone || got["account.b/create"] != StatusDone ||
		got["account.b/distribute"] != StatusNotStarted || got["account.c/create"] != StatusNotStarted {
		t.Fatalf("statuses %v", got)
	}
	if !strings.Contains(err.Error(), "2 changes not started; the next apply finishes them") {
		t.Errorf("message: %v", err)
	}
	js, err := st.Journals(context.Background())
	if err != nil || len(js) != 1 {
		t.Fatalf("journal left: %v, %v", js, err)
	}
	if rem := js[0].Remaining(); len(rem) != 2 || rem[0].ID != "account.b/distribute" {
		t.Fatalf("journal remaining %+v", rem)
	}

	// The next apply re-observed: what remains is the rest of the work.
	f2 := newApplyFake()
	res2, err := Apply(context.Background(), planOf(ch("account.b/distribute"), ch("account.c/create", "account.b/distribute")),
		provs(f2), ApplyOptions{State: st, Locks: Locks(p, js)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Previous) != 1 || res2.Previous[0].ID != js[0].ID || !slices.Equal(res2.Closed, []string{js[0].ID}) {
		t.Fatalf("previous %v closed %v", res2.Previous, res2.Closed)
	}
	if js, _ := st.Journals(context.Background()); len(js) != 0 {
		t.Fatalf("journals still open after a complete apply: %d", len(js))
	}
}

// A journal of another apply that holds different parents is neither taken up nor
// closed: that apply may still be running.
func TestApplyLeavesOthersJournals(t *testing.T) {
	ctx := context.Background()
	st := openState(t)
	other := state.JournalHeader{ID: "other", Started: time.Now(), Fleet: "/fleet", Parents: []string{"web2"},
		Changes: []state.PlannedChange{{ID: "account.z/create"}}}
	if err := st.BeginJournal(ctx, other); err != nil {
		t.Fatal(err)
	}
	res, err := Apply(ctx, planOf(ch("account.a/create")), provs(newApplyFake()), ApplyOptions{State: st, Locks: []string{"web1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Previous) != 0 || len(res.Closed) != 0 {
		t.Fatalf("previous %d closed %v", len(res.Previous), res.Closed)
	}
	js, _ := st.Journals(ctx)
	if len(js) != 1 || js[0].ID != "other" {
		t.Fatalf("journals %v", js)
	}
}

// An unfinished journal over two parents is finished by parts: an apply holding one
// of them (say a replica that took it over) finishes that part, the journal stays for
// the other; a parent the plan did not read whole (Reread) is not finished.
func TestApplyFinishesJournalsByParent(t *testing.T) {
	ctx := context.Background()
	st := openState(t)
	old := state.JournalHeader{ID: "old", Started: time.Now(), Fleet: "/elsewhere", Parents: []string{"web1", "web2"},
		Changes: []state.PlannedChange{{ID: "account.z/create"}, {ID: "account.y/create"}}}
	if err := st.BeginJournal(ctx, old); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		locks, reread, left []string
		closed              bool
	}{
		{locks: []string{"web1"}, reread: []string{}, left: []string{"web1", "web2"}},
		{locks: []string{"web1"}, reread: []string{"web1", "web3"}, left: []string{"web2"}},
		{locks: []string{"web2", "web3"}, closed: true},
	}
	for i, s := range steps {
		res, err := Apply(ctx, planOf(ch("account.a"+strconv.Itoa(i)+"/create")), provs(newApplyFake()),
			ApplyOptions{State: st, Locks: s.locks, Reread: s.reread})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Previous) != 1 || (len(res.Closed) == 1) != s.closed {
			t.Fatalf("step %d: previous %d closed %v", i, len(res.Previous), res.Closed)
		}
		js, _ := st.Journals(ctx)
		switch {
		case s.closed && len(js) != 0:
			t.Fatalf("step %d: journals left %+v", i, js)
		case !s.closed && (len(js) != 1 || !slices.Equal(js[0].Parents, s.left)):
			t.Fatalf("step %d: journals %+v, want parents %v left", i, js, s.left)
		}
	}
}

// A plan with nothing left to do still closes the journal of the apply it finishes.
func TestApplyEmptyPlanClosesFinishedJournal(t *testing.T) {
	ctx := context.Background()
	st := openState(t)
	old := state.JournalHeader{ID: "old", Started: time.Now(), Fleet: "/fleet", Parents: []string{"web1"},
		Changes: []state.PlannedChange{{ID: "account.z/create"}}}
	if err := st.BeginJournal(ctx, old); err != nil {
		t.Fatal(err)
	}
	js, _ := st.Journals(ctx)
	p := planOf()
	res, err := Apply(ctx, p, nil, ApplyOptions{State: st, Locks: Locks(p, js)})
	if err != nil || !slices.Equal(res.Closed, []string{"old"}) || res.JournalID != "" {
		t.Fatalf("result %+v, %v", res, err)
	}
	if js, _ := st.Journals(ctx); len(js) != 0 {
		t.Fatalf("journals %v", js)
	}
}

func TestApplyFailureKeepsJournal(t *testing.T) {
	st := openState(t)
	f := newApplyFake()
	f.errs["account.a/create"] = []error{errors.New("refused")}
	_, err := Apply(context.Background(), planOf(ch("account.a/create"), ch("account.b/create")), provs(f), ApplyOptions{State: st, Locks: []string{"web1"}})
	if err == nil {
		t.Fatal("no error")
	}
	js, _ := st.Journals(context.Background())
	if len(js) != 1 || js[0].Steps["account.a/create"].Status != state.StepFailed || js[0].Steps["account.b/create"].Status != state.StepDone {
		t.Fatalf("journal %+v", js)
	}
}

func TestApplyRefusesWhenParentLocked(t *testing.T) {
	st := openState(t)
	held, err := st.Lock(context.Background(), "web1")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	f := newApplyFake()
	res, err := Apply(context.Background(), planOf(ch("account.a/create")), provs(f), ApplyOptions{State: st, Locks: []string{"web2", "web1"}})
	if !errors.Is(err, state.ErrLocked) || !strings.Contains(err.Error(), "cannot apply to web1") || res != nil {
		t.Fatalf("result %v, err = %v", res, err)
	}
	if len(f.attempts) != 0 {
		t.Fatal("applied while another writer held the parent")
	}
	// web2 was released when web1 could not be had.
	l, err := st.Lock(context.Background(), "web2")
	if err != nil {
		t.Fatalf("web2 still locked: %v", err)
	}
	l.Unlock()
}

func TestLocks(t *testing.T) {
	p := planOf(ch("account.a/create@web1"), ch("node.mail1/update@mail1"), ch("dns.web2.member.bind1/create@bind1"), ch("node.ns1/update@ns1"))
	p.Changes[0].Parent, p.Changes[1].Parent, p.Changes[2].Parent = "web1", "web1", "web2"
	got := Locks(p, []*state.Journal{{JournalHeader: state.JournalHeader{Parents: []string{"web3"}}}})
	if want := []string{"ns1", "web1", "web2", "web3"}; !slices.Equal(got, want) {
		t.Fatalf("locks %v, want %v", got, want)
	}
}

func TestApplyEventsCount(t *testing.T) {
	f := newApplyFake()
	f.errs["b/create"] = []error{errors.New("x")}
	var last Event
	var starts int
	_, _ = Apply(context.Background(), planOf(ch("a/create"), ch("b/create"), ch("c/create", "b/create")), provs(f), ApplyOptions{
		Events: func(e Event) {
			if e.Kind == EventStart {
				starts++
			}
			last = e
		},
	})
	if last.Kind != EventEnd || last.Total != 3 || last.Done != 1 || last.Failed != 1 || last.Skipped != 1 || last.Running != 0 || starts != 2 {
		t.Fatalf("last event %+v, %d starts", last, starts)
	}
}

// losable is a folder state whose locks can be taken away, as an etcd lease is.
type losable struct {
	*state.Folder
	lost chan struct{}
}

type losableLock struct {
	state.Unlocker
	lost chan struct{}
}

func (l losableLock) Lost() <-chan struct{} { return l.lost }

func (s losable) Lock(ctx context.Context, parent string) (state.Unlocker, error) {
	u, err := s.Folder.Lock(ctx, parent)
	if err != nil {
		return nil, err
	}
	if parent != "web1" {
		return u, nil
	}
	return losableLock{Unlocker: u, lost: s.lost}, nil
}

// A lock lost while a change runs: that change ends, nothing else starts, the apply
// says which parent's lock went, and the journal stays for the next holder.
func TestApplyStopsWhenALockIsLost(t *testing.T) {
	ctx := context.Background()
	st := losable{Folder: openState(t), lost: make(chan struct{})}
	seen := make(chan struct{})
	f := newApplyFake()
	f.hook = func(c *plan.Change) {
		if c.ID == "account.a/create" {
			close(st.lost)
			<-seen // the apply knows before this change ends
		}
	}
	var started []string
	events := func(ev Event) {
		switch ev.Kind {
		case EventStart:
			started = append(started, ev.Change.ID)
		case EventLockLost:
			if !slices.Equal(ev.Parents, []string{"web1"}) {
				t.Errorf("lost %v", ev.Parents)
			}
			close(seen)
		}
	}
	p := planOf(ch("account.a/create"), ch("account.b/create"), ch("account.c/create@web2"))
	res, err := Apply(ctx, p, provs(f), ApplyOptions{State: st, Locks: []string{"web1", "web2"}, Parallelism: 1, Events: events})
	if !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "the lock of parent web1 was lost") {
		t.Fatalf("err %v", err)
	}
	if !slices.Equal(started, []string{"account.a/create"}) || !slices.Equal(f.finished, []string{"account.a/create"}) {
		t.Fatalf("started %v, applied %v", started, f.finished)
	}
	if !slices.Equal(res.LockLost, []string{"web1"}) || res.Done != 1 || res.NotStarted != 2 {
		t.Fatalf("result: lost %v, done %d, not started %d", res.LockLost, res.Done, res.NotStarted)
	}
	js, _ := st.Journals(ctx)
	if len(js) != 1 || len(js[0].Remaining()) != 2 {
		t.Fatalf("journals %+v", js)
	}
}

// refusing is a folder state that, once armed, refuses journal writes as the etcd
// store does when the writer no longer holds a parent's lock (its lease expired while
// the process was paused and another replica took the parent).
type refusing struct {
	*state.Folder
	begin   bool          // refuse BeginJournal
	armed   chan struct{} // closed: refuse steps
	refused chan struct{} // closed at the first refusal
	once    sync.Once
}

func (s *refusing) lost() error {
	s.once.Do(func() { close(s.refused) })
	return &state.LockLostError{Parent: "web1", Holder: &state.Holder{Replica: "r2", PID: 7, Host: "h2", Command: "tether watch"}}
}

func (s *refusing) BeginJournal(ctx context.Context, h state.JournalHeader) error {
	if s.begin {
		return fmt.Errorf("state: begin journal %s: %w", h.ID, s.lost())
	}
	return s.Folder.BeginJournal(ctx, h)
}

func (s *refusing) RecordSteps(ctx context.Context, id string, steps []state.Step) error {
	select {
	case <-s.armed:
		return fmt.Errorf("state: journal %s: %w", id, s.lost())
	default:
		return s.Folder.RecordSteps(ctx, id, steps)
	}
}

func (s *refusing) RecordStep(ctx context.Context, id string, st state.Step) error {
	return s.RecordSteps(ctx, id, []state.Step{st})
}

// A state write refused for a lost lock stops the apply as a lost lease does: no
// change starts after it, and the apply's error carries the store's LockLostError
// (who took the lock). Refused at the journal's opening, no change runs at all.
func TestApplyStopsWhenTheStoreRefusesAWrite(t *testing.T) {
	tests := []struct {
		name        string
		begin       bool
		wantStarted []string
		wantLost    []string
	}{
		{"journal opening refused", true, nil, nil},
		{"step refused", false, []string{"account.a/create", "account.b/create"}, []string{"web1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &refusing{Folder: openState(t), begin: tt.begin, armed: make(chan struct{}), refused: make(chan struct{})}
			lockLost := make(chan struct{})
			f := newApplyFake()
			f.hook = func(c *plan.Change) {
				switch c.ID {
				case "account.a/create":
					close(st.armed) // a's own step is the first refused
				case "account.b/create":
					<-lockLost // the apply knows before b ends
				}
			}
			var started []string
			events := func(ev Event) {
				switch ev.Kind {
				case EventStart:
					started = append(started, ev.Change.ID)
				case EventLockLost:
					close(lockLost)
				}
			}
			p := planOf(ch("account.a/create"), ch("account.b/create"), ch("account.c/create"))
			res, err := Apply(context.Background(), p, provs(f), ApplyOptions{State: st, Locks: []string{"web1"}, Parallelism: 1, Events: events})
			var ll *state.LockLostError
			if !errors.As(err, &ll) || ll.Holder == nil || ll.Holder.Replica != "r2" {
				t.Fatalf("err %v, want the store's LockLostError", err)
			}
			if !strings.Contains(err.Error(), "lost the lock on parent web1 to replica r2") {
				t.Errorf("err %q does not name the new holder", err)
			}
			// a's step is written while the next change may already be starting: b
			// starts, or the refusal is known first and it does not (seen once in CI);
			// c, after the loss is known, never does.
			if !slices.Equal(started, tt.wantStarted) && (len(tt.wantStarted) == 0 || !slices.Equal(started, tt.wantStarted[:1])) {
				t.Errorf("started %v, want %v (or only its first)", started, tt.wantStarted)
			}
			if res != nil && !slices.Equal(res.LockLost, tt.wantLost) {
				t.Errorf("lock lost %v, want %v", res.LockLost, tt.wantLost)
			}
		})
	}
}

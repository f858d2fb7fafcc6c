package engine

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler/plan"
)

// Defaults of ApplyOptions.
const (
	DefaultApplyParallelism = 10
	// DefaultPerTarget bounds the changes running against one node at once: a WHM
	// parent runs each account operation as a heavy job, and several dozen at once
	// slow it for the users it serves.
	DefaultPerTarget = 4
)

// ApplyOptions tune Apply. The zero value is usable.
type ApplyOptions struct {
	// Parallelism bounds the changes running at once (DefaultApplyParallelism).
	Parallelism int
	// PerTarget bounds the changes running at once against one Target (default 4).
	PerTarget int
	// Retry says how transient failures are retried.
	Retry Retry
	// State records the journal and the inventory; nil runs without them (tests,
	// a read-only check).
	State state.Store
	// Locks are the parents whose writer locks the apply holds while it runs. Take
	// them all, including the parents of earlier interrupted applies (see Locks).
	Locks []string
	// LockWait is how long to wait for a lock someone else holds; 0 tries once.
	LockWait time.Duration
	// Replan, when set, is called once the locks are held if taking one of them had
	// to wait for another writer: the plan was made before the wait, from servers
	// that writer may have changed since. It returns the plan to run instead (nil:
	// the plan given still holds) or an error, which ends the apply before any
	// change. The plan it returns may need no lock beyond those held.
	Replan func(ctx context.Context) (*plan.Plan, error)
	// Reread are the parents the plan was made from a complete reading of: when the
	// apply succeeds, the part of an earlier, unfinished journal that concerns them
	// is finished (state.ReleaseJournal) — the plan re-observed them and did what the
	// journal left. Nil means every locked parent; an empty, non-nil list none.
	Reread []string
	// ChangeTimeout bounds one change, its attempts and its waits for the server's
	// background tasks included; past it the change fails, naming the bound. 0 is no
	// bound beyond the providers' own.
	ChangeTimeout time.Duration
	// Events, when set, is told what happens, one call at a time (progress, logs).
	Events func(Event)
	// Now and Sleep stand in for the clock in tests.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Retry is the engine's part of the one retry policy (providers.RetryPolicy) for
// failures that wrap providers.ErrTransient and that no provider retried already
// (providers.ErrRetried): a change whose write may have reached the server.
type Retry struct {
	// Attempts is how many times a change is tried in all (default 4; 1 = no retry).
	Attempts int
	// Backoff is the wait before the second attempt, doubled each time (±50 %
	// jitter, cenkalti/backoff) up to MaxBackoff (defaults 500ms and 8s).
	Backoff    time.Duration
	MaxBackoff time.Duration
}

func (o ApplyOptions) withDefaults() ApplyOptions {
	if o.Parallelism <= 0 {
		o.Parallelism = DefaultApplyParallelism
	}
	if o.PerTarget <= 0 {
		o.PerTarget = DefaultPerTarget
	}
	if o.Retry.Attempts <= 0 {
		o.Retry.Attempts = 4
	}
	if o.Retry.Backoff <= 0 {
		o.Retry.Backoff = 500 * time.Millisecond
	}
	if o.Retry.MaxBackoff <= 0 {
		o.Retry.MaxBackoff = 8 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return o
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// policy is the engine's part of the one retry policy (providers.RetryPolicy).
func (r Retry) policy() providers.RetryPolicy {
	return providers.RetryPolicy{Attempts: r.Attempts, Initial: r.Backoff, Max: r.MaxBackoff}
}

// Status is what became of a change.
type Status string

const (
	StatusPending    Status = "pending"
	StatusDone       Status = "done"
	StatusFailed     Status = "failed"
	StatusSkipped    Status = "skipped"     // a change it depends on failed
	StatusNotStarted Status = "not-started" // the apply was interrupted first
)

// ChangeResult is the outcome of one change.
type ChangeResult struct {
	Change   *plan.Change
	Status   Status
	Err      error // failed: the last error; skipped: which dependency failed
	Attempts int
	Duration time.Duration
}

// Result is the outcome of an apply.
type Result struct {
	// Changes are in plan order.
	Changes                           []ChangeResult
	Done, Failed, Skipped, NotStarted int
	// Interrupted: ctx was cancelled; changes were left not started and the journal
	// was kept for the next apply.
	Interrupted bool
	// LockLost names the parents whose locks were taken away while the apply ran (a
	// lease expired or broken): from then on no change started, and the journal was
	// kept for the next holder of the lock.
	LockLost []string
	// JournalID names this apply's journal (empty without State or changes).
	JournalID string
	// Previous are journals of earlier applies that had not finished when this one
	// started, over a parent it locked (whatever process or checkout wrote them);
	// Closed are those this apply's success ended (it finished their last part).
	Previous []*state.Journal
	Closed   []string
}

// ErrInterrupted is wrapped in Apply's error when ctx was cancelled mid-run.
var ErrInterrupted = errors.New("apply interrupted")

// ErrLockLost is wrapped in Apply's error when a parent's lock was taken away while
// the apply ran: someone else may be writing to it, so nothing more was started.
var ErrLockLost = errors.New("lock lost")

// EventKind says what an Event reports.
type EventKind string

const (
	EventBegin       EventKind = "begin"     // Total is known
	EventStart       EventKind = "start"     // a change started
	EventRetry       EventKind = "retry"     // a transient failure; Wait before the next attempt
	EventDone        EventKind = "done"      // a change succeeded
	EventFailed      EventKind = "failed"    // a change failed for good
	EventSkipped     EventKind = "skipped"   // a change was skipped: a dependency failed
	EventInterrupted EventKind = "interrupt" // ctx cancelled: no new change starts
	EventLockLost    EventKind = "lock-lost" // a parent's lock was lost: no new change starts (Parents)
	EventEnd         EventKind = "end"
)

// Event is one thing that happened during an apply, with the running totals.
type Event struct {
	Kind    EventKind
	Change  *plan.Change // nil for begin, interrupt, lock-lost and end
	Parents []string     // lock-lost: whose locks are gone
	Err     error
	Attempt int
	Wait    time.Duration
	Elapsed time.Duration // of the change, for done and failed

	Total, Done, Failed, Skipped, Running int
}

// Locks returns the parents an apply of p must lock: the parent of every change
// (its Target when it belongs to no parent, as a DNS-only node's own settings), and
// the parents of earlier journals, so that closing those is safe.
func Locks(p *plan.Plan, previous []*state.Journal) []string {
	set := map[string]bool{}
	if p != nil {
		for _, c := range p.Changes {
			switch {
			case c.Parent != "":
				set[c.Parent] = true
			case c.Target != "":
				set[c.Target] = true
			}
		}
	}
	for _, j := range previous {
		for _, par := range j.Parents {
			set[par] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Apply executes a plan: changes in dependency order, independent ones in parallel
// within the bounds, transient failures retried, every failure collected while the
// changes that do not depend on it go on. When ctx is cancelled it starts nothing new,
// waits for the running changes and returns with Result.Interrupted set.
//
// The error is nil when every change succeeded; otherwise a *multierror.Error with one
// entry per failed change (in plan order) and any trouble with the state. When nothing
// could start the Result is nil: a plan that is not a DAG (unknown or cyclic
// dependencies, duplicate IDs), a parent locked by another writer, a journal that
// cannot be opened.
func Apply(ctx context.Context, p *plan.Plan, provs map[string]providers.Provider, opts ApplyOptions) (*Result, error) {
	opts = opts.withDefaults()
	if p == nil {
		p = &plan.Plan{}
	}
	e := &engine{opts: opts, provs: provs}
	if err := e.setPlan(p); err != nil {
		return nil, err
	}
	if opts.State != nil {
		unlock, waited, err := e.lock(ctx, p.Source.Commit)
		if err != nil {
			return nil, err
		}
		defer unlock()
		// Every state write from here on (journal, inventory, what providers keep) is
		// made only while the locks are still held: a writer paused past their lease
		// gets a *state.LockLostError and writes nothing, instead of writing beside the
		// parents' new holder.
		ctx = state.WithLocks(ctx, e.held...)
		if waited && opts.Replan != nil {
			np, err := opts.Replan(ctx)
			if err != nil {
				return nil, err
			}
			if np != nil {
				if err := e.replace(np); err != nil {
					return nil, err
				}
				p = np
			}
		}
		if err := e.beginJournal(ctx, p); err != nil {
			return nil, err
		}
	}
	e.run(ctx)
	e.finish(ctx)
	return e.res, e.err()
}

// setPlan makes p the plan to run.
func (e *engine) setPlan(p *plan.Plan) error {
	g, err := newGraph(p)
	if err != nil {
		return err
	}
	res := &Result{Changes: make([]ChangeResult, len(g.changes))}
	for i, c := range g.changes {
		res.Changes[i] = ChangeResult{Change: c, Status: StatusPending}
	}
	e.g, e.res = g, res
	return nil
}

// replace runs np, the plan made again after waiting for a lock, instead of the plan
// given, if the locks held cover it.
func (e *engine) replace(np *plan.Plan) error {
	for _, par := range Locks(np, nil) {
		if !slices.Contains(e.opts.Locks, par) {
			return fmt.Errorf("the plan made again after waiting for the locks needs the lock of %s, which this apply did not take; run it again", par)
		}
	}
	return e.setPlan(np)
}

// graph is the plan as indexes: deps and dependents of each change.
type graph struct {
	changes    []*plan.Change
	deps       [][]int
	dependents [][]int
}

func newGraph(p *plan.Plan) (*graph, error) {
	g := &graph{changes: p.Changes}
	n := len(p.Changes)
	g.deps = make([][]int, n)
	g.dependents = make([][]int, n)
	index := make(map[string]int, n)
	for i, c := range p.Changes {
		if c == nil {
			return nil, fmt.Errorf("plan: change %d is empty", i)
		}
		if c.ID == "" {
			return nil, fmt.Errorf("plan: change %d (%s %s) has no id", i, c.Action, c.Address)
		}
		if j, dup := index[c.ID]; dup {
			return nil, fmt.Errorf("plan: changes %d and %d share the id %s", j, i, c.ID)
		}
		index[c.ID] = i
	}
	var errs []error
	for i, c := range p.Changes {
		for _, d := range c.DependsOn {
			j, ok := index[d]
			if !ok {
				errs = append(errs, fmt.Errorf("plan: %s depends on %s, which is not in the plan", c.ID, d))
				continue
			}
			if j == i {
				errs = append(errs, fmt.Errorf("plan: %s depends on itself", c.ID))
				continue
			}
			g.deps[i] = append(g.deps[i], j)
			g.dependents[j] = append(g.dependents[j], i)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cyc := g.cycle(); len(cyc) > 0 {
		return nil, fmt.Errorf("plan: dependency cycle: %s", strings.Join(cyc, " → "))
	}
	return g, nil
}

// cycle returns the IDs of one dependency cycle, or nil.
func (g *graph) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(g.changes))
	var stack []int
	var found []string
	var visit func(i int) bool
	visit = func(i int) bool {
		color[i] = grey
		stack = append(stack, i)
		for _, d := range g.deps[i] {
			switch color[d] {
			case grey:
				k := slices.Index(stack, d)
				for _, s := range stack[k:] {
					found = append(found, g.changes[s].ID)
				}
				found = append(found, g.changes[d].ID)
				return true
			case white:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
		return false
	}
	for i := range g.changes {
		if color[i] == white && visit(i) {
			return found
		}
	}
	return nil
}

// outcome is what a change's goroutine tells the scheduler: a retry on the way
// (retry set) or the final result. One channel keeps them in order per change.
type outcome struct {
	retry    *Event
	i        int
	err      error
	attempts int
	elapsed  time.Duration
}

// engine is one apply in progress. Only run's goroutine touches its fields; the
// changes' goroutines talk to it through the results channel.
type engine struct {
	opts  ApplyOptions
	g     *graph
	provs map[string]providers.Provider
	res   *Result

	journalID string
	stateErrs []error // trouble with the state, reported once each kind

	// lost is closed when the first held lock is lost; lostParents says whose
	// (guarded by lostMu: the locks' watchers write it).
	lost        chan struct{}
	held        []state.Unlocker // the parents' locks, once taken
	lostOnce    sync.Once
	lostMu      sync.Mutex
	lostParents []string

	// ops feed the state writer: disk writes (a journal line per change, inventory
	// batches with an fsync) never hold up starting the next change.
	ops        chan stateOp
	writerDone chan struct{}

	// The scheduler's view, targets as indexes in order of first appearance in the
	// plan (see startReady).
	running    int
	targetOf   []int        // per change: its target
	runningPer []int        // per target: changes running
	level      []int        // per change: the longest chain of changes waiting on it, itself included
	chain      []int        // per change: the longest chain of dependencies through it
	ready      []changeHeap // per target: changes whose dependencies are done
	left       []int        // per target: changes neither started nor skipped
	startable  targetHeap
	remaining  []int    // unfinished dependencies per change
	work       chan int // changes to run, for the workers
	workers    int      // workers started

	// Owned by the writer goroutine until writerDone is closed.
	invAdd    []state.Entry
	invRemove []string
	wErrs     []error
}

// stateOp is one write for the state writer: a journal step, or a change whose
// success updates the inventory.
type stateOp struct {
	step   *state.Step
	change *plan.Change
}

func (e *engine) emit(ev Event) {
	if e.opts.Events == nil {
		return
	}
	ev.Total = len(e.g.changes)
	ev.Done, ev.Failed, ev.Skipped, ev.Running = e.res.Done, e.res.Failed, e.res.Skipped, e.running
	e.opts.Events(ev)
}

// lock takes the parents' locks, recording the fleet commit being applied as what
// their holder does, and watches each for its loss until released. waited says that
// one of them was held by another writer when asked for (and released within
// LockWait): what the plan was made from may have changed.
func (e *engine) lock(ctx context.Context, commit string) (release func(), waited bool, err error) {
	var held []state.Unlocker
	e.lost = make(chan struct{})
	stop := make(chan struct{})
	release = func() {
		close(stop)
		for i := len(held) - 1; i >= 0; i-- {
			held[i].Unlock() //nolint:errcheck // closing the file drops the flock anyway
		}
	}
	locks := slices.Clone(e.opts.Locks)
	// One order for everyone, so two applies never wait on each other in a circle.
	sort.Strings(locks)
	locks = slices.Compact(locks)
	ctx = state.WithHolder(ctx, state.Holder{Commit: commit})
	// Asked first with a context already done (try once, do not wait), so a
	// contended lock is known as such.
	now, stopNow := context.WithCancel(ctx)
	stopNow()
	for _, parent := range locks {
		u, err := e.opts.State.Lock(now, parent)
		if errors.Is(err, state.ErrLocked) && e.opts.LockWait > 0 {
			waited = true
			lctx, cancel := context.WithTimeout(ctx, e.opts.LockWait)
			u, err = e.opts.State.Lock(lctx, parent)
			cancel()
		}
		if err != nil {
			release()
			return nil, false, fmt.Errorf("cannot apply to %s: %w", parent, err)
		}
		held = append(held, u)
		if lost := u.Lost(); lost != nil {
			go e.watchLock(parent, lost, stop)
		}
	}
	e.held = held
	return release, waited, nil
}

// watchLock marks the apply's locks lost when parent's is, until stop.
func (e *engine) watchLock(parent string, lost <-chan struct{}, stop <-chan struct{}) {
	select {
	case <-lost:
	case <-stop:
		return
	}
	select {
	case <-stop: // released first: Unlock ends the lease too
		return
	default:
	}
	e.markLost(parent)
}

// markLost records that parent's lock is no longer held (its lease ended, or the
// store refused a write made under it): no change starts after it.
func (e *engine) markLost(parent string) {
	e.lostMu.Lock()
	if !slices.Contains(e.lostParents, parent) {
		e.lostParents = append(e.lostParents, parent)
	}
	e.lostMu.Unlock()
	e.lostOnce.Do(func() { close(e.lost) })
}

// lostLockError marks the lock lost when err is the store's refusal of a write made
// under a lock it no longer holds (the write found out before the lease's watch did).
func (e *engine) lostLockError(err error) {
	if ll, ok := errors.AsType[*state.LockLostError](err); ok && e.lost != nil {
		e.markLost(ll.Parent)
	}
}

// lockLost reports whether a held lock was lost; it is asked before every change
// starts, so none starts once the apply knows.
func (e *engine) lockLost() bool {
	if e.lost == nil {
		return false
	}
	select {
	case <-e.lost:
		return true
	default:
		return false
	}
}

func (e *engine) beginJournal(ctx context.Context, p *plan.Plan) error {
	js, err := e.opts.State.Journals(ctx)
	if err != nil {
		return fmt.Errorf("read earlier journals: %w", err)
	}
	// Read with the locks held: a journal over a parent locked now is no apply in
	// progress (its writer ended, or lost the lock and starts nothing more).
	held := e.opts.Locks
	for _, j := range js {
		if slices.ContainsFunc(j.Parents, func(par string) bool { return slices.Contains(held, par) }) ||
			len(j.Parents) == 0 && j.Fleet == p.Source.Path {
			e.res.Previous = append(e.res.Previous, j)
		}
	}
	if len(e.g.changes) == 0 {
		return nil
	}
	now := e.opts.Now().UTC()
	e.journalID = fmt.Sprintf("%s-%d", now.Format("20060102T150405.000000000"), os.Getpid())
	h := state.JournalHeader{
		ID: e.journalID, Started: now,
		Fleet: p.Source.Path, Fingerprint: p.Source.Fingerprint, Commit: p.Source.Commit,
		Parents: slices.Compact(slices.Sorted(slices.Values(e.opts.Locks))),
		Changes: make([]state.PlannedChange, len(e.g.changes)),
	}
	for i, c := range e.g.changes {
		h.Changes[i] = state.PlannedChange{ID: c.ID, Address: c.Address, Action: string(c.Action), Target: c.Target}
	}
	// Without a journal an interruption could not be reported; do not start.
	if err := e.opts.State.BeginJournal(ctx, h); err != nil {
		return fmt.Errorf("open the journal: %w", err)
	}
	e.res.JournalID = e.journalID
	return nil
}

func (e *engine) run(ctx context.Context) {
	n := len(e.g.changes)
	index := map[string]int{}
	e.targetOf = make([]int, n)
	for i, c := range e.g.changes {
		t, ok := index[c.Target]
		if !ok {
			t = len(index)
			index[c.Target] = t
		}
		e.targetOf[i] = t
	}
	e.runningPer = make([]int, len(index))
	e.level, e.chain = e.g.levels()
	e.ready = make([]changeHeap, len(index))
	for t := range e.ready {
		e.ready[t].e = e
	}
	e.left = make([]int, len(index))
	for _, t := range e.targetOf {
		e.left[t]++
	}
	e.startable = targetHeap{e: e, pos: slices.Repeat([]int{-1}, len(index))}
	e.remaining = make([]int, n)
	for i := range n {
		e.remaining[i] = len(e.g.deps[i])
		if e.remaining[i] == 0 {
			e.enqueue(i)
		}
	}
	if e.opts.State != nil {
		e.ops = make(chan stateOp, 1024)
		e.writerDone = make(chan struct{})
		go e.writer(ctx)
	}
	e.emit(Event{Kind: EventBegin})
	results := make(chan outcome, e.opts.Parallelism)
	// Changes run on workers, started as needed up to Parallelism and kept to the
	// end: a change's calls (HTTP, TLS, JSON) grow a goroutine's stack to tens of
	// kilobytes, and a fresh goroutine per change copied it up again each time (4 %
	// of the CPU of an apply of 10k creations against the sandbox). The channel holds
	// at most the running changes, so the scheduler never waits on it.
	e.work = make(chan int, e.opts.Parallelism)
	defer close(e.work)
	interrupted, lost := false, false
	done, lostC := ctx.Done(), e.lost
	for {
		if !interrupted && ctx.Err() != nil {
			interrupted = true
			e.emit(Event{Kind: EventInterrupted})
		}
		if !lost && e.lockLost() {
			lost = true
			e.lostMu.Lock()
			e.res.LockLost = slices.Sorted(slices.Values(e.lostParents))
			e.lostMu.Unlock()
			e.emit(Event{Kind: EventLockLost, Parents: e.res.LockLost})
		}
		if !interrupted && !lost {
			e.startReady(ctx, results)
		}
		if e.running == 0 {
			break
		}
		select {
		case o := <-results:
			if o.retry != nil {
				e.emit(*o.retry)
				continue
			}
			e.handle(ctx, o)
		case <-done:
			done = nil // seen; the loop now only waits for running changes
		case <-lostC:
			lostC = nil
		}
	}
	for i := range e.res.Changes {
		if e.res.Changes[i].Status == StatusPending {
			e.res.Changes[i].Status = StatusNotStarted
			e.res.NotStarted++
		}
	}
	e.res.Interrupted = interrupted && e.res.NotStarted > 0
	if e.ops != nil {
		close(e.ops)
		<-e.writerDone
		for _, err := range e.wErrs {
			e.stateError(err)
		}
	}
	e.emit(Event{Kind: EventEnd})
}

func (e *engine) enqueue(i int) {
	t := e.targetOf[i]
	heap.Push(&e.ready[t], i)
	e.reconsider(t)
}

// reconsider puts target t among the startable ones, or takes it out, after its
// ready changes, running changes or changes left moved.
func (e *engine) reconsider(t int) {
	can := e.ready[t].Len() > 0 && e.runningPer[t] < e.opts.PerTarget
	switch in := e.startable.pos[t] >= 0; {
	case can && !in:
		heap.Push(&e.startable, t)
	case can:
		heap.Fix(&e.startable, e.startable.pos[t])
	case in:
		heap.Remove(&e.startable, e.startable.pos[t])
	}
}

// startReady starts ready changes while the bounds allow, in this order:
//
//  1. The changes on the longest chain of dependencies first, its head first (the
//     critical path: a child's update, then its link, then the accounts distributed
//     to the child, before accounts that wait on nothing). Ordered by the most
//     changes left alone, the gates of a third of the accounts, on targets with
//     little work of their own, ran last and those accounts (slow: each waits for
//     the child) made the whole tail; ordered by what waits on a change alone, the
//     gates ran first but the accounts behind them still after every account that
//     waited on nothing, the same tail.
//  2. Then the target with the most changes left (not started, ready or not): the
//     targets with the most work run up to their bound from the start and all
//     finish near the same time. Taking turns instead gave every target the same
//     pace, so the largest were left to drain at the end, a few targets at their
//     bound each while the global parallelism sat unused.
//  3. Then the first target in the plan: equal targets take turns, one change each.
//
// A target with less left starts whenever the larger ones are at their bound
// (Parallelism above PerTarget, as by default). Within a target, changes of one level
// start in plan order, and only once their dependencies are done.
func (e *engine) startReady(ctx context.Context, results chan<- outcome) {
	for e.running < e.opts.Parallelism && e.startable.Len() > 0 {
		if e.lockLost() {
			return // the loop says so and starts nothing more
		}
		t := e.startable.ts[0]
		i := heap.Pop(&e.ready[t]).(int)
		e.running++
		e.runningPer[t]++
		e.left[t]--
		e.reconsider(t)
		e.emit(Event{Kind: EventStart, Change: e.g.changes[i]})
		e.work <- i
		if e.workers < e.running {
			e.workers++
			go e.worker(ctx, results)
		}
	}
}

// levels returns, per change, the longest chain of changes that wait on it, itself
// included (1 for a change nothing waits on), and the longest chain of dependencies
// through it (those it waits on, itself and those waiting on it).
func (g *graph) levels() (level, chain []int) {
	level = make([]int, len(g.changes))
	waiting := make([]int, len(g.changes)) // dependents not yet given a level
	var done []int
	for i := range g.changes {
		waiting[i] = len(g.dependents[i])
		if waiting[i] == 0 {
			done = append(done, i)
		}
	}
	for len(done) > 0 {
		i := done[len(done)-1]
		done = done[:len(done)-1]
		level[i]++ // itself, over its longest dependent's
		for _, d := range g.deps[i] {
			level[d] = max(level[d], level[i])
			if waiting[d]--; waiting[d] == 0 {
				done = append(done, d)
			}
		}
	}
	// depth: the longest chain of changes it waits on, itself included.
	depth := make([]int, len(g.changes))
	waiting = waiting[:0]
	for i := range g.changes {
		waiting = append(waiting, len(g.deps[i]))
		if waiting[i] == 0 {
			done = append(done, i)
		}
	}
	for len(done) > 0 {
		i := done[len(done)-1]
		done = done[:len(done)-1]
		depth[i]++
		for _, d := range g.dependents[i] {
			depth[d] = max(depth[d], depth[i])
			if waiting[d]--; waiting[d] == 0 {
				done = append(done, d)
			}
		}
	}
	chain = make([]int, len(g.changes))
	for i := range chain {
		chain[i] = depth[i] + level[i] - 1
	}
	return level, chain
}

// changeHeap is a target's ready changes in startReady's order: the longest chain,
// then the highest level (the head of a chain before its tail), then the first in
// the plan.
type changeHeap struct {
	e  *engine
	is []int
}

func (h *changeHeap) Len() int           { return len(h.is) }
func (h *changeHeap) Less(a, b int) bool { return h.e.before(h.is[a], h.is[b]) }
func (h *changeHeap) Swap(a, b int)      { h.is[a], h.is[b] = h.is[b], h.is[a] }
func (h *changeHeap) Push(x any)         { h.is = append(h.is, x.(int)) }
func (h *changeHeap) Pop() any {
	i := h.is[len(h.is)-1]
	h.is = h.is[:len(h.is)-1]
	return i
}

// before orders two changes by the longest chain through them, then by level.
func (e *engine) before(i, j int) bool {
	if e.chain[i] != e.chain[j] {
		return e.chain[i] > e.chain[j]
	}
	if e.level[i] != e.level[j] {
		return e.level[i] > e.level[j]
	}
	return i < j
}

// targetHeap holds the targets that can start a change now in startReady's order:
// by their first ready change (chain, level), then the most changes left, then the
// lower index (first in the plan). pos says where each target is in it (-1: not in
// it), so a target's place is fixed when it changes.
type targetHeap struct {
	e   *engine
	ts  []int
	pos []int
}

func (h *targetHeap) Len() int { return len(h.ts) }
func (h *targetHeap) Less(a, b int) bool {
	ta, tb := h.ts[a], h.ts[b]
	ia, ib := h.e.ready[ta].is[0], h.e.ready[tb].is[0]
	if h.e.chain[ia] != h.e.chain[ib] || h.e.level[ia] != h.e.level[ib] {
		return h.e.before(ia, ib)
	}
	if left := h.e.left; left[ta] != left[tb] {
		return left[ta] > left[tb]
	}
	return ta < tb
}
func (h *targetHeap) Swap(a, b int) {
	h.ts[a], h.ts[b] = h.ts[b], h.ts[a]
	h.pos[h.ts[a]], h.pos[h.ts[b]] = a, b
}
func (h *targetHeap) Push(x any) {
	t := x.(int)
	h.pos[t] = len(h.ts)
	h.ts = append(h.ts, t)
}
func (h *targetHeap) Pop() any {
	t := h.ts[len(h.ts)-1]
	h.ts = h.ts[:len(h.ts)-1]
	h.pos[t] = -1
	return t
}

// worker runs the changes it is given until the apply ends.
func (e *engine) worker(ctx context.Context, results chan<- outcome) {
	for i := range e.work {
		e.execute(ctx, i, results)
	}
}

// execute runs one change with retries. A running change is not cancelled with ctx:
// stopping a WHM call halfway helps nobody, and every provider call has its own
// timeout. ctx cuts short the wait between attempts, and a provider's wait for a
// server's background task (providers.StopWaiting). ChangeTimeout bounds the whole
// change, attempts and waits included.
func (e *engine) execute(ctx context.Context, i int, results chan<- outcome) {
	c := e.g.changes[i]
	start := e.opts.Now()
	runCtx := providers.WithStopWaiting(context.WithoutCancel(ctx), ctx.Done())
	if e.opts.ChangeTimeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(runCtx, e.opts.ChangeTimeout)
		defer cancel()
	}
	o := outcome{i: i}
	bo := e.opts.Retry.policy().BackOff()
	for {
		o.attempts++
		o.err = e.call(runCtx, c)
		if o.err != nil && runCtx.Err() != nil && ctx.Err() == nil {
			o.err = fmt.Errorf("not finished within the change timeout (%s): %w", e.opts.ChangeTimeout, o.err)
			break
		}
		// Retried here only what no layer below retried already (providers.ErrRetried):
		// a provider's client retries its calls, and gives up on a write that may
		// have reached the server; this change, which checks first, may try again.
		if o.err == nil || !errors.Is(o.err, providers.ErrTransient) || errors.Is(o.err, providers.ErrRetried) || o.attempts >= e.opts.Retry.Attempts {
			break
		}
		wait := bo.NextBackOff()
		results <- outcome{retry: &Event{Kind: EventRetry, Change: c, Err: o.err, Attempt: o.attempts, Wait: wait}}
		if e.opts.Sleep(ctx, wait) != nil {
			break // interrupted: the change counts as failed with its last error
		}
	}
	o.elapsed = e.opts.Now().Sub(start)
	results <- o
}

// call runs the provider, turning a panic into the change's failure: one bad change
// must not take down an apply that others are halfway through.
func (e *engine) call(ctx context.Context, c *plan.Change) (err error) {
	prov, ok := e.provs[c.Provider]
	if !ok || prov == nil {
		return fmt.Errorf("no provider %q is configured", c.Provider)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("provider %s panicked: %v", c.Provider, r)
		}
	}()
	return prov.Apply(ctx, c)
}

func (e *engine) handle(ctx context.Context, o outcome) {
	c := e.g.changes[o.i]
	e.running--
	e.runningPer[e.targetOf[o.i]]--
	e.reconsider(e.targetOf[o.i])
	r := &e.res.Changes[o.i]
	r.Attempts, r.Duration = o.attempts, o.elapsed
	if o.err == nil {
		r.Status = StatusDone
		e.res.Done++
		e.record(ctx, c.ID, state.StepDone, "")
		e.inventory(ctx, c)
		e.emit(Event{Kind: EventDone, Change: c, Attempt: o.attempts, Elapsed: o.elapsed})
		for _, d := range e.g.dependents[o.i] {
			e.remaining[d]--
			if e.remaining[d] == 0 && e.res.Changes[d].Status == StatusPending {
				e.enqueue(d)
			}
		}
		return
	}
	r.Status, r.Err = StatusFailed, o.err
	e.res.Failed++
	e.record(ctx, c.ID, state.StepFailed, o.err.Error())
	e.emit(Event{Kind: EventFailed, Change: c, Err: o.err, Attempt: o.attempts, Elapsed: o.elapsed})
	e.skipDependents(ctx, o.i)
}

// skipDependents marks everything that depends on change i, directly or not, as
// skipped; nothing else is held back.
func (e *engine) skipDependents(ctx context.Context, i int) {
	failed := e.g.changes[i].ID
	queue := slices.Clone(e.g.dependents[i])
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		r := &e.res.Changes[d]
		if r.Status != StatusPending {
			continue
		}
		r.Status = StatusSkipped
		r.Err = fmt.Errorf("skipped: it depends on %s, which failed", failed)
		e.res.Skipped++
		e.left[e.targetOf[d]]--
		e.reconsider(e.targetOf[d])
		e.record(ctx, r.Change.ID, state.StepSkipped, r.Err.Error())
		e.emit(Event{Kind: EventSkipped, Change: r.Change, Err: r.Err})
		queue = append(queue, e.g.dependents[d]...)
	}
}

func (e *engine) record(_ context.Context, id, status, msg string) {
	if e.journalID == "" {
		return
	}
	e.ops <- stateOp{step: &state.Step{ID: id, Status: status, Error: msg, At: e.opts.Now().UTC()}}
}

func (e *engine) inventory(_ context.Context, c *plan.Change) {
	if e.ops == nil {
		return
	}
	switch c.Action {
	case plan.Create, plan.Link, plan.Delete, plan.Unlink:
		e.ops <- stateOp{change: c}
	}
}

// stateError keeps the first error of each kind: a full disk would otherwise repeat
// itself for every change.
func (e *engine) stateError(err error) {
	e.lostLockError(err)
	for _, old := range e.stateErrs {
		if old.Error() == err.Error() {
			return
		}
	}
	e.stateErrs = append(e.stateErrs, err)
}

// Inventory updates are batched: rewriting the inventory after each of ten thousand
// creations would make the apply quadratic. The journal holds every step meanwhile.
const (
	invBatch = 512
	invEvery = time.Second
)

// writer performs the state writes in order until ops is closed. Its context
// survives an interruption: the outcome of a change that ran is worth recording
// precisely then.
func (e *engine) writer(ctx context.Context) {
	defer close(e.writerDone)
	ctx = context.WithoutCancel(ctx)
	tick := time.NewTicker(invEvery)
	defer tick.Stop()
	fail := func(err error) {
		e.lostLockError(err)
		for _, old := range e.wErrs {
			if old.Error() == err.Error() {
				return
			}
		}
		e.wErrs = append(e.wErrs, err)
	}
	for {
		select {
		case op, ok := <-e.ops:
			if !ok {
				e.flushInventory(ctx, fail)
				return
			}
			// Steps that queued up while the last write ran go in one write: a
			// store with a round trip per write (etcd) would otherwise hold the
			// apply to one change per round trip.
			var steps []state.Step
			closed := false
		drain:
			for {
				if op.step != nil {
					steps = append(steps, *op.step)
				} else {
					e.inventoryOp(ctx, op.change, fail)
				}
				if len(steps) == stepBatch {
					break
				}
				select {
				case op, ok = <-e.ops:
					if !ok {
						closed = true
						break drain
					}
				default:
					break drain
				}
			}
			if len(steps) > 0 {
				if err := state.RecordSteps(ctx, e.opts.State, e.journalID, steps); err != nil {
					fail(fmt.Errorf("journal: %w", err))
				}
			}
			if closed {
				e.flushInventory(ctx, fail)
				return
			}
		case <-tick.C:
			e.flushInventory(ctx, fail)
		}
	}
}

// stepBatch bounds the journal steps written at once (etcd: one transaction, whose
// operations are capped at 128 by default, one of them the journal's check).
const stepBatch = 100

// inventoryOp queues a change's inventory entry, written once invBatch are queued.
func (e *engine) inventoryOp(ctx context.Context, c *plan.Change, fail func(error)) {
	switch c.Action {
	case plan.Create, plan.Link:
		e.invAdd = append(e.invAdd, state.Entry{Address: c.Address, Target: c.Target, Created: e.opts.Now().UTC()})
	default:
		e.invRemove = append(e.invRemove, c.Address)
	}
	if len(e.invAdd)+len(e.invRemove) >= invBatch {
		e.flushInventory(ctx, fail)
	}
}

func (e *engine) flushInventory(ctx context.Context, fail func(error)) {
	if len(e.invAdd)+len(e.invRemove) == 0 {
		return
	}
	if err := e.opts.State.UpdateInventory(ctx, e.invAdd, e.invRemove); err != nil {
		fail(fmt.Errorf("inventory: %w", err))
		return
	}
	e.invAdd, e.invRemove = nil, nil
}

// finish closes the journal when everything succeeded, and with it the journals of
// earlier applies whose parents this one held: it re-observed and did what they left.
func (e *engine) finish(ctx context.Context) {
	if e.opts.State == nil || e.res.Failed > 0 || e.res.Interrupted || e.res.NotStarted > 0 || len(e.stateErrs) > 0 {
		return
	}
	if len(e.res.LockLost) == 0 && e.lockLost() {
		e.lostMu.Lock()
		e.res.LockLost = slices.Sorted(slices.Values(e.lostParents))
		e.lostMu.Unlock()
	}
	if len(e.res.LockLost) > 0 {
		// Every change ran, but the earlier journals are no longer ours to close:
		// the parents' new holder finishes them.
		// Ending it is a write under the lost lock, which the store may refuse: the
		// journal then stays open, and the new holder closes it after its apply.
		if e.journalID != "" {
			if err := e.opts.State.EndJournal(context.WithoutCancel(ctx), e.journalID); err != nil && !errors.Is(err, state.ErrLockLost) {
				e.stateError(err)
			}
		}
		return
	}
	ctx = context.WithoutCancel(ctx)
	reread := e.opts.Reread
	if reread == nil {
		reread = e.opts.Locks
	}
	finished := func(par string) bool { return slices.Contains(e.opts.Locks, par) && slices.Contains(reread, par) }
	for _, j := range e.res.Previous {
		if len(j.Parents) == 0 {
			if err := e.opts.State.EndJournal(ctx, j.ID); err != nil {
				e.stateError(err)
				continue
			}
			e.res.Closed = append(e.res.Closed, j.ID)
			continue
		}
		var part []string
		for _, par := range j.Parents {
			if finished(par) {
				part = append(part, par)
			}
		}
		if len(part) == 0 {
			continue
		}
		ended, err := e.opts.State.ReleaseJournal(ctx, j.ID, part)
		if err != nil {
			e.stateError(err)
			continue
		}
		if ended {
			e.res.Closed = append(e.res.Closed, j.ID)
		}
	}
	if e.journalID != "" {
		if err := e.opts.State.EndJournal(ctx, e.journalID); err != nil {
			e.stateError(err)
		}
	}
}

func (e *engine) err() error {
	var me *multierror.Error
	for _, r := range e.res.Changes {
		if r.Status == StatusFailed {
			c := r.Change
			me = multierror.Append(me, fmt.Errorf("%s %s on %s: %w", c.Action, c.Address, c.Target, r.Err))
		}
	}
	for _, err := range e.stateErrs {
		me = multierror.Append(me, fmt.Errorf("state: %w", err))
	}
	switch {
	case len(e.res.LockLost) > 0 && e.res.NotStarted > 0:
		me = multierror.Append(me, fmt.Errorf("%w: the lock of parent %s was lost while applying (its lease expired or was broken: another writer may hold it now); no change was started after that, %d not started; the next holder of the lock finishes them",
			ErrLockLost, strings.Join(e.res.LockLost, ", parent "), e.res.NotStarted))
	case e.res.Interrupted:
		me = multierror.Append(me, fmt.Errorf("%w: %d changes not started; the next apply finishes them", ErrInterrupted, e.res.NotStarted))
	}
	if me != nil {
		me.ErrorFormat = listErrors
	}
	return me.ErrorOrNil()
}

// listErrors writes one error as itself and several as a list, one per line.
func listErrors(es []error) string {
	if len(es) == 1 {
		return es[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(es))
	for _, err := range es {
		b.WriteString("\n  - ")
		b.WriteString(strings.ReplaceAll(err.Error(), "\n", "\n    "))
	}
	return b.String()
}

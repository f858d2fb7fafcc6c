// Package state is the little state Tether keeps of its own: the inventory of objects
// it created (so pruning never touches what it did not make), the journal of an apply
// in progress, and the locks that keep one writer per parent (Core); beside it, the
// namespaced key-value space providers own (providers.State: the health of DNS
// cluster members, what was pushed to them).
//
// Everything goes through Store, so no caller may assume the state is a local file:
// the folder backend (Open) is the default and a distributed one (etcd) follows. The
// live fleet is always the truth; state only records intent and ownership.
package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tether-dev/tether/providers"
)

// Store is Tether's state: its own core, and the key-value space providers own
// (providers.State: DNS members' health, pushed digests), kept in the same place so
// one backend serves both. Implementations are safe for concurrent use by goroutines
// and by several processes sharing the same state.
type Store interface {
	Core
	providers.State
}

// AddressLister is a store that lists its inventory's addresses without reading each
// entry whole (Folder); InventoryAddresses uses it when a store is one.
type AddressLister interface {
	InventoryAddresses(ctx context.Context) (map[string]bool, error)
}

// InventoryAddresses returns the addresses of every object Tether created: what a
// plan needs of the inventory.
func InventoryAddresses(ctx context.Context, st Core) (map[string]bool, error) {
	if l, ok := st.(AddressLister); ok {
		return l.InventoryAddresses(ctx)
	}
	inv, err := st.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	owned := make(map[string]bool, len(inv))
	for a := range inv {
		owned[a] = true
	}
	return owned, nil
}

// Core is the state Tether's engine keeps: what it created, what the fleet protects,
// the journals of applies, and the writer locks.
type Core interface {
	// Inventory returns every object Tether created, by address.
	Inventory(ctx context.Context) (map[string]Entry, error)
	// UpdateInventory adds and removes entries in one atomic step. Adding an address
	// that is present refreshes it; removing one that is absent is not an error.
	UpdateInventory(ctx context.Context, add []Entry, remove []string) error

	// Protected returns the addresses last applied with `protect: true`, so an object
	// whose declaration was deleted from the files keeps its protection.
	Protected(ctx context.Context) (map[string]bool, error)
	// UpdateProtected records protection (add) and its explicit removal (remove) in
	// one atomic step.
	UpdateProtected(ctx context.Context, add, remove []string) error

	// BeginJournal opens the journal of one apply, under h.ID. Several can be open at
	// once: applies to different parents run side by side.
	BeginJournal(ctx context.Context, h JournalHeader) error
	// RecordStep appends the outcome of one change to journal id.
	RecordStep(ctx context.Context, id string, s Step) error
	// Journals returns every open journal: applies in progress, or interrupted ones
	// that a later apply has not yet finished. Oldest first.
	Journals(ctx context.Context) ([]*Journal, error)
	// EndJournal closes journal id: the apply it records completed, or a later one
	// finished its work. Ending a journal that is not open is not an error.
	EndJournal(ctx context.Context, id string) error
	// ReleaseJournal marks the part of journal id that concerns parents as finished:
	// a later apply that held those parents' locks re-read them and did what the
	// journal left. The parents leave the journal's Parents; when none remain the
	// journal ends (ended is true). A journal that is not open is not an error (it
	// ended already: ended is true). One atomic step, so two processes finishing two
	// halves of one journal never both keep or both lose it.
	ReleaseJournal(ctx context.Context, id string, parents []string) (ended bool, err error)

	// Lock takes the writer lock of one parent, waiting until ctx is done (a ctx
	// already done still tries once). It fails with an error wrapping ErrLocked that
	// names the holder when someone else keeps it. What it records of the holder
	// comes from WithHolder(ctx, …) and the process.
	Lock(ctx context.Context, parent string) (Unlocker, error)

	// Close releases what the store holds open (not the locks handed out).
	Close() error
}

// Unlocker releases a lock taken with Store.Lock.
type Unlocker interface {
	Unlock() error
	// Lost is closed when the lock was taken away while held: its lease expired (the
	// holder was cut off from etcd longer than the TTL) or was revoked (`tether state
	// unlock`). A writer must start no new change after it. Nil for a lock that cannot
	// be lost (a folder's flock lasts as long as its process).
	Lost() <-chan struct{}
}

// ErrLocked is returned (wrapped, with the holder) when a parent is locked by another
// writer.
var ErrLocked = errors.New("locked by another writer")

// Entry is one object Tether created.
type Entry struct {
	Address string    `json:"address"`
	Target  string    `json:"target,omitempty"` // the node it was created through
	Created time.Time `json:"created"`
}

// JournalHeader describes the apply a journal records.
type JournalHeader struct {
	// ID identifies this apply: letters, digits, '-', '_' and '.' only.
	ID      string    `json:"id"`
	Started time.Time `json:"started"`
	// Fleet is the fleet's path; Fingerprint and Commit identify its content.
	Fleet       string `json:"fleet,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Commit      string `json:"commit,omitempty"`
	// Parents are the parents whose locks the apply held.
	Parents []string `json:"parents,omitempty"`
	// Changes is the plan being applied, in plan order.
	Changes []PlannedChange `json:"changes"`
}

// PlannedChange is one change of the journalled plan.
type PlannedChange struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Action  string `json:"action"`
	Target  string `json:"target,omitempty"`
}

// Step statuses.
const (
	StepDone    = "done"
	StepFailed  = "failed"
	StepSkipped = "skipped" // a change it depends on failed
)

// Step is the outcome of one change.
type Step struct {
	ID     string    `json:"id"`
	Status string    `json:"status"`
	Error  string    `json:"error,omitempty"`
	At     time.Time `json:"at"`
}

// Journal is a journal read back: its header and the last outcome of each change.
type Journal struct {
	JournalHeader
	Steps map[string]Step `json:"steps"`
}

// remainingParents is what of the journal's parents is left once parents are released.
func remainingParents(h JournalHeader, parents []string) []string {
	var left []string
	for _, p := range h.Parents {
		if !slices.Contains(parents, p) {
			left = append(left, p)
		}
	}
	return left
}

// Remaining lists the changes that have not succeeded, in plan order.
func (j *Journal) Remaining() []PlannedChange {
	var out []PlannedChange
	for _, c := range j.Changes {
		if s, ok := j.Steps[c.ID]; ok && s.Status == StepDone {
			continue
		}
		out = append(out, c)
	}
	return out
}

// Summary says in one line what an interrupted apply left behind.
func (j *Journal) Summary() string {
	done := len(j.Changes) - len(j.Remaining())
	src := j.Fleet
	if j.Commit != "" {
		src += " at commit " + short(j.Commit)
	}
	return fmt.Sprintf("an apply of %s started %s did not finish: %d of %d changes done, %d remain",
		src, j.Started.UTC().Format(time.RFC3339), done, len(j.Changes), len(j.Changes)-done)
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// The store is the state providers are given.
var _ providers.State = Store(nil)

// StepsRecorder is a Store that records several steps of one journal in one write:
// RecordSteps does what RecordStep does for each, in order, or nothing when the
// journal is not open.
type StepsRecorder interface {
	RecordSteps(ctx context.Context, id string, steps []Step) error
}

// RecordSteps records steps in journal id, in one write when the store can.
func RecordSteps(ctx context.Context, s Store, id string, steps []Step) error {
	if r, ok := s.(StepsRecorder); ok {
		return r.RecordSteps(ctx, id, steps)
	}
	for _, st := range steps {
		if err := s.RecordStep(ctx, id, st); err != nil {
			return err
		}
	}
	return nil
}

package state

import (
	"context"
	"errors"
	"slices"
)

// Writes under a lock. A lease can end without its holder noticing in time: a process
// paused past the TTL (a stopped VM, a long GC, SIGSTOP) or cut off from etcd comes
// back still believing it holds its parents, while another writer took them over.
// Watching Lost() only stops new changes; a write already on its way would land beside
// the new holder's. So a writer passes the locks it writes under in its context
// (WithLocks), and the etcd store makes every write done with that context one
// transaction conditional on still holding each of them: a lost lock fails the write
// with a *LockLostError and writes nothing of it. A folder's lock is the kernel's and
// lasts as long as its process, so the folder store has nothing to check.

type locksKey struct{}

// WithLocks returns ctx carrying locks (besides those ctx carried): the store's writes
// made with it happen only while every one of them is still held.
func WithLocks(ctx context.Context, locks ...Unlocker) context.Context {
	old, _ := ctx.Value(locksKey{}).([]Unlocker)
	return context.WithValue(ctx, locksKey{}, append(slices.Clip(old), locks...))
}

// locksOf is the locks ctx carries.
func locksOf(ctx context.Context) []Unlocker {
	ls, _ := ctx.Value(locksKey{}).([]Unlocker)
	return ls
}

// ErrLockLost is wrapped by every *LockLostError.
var ErrLockLost = errors.New("lock lost")

// LockLostError is a write refused because the writer no longer holds a lock it was
// made under: nothing of that write was stored.
type LockLostError struct {
	Parent string
	// Holder is who holds the lock now, nil when no one does (the lease expired or was
	// broken and no writer took the lock yet) or its record could not be read.
	Holder *Holder
}

func (e *LockLostError) Error() string {
	if e.Holder == nil {
		return "lost the lock on parent " + e.Parent + " (its lease expired or was broken; no one holds it now); nothing written"
	}
	return "lost the lock on parent " + e.Parent + " to " + e.Holder.String() + "; nothing written"
}

func (e *LockLostError) Unwrap() error { return ErrLockLost }

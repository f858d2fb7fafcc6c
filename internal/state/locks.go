package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// LockInfo is one parent's writer lock as `tether state locks` shows it.
type LockInfo struct {
	Parent string `json:"parent"`
	// Holder is what the holder recorded (zero when it could not be read).
	Holder
}

// LockAdmin lists the parents' locks and breaks one; both backends implement it.
type LockAdmin interface {
	Locks(ctx context.Context) ([]LockInfo, error)
	// BreakLock takes a parent's lock from its holder, who stops starting changes.
	BreakLock(ctx context.Context, parent string) error
}

var (
	_ LockAdmin = (*Folder)(nil)
	_ LockAdmin = (*Etcd)(nil)
)

// ErrLockHeldByProcess is returned when a folder lock cannot be broken: the kernel
// holds it for a live process, and drops it only when that process ends.
var ErrLockHeldByProcess = errors.New("a folder lock is held by a live process and ends with it")

// Locks implements LockAdmin: the lock files someone holds now.
func (f *Folder) Locks(ctx context.Context) ([]LockInfo, error) {
	names, err := filepath.Glob(f.path("locks", "*.lock"))
	if err != nil {
		return nil, err
	}
	var out []LockInfo
	for _, n := range names {
		lf, err := os.Open(n)
		if err != nil {
			continue
		}
		free := syscall.Flock(int(lf.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) == nil
		lf.Close()
		if free {
			continue
		}
		info := LockInfo{Parent: strings.TrimSuffix(filepath.Base(n), ".lock")}
		if b, err := os.ReadFile(n); err == nil {
			json.Unmarshal(b, &info.Holder) //nolint:errcheck // unreadable: the holder stays unknown
		}
		out = append(out, info)
	}
	return out, nil
}

// BreakLock implements LockAdmin: a folder lock is the kernel's, so it is never
// broken from outside; the error names the process to stop.
func (f *Folder) BreakLock(ctx context.Context, parent string) error {
	ls, err := f.Locks(ctx)
	if err != nil {
		return err
	}
	for _, l := range ls {
		if l.Parent == parent {
			return fmt.Errorf("parent %s: %w: stop pid %d on %s", parent, ErrLockHeldByProcess, l.PID, l.Host)
		}
	}
	return nil
}

// Locks implements LockAdmin: the holders recorded beside the held mutexes.
func (e *Etcd) Locks(ctx context.Context) ([]LockInfo, error) {
	pfx := e.key("holders") + "/"
	r, err := e.c.Get(ctx, pfx, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("state: read locks: %w", err)
	}
	var out []LockInfo
	for _, kv := range r.Kvs {
		info := LockInfo{Parent: strings.TrimPrefix(string(kv.Key), pfx)}
		json.Unmarshal(kv.Value, &info.Holder) //nolint:errcheck // unreadable: the holder stays unknown
		out = append(out, info)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Parent < out[b].Parent })
	return out, nil
}

// BreakLock implements LockAdmin: revoking the holder's lease removes its mutex key
// and its holder record; its session sees the lease gone (Lost).
func (e *Etcd) BreakLock(ctx context.Context, parent string) error {
	r, err := e.c.Get(ctx, e.key("locks", parent)+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return fmt.Errorf("state: break lock %s: %w", parent, err)
	}
	if len(r.Kvs) == 0 {
		return nil
	}
	if _, err := e.c.Revoke(ctx, clientv3.LeaseID(r.Kvs[0].Lease)); err != nil {
		return fmt.Errorf("state: break lock %s: %w", parent, err)
	}
	return nil
}

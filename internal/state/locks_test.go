package state_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/etcdtest"
	"github.com/tether-dev/tether/internal/state"
)

// A lock is listed with its holder; breaking an etcd lock ends the holder's lease.
func TestEtcdLocksListAndBreak(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	open := func() *state.Etcd {
		s, err := state.OpenEtcd(ctx, "etcd://"+srv.Endpoint+"/locks?ttl=2", os.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, admin := open(), open()
	l, err := a.Lock(state.WithHolder(ctx, state.Holder{Command: "tether watch", Commit: "c0ffee"}), "web1")
	if err != nil {
		t.Fatal(err)
	}
	ls, err := admin.Locks(ctx)
	host, _ := os.Hostname()
	if err != nil || len(ls) != 1 || ls[0].Parent != "web1" || ls[0].PID != os.Getpid() || ls[0].Host != host ||
		ls[0].Command != "tether watch" || ls[0].Commit != "c0ffee" || time.Since(ls[0].Since) > time.Minute {
		t.Fatalf("locks %+v, %v", ls, err)
	}
	if err := admin.BreakLock(ctx, "web1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.(interface{ Lost() <-chan struct{} }).Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the holder did not see its lease go")
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	l2, err := admin.Lock(wctx, "web1")
	if err != nil {
		t.Fatalf("after breaking: %v", err)
	}
	l2.Unlock()
	if ls, _ := admin.Locks(ctx); len(ls) != 0 {
		t.Fatalf("locks after unlock: %+v", ls)
	}
}

func TestFolderLocksListAndRefuseBreak(t *testing.T) {
	dir := t.TempDir()
	a, _ := state.Open(dir)
	b, _ := state.Open(dir)
	ctx := context.Background()
	l, err := a.Lock(ctx, "web1")
	if err != nil {
		t.Fatal(err)
	}
	ls, err := b.Locks(ctx)
	if err != nil || len(ls) != 1 || ls[0].Parent != "web1" || ls[0].PID != os.Getpid() {
		t.Fatalf("locks %+v, %v", ls, err)
	}
	if err := b.BreakLock(ctx, "web1"); !errors.Is(err, state.ErrLockHeldByProcess) {
		t.Fatalf("break: %v", err)
	}
	l.Unlock()
	if ls, _ := b.Locks(ctx); len(ls) != 0 {
		t.Fatalf("locks after unlock: %+v", ls)
	}
}

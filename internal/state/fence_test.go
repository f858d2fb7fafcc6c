package state_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/etcdtest"
	"github.com/tether-dev/tether/internal/state"
)

// writeCase is one kind of write the store makes under a lock, and how to see that
// it left nothing behind.
type writeCase struct {
	name string
	// write is made with ctx, which carries the writer's locks.
	write func(ctx context.Context, s state.Store) error
	// unchanged reports what of the write is found in the state, "" for nothing.
	unchanged func(ctx context.Context, s state.Store) string
}

// writeCases covers every write of state.Store; prepare (written while the lock is
// held) gives them something to change: journal j1 with one step, the key k0.
func writeCases() []writeCase {
	journal := func(ctx context.Context, s state.Store) (*state.Journal, error) {
		js, err := s.Journals(ctx)
		for _, j := range js {
			if j.ID == "j1" {
				return j, err
			}
		}
		return nil, err
	}
	return []writeCase{
		{"inventory", func(ctx context.Context, s state.Store) error {
			return s.UpdateInventory(ctx, []state.Entry{{Address: "account.late", Target: "web1"}}, []string{"account.a"})
		}, func(ctx context.Context, s state.Store) string {
			inv, err := s.Inventory(ctx)
			if _, late := inv["account.late"]; late || err != nil || len(inv) != 1 {
				return fmt.Sprintf("inventory %v, %v", inv, err)
			}
			return ""
		}},
		{"protected", func(ctx context.Context, s state.Store) error {
			return s.UpdateProtected(ctx, []string{"account.late"}, nil)
		}, func(ctx context.Context, s state.Store) string {
			if p, err := s.Protected(ctx); len(p) != 0 || err != nil {
				return fmt.Sprintf("protected %v, %v", p, err)
			}
			return ""
		}},
		{"begin journal", func(ctx context.Context, s state.Store) error {
			return s.BeginJournal(ctx, state.JournalHeader{ID: "j2", Started: time.Now(), Parents: []string{"web1"},
				Changes: []state.PlannedChange{{ID: "x/create", Address: "x", Action: "create"}}})
		}, func(ctx context.Context, s state.Store) string {
			if js, err := s.Journals(ctx); len(js) != 1 || err != nil {
				return fmt.Sprintf("%d journals, %v", len(js), err)
			}
			return ""
		}},
		{"record step", func(ctx context.Context, s state.Store) error {
			return s.RecordStep(ctx, "j1", state.Step{ID: "b/create", Status: state.StepDone, At: time.Now()})
		}, func(ctx context.Context, s state.Store) string {
			if j, err := journal(ctx, s); j == nil || len(j.Steps) != 1 || err != nil {
				return fmt.Sprintf("journal %+v, %v", j, err)
			}
			return ""
		}},
		{"end journal", func(ctx context.Context, s state.Store) error {
			return s.EndJournal(ctx, "j1")
		}, func(ctx context.Context, s state.Store) string {
			if j, err := journal(ctx, s); j == nil || err != nil {
				return fmt.Sprintf("journal j1 gone (%v)", err)
			}
			return ""
		}},
		{"release journal", func(ctx context.Context, s state.Store) error {
			_, err := s.ReleaseJournal(ctx, "j1", []string{"web1"})
			return err
		}, func(ctx context.Context, s state.Store) string {
			if j, err := journal(ctx, s); j == nil || len(j.Parents) != 1 || err != nil {
				return fmt.Sprintf("journal %+v, %v", j, err)
			}
			return ""
		}},
		{"provider put", func(ctx context.Context, s state.Store) error {
			return s.Put(ctx, "dns", map[string]string{"k1": "late"})
		}, func(ctx context.Context, s state.Store) string {
			if _, ok, err := s.Get(ctx, "dns", "k1"); ok || err != nil {
				return fmt.Sprintf("k1 written (%v)", err)
			}
			return ""
		}},
		{"provider update", func(ctx context.Context, s state.Store) error {
			_, err := s.Update(ctx, "dns", "k0", func(string, bool) (string, bool) { return "late", false })
			return err
		}, func(ctx context.Context, s state.Store) string {
			if v, _, err := s.Get(ctx, "dns", "k0"); v != "v0" || err != nil {
				return fmt.Sprintf("k0 = %q (%v)", v, err)
			}
			return ""
		}},
		{"provider drop", func(ctx context.Context, s state.Store) error {
			return s.Drop(ctx, "dns")
		}, func(ctx context.Context, s state.Store) string {
			if _, ok, err := s.Get(ctx, "dns", "k0"); !ok || err != nil {
				return fmt.Sprintf("k0 dropped (%v)", err)
			}
			return ""
		}},
	}
}

// prepare writes, under the lock, what the write cases change.
func prepare(t *testing.T, ctx context.Context, s state.Store) {
	t.Helper()
	err := errors.Join(
		s.UpdateInventory(ctx, []state.Entry{{Address: "account.a", Target: "web1"}}, nil),
		s.BeginJournal(ctx, state.JournalHeader{ID: "j1", Started: time.Now(), Parents: []string{"web1"},
			Changes: []state.PlannedChange{{ID: "a/create", Address: "a", Action: "create"}, {ID: "b/create", Address: "b", Action: "create"}}}),
		s.RecordStep(ctx, "j1", state.Step{ID: "a/create", Status: state.StepDone, At: time.Now()}),
		s.Put(ctx, "dns", map[string]string{"k0": "v0"}),
	)
	if err != nil {
		t.Fatalf("writes while the lock is held: %v", err)
	}
}

func openEtcd(t *testing.T, spec string) state.Store {
	t.Helper()
	s, err := state.OpenURL(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestEtcdWritesNeedTheLock: replica r1 holds web1's lock and writes under it; it is
// paused past the lock's TTL, replica r2 takes the lock over, and every write r1 then
// makes is refused with a LockLostError naming r2, leaving nothing behind. Likewise
// when the lock was broken (tether state unlock) and no one holds it, and when the
// writer holds more locks than one etcd transaction can compare.
func TestEtcdWritesNeedTheLock(t *testing.T) {
	srv := etcdtest.Start(t)
	tests := []struct {
		name string
		// lose takes the lock l (of parent web1, among the writer's locks) from its
		// holder r1; other is a second handle on the same state.
		lose func(t *testing.T, l state.Unlocker, other state.Store)
		// extra locks the writer holds besides web1's.
		extra int
		want  string
	}{
		{"paused past its TTL, taken over", func(t *testing.T, l state.Unlocker, other state.Store) {
			state.PauseLock(l)
			// r2 waits for the lease to expire, as a replica taking over does.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			u, err := other.Lock(state.WithHolder(ctx, state.Holder{Command: "tether watch", Replica: "r2"}), "web1")
			if err != nil {
				t.Fatalf("r2 takes web1: %v", err)
			}
			t.Cleanup(func() { u.Unlock() })
		}, 0, "lost the lock on parent web1 to replica r2, pid "},
		{"broken, no one holds it", func(t *testing.T, _ state.Unlocker, other state.Store) {
			if err := other.(state.LockAdmin).BreakLock(context.Background(), "web1"); err != nil {
				t.Fatal(err)
			}
		}, 0, "lost the lock on parent web1 (its lease expired or was broken; no one holds it now); nothing written"},
		{"one of more locks than a transaction compares", func(t *testing.T, _ state.Unlocker, other state.Store) {
			if err := other.(state.LockAdmin).BreakLock(context.Background(), "web1"); err != nil {
				t.Fatal(err)
			}
		}, 140, "lost the lock on parent web1 (its lease"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := fmt.Sprintf("etcd://%s/fence%d?ttl=2", srv.Endpoint, i)
			for _, wc := range writeCases() {
				t.Run(wc.name, func(t *testing.T) {
					// Each case on a prefix of its own: a refused write of one case
					// must not be hidden by what another wrote.
					spec := strings.Replace(spec, "?", fmt.Sprintf("-%s?", strings.ReplaceAll(wc.name, " ", "-")), 1)
					r1, r2 := openEtcd(t, spec), openEtcd(t, spec)
					ctx := state.WithHolder(context.Background(), state.Holder{Command: "tether watch", Replica: "r1"})
					l, err := r1.Lock(ctx, "web1")
					if err != nil {
						t.Fatal(err)
					}
					defer l.Unlock()
					held := []state.Unlocker{l}
					for n := range tt.extra {
						u, err := r1.Lock(ctx, fmt.Sprintf("web%03d", n+100))
						if err != nil {
							t.Fatal(err)
						}
						defer u.Unlock()
						held = append(held, u)
					}
					wctx := state.WithLocks(ctx, held...)
					prepare(t, wctx, r1)
					tt.lose(t, l, r2)
					err = wc.write(wctx, r1)
					var lost *state.LockLostError
					if !errors.As(err, &lost) || !errors.Is(err, state.ErrLockLost) || lost.Parent != "web1" {
						t.Fatalf("write after the lock was lost: %v, want a LockLostError for web1", err)
					}
					if !strings.Contains(err.Error(), tt.want) || !strings.HasSuffix(err.Error(), "; nothing written") {
						t.Errorf("error %q, want it to say %q", err, tt.want)
					}
					if got := wc.unchanged(context.Background(), r2); got != "" {
						t.Errorf("the refused write left something: %s", got)
					}
				})
			}
		})
	}
}

// TestLockLostErrorWording: the error names the parent and who holds it now (a
// replica by its name first), and always says nothing was written.
func TestLockLostErrorWording(t *testing.T) {
	since := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		err  *state.LockLostError
		want string
	}{
		{"taken by a replica", &state.LockLostError{Parent: "web1", Holder: &state.Holder{Replica: "r2", PID: 42, Host: "h2", Command: "tether watch", Since: since}},
			"lost the lock on parent web1 to replica r2, pid 42 on h2 (tether watch) since 2026-12-03T11:00:00Z; nothing written"},
		{"taken by an apply", &state.LockLostError{Parent: "web1", Holder: &state.Holder{PID: 7, Host: "ci", Command: "tether apply", Commit: "0123456789abcdef", Since: since}},
			"lost the lock on parent web1 to pid 7 on ci (tether apply, commit 0123456789ab) since 2026-12-03T11:00:00Z; nothing written"},
		{"held by no one", &state.LockLostError{Parent: "web1"},
			"lost the lock on parent web1 (its lease expired or was broken; no one holds it now); nothing written"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !errors.Is(fmt.Errorf("state: journal j1: %w", tt.err), state.ErrLockLost) {
				t.Error("a wrapped LockLostError is not ErrLockLost")
			}
		})
	}
}

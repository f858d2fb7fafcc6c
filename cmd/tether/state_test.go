package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tether-dev/tether/internal/etcdtest"
	"github.com/tether-dev/tether/internal/state"
)

// `tether state locks` names the holder and `tether state unlock` breaks an etcd
// lock; on a folder it lists and refuses to break a live process's lock.
func TestStateLocksAndUnlock(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	spec := "etcd://" + srv.Endpoint + "/cli?ttl=2"
	folder := t.TempDir()
	for _, tc := range []struct{ name, spec, unlocked string }{
		{"etcd", spec, "The lock of web1 is broken."},
		{"folder", folder, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := state.OpenURL(ctx, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if out, code := execute(t, "state", "locks", "--state", tc.spec, t.TempDir()); code != 0 || !strings.Contains(out, "No parent is locked") {
				t.Fatalf("exit %d: %s", code, out)
			}
			l, err := st.Lock(ctx, "web1")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Unlock()
			out, code := execute(t, "state", "locks", "--state", tc.spec, t.TempDir())
			if code != 0 || !strings.Contains(out, "web1\theld by pid "+strconv.Itoa(os.Getpid())) {
				t.Fatalf("exit %d: %q", code, out)
			}
			root := newRoot(testCLI())
			var o, e strings.Builder
			root.SetOut(&o)
			root.SetErr(&e)
			root.SetArgs([]string{"state", "unlock", "web1", "--yes", "--state", tc.spec, t.TempDir()})
			err = root.Execute()
			if tc.unlocked != "" {
				if err != nil || !strings.Contains(o.String(), tc.unlocked) {
					t.Fatalf("unlock: %v %s", err, o.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "live process") {
				t.Fatalf("folder unlock: %v", err)
			}
		})
	}
}

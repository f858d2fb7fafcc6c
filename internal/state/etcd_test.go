package state_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/etcdtest"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/internal/state/statetest"
)

// The etcd backend passes the same suite against a real etcd: each subtest gets its
// own prefix on one server; each handle is its own client, as separate processes
// would have.
func TestEtcdConformance(t *testing.T) {
	srv := etcdtest.Start(t)
	n := 0
	statetest.Run(t, func(t *testing.T) statetest.Factory {
		n++
		spec := fmt.Sprintf("etcd://%s/conformance%d?ttl=2", srv.Endpoint, n)
		return func(t *testing.T) state.Store {
			s, err := state.OpenURL(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}

func TestParseEtcdURL(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		spec, want, err string
		env             map[string]string
	}{
		{spec: "etcd://a:2379,b:2379/tether", want: "[a:2379 b:2379] tether tls=false ttl=10"},
		{spec: "etcd://a:2379/fleet/prod/?ttl=5", want: "[a:2379] fleet/prod tls=false ttl=5"},
		{spec: "etcds://a:2379/t", want: "[a:2379] t tls=true ttl=10"},
		{spec: "etcd://a:2379/t", env: map[string]string{state.EnvEtcdCA: "/ca.pem"}, want: "[a:2379] t tls=true ttl=10"},
		{spec: "etcd://user:pw@a:2379/t", err: "credentials in an etcd URL are refused"},
		{spec: "etcd://a:2379", err: "want a key prefix"},
		{spec: "etcd://a:2379,/t", err: "an empty etcd host"},
		{spec: "etcd://a:2379/t?password=x", err: `unknown option "password"`},
		{spec: "etcd://a:2379/t?cert=/c.pem", err: "needs both cert and key"},
		{spec: "etcd://a:2379/t?ttl=1", err: "at least 2"},
		{spec: "etcd://a:2379/t", env: map[string]string{state.EnvEtcdUser: "root"}, err: "without " + state.EnvEtcdPasswordFile},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			env = tt.env
			cfg, err := state.ParseEtcdURL(tt.spec, getenv)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Errorf("the password is in the error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%v %s tls=%v ttl=%d", cfg.Endpoints, cfg.Prefix, cfg.TLS, cfg.LockTTL); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestEtcdJournalOfALargePlan: a journal of 30,000 changes (over 3 MB, twice etcd's
// default request limit) begins, and comes back whole and in plan order.
func TestEtcdJournalOfALargePlan(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	s, err := state.OpenURL(ctx, "etcd://"+srv.Endpoint+"/large")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := state.JournalHeader{ID: "big", Started: time.Now().UTC(), Fleet: "/fleet", Parents: []string{"web1"}}
	for i := range 30_000 {
		id := fmt.Sprintf("account.user%06d-with-a-long-name", i)
		h.Changes = append(h.Changes, state.PlannedChange{ID: id + "/create", Address: id, Action: "create", Target: "web1"})
	}
	if err := s.BeginJournal(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordStep(ctx, "big", state.Step{ID: h.Changes[29_999].ID, Status: state.StepDone}); err != nil {
		t.Fatal(err)
	}
	js, err := s.Journals(ctx)
	if err != nil || len(js) != 1 {
		t.Fatalf("%d journals, %v", len(js), err)
	}
	if got := js[0].Changes; !slices.Equal(got, h.Changes) {
		t.Fatalf("%d changes back (want %d); first %v", len(got), len(h.Changes), got[:min(1, len(got))])
	}
	if len(js[0].Steps) != 1 {
		t.Errorf("steps %v", js[0].Steps)
	}
	// A reused id starts empty: the longer plan's parts do not leak into a shorter one.
	h.Changes = h.Changes[:10]
	if err := s.BeginJournal(ctx, h); err != nil {
		t.Fatal(err)
	}
	if js, err = s.Journals(ctx); err != nil || len(js) != 1 || len(js[0].Changes) != 10 || len(js[0].Steps) != 0 {
		t.Fatalf("reused id: %v, %+v", err, js)
	}
}

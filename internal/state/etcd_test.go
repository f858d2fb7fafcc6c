package state_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

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

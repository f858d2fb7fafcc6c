package session

import (
	"testing"

	"github.com/tether-dev/tether/internal/etcdtest"
	"github.com/tether-dev/tether/internal/state"
)

// $TETHER_STATE (or --state) selects the etcd backend, and it wins over the folder.
func TestStateEnvSelectsEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	env := map[string]string{StateEnv: "etcd://" + srv.Endpoint + "/tether"}
	st, err := OpenState(Options{FleetPath: t.TempDir(), Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*state.Etcd); !ok {
		t.Fatalf("state %T, want *state.Etcd", st)
	}
	if err := st.Put(t.Context(), "test/ns", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
}

package schema

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withBackends runs f with the registry holding only bs, then restores it.
func withBackends(t *testing.T, bs ...MemberBackend) {
	t.Helper()
	backendsMu.Lock()
	saved := maps.Clone(backends)
	backends = map[string]MemberBackend{}
	backendsMu.Unlock()
	t.Cleanup(func() {
		backendsMu.Lock()
		backends = saved
		backendsMu.Unlock()
	})
	for _, b := range bs {
		if err := registerMemberBackend(b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRegisterMemberBackendRefuses(t *testing.T) {
	withBackends(t, MemberBackend{Name: "a", Default: true, OnNode: true, Needs: []string{"node"}})
	for _, tt := range []struct {
		b    MemberBackend
		want string
	}{
		{MemberBackend{Name: "a"}, "already registered"},
		{MemberBackend{Name: ""}, "plain name"},
		{MemberBackend{Name: `x"y`}, "plain name"},
		{MemberBackend{Name: "b", Default: true}, "already the default"},
		{MemberBackend{Name: "b", Needs: []string{"colour"}}, "not a member field"},
		{MemberBackend{Name: "b", Takes: []string{"role"}}, "not a member field"},
	} {
		if err := registerMemberBackend(tt.b); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("register %+v: %v, want %q", tt.b, err, tt.want)
		}
	}
	if got := MemberBackendNames(); len(got) != 1 || got[0] != "a" {
		t.Errorf("a refused backend was registered: %v", got)
	}
}

// A backend registered from its folder is known to the YAML decoder, the CUE schema
// and the rules, with the fields it needs and takes and nothing else.
func TestRegisteredBackendIsValidated(t *testing.T) {
	withBackends(t,
		MemberBackend{Name: "onnode", Default: true, OnNode: true, Needs: []string{"node"}},
		MemberBackend{Name: "http", Needs: []string{"host", "address"}, Takes: []string{"tsig"}},
	)
	const fleet = `nodes:
  web1: {role: parent, host: web1.example.net, ipv4: 192.0.2.1, version: 118, profile: STANDARD}
dnsClusters:
  web1:
    enabled: true
    members:
      a: {backend: http, host: a.example.org, address: "127.0.0.1:8081", role: write-only}
      b: {backend: http, host: b.example.org, role: sync, node: web1}
      c: {backend: nope, host: c.example.org, role: sync}
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fleet.yaml"), []byte(fleet), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ds, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.Message)
	}
	want := []string{
		"DNS cluster web1 member b has no address",
		"DNS cluster web1 member b: a http member does not take node",
		`DNS cluster web1 member c: backend "nope" is not a known value`,
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.Contains(g, w)
		}
		if !found {
			t.Errorf("no problem saying %q; got:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	if cue := string(FleetCUE()); !strings.Contains(cue, `#Backend: "http" | "onnode"`) || !strings.Contains(cue, `backend?: *"onnode" | #Backend`) {
		t.Errorf("the CUE schema does not carry the registered backends:\n%s", cue[len(cue)-200:])
	}
}

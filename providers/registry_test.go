package providers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/providers"
	_ "github.com/tether-dev/tether/providers/all"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

type fake struct{}

func (fake) Name() string                              { return "fake" }
func (fake) Scopes(*schema.Fleet) []string             { return nil }
func (fake) Apply(context.Context, *plan.Change) error { return nil }
func (fake) Observe(context.Context, string, *schema.Fleet) (*schema.Fleet, error) {
	return nil, nil
}

func newFake(providers.Config) (providers.Provider, error) { return fake{}, nil }

// TestAllImportsEveryProvider keeps providers/all equal to the provider folders: a
// folder of providers/ that registers a provider (it calls providers.Register) must
// be imported by providers/all, and every provider it imports must be registered.
func TestAllImportsEveryProvider(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	// testOnly are provider folders kept out of providers/all on purpose.
	testOnly := map[string]string{
		"testbackend": "proves the contract (a backend added by its folder and one import line); imported by its own test only",
	}
	var folders []string
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "all" || e.Name() == "testdata" || testOnly[e.Name()] != "" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(e.Name(), "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// A provider folder registers itself.
			if strings.Contains(string(b), "providers.Register(") {
				folders = append(folders, e.Name())
				break
			}
		}
	}
	all, err := os.ReadFile(filepath.Join("all", "all.go"))
	if err != nil {
		t.Fatal(err)
	}
	for f := range testOnly {
		if strings.Contains(string(all), `"github.com/tether-dev/tether/providers/`+f+`"`) {
			t.Errorf("providers/all imports the test-only providers/%s", f)
		}
	}
	for _, f := range folders {
		if !strings.Contains(string(all), `"github.com/tether-dev/tether/providers/`+f+`"`) {
			t.Errorf("providers/%s registers a provider but providers/all does not import it", f)
		}
	}
	names := providers.Names()
	for _, f := range folders {
		if !slices.Contains(names, f) {
			t.Errorf("providers/%s is imported but registers no provider named %s (have %v)", f, f, names)
		}
	}
	if len(folders) < 2 {
		t.Fatalf("found provider folders %v; want at least whm and rfc2136", folders)
	}
}

func TestRegistry(t *testing.T) {
	names := providers.Names()
	for _, want := range []string{"whm", "rfc2136"} {
		if !slices.Contains(names, want) {
			t.Fatalf("Names() = %v, want %s registered by providers/all", names, want)
		}
	}
	p, err := providers.New("whm", providers.Config{})
	if err != nil {
		t.Fatalf("New(whm): %v", err)
	}
	if p.Name() != "whm" {
		t.Errorf("Name() = %q", p.Name())
	}
	s, ok := providers.Lookup("whm")
	if !ok || !s.Capabilities.Can("distribute-mail") || s.Capabilities.Can("no-such-capability") {
		t.Errorf("capabilities: %v", s.Capabilities)
	}
	if got := providers.FleetProvider(); got != "whm" {
		t.Errorf("FleetProvider() = %q, want whm", got)
	}
	// Every member backend is served by one provider, known to the schema and to the
	// planner.
	planners := providers.MemberPlanners()
	for backend, prov := range map[string]string{"cpanel": "whm", "rfc2136": "rfc2136"} {
		spec, mb, ok := providers.MemberServer(backend)
		if !ok || spec.Name != prov || mb.Planner == nil {
			t.Errorf("MemberServer(%s) = %s, %v, want %s", backend, spec.Name, ok, prov)
		}
		if _, ok := schema.LookupMemberBackend(backend); !ok {
			t.Errorf("backend %s is not registered with the schema", backend)
		}
		if planners[backend].Provider != prov {
			t.Errorf("MemberPlanners()[%s].Provider = %q, want %s", backend, planners[backend].Provider, prov)
		}
	}
	if d := schema.DefaultMemberBackend(); d != "cpanel" {
		t.Errorf("default member backend %q, want cpanel", d)
	}

	if _, err := providers.New("nope", providers.Config{}); err == nil || !strings.Contains(err.Error(), "whm") {
		t.Errorf("New(nope) = %v, want an error listing the registered providers", err)
	}
}

func TestRegisterRefuses(t *testing.T) {
	// The registry is global: names of their own per run keep -count=N working.
	name := fmt.Sprintf("fake-registry-test-%d", time.Now().UnixNano())
	providers.Register(providers.Spec{Name: name, New: newFake})
	mustPanic := func(what, want string, s providers.Spec) {
		t.Helper()
		defer func() {
			r := recover()
			err, _ := r.(error)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: recovered %v, want a panic saying %q", what, r, want)
			}
		}()
		providers.Register(s)
	}
	mustPanic("duplicate name", "already registered", providers.Spec{Name: name, New: newFake})
	mustPanic("nil constructor", "nil constructor", providers.Spec{Name: name + "-nil"})
	mustPanic("second fleet provider", "already manages the fleet", providers.Spec{Name: name + "-fleet", New: newFake, Fleet: true})
	cpanel, _, _ := providers.MemberServer("cpanel")
	mustPanic("backend served twice", "already served", providers.Spec{Name: name + "-dup", New: newFake, Members: cpanel.Members})
	mustPanic("member without planner", "no planner", providers.Spec{Name: name + "-np", New: newFake,
		Members: []providers.MemberBackend{{Schema: schema.MemberBackend{Name: name + "-b"}}}})
	if slices.Contains(providers.Names(), name+"-fleet") || slices.Contains(providers.Names(), name+"-dup") {
		t.Errorf("a refused spec was registered: %v", providers.Names())
	}
}

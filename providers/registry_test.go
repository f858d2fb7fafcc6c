package providers_test

import (
	"context"
	"fmt"
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
func (fake) Capabilities() providers.Capabilities      { return providers.Capabilities{"x": true} }
func (fake) Scopes(*schema.Fleet) []string             { return nil }
func (fake) Apply(context.Context, *plan.Change) error { return nil }
func (fake) Observe(context.Context, string, *schema.Fleet) (*schema.Fleet, error) {
	return nil, nil
}

func TestRegistry(t *testing.T) {
	// Every provider in providers/all is registered under its own name.
	names := providers.Names()
	if !contains(names, "whm") {
		t.Fatalf("Names() = %v, want whm registered by providers/all", names)
	}
	p, err := providers.New("whm", providers.Config{})
	if err != nil {
		t.Fatalf("New(whm): %v", err)
	}
	if p.Name() != "whm" {
		t.Errorf("Name() = %q", p.Name())
	}
	if !p.Capabilities().Can("distribute-mail") || p.Capabilities().Can("no-such-capability") {
		t.Errorf("capabilities: %v", p.Capabilities())
	}

	if _, err := providers.New("nope", providers.Config{}); err == nil || !strings.Contains(err.Error(), "whm") {
		t.Errorf("New(nope) = %v, want an error listing the registered providers", err)
	}

	// The registry is global: a name of its own per run keeps -count=N working.
	name := fmt.Sprintf("fake-registry-test-%d", time.Now().UnixNano())
	providers.Register(name, func(providers.Config) (providers.Provider, error) { return fake{}, nil })
	func() {
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(r.(error).Error(), "already registered") {
				t.Errorf("duplicate Register: recovered %v, want an already-registered panic", r)
			}
		}()
		providers.Register(name, func(providers.Config) (providers.Provider, error) { return fake{}, nil })
	}()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Register with a nil factory did not panic")
			}
		}()
		providers.Register("nil-factory", nil)
	}()
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

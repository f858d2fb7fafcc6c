package providers

import (
	"fmt"
	"sort"
	"sync"

	"github.com/tether-dev/tether/schema"
)

// Spec is what a provider registers, in the manner of DNSControl's
// RegisterDomainServiceProvider: its name, how to build it, what it can do (as data,
// checked by `tether validate` before any call) and the DNS member backends it
// serves (each with what the loader, the planner, dns verify and dns enable need).
type Spec struct {
	Name string
	New  Factory
	// Capabilities lists what the provider can do; anything unlisted, it cannot.
	Capabilities Capabilities
	// Fleet marks the provider that executes the changes of nodes, accounts,
	// resellers and DNS clusters (whm). At most one registered provider does.
	Fleet bool
	// Members are the DNS member backends this provider serves: a member whose
	// backend is one of them is observed and changed by this provider.
	Members []MemberBackend
}

// Capability is something a provider can or cannot do.
type Capability string

// Capabilities lists what a provider can do; anything unlisted, it cannot.
type Capabilities map[Capability]bool

// Can reports whether c is declared.
func (cs Capabilities) Can(c Capability) bool { return cs[c] }

// Factory builds a provider from its configuration.
type Factory func(Config) (Provider, error)

var (
	mu       sync.Mutex
	registry = map[string]Spec{}
)

// Register adds a provider. A second provider of one name, a member backend served
// twice, a second fleet provider or a spec without a name or constructor is a
// programming error and refused loudly, at init. Registering a provider registers
// the schema of each member backend it serves (schema.RegisterMemberBackend), so the
// loader knows `backend: NAME` from then on.
func Register(s Spec) {
	if err := register(s); err != nil {
		panic(err)
	}
}

func register(s Spec) error {
	mu.Lock()
	defer mu.Unlock()
	if s.Name == "" || s.New == nil {
		return fmt.Errorf("providers: register %q: empty name or nil constructor", s.Name)
	}
	if _, dup := registry[s.Name]; dup {
		return fmt.Errorf("providers: %q is already registered", s.Name)
	}
	for _, o := range registry {
		if s.Fleet && o.Fleet {
			return fmt.Errorf("providers: %q: %q already manages the fleet", s.Name, o.Name)
		}
		for _, m := range s.Members {
			for _, om := range o.Members {
				if m.Schema.Name == om.Schema.Name {
					return fmt.Errorf("providers: %q: member backend %q is already served by %q", s.Name, m.Schema.Name, o.Name)
				}
			}
		}
	}
	for _, m := range s.Members {
		if m.Planner == nil {
			return fmt.Errorf("providers: %q: member backend %q has no planner", s.Name, m.Schema.Name)
		}
		if _, known := schema.LookupMemberBackend(m.Schema.Name); known {
			return fmt.Errorf("providers: %q: member backend %q is already registered with the schema", s.Name, m.Schema.Name)
		}
	}
	for _, m := range s.Members {
		schema.RegisterMemberBackend(m.Schema)
	}
	registry[s.Name] = s
	return nil
}

// New builds the provider registered under name.
func New(name string, cfg Config) (Provider, error) {
	s, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("providers: no provider named %q (have %v)", name, Names())
	}
	return s.New(cfg)
}

// Lookup returns the spec registered under name.
func Lookup(name string) (Spec, bool) {
	mu.Lock()
	defer mu.Unlock()
	s, ok := registry[name]
	return s, ok
}

// Names lists registered providers, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Specs lists the registered specs by name.
func Specs() []Spec {
	names := Names()
	out := make([]Spec, 0, len(names))
	for _, n := range names {
		s, _ := Lookup(n)
		out = append(out, s)
	}
	return out
}

// FleetProvider is the name of the provider that manages the fleet's nodes,
// accounts, resellers and DNS clusters, or "" when none is registered.
func FleetProvider() string {
	for _, s := range Specs() {
		if s.Fleet {
			return s.Name
		}
	}
	return ""
}

// MemberServer returns the provider serving a member backend and the backend.
func MemberServer(backend string) (Spec, MemberBackend, bool) {
	for _, s := range Specs() {
		for _, m := range s.Members {
			if m.Schema.Name == backend {
				return s, m, true
			}
		}
	}
	return Spec{}, MemberBackend{}, false
}

package providers

import (
	"context"
)

// State is the part of Tether's state that providers own: a namespaced key-value
// space where a provider keeps what it must remember between runs (rfc2136: its
// members' health and what it last pushed to each). Namespaces are named after the
// provider that owns them ("rfc2136/health"); keys and values are the provider's,
// opaque to the store. It is defined here, by its users, so providers never import
// internal/: internal/state implements it beside its own core (inventory,
// protection, journals, locks), on a folder today and on a distributed store
// later, so no provider may assume a local file.
//
// Every method is atomic with respect to other processes sharing the state.
type State interface {
	// Get returns the value of key in ns; ok is false when there is none.
	Get(ctx context.Context, ns, key string) (value string, ok bool, err error)
	// List returns every key of ns with its value (empty, not nil, when none).
	List(ctx context.Context, ns string) (map[string]string, error)
	// Update changes one key in one atomic read-modify-write: fn sees the current
	// value (ok false when none) and returns the new one, or del to remove the key.
	// It returns what was stored. An fn that returns the value it was given writes
	// nothing.
	Update(ctx context.Context, ns, key string, fn func(old string, ok bool) (value string, del bool)) (string, error)
	// Put sets several keys of ns in one atomic step.
	Put(ctx context.Context, ns string, values map[string]string) error
	// Drop removes a whole namespace. Dropping one that does not exist is not an
	// error.
	Drop(ctx context.Context, ns string) error
}

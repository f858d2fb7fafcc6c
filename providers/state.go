package providers

import (
	"context"
	"time"
)

// State is the part of Tether's state a provider may use: DNS members' health and
// what was last pushed to each member. Member ids are "PARENT/MEMBER". It is defined
// here, by its users, so providers never import internal/: internal/state.Store
// implements it.
type State interface {
	Health(ctx context.Context) (map[string]Health, error)
	UpdateHealth(ctx context.Context, member string, fn func(*Health)) (Health, error)
	Pushed(ctx context.Context, member string) (map[string]string, error)
	UpdatePushed(ctx context.Context, member string, zones map[string]string) error
	ForgetMember(ctx context.Context, member string) error
}

// Health is what Tether counts about a DNS cluster member.
type Health struct {
	// ConsecutiveFailures counts failed commands since the last success.
	ConsecutiveFailures int       `json:"consecutiveFailures"`
	Disabled            bool      `json:"disabled,omitempty"`
	DisabledAt          time.Time `json:"disabledAt,omitzero"`
	LastError           string    `json:"lastError,omitempty"`
	// NeedsResync is set when a disabled member is re-enabled: its zones are compared
	// in full and rewritten before its answers are trusted again.
	NeedsResync bool `json:"needsResync,omitempty"`
	// Joined is when a change first succeeded on the member: from then on Tether
	// manages it. Address and Role are the last applied, so a member removed from the
	// fleet can still be shown (and its removal planned).
	Joined  time.Time `json:"joined,omitzero"`
	Address string    `json:"address,omitempty"`
	Role    string    `json:"role,omitempty"`
}

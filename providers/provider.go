// Package providers defines what a provider is and keeps the registry of them
// (registry.go). Providers register a Spec in init(); providers/all imports them all,
// so adding a provider touches its folder and one import line.
package providers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// Endpoint is how to reach one node's WHM API, resolved by the command line from the
// fleet's credentials or from the sandbox's endpoints.json. Token is a secret: it
// must never be logged, printed or put in an error.
type Endpoint struct {
	URL    string // https://host:2087 or http://127.0.0.1:PORT
	User   string
	Token  string
	CAFile string
	// Fingerprint pins the server's certificate by its SHA-256 ("sha256:HEX").
	Fingerprint string
	// Address, when set, is where to connect (HOST:PORT: a tunnel, an IP, another
	// port); the URL's host name is still the one the certificate must name.
	Address  string
	Insecure bool
	DNS      string // host:port answering DNS, when the node serves DNS (sandbox)
}

// DefaultTaskTimeout is how long a provider waits for a server's background task
// when Config.TaskTimeout is 0. A failed distribution shows through no WHM API 1
// read (see providers/whm: the account simply stays where it was), so this bound is
// how long a failure can go unreported: long enough for a large mailbox copy, short
// enough that an operator hears of a failure in minutes; --task-timeout changes it.
const DefaultTaskTimeout = 10 * time.Minute

// Config is what a provider is built from.
type Config struct {
	// Endpoints maps a node name to how to reach it.
	Endpoints map[string]Endpoint
	// TaskTimeout bounds the wait for a task a server runs in the background (a
	// mail distribution, a profile activation): past it the change fails, naming what
	// it waited for. 0 means the provider's default.
	TaskTimeout time.Duration
	// Secrets resolves a secret reference (env var or file) to its value; TSIG keys and
	// link tokens use it. Sessions pass SecretResolver.Func (the one resolver); it is
	// a function so tests and the sandbox can supply their own.
	Secrets func(env, file string) (string, error)
	Logger  *slog.Logger
	// State is Tether's own state, the same store plan and apply use (a folder, or a
	// distributed store later): providers keep what they must remember between runs
	// there, never in a file of their own. Nil means nothing is kept between runs.
	State State
	// CallTimeout bounds one request to a server, and CallAttempts the attempts of a
	// request that failed in a way worth retrying (--call-timeout, --call-attempts);
	// 0 leaves each provider's default. A server that does not answer costs at most
	// CallTimeout × CallAttempts (plus the backoff between attempts) per request.
	CallTimeout  time.Duration
	CallAttempts int
	// Zones reads a parent's zones, for providers that push them to other servers
	// (rfc2136). The session wires in the provider that manages parents (whm), so no
	// provider imports another. Nil means no zones can be read.
	Zones ZoneSource
}

// Provider talks to one kind of server.
type Provider interface {
	// Name is the registry name ("whm", "rfc2136").
	Name() string
	// Scopes lists the independent units it observes (parents for whm, members for
	// rfc2136), so the reconciler can observe them in parallel.
	Scopes(desired *schema.Fleet) []string
	// Observe reads the live state of one scope and returns it as a partial fleet.
	// It must not change anything. When part of the scope could not be read (a child
	// of a parent), it returns what it read with an *UnreadError naming the rest.
	Observe(ctx context.Context, scope string, desired *schema.Fleet) (*schema.Fleet, error)
	// Apply executes one change and reads it back; it must be idempotent, so an
	// interrupted apply can be finished by running the change again.
	Apply(ctx context.Context, c *plan.Change) error
}

// ErrTransient marks a failure worth retrying (a transport error, a timeout, an HTTP
// 5xx). Providers wrap it: fmt.Errorf("%w: %v", providers.ErrTransient, err).
var ErrTransient = errors.New("transient failure")

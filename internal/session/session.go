// Package session turns a loaded fleet and the command line's choices into the
// providers a command works with: endpoints from the fleet's credentials for real
// servers, or from the sandbox (a `tether sandbox serve` already serving the state
// folder, else one started in-process for the length of the command).
package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

// DefaultPort is WHM's HTTPS API port.
const DefaultPort = 2087

// Options are the command line's choices.
type Options struct {
	// FleetPath is the fleet's file or folder; the state and sandbox folders sit
	// next to it.
	FleetPath string
	// Sandbox talks to the simulated fleet instead of the fleet's servers.
	Sandbox bool
	// SandboxState is the sandbox's folder (default .tether/sandbox next to the fleet).
	SandboxState string
	// SandboxOptions tune an in-process sandbox (task delay, faults); StateDir and
	// Fleet are filled in.
	SandboxOptions sandbox.Options
	Logger         *slog.Logger
	// TaskTimeout bounds the wait for a server's background task (providers.Config).
	TaskTimeout time.Duration

	// State is Tether's state, shared by the command and the providers. When nil,
	// Open opens the folder backend in StateDir and Close closes it.
	State state.Store
	// StateDir is where that folder is: by default StateDirFor the fleet and the
	// choice of servers ($TETHER_STATE_DIR, .tether/state next to the fleet, or
	// tether-state inside the sandbox's folder).
	StateDir string
	// StateURL names another state backend: an etcd cluster
	// (etcd://HOST:2379[,HOST…]/PREFIX) or a folder; by default $TETHER_STATE. When
	// set, it wins over StateDir.
	StateURL string

	// CallTimeout and CallAttempts bound each request to a server (providers.Config);
	// zero takes the fleet's policy (callTimeout, callAttempts), else the provider's
	// default.
	CallTimeout  time.Duration
	CallAttempts int

	// StrictSecrets refuses a token or secret file that its group or others may
	// read; without it such a file draws a warning (--strict).
	StrictSecrets bool

	// Getenv, ReadFile and Stat stand in for the environment and the disk in tests.
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	Stat     func(string) (fs.FileInfo, error)
}

// withFileDefaults fills in what reading a secret file needs.
func (o Options) withFileDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.Stat == nil {
		o.Stat = os.Stat
	}
	return o
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.Stat == nil {
		o.Stat = os.Stat
	}
	if o.SandboxState == "" {
		o.SandboxState = filepath.Join(BaseDir(o.FleetPath), ".tether", "sandbox")
	}
	if o.StateDir == "" {
		o.StateDir = StateDirFor(o.FleetPath, o.Sandbox, o.SandboxState)
	}
	if o.StateURL == "" {
		o.StateURL = o.Getenv(StateEnv)
	}
	return o
}

// Session is what a command needs to observe and apply.
type Session struct {
	// Config is what the providers were built from.
	Config providers.Config
	// Providers by registry name.
	Providers map[string]providers.Provider
	// Sandbox describes where the simulated fleet runs ("" for real servers).
	Sandbox string
	// InProcess is the sandbox this session started (nil otherwise), for tests that
	// inject faults or look inside.
	InProcess *sandbox.Sandbox
	// State is Tether's state (Options.State, or the folder Open opened); the
	// providers got it in Config.State.
	State state.Store

	closers []func() error
}

// BaseDir is the folder that holds the fleet: the fleet folder itself, or the folder
// of a fleet file. Tether's own folders (.tether/state, .tether/sandbox) go there.
func BaseDir(fleetPath string) string {
	if fleetPath == "" {
		return "."
	}
	if fi, err := os.Stat(fleetPath); err == nil && !fi.IsDir() {
		return filepath.Dir(fleetPath)
	}
	return fleetPath
}

// StateDirEnv names the environment variable that places Tether's state (inventory,
// journals and the per-parent locks) wherever it is set, for every command and for
// the watch daemon: set to one folder in both, a CLI apply and the daemon see each
// other's locks and never write to one parent at once.
const StateDirEnv = "TETHER_STATE_DIR"

// StateEnv names the environment variable that selects Tether's state backend for
// every command and the daemon, as --state does: etcd://HOST:2379[,HOST…]/PREFIX for
// state shared by several machines, or a folder.
const StateEnv = "TETHER_STATE"

// StateDir is where the folder state backend keeps Tether's state for a fleet on
// the real servers: $TETHER_STATE_DIR, else .tether/state next to the fleet.
func StateDir(fleetPath string) string {
	return StateDirFor(fleetPath, false, "")
}

// StateDirFor is StateDir for a command's choice of servers. The sandbox's fleet is
// not the real one, so by default its state lives with it, in sandboxState (default
// .tether/sandbox next to the fleet)/tether-state: what Tether created there never
// counts as created on the real servers. $TETHER_STATE_DIR overrides both.
func StateDirFor(fleetPath string, sandbox bool, sandboxState string) string {
	if d := os.Getenv(StateDirEnv); d != "" {
		return d
	}
	if !sandbox {
		return filepath.Join(BaseDir(fleetPath), ".tether", "state")
	}
	if sandboxState == "" {
		sandboxState = filepath.Join(BaseDir(fleetPath), ".tether", "sandbox")
	}
	return filepath.Join(sandboxState, "tether-state")
}

// OpenState opens Tether's state where Open would, for commands that need the
// state but no server (tether dns enable of an rfc2136 member).
func OpenState(opts Options) (state.Store, error) {
	opts = opts.withDefaults()
	if opts.StateURL != "" {
		return state.OpenURL(context.Background(), opts.StateURL)
	}
	return state.Open(opts.StateDir)
}

// Open builds the session: endpoints, secrets, state, and every registered provider.
func Open(ctx context.Context, fleet *schema.Fleet, opts Options) (*Session, error) {
	opts = opts.withDefaults()
	// The fleet's policy bounds requests where the command line did not.
	if fleet != nil {
		b := fleet.Policy.Bounds()
		if opts.CallTimeout == 0 {
			opts.CallTimeout = b.CallTimeout
		}
		if opts.CallAttempts == 0 {
			opts.CallAttempts = b.CallAttempts
		}
	}
	s := &Session{State: opts.State}
	var eps map[string]providers.Endpoint
	var err error
	if opts.Sandbox {
		eps, err = s.sandboxEndpoints(ctx, fleet, opts)
	} else {
		eps, err = realEndpoints(fleet, opts)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	if s.State == nil {
		st, err := OpenState(opts)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.State = st
		s.closers = append(s.closers, st.Close)
	}
	s.Config = providers.Config{Endpoints: eps, Secrets: resolver(opts).Func(), Logger: opts.Logger, State: s.State, TaskTimeout: opts.TaskTimeout,
		CallTimeout: opts.CallTimeout, CallAttempts: opts.CallAttempts,
		Zones: providers.ZoneSourceFunc(s.zones)}
	s.Providers = map[string]providers.Provider{}
	for _, name := range providers.Names() {
		p, err := providers.New(name, s.Config)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("provider %s: %w", name, err)
		}
		s.Providers[name] = p
		// A provider holding connections (whm's clients keep idle ones per node)
		// releases them with the session: a daemon replaces its session when the
		// fleet's nodes change, and must not keep the old one's sockets.
		if c, ok := p.(io.Closer); ok {
			s.closers = append(s.closers, c.Close)
		}
	}
	return s, nil
}

// zones reads a parent's zones through the session's provider that serves them
// (whm manages parents), for providers that push them elsewhere (rfc2136). It is
// looked up at call time: the providers are built after the Config they share.
func (s *Session) zones(ctx context.Context, parent string) (map[string][]dns.RR, error) {
	for _, name := range providers.Names() {
		if src, ok := s.Providers[name].(providers.ZoneSource); ok {
			return src.Zones(ctx, parent)
		}
	}
	return nil, fmt.Errorf("parent %s: no provider reads a parent's zones", parent)
}

// Close stops what the session started (an in-process sandbox).
func (s *Session) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// realEndpoints resolves every node's WHM endpoint from the fleet. Every node with a
// problem is reported, not only the first; a secret's value never appears.
func realEndpoints(fleet *schema.Fleet, opts Options) (map[string]providers.Endpoint, error) {
	eps := map[string]providers.Endpoint{}
	var errs []error
	for _, name := range sortedNodes(fleet) {
		n := fleet.Nodes[name]
		ep, err := endpoint(name, n, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		eps[name] = ep
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return eps, nil
}

func endpoint(name string, n *schema.Node, opts Options) (providers.Endpoint, error) {
	if n.Host == "" {
		return providers.Endpoint{}, fmt.Errorf("node %s: no host to reach its WHM API (set host)", name)
	}
	port := n.Port
	if port == 0 {
		port = DefaultPort
	}
	ep := providers.Endpoint{URL: "https://" + net.JoinHostPort(n.Host, strconv.Itoa(port)), User: "root"}
	// address changes where to connect, not the name: the URL keeps host, and the
	// certificate must name it.
	ep.Address = n.Address
	if n.TLS != nil {
		ep.CAFile, ep.Insecure, ep.Fingerprint = n.TLS.CAFile, n.TLS.Insecure, n.TLS.Fingerprint
		if ep.Insecure {
			opts.Logger.Warn("TLS verification is off for this node (tls.insecure): its certificate is not checked", "node", name)
		}
	}
	c := n.Credentials
	if c == nil {
		return providers.Endpoint{}, fmt.Errorf("node %s: no credentials (set credentials.tokenEnv or credentials.tokenFile)", name)
	}
	if c.User != "" {
		ep.User = c.User
	}
	tok, err := token(name, c, opts)
	if err != nil {
		return providers.Endpoint{}, err
	}
	ep.Token = tok
	return ep, nil
}

func token(node string, c *schema.Credentials, opts Options) (string, error) {
	tok, err := resolver(opts).Resolve(providers.SecretRef{Env: c.TokenEnv, File: c.TokenFile,
		EnvField: "credentials.tokenEnv", FileField: "credentials.tokenFile", What: "token"})
	switch {
	case errors.Is(err, providers.ErrNoSecretRef):
		return "", fmt.Errorf("node %s: credentials name no token (set tokenEnv or tokenFile)", node)
	case err != nil:
		return "", fmt.Errorf("node %s: %w", node, err)
	}
	return tok, nil
}

// resolver is the one secret resolver (providers.SecretResolver) with the session's
// environment, disk, logger and --strict.
func resolver(opts Options) providers.SecretResolver {
	opts = opts.withFileDefaults()
	return providers.SecretResolver{Getenv: opts.Getenv, ReadFile: opts.ReadFile, Stat: opts.Stat, Strict: opts.StrictSecrets,
		Warn: func(msg string) { opts.Logger.Warn(msg) }}
}

func sortedNodes(f *schema.Fleet) []string {
	if f == nil {
		return nil
	}
	out := make([]string, 0, len(f.Nodes))
	for n, v := range f.Nodes {
		if v != nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

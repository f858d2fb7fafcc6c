package session

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

// sandboxEndpoints uses the `tether sandbox serve` process serving the state folder
// when there is one (a daemon, a CLI and a test can share it), and otherwise starts
// the sandbox in this process until Close, creating blank servers for the fleet's
// nodes that do not exist yet.
func (s *Session) sandboxEndpoints(ctx context.Context, fleet *schema.Fleet, opts Options) (map[string]providers.Endpoint, error) {
	dir := opts.SandboxState
	if eps, ok := sandbox.Serving(dir); ok {
		s.Sandbox = fmt.Sprintf("the sandbox served from %s", dir)
		opts.Logger.Info("using the running sandbox", "state", dir)
		return fromSandbox(eps), nil
	}
	// Two commands each running their own sandbox on one folder would overwrite each
	// other's servers; the second is told how to share instead.
	release, err := lockFolder(dir)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, release)
	so := opts.SandboxOptions
	so.StateDir, so.Fleet = dir, fleet
	if so.Logger == nil {
		so.Logger = opts.Logger
	}
	sb, err := sandbox.Start(ctx, so)
	if err != nil {
		return nil, fmt.Errorf("start the sandbox in %s: %w", dir, err)
	}
	s.InProcess = sb
	s.closers = append(s.closers, sb.Close)
	s.Sandbox = fmt.Sprintf("the in-process sandbox (state in %s)", dir)
	eps := sb.Endpoints()
	return fromSandbox(&eps), nil
}

func fromSandbox(eps *sandbox.Endpoints) map[string]providers.Endpoint {
	out := make(map[string]providers.Endpoint, len(eps.Nodes))
	for name, ep := range eps.Nodes {
		out[name] = ep.ProviderEndpoint()
	}
	return out
}

// lockFolder takes an flock on the sandbox folder for an in-process sandbox.
func lockFolder(dir string) (func() error, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox state %s: %w", dir, err)
	}
	// gofrs/flock: flock(2) on Unix, LockFileEx on Windows.
	f := flock.New(filepath.Join(dir, "inprocess.lock"), flock.SetPermissions(0o600))
	ok, err := f.TryLock()
	if err != nil {
		return nil, fmt.Errorf("sandbox state %s: lock: %w", dir, err)
	}
	if !ok {
		return nil, fmt.Errorf("another tether command is running the sandbox in %s; wait for it to end, or share one sandbox: tether sandbox serve --state %s", dir, dir)
	}
	return f.Unlock, nil // unlocking closes the file too
}

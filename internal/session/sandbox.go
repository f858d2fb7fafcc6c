package session

import (
	"context"
	"fmt"

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
		out[name] = providers.Endpoint{URL: ep.WHM, User: ep.User, Token: ep.Token, DNS: ep.DNS}
	}
	return out
}

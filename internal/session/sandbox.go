package session

import (
	"context"
	"errors"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

func (s *Session) sandboxEndpoints(ctx context.Context, fleet *schema.Fleet, opts Options) (map[string]providers.Endpoint, error) {
	return nil, errors.New("sandbox: not available yet")
}

package proxy

import (
	"context"
	"errors"
	"net"

	"github.com/heliosdb/heliosproxy/proxy/backend"
)

// dialBackend opens a connection to b as its TLS settings under the
// current configuration say (dial.TLS.Dial). Every failure is the
// backend's connection failing (a hard failure for its breaker); a TLS
// one is a *dial.Error that says why.
func (s *Server) dialBackend(ctx context.Context, b *backend.Backend) (net.Conn, error) {
	t, err := b.TLS.For(s.config(), b.Live())
	if err != nil {
		return nil, err
	}
	return t.Dial(ctx, b.Addr)
}

// errChannelBinding is a pass-through login refused because the client
// wanted channel binding (dial.WantsBinding): the client's doing, not the
// backend's health.
var errChannelBinding = errors.New("the client wants SCRAM channel binding, which cannot pass through the proxy to a backend reached over TLS")

// Package inproc runs HeliosProxy inside a bench command's own process, so
// that its events and profile are at hand.
package inproc

import (
	"context"
	"log/slog"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy"
	"github.com/heliosdb/heliosproxy/proxy/listen"
)

// Start serves cfg on cfg.Proxy.ListenAddress until stop is called; stop
// waits for the proxy to end and returns Run's error.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (srv *proxy.Server, addr string, stop func() error, err error) {
	srv, err = proxy.New(cfg, log)
	if err != nil {
		return nil, "", nil, err
	}
	ln, err := listen.Listen(cfg.Proxy.ListenAddress)
	if err != nil {
		return nil, "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	return srv, ln.Addr().String(), func() error { cancel(); return <-done }, nil
}

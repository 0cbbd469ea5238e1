package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Addr is the address to serve metrics on: the host of the proxy's client
// listen address ([proxy] listen_address) with [observability]
// metrics_port. The config has no metrics host of its own. Whoever may
// reach the proxy's clients port may scrape it: the default
// 127.0.0.1:6432 gives 127.0.0.1:9090 (loopback only, as in the demo), and
// a proxy on 0.0.0.0:5432 serves metrics on 0.0.0.0:9090 for a remote
// Prometheus. The metrics carry backend names and figures, never hosts,
// credentials or override reasons.
func Addr(proxyListenAddress string, port int) (string, error) {
	host, _, err := net.SplitHostPort(proxyListenAddress)
	if err != nil {
		return "", fmt.Errorf("proxy.listen_address: want host:port, got %q", proxyListenAddress)
	}
	if port < 0 || port > 65535 {
		return "", fmt.Errorf("observability.metrics_port: must be between 0 and 65535, got %d", port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// shutdownGrace is how long Serve lets a scrape in progress finish once
// ctx ends.
const shutdownGrace = 5 * time.Second

// Serve answers GET /metrics on ln until ctx ends, then closes ln, lets
// scrapes in progress finish (up to 5 s) and returns nil. It returns an
// error only when serving failed on its own.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving metrics on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving metrics on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Package faultnet puts a real TCP fault injector (Shopify's toxiproxy,
// run in the test process) between a client and a server, so that tests
// can cut one client's path to one server while the others keep theirs.
package faultnet

import (
	"fmt"
	"sync/atomic"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Link is one TCP path through toxiproxy: connect to Addr to reach the
// upstream.
type Link struct {
	Addr string // host:port to connect to; the same after Restore
	p    *toxiproxy.Proxy
}

var seq atomic.Uint64

// New starts a link on host (a loopback address, port chosen by the
// system) to upstream, and stops it when the test ends.
func New(t testing.TB, host, upstream string) *Link {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, fmt.Sprintf("link-%d", seq.Add(1)), host+":0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy link to %s: %v", upstream, err)
	}
	t.Cleanup(p.Stop)
	return &Link{Addr: p.Listen, p: p}
}

// Cut breaks the path: connections through it are closed and new ones
// refused, as when a network path fails.
func (l *Link) Cut() { l.p.Stop() }

// Restore opens the path again on the same address.
func (l *Link) Restore(t testing.TB) {
	t.Helper()
	if err := l.p.Start(); err != nil {
		t.Fatalf("toxiproxy link %s back up: %v", l.Addr, err)
	}
}

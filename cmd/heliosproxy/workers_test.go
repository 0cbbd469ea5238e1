package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy"
)

func TestWorkersSetsGOMAXPROCS(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	cfg.Proxy.Workers = 1
	cfg.Observability.MetricsEnabled = false
	cfg.API.ListenAddress = "127.0.0.1:0"
	b := config.DefaultBackend()
	b.Name, b.Host, b.Port = "nowhere", "127.0.0.1", freePort(t)
	cfg.Backends.Instances = []config.Backend{b}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := make(chan int, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(*proxy.Server, net.Addr) {
			started <- runtime.GOMAXPROCS(0)
		})
	}()
	select {
	case n := <-started:
		if n != 1 {
			t.Errorf("GOMAXPROCS = %d with proxy.workers = 1", n)
		}
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

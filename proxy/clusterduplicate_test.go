package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy/cluster"
	"github.com/heliosdb/heliosproxy/proxy/cluster/clustertest"
	"github.com/heliosdb/heliosproxy/status"
)

// TestClusterDuplicateNodeName: a third instance configured with B's
// node_name (a copied configuration) joins A and B. It must not become a
// member under B's name (it would overwrite B's circuit views and votes
// on A, and its shutdown would tell A that B left): its Run ends with an
// error naming the node_name and B's address, and A and B go on seeing
// each other, B at its own address.
func TestClusterDuplicateNodeName(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := pgtest.New(t, pgtest.Options{Name: "dup-a"})
	log := testLogger()
	ins := threeInstances()[:2]
	gossip := startInstances(t, log, ins, "local", func(_ int, cfg *config.Config) { *cfg = testConfig(t, pg) })
	a, b := ins[0], ins[1]

	cfg := testConfig(t, pg)
	cfg.Proxy.ListenAddress = "127.0.0.3:0"
	cfg.State.Dir = filepath.Join(t.TempDir(), "dup")
	cfg.Cluster = clusterConfig(b.name, clustertest.FreeAddr(t, "127.0.0.3"), gossip, "local")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	dup, err := New(cfg, log.With("instance", "duplicate"))
	if err != nil {
		t.Fatal(err)
	}
	dup.tuneCluster = clustertest.FastProbes
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- dup.Run(runCtx, ln) }()
	select {
	case err := <-done:
		if !errors.Is(err, cluster.ErrDuplicateName) || !strings.Contains(err.Error(), `"node-b"`) || !strings.Contains(err.Error(), gossip[1]) {
			t.Fatalf("the duplicate's Run = %v, want ErrDuplicateName naming node-b and B's address", err)
		}
		t.Logf("the duplicate's Run: %v", err)
	case <-time.After(20 * time.Second):
		stop()
		t.Fatalf("the instance with B's node_name still runs after 20s (Run = %v)", <-done)
	}

	for _, in := range ins {
		for _, m := range in.srv.Snapshot().Members {
			if m.Node == b.name && m.Address != gossip[1] {
				t.Errorf("%s sees %s at %s, want %s", in.name, m.Node, m.Address, gossip[1])
			}
		}
	}
	// A change on B still reaches A: B is a member under its name.
	if err := b.srv.SetOverride(ctx, status.Override{Backend: "pg-a", State: status.Closed, Reason: "after", Author: "after"}); err != nil {
		t.Fatal(err)
	}
	poll(t, 5*time.Second, "A has B's override, from node-b", func() (bool, string) {
		o := backendOf(a.srv.Snapshot(), "pg-a")
		alive := 0
		for _, m := range a.srv.Snapshot().Members {
			if m.State == status.MemberAlive {
				alive++
			}
		}
		return o.OverrideAuthor == "after" && alive == 2, fmt.Sprint(o.OverrideAuthor, " ", a.srv.Snapshot().Members)
	})
}

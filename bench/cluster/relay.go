package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/heliosdb/heliosproxy/bench/internal/inproc"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

var tpsRe = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// relay runs pgbench -S through the proxy (in-process, pass-through
// relay) with cluster mode off, and on as the third member of a cluster
// whose two other members hold 100 circuits each, alternating, rounds
// times each, and returns a Markdown row of the median TPS.
func relay(rounds int, d time.Duration, clients int) (string, error) {
	ctx := context.Background()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Name: "bench-cluster-relay"})
	if err != nil {
		return "", err
	}
	defer c.Destroy()
	pgbench := filepath.Join(c.BinDir, "pgbench")
	if _, err := os.Stat(pgbench); err != nil {
		if pgbench, err = exec.LookPath("pgbench"); err != nil {
			return "", fmt.Errorf("pgbench not found beside initdb nor on PATH")
		}
	}
	env := append(os.Environ(), "PGPASSWORD="+c.Password)
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, pgbench, append(args, "-h", "127.0.0.1", "-U", "postgres", "postgres")...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("pgbench %v: %v\n%s", args, err, out)
		}
		return string(out), nil
	}
	if _, err := run("-i", "-s", "1", "-q", "-p", strconv.Itoa(c.Port)); err != nil {
		return "", err
	}
	peers, err := start(2, 100)
	if err != nil {
		return "", err
	}
	defer peers.stop()

	off := config.Default()
	off.Proxy.ListenAddress = "127.0.0.1:0"
	off.HealthChecks.Password = c.Password
	b := config.DefaultBackend()
	b.Name, b.Host, b.Port = "pg", c.Host, c.Port
	off.Backends.Instances = []config.Backend{b}
	on := off
	gossip, err := freeAddr("127.0.0.3")
	if err != nil {
		return "", err
	}
	on.Cluster = config.Default().Cluster
	on.Cluster.Enabled, on.Cluster.NodeName, on.Cluster.BindAddress = true, "proxy", gossip
	on.Cluster.Join = []string{peers.members[0].node.Members(time.Now())[0].Address}
	on.Cluster.SecretKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	for _, cfg := range []config.Config{off, on} {
		if err := cfg.Validate(); err != nil {
			return "", err
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tps := map[bool][]float64{}
	for r := range rounds {
		for i := range 2 {
			cluster := (i+r)%2 == 1 // alternate which goes first
			cfg := off
			if cluster {
				cfg = on
			}
			srv, addr, stop, err := inproc.Start(ctx, cfg, log)
			if err != nil {
				return "", err
			}
			for deadline := time.Now().Add(30 * time.Second); cluster && len(srv.Snapshot().Members) < 3; {
				if time.Now().After(deadline) {
					stop()
					return "", fmt.Errorf("the proxy did not join the cluster")
				}
				time.Sleep(20 * time.Millisecond)
			}
			_, port, _ := net.SplitHostPort(addr)
			out, err := run("-n", "-S", "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(int(d.Seconds())), "-p", port)
			stop()
			if err != nil {
				return "", err
			}
			m := tpsRe.FindStringSubmatch(out)
			if m == nil {
				return "", fmt.Errorf("cannot read pgbench output:\n%s", out)
			}
			t, _ := strconv.ParseFloat(m[1], 64)
			tps[cluster] = append(tps[cluster], t)
			fmt.Fprintf(os.Stderr, "round %d cluster=%v: %.0f tps\n", r+1, cluster, t)
		}
	}
	mo, mn := median(tps[false]), median(tps[true])
	return fmt.Sprintf("| -S -c %d, %d × %v | %.0f | %.0f | %.3f |", clients, rounds, d, mo, mn, mn/mo), nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

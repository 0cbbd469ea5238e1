package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgcluster"
	"github.com/heliosdb/heliosproxy/proxy"
)

// demoPassword is the password of the demo clusters' superuser; demoToken
// is the admin token of the demo's API (the dashboard asks for it).
const (
	demoPassword = "helios-demo"
	demoToken    = "helios-demo-token"
)

var demoNames = []string{"primary-1", "replica-1", "replica-2"}

func runDemo(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:6432", "address of the proxy")
	metricsPort := fs.Int("metrics-port", 9090, "port of the Prometheus metrics (on the proxy's host; 0 picks a free one)")
	apiAddr := fs.String("api", "127.0.0.1:8080", "address of the REST API and dashboard")
	load := fs.Bool("load", false, "drive a small workload through the proxy")
	clients := fs.Int("clients", 8, "concurrent clients of --load")
	nodes := fs.Int("nodes", 1, "proxy instances sharing state as one cluster ([cluster]); instance i listens on the ports of --listen, --api and --metrics-port plus i-1")
	gossipPort := fs.Int("gossip-port", config.DefaultClusterPort, "gossip port of the first instance with --nodes (the others: the next ones; 0 picks free ones)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *nodes < 1 || *nodes > 9 {
		fmt.Fprintf(stderr, "heliosproxy demo: --nodes: want 1 to 9, got %d\n", *nodes)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := newLogger(stderr, levelVar("info"), "text")

	fmt.Fprintln(stdout, "starting a PostgreSQL primary and two streaming replicas …")
	clusters := make(map[string]*pgcluster.Cluster)
	defer func() {
		for name, c := range clusters {
			if err := c.Destroy(); err != nil {
				fmt.Fprintf(stderr, "remove cluster %s: %v\n", name, err)
			}
		}
	}()
	cfg := config.Default()
	cfg.Proxy.ListenAddress = *listen
	cfg.Observability.MetricsPort = *metricsPort
	cfg.API.ListenAddress = *apiAddr
	cfg.API.AdminToken = demoToken
	cfg.State.Dir = filepath.Join(os.TempDir(), "heliosproxy-demo-state")
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: 5 * time.Second}
	cfg.CircuitBreaker.RecoveryRampUpDuration = config.Duration{Duration: 20 * time.Second}
	cfg.HealthChecks.Password = demoPassword
	cfg.Backends.MaxReplicationLagMs = 2000
	tlsDir, err := os.MkdirTemp("", "heliosproxy-demo-tls")
	if err != nil {
		fmt.Fprintln(stderr, "heliosproxy demo:", err)
		return 1
	}
	defer os.RemoveAll(tlsDir)
	// A throwaway CA and a server certificate for 127.0.0.1 for the
	// primary (and, through pg_basebackup, its replicas): the proxy reaches
	// them with sslmode = "verify-ca", the setting managed PostgreSQL
	// services need, at no cost to the demo.
	pki, err := pgcluster.NewPKI(tlsDir, []string{"127.0.0.1", "localhost"}, "postgres")
	if err != nil {
		fmt.Fprintln(stderr, "heliosproxy demo: make a TLS certificate:", err)
		return 1
	}
	cfg.Backends.SSLMode, cfg.Backends.SSLRootCert = "verify-ca", pki.CAFile
	for i, name := range demoNames {
		o := pgcluster.Options{Name: name, Auth: "scram-sha-256", Password: demoPassword, TLSCertFile: pki.ServerCert, TLSKeyFile: pki.ServerKey}
		if i > 0 {
			// A streaming replica (pg_basebackup -R) of the primary, with
			// its roles, passwords and certificate.
			o = pgcluster.Options{Name: name, ReplicaOf: clusters[demoNames[0]]}
		}
		c, err := pgcluster.Start(ctx, o)
		if err != nil {
			fmt.Fprintln(stderr, "heliosproxy demo:", err)
			return 1
		}
		clusters[name] = c
		if i == 0 {
			if err := c.Exec(ctx, "CREATE TABLE helios_demo (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())"); err != nil {
				fmt.Fprintln(stderr, "heliosproxy demo:", err)
				return 1
			}
		}
		b := config.DefaultBackend()
		b.Name, b.Host, b.Port = name, c.Host, c.Port
		b.Priority = 100
		cfg.Backends.Instances = append(cfg.Backends.Instances, b)
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "heliosproxy demo:", err)
		return 1
	}

	cfgs, err := demoNodes(cfg, *nodes, *gossipPort)
	if err != nil {
		fmt.Fprintln(stderr, "heliosproxy demo:", err)
		return 1
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type started struct {
		srv  *proxy.Server
		addr string
	}
	errc := make(chan error, len(cfgs))
	var srv *proxy.Server
	var others []string
	for i, c := range cfgs {
		ready := make(chan started, 1)
		nlog := log
		if len(cfgs) > 1 {
			nlog = log.With("node", c.Cluster.NodeName)
		}
		wg.Go(func() {
			errc <- serve(ctx, c, nlog, func(s *proxy.Server, addr net.Addr) { ready <- started{s, addr.String()} })
		})
		select {
		case st := <-ready:
			if i == 0 {
				srv, *listen = st.srv, st.addr
				continue
			}
			others = append(others, fmt.Sprintf("  %s:  proxy %s, dashboard and REST API http://%s/, metrics port %d, gossip %s",
				c.Cluster.NodeName, st.addr, c.API.ListenAddress, c.Observability.MetricsPort, c.Cluster.BindAddress))
		case err := <-errc:
			fmt.Fprintln(stderr, "heliosproxy demo:", err)
			return 1
		}
	}
	dsn := fmt.Sprintf("postgres://postgres:%s@%s/postgres?sslmode=disable", demoPassword, *listen)
	host, port, _ := net.SplitHostPort(*listen)
	fmt.Fprintf(stdout, `
HeliosProxy is running on %s in front of %s
(a primary and two streaming replicas, reached over TLS with sslmode=verify-ca).

  connect:    PGPASSWORD=%s psql -h %s -p %s -U postgres
              (writes go to the primary; add options='-c default_transaction_read_only=on'
              for a read-only session, which a replica serves)
  where a session lands:  SELECT inet_server_port(), pg_is_in_recovery();
  circuits:   psql -h %s -p %s -d helios_proxy -c 'SELECT * FROM helios_proxy.circuit_breaker_status'
  dashboard:  http://%s/  (admin token: %s)
  REST API:   curl http://%s/circuit-breaker/status
  metrics:    curl http://%s:%d/metrics

%s
Type a command and Enter (the clusters are yours to break):
  status           circuit state of every backend
  kill NAME        crash a backend (SIGKILL): its circuit opens at once
  hang NAME        freeze a backend (SIGSTOP): its circuit opens on latency
  resume NAME      unfreeze a hung backend
  restart NAME     start a killed backend again: HALF_OPEN, then CLOSED
  promote NAME     promote a replica (pg_promote): writes follow it; kill the
                   primary first, or the old one is fenced as a second primary
  pause-replay NAME   pause a replica's replay: it lags, leaves read routing
  resume-replay NAME  resume it: back in read routing
  quit             stop everything (or Ctrl-C)

`, *listen, strings.Join(demoNames, ", "), demoPassword, host, port, host, port, *apiAddr, demoToken, *apiAddr, host, *metricsPort,
		demoClusterText(cfgs[0], others))

	wg.Go(func() { printEvents(ctx, srv, stdout) })
	if *load {
		wg.Go(func() { driveLoad(ctx, dsn, *clients, srv, stdout) })
	}
	lines := make(chan string)
	// A read from a terminal cannot be interrupted: this reader ends with
	// the process (or when stdin ends).
	go func() {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "\nstopping …")
			cancel()
			return 0
		case err := <-errc:
			if err != nil {
				fmt.Fprintln(stderr, "heliosproxy demo:", err)
				return 1
			}
			return 0
		case line := <-lines:
			if demoCommand(ctx, line, clusters, srv, stdout) {
				cancel()
				return 0
			}
		}
	}
}

// demoNodes returns the configuration of each of n demo instances: with n
// > 1, instance i (0-based) listens on the ports of cfg plus i (a port of
// 0 stays 0), keeps its own state dir, and gossips on 127.0.0.1 with the
// others (gossipPort plus i; 0: free ports), one [cluster] under a fresh
// key.
func demoNodes(cfg config.Config, n, gossipPort int) ([]config.Config, error) {
	if n == 1 {
		return []config.Config{cfg}, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	var gossip []string
	for i := range n {
		p := gossipPort + i
		if gossipPort == 0 {
			free, err := freeGossipPort()
			if err != nil {
				return nil, err
			}
			p = free
		}
		gossip = append(gossip, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	out := make([]config.Config, n)
	for i := range n {
		c := cfg
		c.Proxy.ListenAddress = shiftPort(cfg.Proxy.ListenAddress, i)
		c.API.ListenAddress = shiftPort(cfg.API.ListenAddress, i)
		if c.Observability.MetricsPort != 0 {
			c.Observability.MetricsPort += i
		}
		name := fmt.Sprintf("demo-%d", i+1)
		c.State.Dir = filepath.Join(cfg.State.Dir, name)
		join := slices.Delete(slices.Clone(gossip), i, i+1)
		c.Cluster = config.Default().Cluster
		c.Cluster.Enabled, c.Cluster.NodeName, c.Cluster.BindAddress, c.Cluster.Join = true, name, gossip[i], join
		c.Cluster.SecretKey = base64.StdEncoding.EncodeToString(key)
		c.Cluster.RejoinInterval = config.Duration{Duration: 2 * time.Second}
		if err := c.Validate(); err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// shiftPort adds i to the port of host:port, unless it is 0.
func shiftPort(addr string, i int) string {
	host, port, err := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	if err != nil || p == 0 {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(p+i))
}

// freeGossipPort returns a port of 127.0.0.1 free for TCP and UDP (gossip
// binds both).
func freeGossipPort() (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", ln.Addr().String())
		ln.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("no port of 127.0.0.1 free for TCP and UDP")
}

// demoClusterText describes the other instances of a --nodes demo; "" for
// one instance.
func demoClusterText(first config.Config, others []string) string {
	if len(others) == 0 {
		return ""
	}
	return fmt.Sprintf("A cluster of %d instances sharing circuit state, overrides and alerts (gossip %s);\n"+
		"the one above is %s, the others:\n%s\n  members:    psql ... -d helios_proxy -c 'SELECT * FROM helios_proxy.cluster_members'\n"+
		"              and each instance's circuits: helios_proxy.cluster_circuits, GET /cluster/status\n",
		len(others)+1, first.Cluster.BindAddress, first.Cluster.NodeName, strings.Join(others, "\n"))
}

const demoUsage = "commands: status | kill NAME | hang NAME | resume NAME | restart NAME | promote NAME | pause-replay NAME | resume-replay NAME | quit"

// demoCommand runs one control command; it reports whether to quit.
func demoCommand(ctx context.Context, line string, clusters map[string]*pgcluster.Cluster, srv *proxy.Server, w io.Writer) bool {
	f := strings.Fields(line)
	if len(f) == 0 {
		return false
	}
	if f[0] == "quit" || f[0] == "exit" {
		return true
	}
	if f[0] == "status" {
		printStatus(srv, w)
		return false
	}
	if len(f) != 2 {
		fmt.Fprintln(w, demoUsage)
		return false
	}
	c, ok := clusters[f[1]]
	if !ok {
		fmt.Fprintf(w, "no backend %q; backends: %s\n", f[1], strings.Join(demoNames, ", "))
		return false
	}
	var err error
	switch f[0] {
	case "kill":
		err = c.Kill()
	case "hang":
		err = c.Pause()
	case "resume":
		err = c.Resume()
	case "restart":
		err = c.Restart(ctx)
	case "promote":
		err = c.Promote(ctx)
	case "pause-replay":
		err = c.PauseReplay(ctx)
	case "resume-replay":
		err = c.ResumeReplay(ctx)
	default:
		fmt.Fprintln(w, demoUsage)
		return false
	}
	if err != nil {
		fmt.Fprintf(w, "%s %s: %v\n", f[0], f[1], err)
	} else {
		fmt.Fprintf(w, "%s %s: done at %s\n", f[0], f[1], time.Now().Format("15:04:05.000"))
	}
	return false
}

func printStatus(srv *proxy.Server, w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tSTATE\tROLE\tTIMELINE\tROUTING\tLAG MS\tLAG BYTES\tP95 MS\tERROR RATE\tSESSIONS\tREASON")
	for _, b := range srv.Snapshot().Backends {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%.0f\t%d\t%.1f\t%.3f\t%d\t%s\n", b.Name, b.CircuitState, b.Role, b.Timeline, b.Routing,
			b.ReplicationLagMs, b.ReplicationLagBytes, b.LatencyP95Ms, b.ErrorRate, b.ActiveConnections, cmp.Or(b.FencedReason, b.OpenReason))
	}
	_ = tw.Flush()
}

func printEvents(ctx context.Context, srv *proxy.Server, w io.Writer) {
	for ev := range srv.Subscribe(ctx) {
		if ev.Backend == "" {
			fmt.Fprintf(w, "%s  %s %v\n", ev.Time.Format("15:04:05.000"), ev.Type, ev.Backends)
			continue
		}
		fmt.Fprintf(w, "%s  %-17s %-10s %s → %s  %s %s\n", ev.Time.Format("15:04:05.000"), ev.Type, ev.Backend, ev.From, ev.To, ev.Reason, ev.Detail)
	}
}

// driveLoad runs clients that query through the proxy, reconnecting after
// errors, and prints the throughput every few seconds.
func driveLoad(ctx context.Context, dsn string, clients int, srv *proxy.Server, w io.Writer) {
	var queries, errs atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range clients {
		// Half the clients write (to the primary), half read in read-only
		// sessions (on the replicas).
		dsn, query := dsn, "INSERT INTO helios_demo DEFAULT VALUES RETURNING 1"
		if i%2 == 1 {
			dsn, query = dsn+"&options=-c%20default_transaction_read_only%3Don", "SELECT 1"
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				conn, err := pgx.Connect(ctx, dsn)
				if err != nil {
					errs.Add(1)
					pause(ctx, 200*time.Millisecond)
					continue
				}
				for ctx.Err() == nil {
					var n int
					if err := conn.QueryRow(ctx, query).Scan(&n); err != nil {
						errs.Add(1)
						break
					}
					queries.Add(1)
				}
				conn.Close(context.Background())
			}
		})
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			q, e := queries.Swap(0), errs.Swap(0)
			var shares []string
			for _, b := range srv.Snapshot().Backends {
				shares = append(shares, fmt.Sprintf("%s=%d", b.Name, b.ActiveConnections))
			}
			fmt.Fprintf(w, "load: %.0f queries/s, %d errors; sessions %s\n", float64(q)/now.Sub(last).Seconds(), e, strings.Join(shares, " "))
			last = now
		}
	}
}

// pause waits for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

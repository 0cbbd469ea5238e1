// Command heliosproxy is the HeliosProxy PostgreSQL proxy.
//
//	heliosproxy run --config FILE     the service (also: heliosproxy --config FILE)
//	heliosproxy demo [--load]         three local PostgreSQL clusters behind the proxy
//	heliosproxy check-config FILE     validate and print the effective config, secrets redacted
//	heliosproxy status [BACKEND]      circuit state of every backend, from the REST API
//	heliosproxy events                recent circuit events, from the REST API
//	heliosproxy override set|clear    force a backend's circuit OPEN or CLOSED, or clear that
//	heliosproxy version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heliosdb/heliosproxy/alerts"
	"github.com/heliosdb/heliosproxy/api"
	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/metrics"
	"github.com/heliosdb/heliosproxy/proxy"
	"github.com/heliosdb/heliosproxy/proxy/listen"
	"github.com/heliosdb/heliosproxy/web"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  heliosproxy run --config FILE     run the proxy (also: heliosproxy --config FILE)
  heliosproxy demo [--load]         start three local PostgreSQL clusters behind the proxy
  heliosproxy check-config FILE     validate FILE and print the effective config (secrets redacted)
  heliosproxy health [URL]          exit 0 if URL (default http://127.0.0.1:8080/health) answers 200
  heliosproxy status [--json] [BACKEND]
                                    circuit state of every backend (or one), from the REST API
  heliosproxy events [--json] [--limit N]
                                    recent circuit events and operator actions
  heliosproxy override set BACKEND --state OPEN|CLOSED --reason TEXT [--ttl 15m]
  heliosproxy override clear BACKEND
                                    force a circuit, or hand it back to the breaker
  heliosproxy version

The client commands (status, events, override) reach the API at --api URL
(default $HELIOS_API_URL, else http://127.0.0.1:8080); override reads the
admin token from $HELIOS_ADMIN_TOKEN, never from a flag.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	if cmd == "--config" || cmd == "-config" || cmd == "-c" {
		cmd, rest = "run", args
	}
	switch cmd {
	case "run":
		return runService(rest, stderr)
	case "demo":
		return runDemo(rest, stdin, stdout, stderr)
	case "check-config":
		return checkConfig(rest, stdout, stderr)
	case "health":
		return health(rest, stderr)
	case "status":
		return runStatus(rest, stdout, stderr)
	case "events":
		return runEvents(rest, stdout, stderr)
	case "override":
		return runOverride(rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "heliosproxy", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "heliosproxy: unknown command %q\n%s", cmd, usage)
	return 2
}

// health is the container HEALTHCHECK: the runtime image has no curl.
func health(args []string, stderr io.Writer) int {
	url := "http://127.0.0.1:8080/health"
	switch {
	case len(args) > 1 || len(args) == 1 && strings.HasPrefix(args[0], "-"):
		fmt.Fprint(stderr, "usage: heliosproxy health [URL]    (default "+url+"; exit 0 when it answers 200)\n")
		return 2
	case len(args) == 1:
		url = args[0]
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(stderr, "heliosproxy health:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "heliosproxy health:", resp.Status)
		return 1
	}
	return 0
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, "usage: heliosproxy check-config FILE\n")
		return 2
	}
	cfg, warnings, err := config.Load(args[0])
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	out, err := cfg.Redacted().Encode()
	if err != nil {
		fmt.Fprintln(stderr, "heliosproxy:", err)
		return 1
	}
	_, _ = stdout.Write(out)
	return 0
}

// printErrors prints each of a joined error's parts on its own line.
func printErrors(w io.Writer, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			printErrors(w, e)
		}
		return
	}
	fmt.Fprintln(w, err)
}

func runService(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (TOML)")
	fs.StringVar(path, "c", "", "shorthand for --config")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprint(stderr, "heliosproxy run: --config FILE is required\n")
		return 2
	}
	cfg, warnings, err := config.Load(*path)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	level := levelVar(cfg.Observability.LogLevel)
	log := newLogger(stderr, level, cfg.Observability.LogFormat)
	defer flushLog(log)
	for _, w := range warnings {
		log.Warn("config: "+w.Message, "key", w.Key, "at", fmt.Sprintf("%s:%d", w.File, w.Line))
	}
	logFileLimit(log, cfg)
	var wg sync.WaitGroup
	defer wg.Wait() // after stop: the SIGHUP goroutine ends with ctx
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ready := func(srv *proxy.Server, _ net.Addr) {
		srv.SetConfigSource(func() (config.Config, []config.Warning, error) { return config.Load(*path) })
		srv.OnReload(func(next config.Config) {
			// Logged at the more verbose of the two levels, so that it shows.
			l, was := logLevel(next.Observability.LogLevel), level.Level()
			if l < was {
				level.Set(l)
			}
			if l != was {
				log.Log(ctx, min(l, was), "log level changed", "from", was.String(), "to", l.String())
			}
			level.Set(l)
		})
		wg.Go(func() { reloadOnHangup(ctx, srv, hup, log) })
	}
	if err := serve(ctx, cfg, log, ready); err != nil {
		log.Error("heliosproxy stopped", "err", err)
		return 1
	}
	return 0
}

// reloadOnHangup reloads the configuration on every SIGHUP until ctx ends.
func reloadOnHangup(ctx context.Context, srv *proxy.Server, hup <-chan os.Signal, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			res, err := srv.Reload(ctx)
			if err != nil {
				log.Error("config reload failed; the running configuration stays", "err", err)
				continue
			}
			log.Info("config reloaded", "added", res.Added, "removed", res.Removed, "changed", res.Changed, "restart_required", res.RestartRequired)
		}
	}
}

// serve runs the proxy for cfg until ctx ends; ready, when not nil, is
// called with the server and its listen address once it accepts clients.
// When the proxy, the REST API or the metrics endpoint stops on an error,
// serve stops the others and returns that error: the process must not live
// on half-alive, answering /health while no client gets in.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(*proxy.Server, net.Addr)) error {
	if cfg.Proxy.Workers > 0 {
		runtime.GOMAXPROCS(cfg.Proxy.Workers)
	}
	srv, err := proxy.New(cfg, log)
	if err != nil {
		return err
	}
	srv.SetVersion(version)
	ln, err := listen.Listen(cfg.Proxy.ListenAddress)
	if err != nil {
		return fmt.Errorf("proxy.listen_address: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after the proxy stopped: pending alerts get their grace period
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil) // before wg.Wait: the API and metrics servers end with ctx
	var disp *alerts.Dispatcher
	if acfg := alertsConfig(cfg.Alerts); len(acfg.Channels()) > 0 {
		if cfg.State.Dir != "" {
			acfg.IncidentsFile = filepath.Join(cfg.State.Dir, "incidents.json")
		}
		if cfg.Cluster.Enabled {
			acfg.Peers = srv // each alert goes out from one member
		}
		disp = alerts.New(acfg, log, acfg.Channels()...)
		events := srv.Subscribe(ctx) // before Run, so that no event is missed
		wg.Go(func() { _ = disp.Run(ctx, events) })
	}
	if cfg.Observability.MetricsEnabled {
		if err := serveMetrics(ctx, cancel, &wg, srv, disp, cfg, log); err != nil {
			ln.Close()
			return err
		}
	}
	if cfg.API.ListenAddress != "" {
		if err := serveAPI(ctx, cancel, &wg, srv, disp, cfg, log); err != nil {
			ln.Close()
			return err
		}
	}
	if ready != nil {
		ready(srv, ln.Addr())
	}
	err = srv.Run(ctx, ln)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("proxy stopped: %w", err)
	}
	var stopped *serverStopped
	if errors.As(context.Cause(ctx), &stopped) {
		return stopped
	}
	return nil
}

// serverStopped is how the REST API or the metrics endpoint, stopping on
// an error, ends serve.
type serverStopped struct {
	what string
	err  error
}

func (e *serverStopped) Error() string { return e.what + " stopped: " + e.err.Error() }
func (e *serverStopped) Unwrap() error { return e.err }

// serveAPI starts the REST API and the dashboard on [api] listen_address;
// if it stops on an error, it calls fail.
func serveAPI(ctx context.Context, fail context.CancelCauseFunc, wg *sync.WaitGroup, srv *proxy.Server, disp *alerts.Dispatcher, cfg config.Config, log *slog.Logger) error {
	// The dashboard's history: sampled from the proxy until shutdown.
	hist := api.NewHistory(api.DefaultHistoryInterval, api.DefaultHistoryRetention)
	opts := api.Options{AdminToken: cfg.API.AdminToken, ListenAddress: cfg.API.ListenAddress,
		AllowedHosts: cfg.API.AllowedHosts, Web: web.Handler(), History: hist, Users: srv}
	if disp != nil {
		opts.AlertTest = func(ctx context.Context) any { return disp.Test(ctx) }
	}
	h, err := api.New(srv, log, opts)
	if err != nil {
		return err
	}
	// A reload rotates the admin token and changes the allowed hosts at
	// once (api.listen_address needs a restart; config.Changes says so).
	srv.OnReload(func(next config.Config) {
		if err := h.SetAccess(next.API.AdminToken, next.API.AllowedHosts); err != nil {
			// Validate refuses such a file before it gets here.
			log.Error("api access not changed by the reload", "err", err)
		}
	})
	aln, err := net.Listen("tcp", cfg.API.ListenAddress)
	if err != nil {
		return fmt.Errorf("api.listen_address: %w", err)
	}
	hs := &http.Server{
		Handler:           h,
		BaseContext:       func(net.Listener) context.Context { return ctx }, // event streams end at shutdown
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// No WriteTimeout: the api sets per-request write deadlines, none on /events.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	wg.Go(func() { hist.Run(ctx, srv.Snapshot) })
	wg.Go(func() {
		if err := hs.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fail(&serverStopped{"REST API", err})
		}
	})
	wg.Go(func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx) // event streams end with their request contexts
		hs.Close()
	})
	log.Info("serving the REST API and dashboard", "url", "http://"+aln.Addr().String()+"/")
	return nil
}

// serveMetrics starts the Prometheus endpoint on the host of the proxy's
// listen address and [observability] metrics_port; if it stops on an
// error, it calls fail.
func serveMetrics(ctx context.Context, fail context.CancelCauseFunc, wg *sync.WaitGroup, srv *proxy.Server, disp *alerts.Dispatcher, cfg config.Config, log *slog.Logger) error {
	addr, err := metrics.Addr(cfg.Proxy.ListenAddress, cfg.Observability.MetricsPort)
	if err != nil {
		return err
	}
	mln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("observability.metrics_port: %w", err)
	}
	opts := metrics.Options{Version: version, Logger: log}
	if disp != nil {
		opts.Alerts = func() metrics.AlertStats { return alertStats(disp.Stats()) }
	}
	m := metrics.New(srv, opts)
	srv.OnQuery(func(backend string, d time.Duration, o breaker.Outcome) { m.ObserveQuery(backend, d, o.String()) })
	srv.OnHealthCheck(func(backend string, d time.Duration, o breaker.Outcome) { m.ObserveHealthCheck(backend, d, o.String()) })
	events := srv.Subscribe(ctx) // before Run; closed when ctx ends
	wg.Go(func() {
		for ev := range events {
			m.ObserveEvent(ev)
		}
	})
	wg.Go(func() {
		if err := m.Serve(ctx, mln); err != nil {
			fail(&serverStopped{"metrics endpoint", err})
		}
	})
	log.Info("serving metrics", "url", "http://"+mln.Addr().String()+"/metrics")
	return nil
}

func alertStats(s alerts.Stats) metrics.AlertStats {
	a := metrics.AlertStats{EventsQueued: s.EventsQueued, EventsDropped: s.EventsDropped}
	for _, c := range s.Channels {
		a.Channels = append(a.Channels, metrics.ChannelStats{Channel: c.Channel, Sent: c.Sent, Failed: c.Failed, Dropped: c.Dropped, Retries: c.Retries, Queued: c.Queued, ByPeer: c.ByPeer})
	}
	return a
}

// alertsConfig maps the [alerts] table onto the dispatcher's settings.
func alertsConfig(a config.Alerts) alerts.Config {
	return alerts.Config{
		Cluster:                     a.ClusterName,
		DashboardURL:                a.DashboardURL,
		AlertOnCircuitOpen:          a.AlertOnCircuitOpen,
		AlertOnMultipleCircuitsOpen: a.AlertOnMultipleCircuitsOpen,
		AlertOnRecoveryFailure:      a.AlertOnRecoveryFailure,
		SlackWebhookURL:             a.SlackWebhookURL,
		PagerDutyRoutingKey:         a.PagerdutyIntegrationKey,
		PagerDutyEventsURL:          a.PagerdutyEventsURL,
		FlapWindow:                  explicitZero(a.FlapWindow.Duration),
		CascadeDelay:                explicitZero(a.CascadeDelay.Duration),
	}
}

// explicitZero maps a duration the file set to 0 ("no delay") onto the
// alerts package's spelling of that, a negative value (its zero means
// "default").
func explicitZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

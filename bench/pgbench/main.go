// Command pgbench compares pgbench through HeliosProxy with pgbench
// straight to PostgreSQL, rounds interleaved so that machine noise hits
// both alike, and prints the medians as a Markdown table.
//
//	go run ./bench/pgbench [-rounds 5] [-duration 10s]
//
// It starts a throwaway PostgreSQL cluster and the proxy in-process
// (session mode, one backend) and removes everything on exit.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heliosdb/heliosproxy/bench/internal/machine"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy"
)

type scenario struct {
	name string
	args []string
}

var scenarios = []scenario{
	{"-S -c 1", []string{"-S", "-c", "1", "-j", "1"}},
	{"-S -c 8", []string{"-S", "-c", "8", "-j", "2"}},
	{"-S -c 32", []string{"-S", "-c", "32", "-j", "2"}},
	{"tpcb -c 8", []string{"-c", "8", "-j", "2"}},
}

func main() {
	rounds := flag.Int("rounds", 5, "rounds per scenario and target")
	duration := flag.Duration("duration", 10*time.Second, "length of one pgbench run")
	only := flag.String("only", "", "run only the scenarios whose name contains this")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (the proxy is in-process) to this file")
	flag.Parse()
	if *only != "" {
		scenarios = slices.DeleteFunc(scenarios, func(sc scenario) bool { return !strings.Contains(sc.name, *only) })
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "pgbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *rounds, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "pgbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, rounds int, duration time.Duration) error {
	c, err := pgtest.Start(ctx, pgtest.Options{Name: "bench", Settings: map[string]string{"max_connections": "200"}})
	if err != nil {
		return err
	}
	defer c.Destroy()
	pgbench := filepath.Join(c.BinDir, "pgbench")
	if _, err := os.Stat(pgbench); err != nil {
		if pgbench, err = exec.LookPath("pgbench"); err != nil {
			return fmt.Errorf("pgbench not found: install postgresql-client")
		}
	}

	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	b := config.DefaultBackend()
	b.Name, b.Host, b.Port = "bench", c.Host, c.Port
	cfg.Backends.Instances = []config.Backend{b}
	cfg.HealthChecks.Password = c.Password
	srv, err := proxy.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Proxy.ListenAddress)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(pctx, ln) }()
	defer func() { cancel(); <-done }()

	_, proxyPort, _ := net.SplitHostPort(ln.Addr().String())
	targets := []struct{ name, port string }{{"direct", strconv.Itoa(c.Port)}, {"heliosproxy", proxyPort}}
	env := append(os.Environ(), "PGPASSWORD="+c.Password)
	base := []string{"-h", "127.0.0.1", "-U", "postgres", "postgres"}
	init := exec.CommandContext(ctx, pgbench, append([]string{"-i", "-s", "10", "-q", "-p", targets[0].port}, base...)...)
	init.Env = env
	if out, err := init.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %v\n%s", err, out)
	}

	tps := map[string][]float64{}
	lat := map[string][]float64{}
	for r := range rounds {
		for _, sc := range scenarios {
			for _, tg := range targets {
				args := append([]string{"-n", "-T", strconv.Itoa(int(duration.Seconds())), "-p", tg.port}, sc.args...)
				cmd := exec.CommandContext(ctx, pgbench, append(args, base...)...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if err != nil {
					return fmt.Errorf("pgbench %s via %s: %v\n%s", sc.name, tg.name, err, out)
				}
				t, l, err := parse(string(out))
				if err != nil {
					return err
				}
				key := sc.name + "|" + tg.name
				tps[key] = append(tps[key], t)
				lat[key] = append(lat[key], l)
				fmt.Fprintf(os.Stderr, "round %d %-10s %-12s %9.0f tps  %.3f ms\n", r+1, sc.name, tg.name, t, l)
			}
		}
	}
	host, _ := os.Hostname()
	fmt.Printf("\nMachine: %s, %d CPUs (%s), %s; %d rounds of %s per cell, medians.\n\n", host, runtime.NumCPU(), machine.CPUModel(), runtime.Version(), rounds, duration)
	fmt.Println("| pgbench | direct TPS | HeliosProxy TPS | proxy/direct | direct latency ms | proxy latency ms | added ms |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, sc := range scenarios {
		dt, pt := median(tps[sc.name+"|direct"]), median(tps[sc.name+"|heliosproxy"])
		dl, pl := median(lat[sc.name+"|direct"]), median(lat[sc.name+"|heliosproxy"])
		fmt.Printf("| `%s` | %.0f | %.0f | %.2f | %.3f | %.3f | %.3f |\n", sc.name, dt, pt, pt/dt, dl, pl, pl-dl)
	}
	return nil
}

var (
	tpsRe = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	latRe = regexp.MustCompile(`latency average = ([0-9.]+) ms`)
)

func parse(out string) (tps, latency float64, err error) {
	m1, m2 := tpsRe.FindStringSubmatch(out), latRe.FindStringSubmatch(out)
	if m1 == nil || m2 == nil {
		return 0, 0, fmt.Errorf("cannot read pgbench output:\n%s", out)
	}
	tps, _ = strconv.ParseFloat(m1[1], 64)
	latency, _ = strconv.ParseFloat(m2[1], 64)
	return tps, latency, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

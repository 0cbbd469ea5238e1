// Command shed shows what adaptive load shedding does when a backend dies
// under a load the survivors cannot carry, with shedding on and off, and
// prints the numbers as a Markdown table.
//
//	go run ./bench/shed [-rate 900] [-clients 96] [-after 8s]
//
// It starts three throwaway PostgreSQL clusters and the proxy in-process.
// Each backend's capacity is made explicit: a request holds one of -slots
// advisory locks for -work (pg_sleep), so a backend serves slots/work
// requests per second and queues the rest inside PostgreSQL, its latency
// growing, as a saturated server does. The load is open loop at -rate
// requests per second over -clients pass-through connections. After
// -before, the third cluster is SIGKILLed and the run measures -after:
// requests admitted and refused (53300), the admitted requests' p50 and
// p99 as the clients saw them, the survivors' P99 as their breakers saw
// it, and which survivors' circuits opened. The latency trip is -trip
// (latency_threshold_p95_ms) and max_ejection_percent is 100, so that an
// overloaded survivor can open. Everything is removed on exit.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

func main() {
	o := defaults()
	flag.IntVar(&o.Rate, "rate", o.Rate, "requests per second offered (open loop)")
	flag.IntVar(&o.Clients, "clients", o.Clients, "client connections")
	flag.IntVar(&o.Slots, "slots", o.Slots, "requests each backend runs at once")
	flag.DurationVar(&o.Work, "work", o.Work, "each request's time on its backend")
	flag.DurationVar(&o.TripP95, "trip", o.TripP95, "latency_threshold_p95_ms")
	flag.IntVar(&o.MinLimit, "min-limit", o.MinLimit, "backends.load_shedding_min_limit")
	flag.DurationVar(&o.Before, "before", o.Before, "load before the kill")
	flag.DurationVar(&o.After, "after", o.After, "load after the kill, measured")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "shed:", err)
		os.Exit(1)
	}
}

func bench(ctx context.Context, o options) error {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var results []result
	for _, shed := range []bool{true, false} {
		clusters, err := start(ctx)
		if err != nil {
			return err
		}
		o.Shedding = shed
		r, err := run(ctx, clusters, o, log)
		for _, c := range clusters {
			_ = c.Destroy()
		}
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	fmt.Printf("Three backends of %d slots × %s (%.0f req/s each), %d req/s offered over %d connections; third backend killed after %s, measured for %s; latency trip (p95) %s.\n\n",
		o.Slots, o.Work, float64(o.Slots)/o.Work.Seconds(), o.Rate, o.Clients, o.Before, o.After, o.TripP95)
	fmt.Println(table(results))
	return nil
}

func start(ctx context.Context) ([]*pgcluster.Cluster, error) {
	var cs []*pgcluster.Cluster
	for _, name := range []string{"shed-a", "shed-b", "shed-c"} {
		c, err := pgcluster.Start(ctx, pgcluster.Options{Name: name, Settings: map[string]string{"max_connections": "200"}})
		if err != nil {
			for _, c := range cs {
				_ = c.Destroy()
			}
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// table prints the results as Markdown.
func table(rs []result) string {
	var b strings.Builder
	b.WriteString("| shedding | offered | admitted | refused 53300 | 57P03 | other errors | dropped by client | admitted p50 | admitted p99 | survivors' breaker P99 (ms) | survivors opened | admission limits |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		opened := "none"
		if len(r.Opened) > 0 {
			opened = strings.Join(r.Opened, ", ")
		}
		on := "off"
		if r.Shedding {
			on = "on"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %s | %s | %v | %s | %v |\n", on, r.Offered, r.Admitted, r.Refused,
			r.Unavailable, r.Lost, r.Dropped, r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond), r.BackendP99, opened, r.AdmissionLast)
	}
	return b.String()
}

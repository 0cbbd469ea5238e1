package proxy

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// BenchmarkStatusQueryThroughProxy measures the issue's status query as a
// client sees it (pgx, extended protocol, a round trip through the proxy),
// with 3 and with 1000 configured backends (all in front of one cluster;
// health checks off), and reports p50/p99 besides the mean.
func BenchmarkStatusQueryThroughProxy(b *testing.B) {
	c := pgtest.New(b, pgtest.Options{Name: "sq-bench"})
	for _, n := range []int{3, 1000} {
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			cfg := testConfig(b, c)
			cfg.HealthChecks.Enabled = false
			cfg.Backends.Instances = nil
			for i := range n {
				be := config.DefaultBackend()
				be.Name, be.Host, be.Port = fmt.Sprintf("pg-%04d", i), c.Host, c.Port
				cfg.Backends.Instances = append(cfg.Backends.Instances, be)
			}
			p := startProxy(b, cfg)
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, p.dsn("postgres", ""))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close(ctx)
			var times []time.Duration
			for b.Loop() {
				start := time.Now()
				rows, err := conn.Query(ctx, issueQuery)
				if err != nil {
					b.Fatal(err)
				}
				k := 0
				for rows.Next() {
					k++
				}
				if rows.Err() != nil || k != n {
					b.Fatalf("%d rows, %v; want %d", k, rows.Err(), n)
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds()), "p99-µs")
		})
	}
}

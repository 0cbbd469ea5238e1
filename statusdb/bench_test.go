package statusdb

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// pgbenchQuery is the statement pgbench's TPC-B-like script sends most.
var pgbenchQuery = []byte("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;")

// longQuery is a 4 KiB statement of the kind ORMs produce, with many
// underscores and no mention of the schema.
var longQuery = func() []byte {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i := 0; b.Len() < 4000; i++ {
		fmt.Fprintf(&b, "t_user_account.column_name_%d AS user_account_column_name_%d, ", i, i)
	}
	b.WriteString("1 FROM t_user_account WHERE t_user_account.id = $1")
	return []byte(b.String())
}()

func BenchmarkMentions(b *testing.B) {
	for _, bc := range []struct {
		name string
		sql  []byte
	}{
		{"pgbench", pgbenchQuery},
		{"4KiB", longQuery},
		{"status", []byte("SELECT * FROM helios_proxy.circuit_breaker_status")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.sql)))
			for b.Loop() {
				Mentions(bc.sql)
			}
		})
	}
}

// manyBackends returns an Input with n backends in varied states.
func manyBackends(n int) Input {
	in := testInput()
	base := in.Snapshot.Backends
	in.Snapshot.Backends = make([]status.Backend, n)
	for i := range in.Snapshot.Backends {
		b := base[i%len(base)]
		b.Name = fmt.Sprintf("backend-%04d", (i*7919)%n) // not in name order
		// Latencies as the proxy makes them: milliseconds from durations.
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.LatencyP50Ms = ms(time.Duration(800+i*37) * time.Microsecond)
		b.LatencyP95Ms = ms(time.Duration(4000+i*1237)*time.Microsecond + time.Duration(i%1000))
		b.LatencyP99Ms = ms(time.Duration(9000+i*2311) * time.Microsecond)
		b.LastFailureTime = b.LastFailureTime.Add(time.Duration(i) * time.Millisecond)
		in.Snapshot.Backends[i] = b
	}
	return in
}

// BenchmarkStatusQuery measures what the proxy does per status query:
// Prepare (a cache hit), then AppendDataRows, in text (the simple
// protocol, as psql sends) and in binary where pgx asks for it (float8,
// int8, timestamptz; text otherwise).
func BenchmarkStatusQuery(b *testing.B) {
	queries := []struct{ name, sql string }{
		{"select*", "SELECT * FROM helios_proxy.circuit_breaker_status"},
		{"issue", "SELECT backend_name, circuit_state, latency_p95_ms, error_rate, connection_saturation, last_failure_time FROM helios_proxy.circuit_breaker_status ORDER BY backend_name"},
		{"filter", "SELECT backend_name, latency_p95_ms FROM helios_proxy.circuit_breaker_status WHERE circuit_state <> 'CLOSED' AND error_rate >= 0.1 ORDER BY error_rate DESC, backend_name LIMIT 10"},
		{"group", "SELECT circuit_state, count(*), avg(latency_p95_ms) FROM helios_proxy.circuit_breaker_status GROUP BY circuit_state ORDER BY 1"},
		{"join", "SELECT s.backend_name, s.circuit_state, b.host FROM helios_proxy.circuit_breaker_status s JOIN helios_proxy.backends b USING (backend_name) WHERE s.error_rate >= 0.1 ORDER BY 1"},
		{"window", "SELECT backend_name, latency_p95_ms, rank() OVER (PARTITION BY circuit_state ORDER BY latency_p95_ms DESC) FROM helios_proxy.circuit_breaker_status ORDER BY 1"},
		{"subquery", "SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE latency_p95_ms > (SELECT avg(latency_p95_ms) FROM helios_proxy.circuit_breaker_status) ORDER BY 1"},
	}
	for _, n := range []int{3, 1000} {
		in := manyBackends(n)
		for _, q := range queries {
			for _, binary := range []bool{false, true} {
				format := "text"
				if binary {
					format = "binary"
				}
				b.Run(fmt.Sprintf("%s/%d/%s", q.name, n, format), func(b *testing.B) {
					db := New()
					st, err := db.Prepare(q.sql)
					if err != nil {
						b.Fatal(err)
					}
					formats := make([]int16, len(st.Columns()))
					for c, col := range st.Columns() {
						if binary && col.OID != 25 {
							formats[c] = 1
						}
					}
					b.ReportAllocs()
					var buf []byte
					var times []time.Duration
					defer reportCPU(b)()
					for b.Loop() {
						start := time.Now()
						st, err := db.Prepare(q.sql)
						if err != nil {
							b.Fatal(err)
						}
						if buf, _, err = st.AppendDataRows(buf[:0], in, nil, nil, formats); err != nil {
							b.Fatal(err)
						}
						times = append(times, time.Since(start))
					}
					slices.Sort(times)
					b.ReportMetric(float64(times[len(times)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(times[len(times)*99/100].Microseconds()), "p99-µs")
				})
			}
		}
	}
}

// BenchmarkPrepare is the cost of a cache miss: parsing and planning.
func BenchmarkPrepare(b *testing.B) {
	sql := "SELECT backend_name, circuit_state, latency_p95_ms, error_rate, connection_saturation, last_failure_time FROM helios_proxy.circuit_breaker_status ORDER BY backend_name"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := prepare(sql, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU adds the metric cpu-ns/op: the process's user and system CPU
// time per operation. On a shared, loaded machine it is steadier than
// ns/op, which counts the time other processes hold the CPUs.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkSplit is what the simple protocol pays before the plan cache:
// splitting the Query string with the parser (no parse tree is built).
func BenchmarkSplit(b *testing.B) {
	db := New()
	sql := "SELECT backend_name, circuit_state, latency_p95_ms, error_rate, connection_saturation, last_failure_time FROM helios_proxy.circuit_breaker_status ORDER BY backend_name"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Split(sql); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGuard is the pre-scan every Split and every plan-cache miss
// pays before the C parser: the status query, and a 55 KB IN list
// of 5,000 names.
func BenchmarkGuard(b *testing.B) {
	var in strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&in, "'b-%06d', ", i)
	}
	for _, bc := range []struct{ name, sql string }{
		{"issue", "SELECT backend_name, circuit_state, latency_p95_ms, error_rate, connection_saturation, last_failure_time FROM helios_proxy.circuit_breaker_status ORDER BY backend_name"},
		{"filter", "SELECT backend_name, latency_p95_ms FROM helios_proxy.circuit_breaker_status WHERE circuit_state <> 'CLOSED' AND error_rate >= 0.1 ORDER BY error_rate DESC, backend_name LIMIT 10"},
		{"in-list-55KB", "SELECT * FROM helios_proxy.circuit_breaker_status WHERE backend_name IN (" + in.String() + "'pg-a')"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.sql)))
			defer reportCPU(b)()
			for b.Loop() {
				if err := guard(bc.sql); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

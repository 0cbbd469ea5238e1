package proxy

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	_ "github.com/lib/pq"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// paramQuery is the issue's parameterised status query.
const paramQuery = `SELECT circuit_state FROM helios_proxy.circuit_breaker_status WHERE backend_name = $1`

// issueQuery is the status query every client must get right.
const issueQuery = `SELECT backend_name, circuit_state, latency_p95_ms, error_rate, connection_saturation, last_failure_time FROM helios_proxy.circuit_breaker_status ORDER BY backend_name`

type statusRow struct {
	Name        string
	State       string
	P95         float64
	ErrorRate   float64
	Saturation  float64
	LastFailure *time.Time
}

func (r statusRow) String() string {
	lf := "NULL"
	if r.LastFailure != nil {
		lf = r.LastFailure.UTC().Format(time.RFC3339Nano)
	}
	return r.Name + "|" + r.State + "|" + strconv.FormatFloat(r.P95, 'g', -1, 64) + "|" + strconv.FormatFloat(r.ErrorRate, 'g', -1, 64) + "|" + strconv.FormatFloat(r.Saturation, 'g', -1, 64) + "|" + lf
}

// expectedRows is the Go API's view of the same columns, in the same order.
func expectedRows(p *runningProxy) []statusRow {
	var rows []statusRow
	for _, b := range p.Snapshot().Backends {
		r := statusRow{Name: b.Name, State: b.CircuitState.String(), P95: b.LatencyP95Ms, ErrorRate: b.ErrorRate, Saturation: b.ConnectionSaturation}
		if !b.LastFailureTime.IsZero() {
			t := b.LastFailureTime.Truncate(time.Microsecond)
			r.LastFailure = &t
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b statusRow) int { return strings.Compare(a.Name, b.Name) })
	return rows
}

func sameRows(t *testing.T, client string, got, want []statusRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d rows, want %d:\n got %v\nwant %v", client, len(got), len(want), got, want)
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		timesEqual := (g.LastFailure == nil) == (w.LastFailure == nil) && (g.LastFailure == nil || g.LastFailure.Equal(*w.LastFailure))
		if g.Name != w.Name || g.State != w.State || g.P95 != w.P95 || g.ErrorRate != w.ErrorRate || g.Saturation != w.Saturation || !timesEqual {
			t.Errorf("%s row %d:\n got %v\nwant %v", client, i, g, w)
		}
	}
}

// statusFixture is a proxy over three backends of which one has failed and
// is OPEN, frozen so that every client must see exactly the same state:
// no health checks, a window and open duration far longer than the test.
// A client's own connection and relayed queries are counted before it
// reads the status, so its rows equal the Go API's view taken after it.
func statusFixture(t *testing.T) (*runningProxy, []*pgtest.Cluster) {
	t.Helper()
	var cs []*pgtest.Cluster
	for _, n := range []string{"sq-a", "sq-b", "sq-c"} {
		cs = append(cs, pgtest.New(t, pgtest.Options{Name: n}))
	}
	cfg := testConfig(t, cs...)
	cfg.HealthChecks.Enabled = false
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: time.Hour}
	cfg.CircuitBreaker.MaxOpenDuration = config.Duration{Duration: time.Hour}
	cfg.CircuitBreaker.MetricsWindowSize = config.Duration{Duration: time.Hour}
	cfg.CircuitBreaker.MetricsBucketSize = config.Duration{Duration: time.Minute}
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Traffic on every backend, then pg-b dies: sessions routed to it fail
	// over until its circuit opens.
	if got := landings(t, ctx, p.dsn("postgres", ""), 9); len(got) != 3 {
		t.Fatalf("sessions landed on %v, want all three backends", got)
	}
	if err := cs[1].Kill(); err != nil {
		t.Fatal(err)
	}
	for p.Snapshot().Backends[1].CircuitState != status.Open {
		landings(t, ctx, p.dsn("postgres", ""), 1)
	}
	return p, cs
}

func TestStatusQueryClients(t *testing.T) {
	p, cs := statusFixture(t)
	c := cs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	statusClients(t, ctx, p, c, p.dsn("postgres", ""), true)

	// The killed backend: OPEN with a failure time and a reason, and the
	// transition in the event table.
	conn, err := pgx.Connect(ctx, p.dsn("postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var state, reason string
	var lastFailure pgtype.Timestamptz
	if err := conn.QueryRow(ctx, "SELECT circuit_state, open_reason, last_failure_time FROM helios_proxy.circuit_breaker_status WHERE backend_name = 'pg-b'").Scan(&state, &reason, &lastFailure); err != nil {
		t.Fatal(err)
	}
	if state != "OPEN" || reason == "" || !lastFailure.Valid {
		t.Errorf("killed pg-b: state %q, open_reason %q, last_failure_time valid %v; want OPEN, a reason, a time", state, reason, lastFailure.Valid)
	}

	// The session's own relayed queries count in the status it reads next.
	var port int
	if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port); err != nil {
		t.Fatal(err)
	}
	const totalQ = "SELECT requests_total FROM helios_proxy.circuit_breaker_status WHERE port = $1"
	var before, after int64
	if err := conn.QueryRow(ctx, totalQ, port).Scan(&before); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.QueryRow(ctx, totalQ, port).Scan(&after); err != nil || after != before+3 {
		t.Errorf("requests_total of the session's backend after 3 queries: %d, %v; want %d", after, err, before+3)
	}

	var events int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM helios_proxy.circuit_events WHERE backend_name = 'pg-b' AND event_type = 'CircuitOpened' AND to_state = 'OPEN'").Scan(&events); err != nil || events != 1 {
		t.Errorf("circuit_events rows for pg-b's opening = %d, %v; want 1", events, err)
	}
}

// TestStatusDatabaseWithEveryBackendStopped reads the status schema
// through the helios_proxy database, which needs no backend.
func TestStatusDatabaseWithEveryBackendStopped(t *testing.T) {
	p, cs := statusFixture(t)
	c := cs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for _, cl := range cs {
		if err := cl.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	// New sessions fail over until every circuit is open.
	for open := 0; open < 3; {
		_, _ = pgx.Connect(ctx, p.dsn("postgres", ""))
		open = 0
		for _, b := range p.Snapshot().Backends {
			if b.CircuitState == status.Open {
				open++
			}
		}
	}
	dsn := strings.Replace(p.dsn("postgres", ""), "dbname=postgres", "dbname=helios_proxy", 1)
	statusClients(t, ctx, p, c, dsn, false)
}

// statusClients runs the issue's queries with every client and compares
// the rows with the Go API's state; relayed says whether ordinary queries
// reach a backend on this connection.
func statusClients(t *testing.T, ctx context.Context, p *runningProxy, c *pgtest.Cluster, dsn string, relayed bool) {

	t.Run("pgx", func(t *testing.T) {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeDescribeExec} {
			cfg, err := pgx.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			cfg.DefaultQueryExecMode = mode
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			// Several executions: the named statement is prepared once and
			// executed many times, as JDBC does after a few runs.
			for range 5 {
				rows, err := conn.Query(ctx, issueQuery)
				if err != nil {
					t.Fatalf("%v: %v", mode, err)
				}
				got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (statusRow, error) {
					var s statusRow
					var lf pgtype.Timestamptz
					err := r.Scan(&s.Name, &s.State, &s.P95, &s.ErrorRate, &s.Saturation, &lf)
					if lf.Valid {
						s.LastFailure = &lf.Time
					}
					return s, err
				})
				if err != nil {
					t.Fatalf("%v: %v", mode, err)
				}
				sameRows(t, "pgx "+mode.String(), got, expectedRows(p))
			}
			var state string
			if err := conn.QueryRow(ctx, paramQuery, "pg-b").Scan(&state); err != nil || state != "OPEN" {
				t.Errorf("%v: %s with $1 = pg-b: %q, %v; want OPEN", mode, paramQuery, state, err)
			}
			if relayed {
				// The session keeps relaying ordinary queries.
				var port int
				if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port); err != nil || port == 0 {
					t.Errorf("%v: relayed query after status queries: %d, %v", mode, port, err)
				}
			}
			conn.Close(ctx)
		}
	})

	t.Run("lib/pq", func(t *testing.T) {
		db, err := sql.Open("postgres", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, issueQuery)
		if err != nil {
			t.Fatal(err)
		}
		var got []statusRow
		for rows.Next() {
			var s statusRow
			var lf sql.NullTime
			if err := rows.Scan(&s.Name, &s.State, &s.P95, &s.ErrorRate, &s.Saturation, &lf); err != nil {
				t.Fatal(err)
			}
			if lf.Valid {
				s.LastFailure = &lf.Time
			}
			got = append(got, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		sameRows(t, "lib/pq", got, expectedRows(p))
		var state string
		if err := db.QueryRowContext(ctx, paramQuery, "pg-b").Scan(&state); err != nil || state != "OPEN" {
			t.Errorf("lib/pq %s with $1 = pg-b: %q, %v; want OPEN", paramQuery, state, err)
		}
	})

	t.Run("psycopg2", func(t *testing.T) {
		script := `
import json, sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
cur.execute("SELECT circuit_state FROM helios_proxy.circuit_breaker_status WHERE backend_name = %s", ("pg-b",))
state = cur.fetchone()[0]
conn.commit()
# The rows are compared with the proxy's state after this script: no
# relayed BEGIN or COMMIT after them.
conn.autocommit = True
cur.execute(sys.argv[2])
out = [[r[0], r[1], r[2], r[3], r[4], r[5].isoformat() if r[5] is not None else None] for r in cur.fetchall()]
out.append([state])
print(json.dumps(out))
`
		out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script, dsn, issueQuery).CombinedOutput()
		if err != nil {
			t.Fatalf("psycopg2: %v\n%s", err, out)
		}
		var raw [][]any
		if err := json.Unmarshal(out, &raw); err != nil {
			t.Fatalf("psycopg2 output %q: %v", out, err)
		}
		if last := raw[len(raw)-1]; len(last) != 1 || last[0] != "OPEN" {
			t.Errorf("psycopg2 parameterised query = %v, want [OPEN]", last)
		}
		raw = raw[:len(raw)-1]
		var got []statusRow
		for _, r := range raw {
			s := statusRow{Name: r[0].(string), State: r[1].(string), P95: r[2].(float64), ErrorRate: r[3].(float64), Saturation: r[4].(float64)}
			if r[5] != nil {
				tm, err := time.Parse("2006-01-02T15:04:05.999999-07:00", r[5].(string))
				if err != nil {
					t.Fatal(err)
				}
				s.LastFailure = &tm
			}
			got = append(got, s)
		}
		sameRows(t, "psycopg2", got, expectedRows(p))
	})

	t.Run("psql", func(t *testing.T) {
		out, err := psql(t, c, dsn, "", issueQuery)
		if err != nil {
			t.Fatalf("psql -c: %v\n%s", err, out)
		}
		var got []statusRow
		for _, line := range strings.Split(out, "\n") {
			f := strings.Split(line, "|")
			if len(f) != 6 {
				t.Fatalf("psql line %q", line)
			}
			s := statusRow{Name: f[0], State: f[1]}
			s.P95, _ = strconv.ParseFloat(f[2], 64)
			s.ErrorRate, _ = strconv.ParseFloat(f[3], 64)
			s.Saturation, _ = strconv.ParseFloat(f[4], 64)
			if f[5] != "" {
				tm, err := time.Parse("2006-01-02 15:04:05.999999-07", f[5])
				if err != nil {
					t.Fatal(err)
				}
				s.LastFailure = &tm
			}
			got = append(got, s)
		}
		sameRows(t, "psql", got, expectedRows(p))

		// psql interpolates variables in its input, not in -c.
		cmd := exec.CommandContext(ctx, psqlPath(t, c), "-X", "-A", "-t", "-v", "name=pg-b", "-d", dsn)
		cmd.Stdin = strings.NewReader("SELECT circuit_state FROM helios_proxy.circuit_breaker_status WHERE backend_name = :'name';\n")
		b, err := cmd.CombinedOutput()
		if out = string(b); err != nil || strings.TrimSpace(out) != "OPEN" {
			t.Errorf("psql with a variable: %q, %v; want OPEN", out, err)
		}

		// Expanded display.
		out, err = psqlArgs(t, c, dsn, "-c", `\x`, "-c", issueQuery)
		if err != nil || !regexp.MustCompile(`(?m)^backend_name +\| pg-b$`).MatchString(out) || !regexp.MustCompile(`(?m)^circuit_state +\| OPEN$`).MatchString(out) {
			t.Errorf("psql \\x: %v\n%s", err, out)
		}
	})

	t.Run("psql watch", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, psqlPath(t, c), "-X", "-d", dsn)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cmd.Process.Kill()
		if _, err := stdin.Write([]byte("SELECT backend_name, circuit_state FROM helios_proxy.circuit_breaker_status ORDER BY 1 \\watch 1\n")); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		iterations := 0
		for iterations < 2 && sc.Scan() {
			if strings.Contains(sc.Text(), "(3 rows)") {
				iterations++
			}
		}
		if iterations < 2 {
			t.Errorf("\\watch produced %d result sets, want 2", iterations)
		}
	})
}

// psqlPath finds the psql binary next to the server binaries or on PATH.
func psqlPath(t *testing.T, c *pgtest.Cluster) string {
	t.Helper()
	if path, err := exec.LookPath(c.BinDir + "/psql"); err == nil {
		return path
	}
	path, err := exec.LookPath("psql")
	if err != nil {
		t.Fatalf("psql not found: %v", err)
	}
	return path
}

// psqlArgs runs psql with extra arguments and returns its output.
func psqlArgs(t *testing.T, c *pgtest.Cluster, dsn string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(psqlPath(t, c), append([]string{"-X", "-d", dsn}, args...)...).CombinedOutput()
	return string(out), err
}

func TestStatusQueryErrorsKeepSessionUsable(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "sq-err"})
	p := startProxy(t, testConfig(t, c))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		cfg, _ := pgx.ParseConfig(p.dsn("postgres", ""))
		cfg.DefaultQueryExecMode = mode
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ sql, code string }{
			{"SELECT nope FROM helios_proxy.circuit_breaker_status", "42703"},
			{"SELECT * FROM helios_proxy.no_such_table", "42P01"},
			{"SELECT * FROM helios_proxy.circuit_breaker_status WHER 1", "42601"},
			{"SELECT * FROM helios_proxy.circuit_breaker_status JOIN pg_stat_activity ON true", "0A000"},
		} {
			_, err := conn.Exec(ctx, tc.sql)
			if pgCode(err) != tc.code {
				t.Errorf("%v %q: err = %v, want SQLSTATE %s", mode, tc.sql, err, tc.code)
			}
			var n int64
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM helios_proxy.circuit_breaker_status").Scan(&n); err != nil || n != 1 {
				t.Errorf("%v: status query after %q: %d, %v", mode, tc.sql, n, err)
			}
			var one int
			if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Errorf("%v: relayed query after %q: %d, %v", mode, tc.sql, one, err)
			}
		}
		conn.Close(ctx)
	}
	// A wrong parameter count is the client's error; the session goes on.
	conn0, err := pgx.Connect(ctx, p.dsn("postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	res0 := conn0.PgConn().ExecParams(ctx, paramQuery, nil, nil, nil, nil).Read()
	if pgCode(res0.Err) != "08P01" {
		t.Errorf("status query with 0 of 1 parameters: err = %v, want SQLSTATE 08P01", res0.Err)
	}
	var n0 int64
	if err := conn0.QueryRow(ctx, "SELECT count(*) FROM helios_proxy.circuit_breaker_status").Scan(&n0); err != nil || n0 != 1 {
		t.Errorf("status query after a wrong parameter count: %d, %v", n0, err)
	}
	conn0.Close(ctx)

	// Several statements in one Query message.
	conn, err := pgx.Connect(ctx, p.dsn("postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	res, err := conn.PgConn().Exec(ctx, "SELECT backend_name FROM helios_proxy.circuit_breaker_status; SELECT count(*) FROM helios_proxy.circuit_events").ReadAll()
	if err != nil || len(res) != 2 || string(res[0].CommandTag.String()) != "SELECT 1" || len(res[1].Rows) != 1 {
		t.Errorf("two statements in one Query: %v, %+v", err, res)
	}
}

package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// probe is one statement of a script, run on the proxy's helios_proxy
// database and on PostgreSQL 15. shape compares columns, types, tags and
// row counts but not values (versions, pids, database names).
type probe struct {
	sql   string
	shape bool
}

// answer is everything a client sees of one statement.
type answer struct {
	cols    []string // name:oid/size
	rows    [][]string
	tag     string
	err     string // SQLSTATE: message
	notices []string
	params  map[string]string // reported settings after the statement
}

// reported are the ParameterStatus values compared; server_version and
// is_superuser differ by design (the proxy is not a superuser session).
var reported = []string{"application_name", "client_encoding", "DateStyle", "default_transaction_read_only", "in_hot_standby",
	"integer_datetimes", "IntervalStyle", "server_encoding", "session_authorization", "standard_conforming_strings", "TimeZone"}

// probeConn connects with pgconn, collecting notices.
func probeConn(t *testing.T, ctx context.Context, dsn string) (*pgconn.PgConn, *[]string) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	notices := new([]string)
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		*notices = append(*notices, n.Severity+" "+n.Code+": "+n.Message)
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, notices
}

// runProbe runs one statement in the simple or the extended protocol.
func runProbe(ctx context.Context, conn *pgconn.PgConn, notices *[]string, sql string, extended bool) answer {
	*notices = nil
	var rs []*pgconn.Result
	var err error
	if extended {
		r := conn.ExecParams(ctx, sql, nil, nil, nil, nil).Read()
		rs, err = []*pgconn.Result{r}, r.Err
	} else {
		rs, err = conn.Exec(ctx, sql).ReadAll()
	}
	var a answer
	for _, r := range rs {
		for _, f := range r.FieldDescriptions {
			a.cols = append(a.cols, fmt.Sprintf("%s:%d/%d", f.Name, f.DataTypeOID, f.DataTypeSize))
		}
		for _, row := range r.Rows {
			var vals []string
			for _, v := range row {
				if v == nil {
					vals = append(vals, "NULL")
				} else {
					vals = append(vals, string(v))
				}
			}
			a.rows = append(a.rows, vals)
		}
		a.tag += r.CommandTag.String() + ";"
	}
	if pe, ok := err.(*pgconn.PgError); ok {
		a.err = pe.Code + ": " + pe.Message
	} else if err != nil {
		a.err = err.Error()
	}
	a.notices = slices.Clone(*notices)
	a.params = map[string]string{}
	for _, p := range reported {
		a.params[p] = conn.ParameterStatus(p)
	}
	return a
}

// probeScripts are sequences of statements run on one session each.
var probeScripts = [][]probe{
	{ // drivers', pools' and tools' probes
		{sql: "SELECT 1"}, {sql: "SELECT 1 AS x"}, {sql: ";"}, {sql: ""},
		{sql: "SELECT version()", shape: true},
		{sql: "SHOW server_version", shape: true}, {sql: "SHOW server_version_num", shape: true},
		{sql: "SELECT current_setting('server_version_num')::int / 100", shape: true},
		{sql: "SHOW client_encoding"}, {sql: "SHOW standard_conforming_strings"}, {sql: "SHOW TimeZone"}, {sql: "show timezone"},
		{sql: "SHOW DateStyle"}, {sql: "SHOW transaction_isolation"}, {sql: "SHOW search_path"}, {sql: "SHOW integer_datetimes"},
		{sql: "SHOW IntervalStyle"}, {sql: "SHOW extra_float_digits"}, {sql: "SHOW max_identifier_length"},
		{sql: "SELECT current_schema()"}, {sql: "SELECT current_schema"},
		{sql: "SELECT current_database()", shape: true}, {sql: "SELECT current_user"}, {sql: "SELECT session_user"},
		{sql: "SELECT current_schema(), current_user"}, {sql: "SELECT current_schema(),session_user"},
		{sql: "SELECT pg_backend_pid()", shape: true},
		{sql: "SELECT current_setting('TimeZone'), current_setting('nope.nope', true)"},
		{sql: "SELECT current_setting('nope')"},
		{sql: "SELECT set_config('x', 'y', false)"},
		{sql: "SELECT set_config('x.y', 'z', false)"}, {sql: "SHOW x.y"}, {sql: "SELECT current_setting('x.y')"},
		{sql: "SHOW nope.nope"}, {sql: "SHOW nope"},
		{sql: "SELECT 1 WHERE false"}, {sql: "SELECT 2 + 2 AS four, 'a' || 'b', true, NULL"},
		{sql: "SELECT nope"}, {sql: "SELECT *"},
	},
	{ // JDBC's and DBeaver's connection setup
		{sql: "SET extra_float_digits = 3"}, {sql: "SHOW extra_float_digits"},
		{sql: "SET application_name = 'PostgreSQL JDBC Driver'"}, {sql: "SHOW application_name"},
		{sql: "SELECT current_setting('application_name')"},
		{sql: "SET application_name = 'DBeaver 24.1.0 - Main <postgres>'"},
		{sql: "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE"},
		{sql: "SHOW default_transaction_isolation"}, {sql: "SHOW transaction_isolation"},
		{sql: "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"},
		{sql: "SET TimeZone TO 'Europe/Paris'"}, {sql: "SHOW TimeZone"}, {sql: "SET timezone = 'utc'"}, {sql: "SHOW timezone"},
		{sql: "SET TIME ZONE 'america/new_york'"}, {sql: "SHOW TimeZone"}, {sql: "SET TimeZone = 'Nowhere/Else'"},
		{sql: "RESET TimeZone"}, {sql: "SHOW TimeZone"},
		{sql: "SET statement_timeout = 5000"}, {sql: "SHOW statement_timeout"}, {sql: "SET statement_timeout = '90s'"},
		{sql: "SHOW statement_timeout"}, {sql: "SET statement_timeout TO 1500"}, {sql: "SHOW statement_timeout"},
		{sql: "SET statement_timeout = 'soon'"}, {sql: "SET extra_float_digits = 4"},
		{sql: "SET search_path = public, \"$user\""}, {sql: "SHOW search_path"}, {sql: "SET search_path TO DEFAULT"}, {sql: "SHOW search_path"},
		{sql: "SET DateStyle = 'ISO'"}, {sql: "SHOW DateStyle"}, {sql: "SET datestyle TO 'iso, dmy'"}, {sql: "SHOW DateStyle"},
		{sql: "SET datestyle = mdy"}, {sql: "SHOW DateStyle"},
		{sql: "SET client_encoding = 'utf-8'"}, {sql: "SHOW client_encoding"},
		{sql: "SET client_encoding = '''utf-8'''"}, {sql: "SHOW client_encoding"}, {sql: "SET client_encoding = 'U.T.F 8'"},
		{sql: "SET standard_conforming_strings = on"}, {sql: "SET default_transaction_read_only = yes"},
		{sql: "SHOW default_transaction_read_only"}, {sql: "SET default_transaction_read_only = maybe"},
		{sql: "SET foo = 1"}, {sql: "SET foo.bar = 1"}, {sql: "SHOW foo.bar"}, {sql: "SET server_version = '1'"},
		{sql: "RESET ALL"}, {sql: "SHOW application_name"}, {sql: "SHOW foo.bar"}, {sql: "SHOW statement_timeout"},
		{sql: "SET application_name = 'x'"}, {sql: "DISCARD ALL"}, {sql: "SHOW application_name"},
		{sql: "SELECT 1::int2 AS a, 1.5::float4 AS b, 'c'::\"char\" AS c, 7::oid AS d, '2020-01-02'::date AS e, '2020-01-02 03:04'::timestamp AS f"},
		// asyncpg's pool resets a connection on release with this.
		{sql: "SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;"},
		{sql: "SELECT pg_advisory_unlock_all()"}, {sql: "UNLISTEN *"}, {sql: "UNLISTEN some_channel"},
		{sql: "SET x.a = 'b'; SHOW x.a"}, {sql: "SET x.b = 'c'; SELECT current_setting('nope')"}, {sql: "SHOW x.b"},
	},
	{ // transactions
		{sql: "BEGIN"}, {sql: "SET x.a = 'in'"}, {sql: "SHOW x.a"}, {sql: "ROLLBACK"}, {sql: "SHOW x.a"},
		{sql: "SET x.a = 'out'"}, {sql: "BEGIN"}, {sql: "SET LOCAL x.a = 'loc'"}, {sql: "SHOW x.a"}, {sql: "COMMIT"}, {sql: "SHOW x.a"},
		{sql: "SET LOCAL x.a = 'w'"}, {sql: "SHOW x.a"}, {sql: "COMMIT"}, {sql: "ROLLBACK"},
		{sql: "BEGIN"}, {sql: "BEGIN"}, {sql: "SET application_name = 'tx'"}, {sql: "COMMIT"}, {sql: "SHOW application_name"},
		{sql: "START TRANSACTION"}, {sql: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"}, {sql: "SHOW transaction_isolation"},
		{sql: "SELECT set_config('x.a', 'fn', true)"}, {sql: "SHOW x.a"}, {sql: "COMMIT"}, {sql: "SHOW x.a"},
		{sql: "SHOW transaction_isolation"}, {sql: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"},
		{sql: "BEGIN"}, {sql: "SELECT current_setting('nope')"}, {sql: "SELECT 1"}, {sql: "SHOW x.a"}, {sql: "ROLLBACK"}, {sql: "SELECT 1"},
		{sql: "BEGIN"}, {sql: "SELECT nope"}, {sql: "COMMIT"},
		{sql: "BEGIN"}, {sql: "DISCARD ALL"}, {sql: "ROLLBACK"}, {sql: "END"}, {sql: "ABORT"},
	},
}

// TestStatusDatabaseProbes runs what drivers, pools and tools send on
// their own against the helios_proxy database and against PostgreSQL 15,
// in the simple and the extended protocol, and compares what a client
// sees.
func TestStatusDatabaseProbes(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "probes", Settings: map[string]string{"timezone": "UTC"}})
	cfg := testConfig(t, c)
	cfg.HealthChecks.Enabled = false
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	statusDSN := strings.Replace(p.dsn("postgres", ""), "dbname=postgres", "dbname=helios_proxy", 1)
	pgDSN := fmt.Sprintf("host=%s port=%d user=postgres password=%s dbname=postgres sslmode=disable", c.Host, c.Port, c.Password)

	for _, extended := range []bool{false, true} {
		for i, script := range probeScripts {
			t.Run(fmt.Sprintf("extended=%v/script%d", extended, i), func(t *testing.T) {
				ours, ourNotices := probeConn(t, ctx, statusDSN)
				theirs, theirNotices := probeConn(t, ctx, pgDSN)
				for _, name := range reported {
					if got, want := ours.ParameterStatus(name), theirs.ParameterStatus(name); got != want {
						t.Errorf("startup ParameterStatus %s = %q, want %q", name, got, want)
					}
				}
				for _, pr := range script {
					if extended && strings.Contains(pr.sql, ";") && pr.sql != ";" {
						continue // several statements: the simple protocol only
					}
					got := runProbe(ctx, ours, ourNotices, pr.sql, extended)
					want := runProbe(ctx, theirs, theirNotices, pr.sql, extended)
					if pr.shape {
						if len(got.rows) != len(want.rows) {
							t.Errorf("%q: %d rows, want %d", pr.sql, len(got.rows), len(want.rows))
						}
						got.rows, want.rows = nil, nil
					}
					g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want)
					if g != w {
						t.Fatalf("%q:\n got %s\nwant %s", pr.sql, g, w)
					}
				}
			})
		}
	}

	t.Run("values", func(t *testing.T) {
		conn, notices := probeConn(t, ctx, statusDSN)
		a := runProbe(ctx, conn, notices, "SELECT version(), current_setting('server_version'), current_setting('server_version_num'), current_database(), pg_backend_pid()", false)
		if a.err != "" || len(a.rows) != 1 {
			t.Fatalf("%+v", a)
		}
		r := a.rows[0]
		if !regexp.MustCompile(`^PostgreSQL 15\.0 \(HeliosProxy\) on \S+, compiled by go\S+, 64-bit$`).MatchString(r[0]) {
			t.Errorf("version() = %q", r[0])
		}
		if r[1] != conn.ParameterStatus("server_version") || r[1] != "15.0 (HeliosProxy)" || r[2] != "150000" {
			t.Errorf("server_version %q (reported %q), server_version_num %q", r[1], conn.ParameterStatus("server_version"), r[2])
		}
		if r[3] != "helios_proxy" || r[4] != fmt.Sprint(conn.PID()) {
			t.Errorf("current_database() %q, pg_backend_pid() %q (BackendKeyData %d)", r[3], r[4], conn.PID())
		}
	})

	t.Run("asyncpg's startup client_encoding", func(t *testing.T) {
		// asyncpg sends client_encoding 'utf-8', quotes included, at
		// startup; PostgreSQL leaves out all but letters and digits.
		for _, dsn := range []string{statusDSN, pgDSN} {
			cfg, err := pgconn.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			cfg.RuntimeParams["client_encoding"] = "'utf-8'"
			conn, err := pgconn.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Fatalf("%s: %v", cfg.Database, err)
			}
			if got := conn.ParameterStatus("client_encoding"); got != "UTF8" {
				t.Errorf("%s: client_encoding %q, want UTF8", cfg.Database, got)
			}
			conn.Close(ctx)
		}
	})

	t.Run("SHOW ALL", func(t *testing.T) {
		ours, on := probeConn(t, ctx, statusDSN)
		theirs, tn := probeConn(t, ctx, pgDSN)
		got, want := runProbe(ctx, ours, on, "SHOW ALL", false), runProbe(ctx, theirs, tn, "SHOW ALL", false)
		if fmt.Sprint(got.cols, got.tag, got.err) != fmt.Sprint(want.cols, want.tag, want.err) {
			t.Errorf("SHOW ALL: columns %v tag %q err %q, want %v %q %q", got.cols, got.tag, got.err, want.cols, want.tag, want.err)
		}
		pg := map[string][]string{}
		for _, r := range want.rows {
			pg[r[0]] = r
		}
		for _, r := range got.rows {
			switch r[0] {
			case "server_version", "server_version_num", "is_superuser", "application_name":
				continue
			}
			if w := pg[r[0]]; !slices.Equal(r, w) {
				t.Errorf("SHOW ALL row %q, want %q", r, w)
			}
		}
	})

	t.Run("lib/pq", func(t *testing.T) {
		// Grafana's "Save & test": database/sql Ping, then SELECT 1.
		db, err := sql.Open("postgres", statusDSN)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.PingContext(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Errorf("SELECT 1 = %d, %v", one, err)
		}
		var version int
		if err := db.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int / 100").Scan(&version); err != nil || version != 1500 {
			t.Errorf("Grafana's version probe = %d, %v; want 1500", version, err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRowContext(ctx, "SELECT $1::int + 1", 41).Scan(&one); err != nil || one != 42 {
			t.Errorf("in a transaction: %d, %v", one, err)
		}
		if err := tx.Commit(); err != nil {
			t.Errorf("COMMIT: %v", err)
		}
	})

	t.Run("pgx extended transaction", func(t *testing.T) {
		// BEGIN, COMMIT and ROLLBACK as Parse/Bind/Execute, also in a
		// failed transaction block.
		conn, notices := probeConn(t, ctx, statusDSN)
		for _, step := range []struct{ sql, tag, err string }{
			{"BEGIN", "BEGIN", ""}, {"SELECT 1", "SELECT 1", ""}, {"COMMIT", "COMMIT", ""},
			{"BEGIN", "BEGIN", ""}, {"SELECT current_setting('nope')", "", "42704"}, {"SELECT 1", "", "25P02"}, {"ROLLBACK", "ROLLBACK", ""},
			{"BEGIN", "BEGIN", ""}, {"SELECT nope", "", "42703"}, {"COMMIT", "ROLLBACK", ""}, {"SELECT 1", "SELECT 1", ""},
		} {
			a := runProbe(ctx, conn, notices, step.sql, true)
			if a.tag != step.tag+";" && step.err == "" || step.err != "" && !strings.HasPrefix(a.err, step.err) {
				t.Errorf("%s: tag %q err %q; want %q %q", step.sql, a.tag, a.err, step.tag, step.err)
			}
		}
		if st := conn.TxStatus(); st != 'I' {
			t.Errorf("transaction status %c, want I", st)
		}
	})

	t.Run("psycopg2", func(t *testing.T) {
		script := `
import sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
cur.execute("SET datestyle TO 'ISO'")
cur.execute("SELECT 1, current_setting('DateStyle'), version()")
one, ds, ver = cur.fetchone()
conn.commit()
cur.execute("SHOW TimeZone")
tz = cur.fetchone()[0]
conn.rollback()
print(one, ds, tz, conn.server_version, ver.split(" on ")[0])
`
		out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script, statusDSN).CombinedOutput()
		if err != nil {
			t.Fatalf("psycopg2: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != "1 ISO, MDY UTC 150000 PostgreSQL 15.0 (HeliosProxy)" {
			t.Errorf("psycopg2: %q", got)
		}
	})

	t.Run("psql", func(t *testing.T) {
		out, err := psqlArgs(t, c, statusDSN, "-A", "-t", "-c", "SELECT 1", "-c", "SHOW server_version", "-c", "SELECT current_user")
		if err != nil || out != "1\n15.0 (HeliosProxy)\npostgres\n" {
			t.Errorf("psql: %q, %v", out, err)
		}
	})
}

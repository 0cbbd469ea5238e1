package statusdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// sqlType is the PostgreSQL type of our column type for CREATE TABLE.
// Text columns use COLLATE "C", the ordering statusdb implements.
func sqlType(t typ) string {
	switch t {
	case tText:
		return `text COLLATE "C"`
	case tBool:
		return "boolean"
	case tInt4:
		return "integer"
	case tInt8:
		return "bigint"
	case tFloat8:
		return "double precision"
	case tTimestamptz:
		return "timestamptz"
	}
	panic("no column of type " + t.String())
}

// loadSchema creates the helios_proxy schema as real tables in PostgreSQL
// and inserts the rows of in, read through the column accessors.
func loadSchema(t *testing.T, ctx context.Context, conn *pgx.Conn, in Input) {
	t.Helper()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA helios_proxy"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"circuit_breaker_status", "circuit_events", "backends", "cluster_members", "query_breakers", "cluster_circuits", "user_breakers"} {
		tbl := tables[name]
		var defs, placeholders []string
		for i, c := range tbl.cols {
			defs = append(defs, c.name+" "+sqlType(c.typ))
			placeholders = append(placeholders, fmt.Sprintf("$%d", i+1))
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE helios_proxy."+name+" ("+strings.Join(defs, ", ")+")"); err != nil {
			t.Fatal(err)
		}
		insert := "INSERT INTO helios_proxy." + name + " VALUES (" + strings.Join(placeholders, ", ") + ")"
		for i := range tbl.rows(&in) {
			args := make([]any, len(tbl.cols))
			for j, c := range tbl.cols {
				args[j] = box(c.typ, c.get(&evalCtx{in: &in, row: i}), time.UTC)
			}
			if _, err := conn.Exec(ctx, insert, args...); err != nil {
				t.Fatalf("%s: %v", insert, err)
			}
		}
	}
}

// crossCheck is a statement run both by statusdb and by PostgreSQL over
// the same data.
type crossCheck struct {
	sql     string
	tz      string   // session TimeZone; "" means UTC
	params  [][]byte // as in Bind
	formats []int16
	// declared are the parameter types declared in Parse (PrepareTyped).
	declared []uint32
	// describeOnly compares the statement description (parameter and
	// column types) without executing it.
	describeOnly bool
	// standalone prepares it as the helios_proxy database does
	// (PrepareStandalone): statements that name no helios_proxy table.
	standalone bool
	// searchPath, when set, is the session's search_path on both sides
	// (PrepareOnPath; the Session's setting for standalone).
	searchPath string
}

// bin encodes v in PostgreSQL's binary format for the type oid.
func bin(oid uint32, v any) []byte {
	m := pgtype.NewMap()
	if oid == pgtype.NumericOID {
		var n pgtype.Numeric
		if err := n.Scan(v); err != nil {
			panic(err)
		}
		v = n
	}
	b, err := m.Encode(oid, pgtype.BinaryFormatCode, v, nil)
	if err != nil {
		panic(err)
	}
	return b
}

// textParams is Bind's parameter values in text form.
func textParams(s ...string) [][]byte {
	var out [][]byte
	for _, v := range s {
		out = append(out, []byte(v))
	}
	return out
}

func crossChecks() []crossCheck {
	text := textParams
	f8 := func(f float64) []byte {
		b, _, _ := (&Result{Columns: []Column{{OID: 701}}, Rows: [][]any{{f}}}).AppendValue(nil, 0, 0, 1)
		return b
	}
	const cbs = " FROM helios_proxy.circuit_breaker_status"
	const ev = " FROM helios_proxy.circuit_events"
	return []crossCheck{
		{sql: "SELECT *" + cbs},
		{sql: "SELECT *" + ev},
		{sql: "SELECT * FROM helios_proxy.backends"},
		{sql: "SELECT * FROM helios_proxy.query_breakers"},
		{sql: "SELECT pattern, circuit_state, retry_at, rejected_total FROM helios_proxy.query_breakers WHERE circuit_state <> 'CLOSED' ORDER BY state_since"},
		{sql: "SELECT circuit_state, count(*), sum(executions_total), max(latency_p95_ms) FROM helios_proxy.query_breakers GROUP BY 1 ORDER BY 1"},
		{sql: "SELECT coalesce(query, '(unseen)'), fingerprint IS NULL FROM helios_proxy.query_breakers WHERE error_rate > $1 OR failures_total > 1 ORDER BY 1", params: text("0.01")},
		{sql: "SELECT backend_name, circuit_state, latency_p95_ms, error_rate, connection_saturation, last_failure_time" + cbs + " ORDER BY backend_name"},
		{sql: "SELECT circuit_state" + cbs + " WHERE backend_name = $1", params: text("replica-1")},
		{sql: "SELECT backend_name" + cbs + " WHERE error_rate > $1 ORDER BY 1", params: [][]byte{f8(0.1)}, formats: []int16{1}},
		{sql: "SELECT backend_name" + cbs + " WHERE priority = $1 AND error_rate >= $2 ORDER BY 1 LIMIT $3", params: text("2", "0", "1")},
		{sql: "SELECT $1::int + port, $2 || backend_name, $3" + cbs, params: text("7", "name: ", "free")},
		{sql: "SELECT backend_name, port / 2, port % 3, -port, port - 6000, priority * 7, requests_total * 3, active_connections / 4" + cbs},
		{sql: "SELECT backend_name, latency_p95_ms / 3, latency_p50_ms * 2 + 1, error_rate * 100, latency_p99_ms * latency_p99_ms, -latency_p95_ms, replication_lag_ms / 10" + cbs},
		{sql: "SELECT * FROM helios_proxy.circuit_events ORDER BY id DESC LIMIT 3 OFFSET 1"},
		{sql: "SELECT backend_name" + cbs + " WHERE backend_name LIKE 'replica%' OR backend_name ILIKE 'STAND%' ORDER BY 1"},
		{sql: "SELECT backend_name, backend_name NOT LIKE '%1', backend_name LIKE 'r_plica-_', host ILIKE '%INTERNAL', backend_name LIKE 'replica\\-%'" + cbs},
		{sql: "SELECT backend_name" + cbs + " WHERE circuit_state IN ('OPEN', 'HALF_OPEN') ORDER BY 1"},
		{sql: "SELECT backend_name, priority NOT IN (1, NULL), priority IN (2, NULL), port NOT IN (5432, 5433)" + cbs},
		{sql: "SELECT backend_name, last_failure_time IS NULL, open_reason IS NOT NULL, override IS NULL" + cbs + " ORDER BY last_failure_time NULLS FIRST"},
		{sql: "SELECT backend_name" + cbs + " WHERE latency_p95_ms BETWEEN 10 AND 3000 ORDER BY 1"},
		{sql: "SELECT backend_name, latency_p95_ms NOT BETWEEN 10 AND 3000, latency_p95_ms BETWEEN SYMMETRIC 3000 AND 10" + cbs},
		{sql: "SELECT backend_name || ':' || port, host || NULL, 'x' || read_only, error_rate || '', last_failure_time || ''" + cbs},
		{sql: "SELECT backend_name, priority, weight" + cbs + " ORDER BY priority DESC, weight, backend_name"},
		{sql: "SELECT backend_name, last_failure_time" + cbs + " ORDER BY last_failure_time DESC NULLS LAST"},
		{sql: "SELECT backend_name AS b, port AS p" + cbs + " ORDER BY p DESC"},
		{sql: "SELECT count(*), count(last_failure_time), count(DISTINCT priority), sum(port), avg(latency_p95_ms), min(backend_name), max(state_since), min(error_rate), max(latency_p99_ms)" + cbs},
		{sql: "SELECT priority, count(*), sum(weight), avg(weight), min(host), max(last_failure_time)" + cbs + " GROUP BY priority HAVING count(*) >= 1 ORDER BY priority"},
		{sql: "SELECT circuit_state AS s, count(*) AS n, count(*) FILTER (WHERE read_only)" + cbs + " GROUP BY s ORDER BY n DESC, s"},
		{sql: "SELECT read_only, count(*)" + cbs + " GROUP BY 1 HAVING max(priority) > 2 OR min(port) = 5432 ORDER BY 1"},
		{sql: "SELECT count(*), max(port), sum(latency_p50_ms), avg(error_rate)" + cbs + " WHERE false"},
		{sql: "SELECT priority, count(*)" + cbs + " WHERE false GROUP BY priority"},
		{sql: "SELECT upper(circuit_state), count(*)" + cbs + " GROUP BY upper(circuit_state) ORDER BY 1"},
		{sql: "SELECT port::text, latency_p95_ms::int, latency_p95_ms::bigint, '42'::int8 + port, CAST(port AS float8), read_only::text, read_only::int, error_rate::text, last_failure_time::text, (latency_p50_ms * 2)::integer" + cbs},
		// Found by FuzzQuery: abs(unknown) is abs(float8), so '' is a bad float8 literal.
		{sql: "SELECT abs('')" + cbs},
		{sql: "SELECT abs('2.5'), abs('-1')" + cbs},
		{sql: "SELECT lower(backend_name), upper(host), length(host), coalesce(open_reason, 'none'), coalesce(override, open_reason, '-'), abs(-port), round(latency_p95_ms), ceil(latency_p50_ms), floor(latency_p50_ms), greatest(latency_p50_ms, 10), least(port, 5433), nullif(circuit_state, 'CLOSED')" + cbs},
		{sql: "SELECT backend_name, CASE WHEN circuit_state = 'OPEN' THEN 'down' WHEN error_rate > 0.1 THEN 'degraded' ELSE 'ok' END AS health, CASE circuit_state WHEN 'OPEN' THEN 1 WHEN 'HALF_OPEN' THEN 2 END, CASE WHEN read_only THEN port ELSE 1.5::float8 END" + cbs},
		{sql: "SELECT backend_name, last_failure_time, state_since" + cbs, tz: "Europe/Paris"},
		{sql: "SELECT backend_name, last_failure_time, state_since, state_since::text" + cbs, tz: "Asia/Kolkata"},
		{sql: "SELECT event_time" + ev, tz: "America/St_Johns"},
		{sql: "SELECT backend_name" + cbs + " WHERE last_failure_time > '2026-11-22 09:59:35+00' ORDER BY 1"},
		{sql: "SELECT backend_name" + cbs + " WHERE last_failure_time > '2026-11-22 10:59:35' ORDER BY 1", tz: "Europe/Paris"},
		{sql: "SELECT backend_name" + cbs + " WHERE last_failure_time < $1 ORDER BY 1", params: text("2026-11-22 09:59:35.5+00")},
		{sql: "SELECT id, event_time - '2026-11-22 09:00:00+00'::timestamptz, event_time + interval '1 day 2 hours', event_time - interval '1 month'" + ev},
		{sql: "SELECT backend_name, state_since - last_failure_time, last_failure_time - state_since, interval '90 minutes', '-1 day +2 hours'::interval, interval '1 year 2 months 3 days 04:05:06.5'" + cbs},
		{sql: "SELECT backend_name" + cbs + " WHERE state_since - last_failure_time > interval '1 hour' OR last_failure_time IS NULL ORDER BY 1"},
		{sql: "SELECT DISTINCT priority" + cbs + " ORDER BY 1"},
		{sql: "SELECT DISTINCT circuit_state, read_only" + cbs + " ORDER BY circuit_state DESC, read_only"},
		{sql: "SELECT backend_name" + cbs + " WHERE read_only ORDER BY 1"},
		{sql: "SELECT backend_name, read_only IS TRUE, (error_rate > 0.2) IS NOT FALSE, read_only = 't', NOT read_only AND priority < 3" + cbs},
		{sql: "SELECT backend_name, open_reason = 'hard_failure', NOT (open_reason = 'x'), (open_reason = 'x') OR true, (open_reason = 'x') AND false, (open_reason = 'x') OR false" + cbs},
		{sql: "SELECT backend_name, override IS DISTINCT FROM 'OPEN', override IS NOT DISTINCT FROM NULL" + cbs},
		{sql: "SELECT s.backend_name" + cbs + " s WHERE s.port > 5432 ORDER BY s.backend_name"},
		{sql: "SELECT helios_proxy.circuit_breaker_status.backend_name" + cbs + " ORDER BY 1"},
		{sql: "SELECT 'abc', NULL, 1, 3000000000, true, -7, 2.5::float8" + cbs + " LIMIT 1"},
		{sql: "SELECT backend_name" + cbs + " ORDER BY length(backend_name) DESC, backend_name LIMIT ALL"},
		{sql: "SELECT latency_p99_ms, latency_p99_ms * 10, 'NaN'::float8 > latency_p50_ms, 'Infinity'::float8 - latency_p50_ms, 1e-300::float8 * 1e-10::float8 = 0" + cbs + " FETCH FIRST 2 ROWS ONLY"},
		{sql: "SELECT id, backend_name, backends, attempt, recovery_duration_ms, in_previous_state_ms" + ev + " WHERE backend_name IS NULL OR attempt > 1 OR recovery_duration_ms > 0"},
		{sql: "SELECT event_type, count(*), max(event_time)" + ev + " GROUP BY event_type ORDER BY 2 DESC, 1"},
		{sql: "SELECT backend_name FROM helios_proxy.backends WHERE port IN (5432, 6432.0) ORDER BY backend_name COLLATE \"C\""},
		{sql: "SELECT 1" + cbs + " OFFSET 3"},
		{sql: "SELECT backend_name, round(error_rate::numeric, 2)::float8, (latency_p95_ms::numeric(10,1))::float8" + cbs},
		{sql: "SELECT interval '1.5 days', '30 min'::interval, interval '2 weeks', '-00:00:10'::interval, '10'::interval, interval '3 days ago', interval '1 mon -2 days', interval '1 year -1 month', '36 hours'::interval, interval '0.5 month'" + " FROM helios_proxy.backends LIMIT 1"},
		{sql: "SELECT '2026-11-22T10:00:00Z'::timestamptz, '2026-11-22 10:00:00.5+05:30'::timestamptz, '2026-11-22'::timestamptz, 'epoch'::timestamptz, '2026-11-22 10:00:00.1234567+00'::timestamptz, ' 2026-11-22 1:02 '::timestamptz FROM helios_proxy.backends LIMIT 1", tz: "Europe/Paris"},
		{sql: "SELECT '2026-03-28 12:00:00+01'::timestamptz + interval '1 day', '2026-03-28 12:00:00+01'::timestamptz + interval '24 hours', '2026-01-31 10:00:00+00'::timestamptz + interval '1 month', '2026-03-31 10:00:00+00'::timestamptz - interval '1 month 1 day', '2026-10-25 12:00:00+01'::timestamptz - '2026-10-24 12:00:00+02'::timestamptz FROM helios_proxy.backends LIMIT 1", tz: "Europe/Paris"},
		{sql: "SELECT 123456789012345.6::float8, 1234567890123456::float8, 0.0001::float8, -0.00001234::float8, '-0'::float8, 1e22::float8, 5e-324::float8, 1.7976931348623157e308::float8, 100::float8 / 3 FROM helios_proxy.backends LIMIT 1"},
		{sql: "SELECT 'yes'::boolean, 'on'::boolean, 'of'::boolean, 'F'::boolean, ' 42 '::int, '+7'::int, ' 1.5 '::float8, 'inf'::float8, '-Infinity'::float8, 'nan'::float8, '9223372036854775807'::int8 FROM helios_proxy.backends LIMIT 1"},
		{sql: "SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE port = $1 AND read_only = $2 AND last_failure_time < $3 AND requests_total > $4 AND state_since > $5 LIMIT $6",
			params: [][]byte{{0, 0, 0x15, 0x35}, {1}, {0, 2, 0xf1, 0x9e, 0x6b, 0x14, 0x6e, 0x40}, {0, 0, 0, 0, 0, 0, 0, 1}, []byte("2026-11-22 09:59:00 +00"), []byte("10")}, formats: []int16{1, 1, 1, 1, 0, 0}},
		{sql: "SELECT count(*) FROM helios_proxy.circuit_breaker_status ORDER BY 1"},
		{sql: "SELECT DISTINCT override FROM helios_proxy.circuit_breaker_status ORDER BY 1 NULLS FIRST"},
		{sql: "SELECT backend_name, backend_name LIKE 'replica!-%' ESCAPE '!', backend_name LIKE 'r_plica-%' ESCAPE '', backend_name ILIKE 'R%Ñ', length(backend_name), upper(backend_name), lower('ÀB') FROM helios_proxy.circuit_breaker_status ORDER BY backend_name"},
		{sql: "SELECT trunc(latency_p95_ms), trunc(-latency_p50_ms), round(-2.5::float8), round(3.5::float8), round(latency_p95_ms::numeric, 1)::float8, round(1234.5678::numeric, -2)::float8 FROM helios_proxy.circuit_breaker_status"},
		{sql: "SELECT circuit_state, min(latency_p50_ms), max(backend_name), sum(active_connections::int), count(override) FROM helios_proxy.circuit_breaker_status GROUP BY circuit_state HAVING count(*) > 0 ORDER BY min(latency_p50_ms) DESC"},
		{sql: "SELECT port > 5432 AS high, count(*) FROM helios_proxy.backends GROUP BY port > 5432 ORDER BY 1"},
		{sql: "SELECT backend_name FROM helios_proxy.circuit_breaker_status ORDER BY last_failure_time, backend_name DESC"},
		{sql: "SELECT backend_name, weight * 2 AS w FROM helios_proxy.backends ORDER BY w DESC, backend_name OFFSET 1 LIMIT 2"},
		{sql: "SELECT greatest(last_failure_time, state_since), least(open_reason, override, 'zzz'), coalesce(last_failure_time, state_since) FROM helios_proxy.circuit_breaker_status"},
		{sql: "SELECT -2147483648, 2147483647, 2147483648, -9223372036854775808, 9223372036854775807, -(-2147483647), - - 5, -port FROM helios_proxy.backends LIMIT 1"},
		{sql: "SELECT circuit_state FROM helios_proxy.circuit_breaker_status GROUP BY circuit_state ORDER BY count(*) DESC, 1"},
		{sql: "SELECT count(*) FILTER (WHERE false), sum(port) FILTER (WHERE false), avg(latency_p95_ms) FILTER (WHERE read_only), min(open_reason), max(override), count(DISTINCT override), count(DISTINCT read_only) FROM helios_proxy.circuit_breaker_status"},
		{sql: "SELECT DISTINCT priority * 10 AS p, read_only FROM helios_proxy.circuit_breaker_status WHERE port > 0 ORDER BY p DESC, read_only"},
		{sql: "SELECT DISTINCT circuit_state, count(*) FROM helios_proxy.circuit_breaker_status GROUP BY circuit_state, priority HAVING count(*) < 5 ORDER BY 1, 2"},
		{sql: "SELECT backend_name, port % 7 AS m FROM helios_proxy.backends ORDER BY m, 1"},
		// Parameter types declared by the client, binary values in them.
		{sql: "SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE port >= $1 AND backend_name <> $2 AND error_rate < $3 AND requests_total > $4 ORDER BY 1",
			declared: []uint32{20, 1043, 700, 21}, params: [][]byte{bin(20, int64(5433)), bin(1043, "x"), bin(700, float32(0.9)), bin(21, int16(0))}, formats: []int16{1}},
		{sql: "SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE latency_p95_ms > $1 ORDER BY 1", declared: []uint32{1700}, params: [][]byte{bin(1700, "12.5")}, formats: []int16{1}},
		{sql: "SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE latency_p95_ms > $1 ORDER BY 1", declared: []uint32{1700}, params: [][]byte{bin(1700, "-0.000123")}, formats: []int16{1}},
		{sql: "SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE last_failure_time < $1 ORDER BY 1", tz: "Europe/Paris", declared: []uint32{1114},
			params: [][]byte{bin(1114, time.Date(2026, 11, 22, 10, 59, 35, 0, time.UTC))}, formats: []int16{1}},
		{sql: "SELECT 1 FROM helios_proxy.backends WHERE port = $1", declared: []uint32{23, 1043}, params: [][]byte{[]byte("5432"), []byte("unused")}},
		{sql: "SELECT $1 FROM helios_proxy.backends WHERE backend_name = $2", declared: []uint32{0, 1043}, describeOnly: true},
		{sql: "SELECT 1 FROM helios_proxy.backends WHERE port = $1", declared: []uint32{25}},
		// Parameter types inferred from their use.
		{describeOnly: true, sql: "SELECT $1 FROM helios_proxy.circuit_breaker_status WHERE last_failure_time > $2 AND $3 = port AND backend_name LIKE $4 AND latency_p95_ms BETWEEN $5 AND $6 AND read_only = $7 AND $8 LIMIT $9 OFFSET $10"},
		{describeOnly: true, sql: "SELECT coalesce(open_reason, $1), $2::float8, port + $3, $4 || 'x', -$5::int8 FROM helios_proxy.circuit_breaker_status WHERE port IN ($6, $7) OR state_since > now() - $8::interval OR state_since - $9 > interval '1 hour'"},
		{describeOnly: true, sql: "SELECT CASE WHEN $1 THEN $2 ELSE port END, CASE circuit_state WHEN $3 THEN 1 END, nullif(weight, $4), greatest($5, latency_p50_ms) FROM helios_proxy.circuit_breaker_status WHERE $6 = backend_name OR $6 IS NULL AND last_failure_time IS DISTINCT FROM $7"},
		{describeOnly: true, sql: "SELECT count(*) FILTER (WHERE port > $1), max(state_since) FROM helios_proxy.circuit_breaker_status GROUP BY priority HAVING sum(port) > $2 ORDER BY $3"},
		// Errors: the same SQLSTATE, message and position.
		// Not "nope": PostgreSQL hints "Perhaps you meant … role", a
		// suggestion statusdb does not make.
		{sql: "SELECT no_such_column" + cbs},
		{sql: "SELECT s.no_such_column" + cbs + " s"},
		{sql: "SELECT * FROM helios_proxy.nope"},
		{sql: "SELECT x.port FROM helios_proxy.backends"},
		{sql: "SELECT backends.port FROM helios_proxy.backends b"},
		{sql: "SELECT * FROM helios_proxy.backends WHERE port = 'abc'"},
		{sql: "SELECT * FROM helios_proxy.backends WHERE backend_name = 1"},
		{sql: "SELECT * FROM helios_proxy.backends WHERE port"},
		{sql: "SELECT port, count(*) FROM helios_proxy.backends"},
		{sql: "SELECT count(*) FROM helios_proxy.backends WHERE count(*) > 1"},
		{sql: "SELECT port FROM helios_proxy.backends ORDER BY 9"},
		{sql: "SELECT * FROM helios_proxy.backends WHER port = 1"},
		{sql: "SELECT 'é' || backend_name FROM helios_proxy.backends WHER port = 1"},
		{sql: "SELECT 'é' || nope FROM helios_proxy.backends"},
		{sql: "SELECT port / 0 FROM helios_proxy.backends"},
		{sql: "SELECT latency_p50_ms / 0 FROM helios_proxy.circuit_breaker_status"},
		{sql: "SELECT port * 1000000 FROM helios_proxy.backends"},
		{sql: "SELECT lower(port) FROM helios_proxy.backends"},
		{sql: "SELECT port::timestamptz FROM helios_proxy.backends"},
		{sql: "SELECT backend_name::int FROM helios_proxy.backends"},
		{sql: "SELECT * FROM helios_proxy.backends LIMIT -1"},
		{sql: "SELECT * FROM helios_proxy.backends LIMIT port"},
		{sql: "SELECT CASE WHEN read_only THEN 1 ELSE 'x' END FROM helios_proxy.backends"},
		{sql: "SELECT CASE WHEN read_only THEN port ELSE backend_name END FROM helios_proxy.backends"},
		{sql: "SELECT $1 + $2 FROM helios_proxy.backends"},
		{sql: "SELECT port FROM helios_proxy.backends WHERE port = $1", params: text("5432x")},
		{sql: "SELECT port FROM helios_proxy.backends GROUP BY count(*)"},
		{sql: "SELECT DISTINCT port FROM helios_proxy.backends ORDER BY weight"},
		{sql: "SELECT port FROM helios_proxy.backends ORDER BY 'x'"},
		{sql: "SELECT backend_name FROM helios_proxy.backends WHERE backend_name LIKE 'a\\'"},
		{sql: "SELECT * FROM helios_proxy.backends WHERE last_failure_time > '2026-13-01'"},
		{sql: "SELECT * FROM helios_proxy.circuit_breaker_status WHERE last_failure_time > 'yesterday-ish'"},
		{sql: "SELECT max(read_only) FROM helios_proxy.backends"},
		{sql: "SELECT port FROM helios_proxy.backends WHERE read_only AND port"},
		{sql: "SELECT -backend_name FROM helios_proxy.backends"},
		{sql: "SELECT port || port FROM helios_proxy.backends"},
	}
}

// TestAgainstPostgreSQL runs each statement through statusdb and through a
// real PostgreSQL holding the same rows in real tables, and requires the
// same column names and type OIDs, parameter types, rows, text and binary
// encodings, or the same error (SQLSTATE, message, position).
func TestAgainstPostgreSQL(t *testing.T) {
	runAgainstPostgreSQL(t, crossChecks())
}

// runAgainstPostgreSQL starts a PostgreSQL holding the rows of
// testInput and compares each check's outcome there and in statusdb.
func runAgainstPostgreSQL(t *testing.T, checks []crossCheck) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx := context.Background()
	c := pgtest.New(t, pgtest.Options{})
	conn, err := pgx.Connect(ctx, c.DSN(c.User, c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	in := testInput()
	loadSchema(t, ctx, conn, in)
	pc := conn.PgConn()
	if _, err := pc.Exec(ctx, "SET extra_float_digits = 1; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = postgres").ReadAll(); err != nil {
		t.Fatal(err)
	}
	db := New()
	compared := 0
	defer func() { t.Logf("compared %d values", compared) }()
	for _, cc := range checks {
		t.Run(cc.sql, func(t *testing.T) {
			tz := cc.tz
			if tz == "" {
				tz = "UTC"
			}
			loc, err := time.LoadLocation(tz)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pc.Exec(ctx, "SET TimeZone = '"+tz+"'").ReadAll(); err != nil {
				t.Fatal(err)
			}
			in := in
			in.TimeZone = loc

			prepare := db.PrepareTyped
			if cc.searchPath != "" {
				if _, err := pc.Exec(ctx, "SET search_path TO "+cc.searchPath).ReadAll(); err != nil {
					t.Fatal(err)
				}
				defer func() { pc.Exec(ctx, "RESET search_path").ReadAll() }()
				ses, _ := NewSession("postgres", "postgres", 1, nil)
				set, err := db.PrepareStandalone("SET search_path TO "+cc.searchPath, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := set.Execute(Input{Session: ses}, nil, nil); err != nil {
					t.Fatal(err)
				}
				in.Session = ses
				prepare = func(sql string, oids []uint32) (*Stmt, error) { return db.PrepareOnPath(sql, oids, cc.searchPath) }
			}
			sd, pgErr := pc.Prepare(ctx, "", cc.sql, cc.declared)
			if cc.standalone {
				prepare = db.PrepareStandalone
			}
			st, ourErr := prepare(cc.sql, cc.declared)
			if ourErr == nil {
				// What PostgreSQL reports before it describes the rows.
				ourErr = st.Check(in)
			}
			if pgErr != nil || ourErr != nil {
				compareErrors(t, "Prepare", ourErr, pgErr)
				return
			}
			gotParams := st.ParamOIDs()
			if !slices.Equal(gotParams, sd.ParamOIDs) {
				t.Errorf("ParamOIDs = %v, PostgreSQL %v", gotParams, sd.ParamOIDs)
			}
			cols := st.Columns()
			var pgCols []Column
			for _, f := range sd.Fields {
				pgCols = append(pgCols, Column{Name: f.Name, OID: f.DataTypeOID, mod: f.TypeModifier + 1})
			}
			if !slices.Equal(cols, pgCols) {
				t.Errorf("Columns = %v\nPostgreSQL        %v", cols, pgCols)
			}
			if cc.describeOnly {
				return
			}
			for _, format := range []int16{0, 1} {
				res, ourErr := st.Execute(in, cc.params, cc.formats)
				rr := pc.ExecParams(ctx, cc.sql, cc.params, cc.declared, cc.formats, []int16{format}).Read()
				if rr.Err != nil || ourErr != nil {
					compareErrors(t, "Execute", ourErr, rr.Err)
					return
				}
				compared += len(res.Rows) * len(res.Columns)
				if len(res.Rows) != len(rr.Rows) {
					t.Errorf("format %d: %d rows, PostgreSQL %d", format, len(res.Rows), len(rr.Rows))
				}
				for i := range min(len(res.Rows), len(rr.Rows)) {
					for j := range min(len(res.Columns), len(rr.Rows[i])) {
						got, ok, err := res.AppendValue(nil, i, j, format)
						if err != nil {
							t.Fatal(err)
						}
						if !ok {
							got = nil
						}
						want := rr.Rows[i][j]
						if (got == nil) != (want == nil) || !bytes.Equal(got, want) {
							if format == 0 {
								t.Errorf("row %d %s (text) = %s, PostgreSQL %s", i, res.Columns[j].Name, show(got), show(want))
							} else {
								t.Errorf("row %d %s (binary) = %x, PostgreSQL %x", i, res.Columns[j].Name, got, want)
							}
						}
					}
				}
			}
		})
	}
}

func show(b []byte) string {
	if b == nil {
		return "NULL"
	}
	return fmt.Sprintf("%q", b)
}

func compareErrors(t *testing.T, step string, ours, theirs error) {
	t.Helper()
	var pe *pgconn.PgError
	if theirs != nil && !errors.As(theirs, &pe) {
		t.Fatalf("%s: PostgreSQL: %v", step, theirs)
	}
	var oe *Error
	if ours != nil && !errors.As(ours, &oe) {
		t.Fatalf("%s: error %v is not an *Error", step, ours)
	}
	switch {
	case pe == nil:
		t.Errorf("%s: error %s %q at %d, PostgreSQL succeeds", step, oe.Code, oe.Message, oe.Position)
	case oe == nil:
		t.Errorf("%s: no error, PostgreSQL %s %q at %d", step, pe.Code, pe.Message, pe.Position)
	case oe.Code != pe.Code || oe.Message != pe.Message || int32(oe.Position) != pe.Position:
		t.Errorf("%s: error %s %q at %d,\n  PostgreSQL %s %q at %d", step, oe.Code, oe.Message, oe.Position, pe.Code, pe.Message, pe.Position)
	case oe.Detail != pe.Detail || oe.Hint != pe.Hint:
		t.Errorf("%s: error detail %q hint %q,\n  PostgreSQL detail %q hint %q", step, oe.Detail, oe.Hint, pe.Detail, pe.Hint)
	}
}

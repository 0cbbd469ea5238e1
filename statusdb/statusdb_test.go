package statusdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
)

// run prepares and executes sql over in with text parameters (nil entries
// are NULL) and returns the rows in text format, "NULL" for NULL.
func run(t *testing.T, db *DB, in Input, sql string, params ...any) (*Result, [][]string) {
	t.Helper()
	st, err := db.Prepare(sql)
	if err != nil {
		t.Fatalf("Prepare(%q): %v", sql, err)
	}
	var raw [][]byte
	for _, p := range params {
		if p == nil {
			raw = append(raw, nil)
		} else {
			raw = append(raw, []byte(fmt.Sprint(p)))
		}
	}
	res, err := st.Execute(in, raw, nil)
	if err != nil {
		t.Fatalf("Execute(%q): %v", sql, err)
	}
	return res, textRows(t, res)
}

func textRows(t *testing.T, res *Result) [][]string {
	t.Helper()
	var rows [][]string
	for r := range res.Rows {
		var row []string
		for c := range res.Columns {
			b, ok, err := res.AppendValue(nil, r, c, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				row = append(row, "NULL")
			} else {
				row = append(row, string(b))
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func flat(rows [][]string) string {
	var lines []string
	for _, r := range rows {
		lines = append(lines, strings.Join(r, "|"))
	}
	return strings.Join(lines, "\n")
}

func TestMentions(t *testing.T) {
	tests := []struct {
		sql  string
		want bool
	}{
		{"SELECT * FROM helios_proxy.circuit_breaker_status", true},
		{"select * from HELIOS_PROXY.circuit_events", true},
		{`SELECT * FROM "helios_proxy"."backends"`, true},
		{"SELECT 1 FROM Helios_Proxy.x", true},
		{"helios_proxy", true},
		{"xhelios_proxyx", true},                 // a false positive is fine: Prepare decides
		{"SELECT 'helios_proxy is great'", true}, // likewise
		{"SELECT 1", false},
		{"", false},
		{"helios_prox", false},
		{"helios-proxy", false},
		{"helios_proxz", false},
		{"heliosXproxy", false},
		{"HELIOS?PROXY", false}, // '?' | 0x20 is '?', not '_'; the underscore must be exact
		{"hElIoS_pRoXy", true},
		{string(pgbenchQuery), false},
		{string(longQuery), false},
		{string(longQuery) + " helios_proxy", true},
		{"helios_proxy" + string(longQuery), true},
		{strings.Repeat("x", 100) + "helios_proxy", true},
		{strings.Repeat("helios_prox", 50) + "y", true},
		{"hel\xffios_proxy", false},
		// JDBC's LIKE patterns escape the underscore.
		{`SELECT 1 FROM pg_namespace WHERE nspname LIKE 'helios\_proxy'`, true},
		{`HELIOS\_PROXY`, true},
		{`helios\_proxz`, false},
		{`helios\\proxy`, false},
		// The OIDs of the schema's objects, which psql's \d names them by.
		{"SELECT * FROM pg_class WHERE oid = '4000000001'", true},
		{"4000000007", true},
		{"SELECT 400000001", true}, // a false positive: Prepare decides
		{"SELECT 4000000", false},
		{"SELECT 4000", false},
	}
	for _, tt := range tests {
		if got := Mentions([]byte(tt.sql)); got != tt.want {
			t.Errorf("Mentions(%.40q) = %v, want %v", tt.sql, got, tt.want)
		}
	}
	// Every alignment of the name in a buffer, for the 8-byte scan.
	for n := 0; n < 24; n++ {
		for _, name := range []string{"helios_proxy", "HELIOS_PROXY", "helios_proxY"} {
			sql := strings.Repeat(" ", n) + name + strings.Repeat(" ", 24-n)
			if !Mentions([]byte(sql)) {
				t.Errorf("Mentions(%q) = false", sql)
			}
			if Mentions([]byte(sql[:n+len(name)-1])) {
				t.Errorf("Mentions(%q) = true", sql[:n+len(name)-1])
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { Mentions(longQuery) }); n != 0 {
		t.Errorf("Mentions allocates %v times", n)
	}
}

func TestPrepareErrors(t *testing.T) {
	tests := []struct {
		sql  string
		code string
		at   string // the position must be where this first occurs in sql; "" for none or any
		msg  string // a substring of the message
	}{
		// Not ours: the proxy relays these.
		{"SELECT 1", CodeNotStatusQuery, "", ""},
		{"SELECT 'helios_proxy.circuit_breaker_status'", CodeNotStatusQuery, "", ""},
		{"SELECT * FROM circuit_breaker_status", CodeNotStatusQuery, "", ""},
		{"SET search_path = helios_proxy", CodeNotStatusQuery, "", ""},
		{"-- helios_proxy\nSELECT 1", CodeNotStatusQuery, "", ""},
		{"", CodeNotStatusQuery, "", ""},
		{"SELECT * FROM pg_namespace WHERE nspname = 'public'", CodeNotStatusQuery, "", ""},
		{"SELECT 'helios_proxy.backends'::text", CodeNotStatusQuery, "", ""},
		{"SELECT * FROM pg_stat_activity WHERE datname = 'helios_proxy'", CodeNotStatusQuery, "", ""},
		// Mixed with backend relations.
		{"SELECT * FROM helios_proxy.circuit_breaker_status, pg_stat_activity", "0A000", "pg_stat_activity", "cannot be combined with backend tables"},
		{"SELECT * FROM helios_proxy.backends WHERE backend_name IN (SELECT datname FROM pg_stat_activity)", "0A000", "pg_stat_activity", "cannot be combined"},
		{"SELECT * FROM helios_proxy.backends UNION SELECT * FROM backends_copy", "0A000", "backends_copy", "cannot be combined"},
		{"SELECT * FROM helios_proxy.backends JOIN generate_series(1, 2) g ON true", "", "", ""},
		{"SELECT * FROM helios_proxy.backends JOIN generate_series(1, 2, 3, 4) g ON true", "42883", "generate_series", "function generate_series(integer, integer, integer, integer) does not exist"},
		{"SELECT * FROM helios_proxy.backends JOIN pg_sleep(1) g ON true", "0A000", "", "cannot be combined"},
		{"INSERT INTO audit SELECT * FROM helios_proxy.circuit_events", "0A000", "helios_proxy", "cannot be combined"},
		// Writes.
		{"UPDATE helios_proxy.circuit_breaker_status SET circuit_state = 'OPEN'", "42501", "", "permission denied for table circuit_breaker_status"},
		{"DELETE FROM helios_proxy.circuit_events", "42501", "", "permission denied for table circuit_events"},
		{"DELETE FROM helios_proxy.nope", "42P01", "helios_proxy", `relation "helios_proxy.nope" does not exist`},
		{"DROP TABLE helios_proxy.backends", "42501", "", "must be owner of table backends"},
		{"ALTER TABLE helios_proxy.backends ADD x int", "42501", "", "must be owner of table backends"},
		{"COMMENT ON SCHEMA helios_proxy IS ''", "42501", "", "must be owner of schema helios_proxy"},
		{"INSERT INTO helios_proxy.backends VALUES (1)", "42501", "", "permission denied for table backends"},
		{"TRUNCATE helios_proxy.circuit_events", "42501", "", "permission denied for table circuit_events"},
		{"COPY helios_proxy.backends FROM STDIN", "42501", "", "permission denied for table backends"},
		// Unsupported SQL.
		{"SELECT * FROM helios_proxy.backends b RIGHT JOIN LATERAL (SELECT b.port) s ON true", "0A000", "", "LATERAL"},
		{"SELECT sum(port) OVER (ORDER BY port ROWS 2 PRECEDING EXCLUDE CURRENT ROW) FROM helios_proxy.backends", "0A000", "", "window frame"},
		{"SELECT ntile(2) FILTER (WHERE true) OVER () FROM helios_proxy.backends", "0A000", "ntile", "FILTER is not implemented"},
		{"SELECT string_agg(backend_name, ',') OVER () FROM helios_proxy.backends", "", "", ""},
		{"SELECT ARRAY[ARRAY[port]] FROM helios_proxy.backends", "0A000", "ARRAY", "an array"},
		{"SELECT $1 FROM helios_proxy.backends WHERE port = ANY($1)", "0A000", "$1", "an array result"},
		{"SELECT * FROM helios_proxy.backends WHERE port = ARRAY(SELECT 1)", "42883", "= ARRAY", "operator does not exist: integer = integer[]"},
		{"WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r ORDER BY 1) SELECT * FROM r, helios_proxy.backends", "0A000", "r AS", "recursive"},
		{"WITH x AS (SELECT 1) SELECT * FROM helios_proxy.backends, zz", "0A000", "zz", "cannot be combined"},
		{"WITH x AS (DELETE FROM t RETURNING 1) SELECT * FROM helios_proxy.backends", "0A000", "", "cannot be combined"},
		{"SELECT * FROM helios_proxy.backends WHERE (port, priority) IN (SELECT port, priority FROM helios_proxy.backends)", "0A000", "IN", "row constructor"},
		{"SELECT * FROM helios_proxy.backends b JOIN helios_proxy.backends c USING (port) AS j", "0A000", "", "JOIN USING"},
		{"SELECT * FROM helios_proxy.backends FOR UPDATE", "42501", "", "permission denied for table backends"},
		{"EXPLAIN (FORMAT JSON) SELECT * FROM helios_proxy.backends", "0A000", "FORMAT", "only FORMAT TEXT"},
		{"EXPLAIN SELECT nosuch FROM helios_proxy.backends", "42703", "nosuch", "column \"nosuch\" does not exist"},
		{"COPY helios_proxy.backends TO STDOUT (FORMAT binary, HEADER)", "0A000", "", "cannot specify HEADER in BINARY mode"},
		{"COPY helios_proxy.backends TO '/tmp/x'", "42501", "", "pg_write_server_files"},
		{"COPY (SELECT 1 FROM helios_proxy.backends) TO STDOUT (FORCE_QUOTE *)", "0A000", "", "only in CSV mode"},
		{"DECLARE c CURSOR FOR SELECT nosuch FROM helios_proxy.backends", "42703", "nosuch", "does not exist"},
		{"SELECT * FROM helios_proxy.backends WHERE backend_name ~ port", "42883", "", "operator does not exist"},
		{"SELECT nope(port, 'x') FROM helios_proxy.backends", "42883", "nope", "function nope(integer, unknown) does not exist"},
		{"SELECT substr(backend_name, 'x') FROM helios_proxy.backends", "22P02", "'x'", `invalid input syntax for type integer: "x"`},
		{"SELECT power(2.5, port) FROM helios_proxy.backends", "0A000", "power", "function power(numeric, integer)"},
		{"SELECT * FROM helios_proxy.backends WHERE port + ANY('{1,2}')", "0A000", "+ ANY", "operator + with ANY/ALL"},
		{"SELECT to_date('2026', 'YYYY') FROM helios_proxy.backends", "0A000", "to_date", "function to_date()"},
		{"SELECT now()::timetz FROM helios_proxy.backends", "0A000", "timetz", `type "timetz"`},
		{"SELECT current_date FROM helios_proxy.backends", "0A000", "current_date", "CURRENT_DATE"},
		{"SELECT count(*) FROM helios_proxy.backends GROUP BY ROLLUP (priority, port, host, backend_name, weight, read_only, port + 1, port + 2, port + 3, port + 4, port + 5, port + 6, port + 7, port + 8, port + 9, port + 10, port + 11, port + 12, port + 13, port + 14, port + 15, port + 16, port + 17, port + 18, port + 19, port + 20, port + 21, port + 22, port + 23, port + 24, port + 25, port + 26, port + 27, port + 28, port + 29, port + 30, port + 31, port + 32, port + 33, port + 34, port + 35, port + 36, port + 37, port + 38, port + 39, port + 40, port + 41, port + 42, port + 43, port + 44, port + 45, port + 46, port + 47, port + 48, port + 49, port + 50, port + 51, port + 52, port + 53, port + 54, port + 55, port + 56, port + 57, port + 58, port + 59)", "0A000", "", "grouping sets of more than 64"},
		{"SELECT * FROM helios_proxy.backends WHERE (port, priority) = (5432, 1)", "0A000", "(port", "row constructor"},
		{"SELECT * FROM helios_proxy.backends ORDER BY backend_name COLLATE \"en_US\"", "0A000", "COLLATE", "COLLATE"},
		{"SELECT sum(now() - state_since) FROM helios_proxy.circuit_breaker_status", "0A000", "sum", "sum(interval)"},
		{"SELECT * FROM other_db.helios_proxy.backends", "0A000", "other_db", "cross-database"},
		{"SELECT * FROM helios_proxy.backends b(x, y, z, u, v, w, q)", "42P10", "", "has 6 columns available but 7 columns specified"},
		{"SELECT * FROM helios_proxy.backends ORDER BY port FETCH FIRST 1 ROW WITH TIES", "0A000", "", "WITH TIES"},
		// Names, types and syntax.
		{"SELECT * FROM helios_proxy.nope", "42P01", "helios_proxy", `relation "helios_proxy.nope" does not exist`},
		{"SELECT nope FROM helios_proxy.backends", "42703", "nope", `column "nope" does not exist`},
		{"SELECT backends FROM helios_proxy.backends", "0A000", "backends", "whole-row"},
		{"SELECT * FROM helios_proxy.backends WHER port = 1", "42601", "port", `syntax error at or near "port"`},
		{"SELECT * FROM helios_proxy.backends; SELECT 1", "42601", "", "cannot insert multiple commands"},
		{"SELECT 'unterminated FROM helios_proxy.backends", "42601", "'unterminated", "unterminated quoted string"},
		{"SELECT * FROM helios_proxy.backends WHERE $1 = $2 AND $1 = port", "42883", "= port", "operator does not exist: text = integer"},
		{"SELECT * FROM helios_proxy.backends WHERE port = $1 AND backend_name=$1", "42883", "=$1", "operator does not exist: text = integer"},
		{"SELECT 1 FROM helios_proxy.backends WHERE $1 = ($1 + 1)::text", "42P08", "$1", "inconsistent types deduced for parameter $1"},
		{"SELECT count(count(*)) FROM helios_proxy.backends", "42803", "count(*)", "cannot be nested"},
		{"SELECT * FROM helios_proxy.backends LIMIT count(*)", "42803", "count", "not allowed in LIMIT"},
		{"SELECT port FROM helios_proxy.backends ORDER BY backend_name || 1 || 'x' COLLATE \"C\"", "", "", ""},
		{"SELECT -'1' FROM helios_proxy.backends", "42725", "-", "operator is not unique: - unknown"},
		{"SELECT min('a') FROM helios_proxy.backends", "42725", "min", "function min(unknown) is not unique"},
		{"SELECT round(backend_name) FROM helios_proxy.backends", "42883", "round", "function round(text) does not exist"},
		{"SELECT lower(backend_name, 'x') FROM helios_proxy.backends", "42883", "lower", "function lower(text, unknown) does not exist"},
		{"SELECT sum(*) FROM helios_proxy.backends", "42809", "sum", "sum(*)"},
		{"SELECT lower(*) FROM helios_proxy.backends", "42883", "lower", "function lower() does not exist"},
		{"SELECT now(*) FROM helios_proxy.backends", "42809", "now", "now(*) specified, but now is not an aggregate function"},
		{"SELECT lower(DISTINCT host) FROM helios_proxy.backends", "42809", "lower", "DISTINCT specified, but lower is not an aggregate function"},
		{"SELECT nope(host ORDER BY host) FROM helios_proxy.backends", "42883", "nope", "function nope(text) does not exist"},
		{"SELECT upper(host) OVER () FROM helios_proxy.backends", "42809", "upper", "OVER specified, but upper is not a window function nor an aggregate function"},
		{"SELECT port::numeric(3, 5) FROM helios_proxy.backends", "22023", "numeric", "NUMERIC precision"},
		{"SELECT port FROM helios_proxy.backends WHERE port = '1.5'", "22P02", "'1.5'", `invalid input syntax for type integer: "1.5"`},
		{"SELECT port FROM helios_proxy.backends WHERE port = '99999999999'", "22003", "'9", "out of range for type integer"},
		{"SELECT interval '5 lightyears' FROM helios_proxy.backends", "22007", "'5", "invalid input syntax for type interval"},
		{"SELECT '2026-02-30'::timestamptz FROM helios_proxy.backends", "22008", "'2026", "date/time field value out of range"},
		{"SELECT * FROM helios_proxy.backends ORDER BY backend_name, port, zz", "42703", "zz", `column "zz" does not exist`},
		{"SELECT port AS a, weight AS a FROM helios_proxy.backends ORDER BY a", "42702", "a\x00", `ORDER BY "a" is ambiguous`},
	}
	db := New()
	for _, tt := range tests {
		_, err := db.Prepare(tt.sql)
		if tt.code == "" {
			if err != nil {
				t.Errorf("Prepare(%q) = %v, want success", tt.sql, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Prepare(%q) = %v, want *Error %s", tt.sql, err, tt.code)
			continue
		}
		pos := 0
		if tt.at != "" {
			if i := strings.Index(tt.sql+"\x00", tt.at); i >= 0 {
				pos = utf8.RuneCountInString(tt.sql[:i]) + 1
			}
		}
		if e.Code != tt.code || e.Position != pos && tt.at != "" || !strings.Contains(e.Message, tt.msg) {
			t.Errorf("Prepare(%q) = %s %q at %d, want %s %q at %d", tt.sql, e.Code, e.Message, e.Position, tt.code, tt.msg, pos)
		}
		if tt.code == CodeNotStatusQuery && !errors.Is(err, ErrNotStatusQuery) {
			t.Errorf("Prepare(%q): errors.Is(err, ErrNotStatusQuery) = false", tt.sql)
		}
		if tt.code != CodeNotStatusQuery && errors.Is(err, ErrNotStatusQuery) {
			t.Errorf("Prepare(%q): errors.Is(err, ErrNotStatusQuery) = true for %s", tt.sql, e.Code)
		}
	}
}

func TestColumnsAndParams(t *testing.T) {
	const cbs = " FROM helios_proxy.circuit_breaker_status"
	tests := []struct {
		sql    string
		cols   string // name:OID, ...
		params []uint32
	}{
		{"SELECT backend_name, error_rate, port, active_connections, read_only, last_failure_time" + cbs,
			"backend_name:25 error_rate:701 port:23 active_connections:20 read_only:16 last_failure_time:1184", nil},
		{"SELECT count(*), now(), current_timestamp" + cbs, "count:20 now:1184 current_timestamp:1184", nil},
		{"SELECT 1, 'a', NULL, 2.5, 3000000000, true, port::text, 'x'::text, CAST(1 AS float8), 1::int, 1::bigint, 1::double precision, 1::numeric, 1::varchar, -port AS minus" + cbs,
			"?column?:23 ?column?:25 ?column?:25 ?column?:1700 ?column?:20 ?column?:16 port:25 text:25 float8:701 int4:23 int8:20 float8:701 numeric:1700 varchar:1043 minus:23", nil},
		{"SELECT CASE WHEN read_only THEN 1 END, coalesce(override, open_reason), greatest(1, 2.5), nullif(port, 1), lower(host), interval '1 day', now() - state_since AS age, sum(port), sum(requests_total), avg(port), min(host), max(last_failure_time)" + cbs + " GROUP BY read_only, override, open_reason, port, host, state_since",
			"case:23 coalesce:25 greatest:1700 nullif:23 lower:25 interval:1186 age:1186 sum:20 sum:1700 avg:1700 min:25 max:1184", nil},
		{"SELECT circuit_state" + cbs + " WHERE backend_name = $1", "circuit_state:25", []uint32{25}},
		{"SELECT 1" + cbs + " WHERE error_rate > $1 AND port = $2 AND active_connections < $3 AND read_only = $4 AND last_failure_time > $5 AND now() - state_since > $6 LIMIT $7 OFFSET $8",
			"?column?:23", []uint32{701, 23, 20, 16, 1184, 1186, 20, 20}},
		{"SELECT $1, $2 IS NULL" + cbs + " WHERE $4 = $3", "?column?:25 ?column?:16", []uint32{25, 25, 25, 25}},
		{"SELECT 1" + cbs + " WHERE port = $2", "?column?:23", []uint32{25, 23}},
		{"SELECT $1" + cbs + " WHERE port = $1", "?column?:23", []uint32{23}},
		{"SELECT 1" + cbs + " WHERE state_since + $1 > now()", "?column?:23", []uint32{1186}},
		{"SELECT 1" + cbs + " WHERE $1 AND NOT $2", "?column?:23", []uint32{16, 16}},
		{"SELECT * FROM helios_proxy.backends", "backend_name:25 host:25 port:23 priority:23 weight:701 read_only:16", nil},
		{"SELECT b.*, 1 FROM helios_proxy.backends b", "backend_name:25 host:25 port:23 priority:23 weight:701 read_only:16 ?column?:23", nil},
	}
	db := New()
	for _, tt := range tests {
		st, err := db.Prepare(tt.sql)
		if err != nil {
			t.Errorf("Prepare(%q): %v", tt.sql, err)
			continue
		}
		var cols []string
		for _, c := range st.Columns() {
			cols = append(cols, fmt.Sprintf("%s:%d", c.Name, c.OID))
		}
		if got := strings.Join(cols, " "); got != tt.cols {
			t.Errorf("Columns(%q) =\n  %s\nwant\n  %s", tt.sql, got, tt.cols)
		}
		if got := st.ParamOIDs(); !slices.Equal(got, tt.params) {
			t.Errorf("ParamOIDs(%q) = %v, want %v", tt.sql, got, tt.params)
		}
		if st.Tag() != "SELECT" {
			t.Errorf("Tag() = %q", st.Tag())
		}
	}
}

// TestSchema pins the column lists, their order and types: the contract of
// DESIGN.md § SQL status schema.
func TestSchema(t *testing.T) {
	want := map[string]string{
		"circuit_breaker_status": "backend_name text, circuit_state text, latency_p50_ms double precision, latency_p95_ms double precision, " +
			"latency_p99_ms double precision, error_rate double precision, connection_saturation double precision, " +
			"last_failure_time timestamp with time zone, host text, port integer, priority integer, weight double precision, " +
			"traffic_share double precision, active_connections bigint, max_connections bigint, queue_depth bigint, " +
			"state_since timestamp with time zone, open_reason text, override text, requests_total bigint, failures_total bigint, " +
			"rejected_total bigint, transitions_total bigint, replication_lag_ms double precision, ramp_factor double precision, read_only boolean, " +
			"trusts_proxy boolean, trusted_roles text, role text, timeline bigint, replication_lag_bytes bigint, routing text, fenced_reason text, observed_role text, backend_waiting bigint, " +
			"admission_limit bigint, admission_inflight bigint, admission_queued bigint, shed_total bigint",
		"circuit_events": "id bigint, event_time timestamp with time zone, event_type text, backend_name text, from_state text, to_state text, " +
			"reason text, detail text, attempt integer, recovery_duration_ms double precision, in_previous_state_ms double precision, " +
			"backends text, latency_p95_ms double precision, latency_p99_ms double precision, error_rate double precision, connection_saturation double precision",
		"backends": "backend_name text, host text, port integer, priority integer, weight double precision, read_only boolean",

		"cluster_members": "node text, address text, state text, last_contact timestamp with time zone, version text, config_hash text, is_self boolean",
		"query_breakers": "pattern text, fingerprint text, query text, circuit_state text, state_since timestamp with time zone, open_reason text, open_detail text, " +
			"retry_at timestamp with time zone, executions bigint, latency_p50_ms double precision, latency_p95_ms double precision, latency_p99_ms double precision, " +
			"error_rate double precision, executions_total bigint, slow_total bigint, failures_total bigint, rejected_total bigint, transitions_total bigint, " +
			"first_seen timestamp with time zone, last_seen timestamp with time zone",
		"cluster_circuits": "node text, backend_name text, circuit_state text, reason text, detail text, state_since timestamp with time zone, " +
			"failing boolean, recovery_role text, received timestamp with time zone, is_self boolean",
		"user_breakers": "role text, database text, state text, state_since timestamp with time zone, rate double precision, rate_limit bigint, " +
			"throttled_total bigint, delayed_total bigint, isolated_total bigint, requests_total bigint, failures_total bigint, error_rate double precision, " +
			"latency_p95_ms double precision, open_reason text, open_detail text, exempt boolean, override_author text, last_active timestamp with time zone",
	}
	if len(tables) != len(want) {
		t.Errorf("%d tables, want %d", len(tables), len(want))
	}
	for name, cols := range want {
		var got []string
		for _, c := range tables[name].cols {
			got = append(got, c.name+" "+c.typ.String())
		}
		if g := strings.Join(got, ", "); g != cols {
			t.Errorf("helios_proxy.%s:\n  %s\nwant\n  %s", name, g, cols)
		}
	}
}

func TestExecute(t *testing.T) {
	in := testInput()
	const cbs = " FROM helios_proxy.circuit_breaker_status"
	tests := []struct {
		sql    string
		params []any
		want   string
	}{
		{"SELECT backend_name, circuit_state, open_reason, override, last_failure_time" + cbs + " WHERE circuit_state <> 'CLOSED' ORDER BY 1",
			nil, "replica-1|OPEN|hard_failure|NULL|2026-11-22 09:59:30.123456+00\nreplica-2|HALF_OPEN|NULL|OPEN|2026-11-22 09:59:40.123463+00"},
		{"SELECT now(), current_timestamp, 'now'::timestamptz = now()" + cbs + " LIMIT 1", nil, "2026-11-22 10:00:00.123456+00|2026-11-22 10:00:00.123456+00|t"},
		{"SELECT id, event_type, now() - event_time FROM helios_proxy.circuit_events WHERE event_time > now() - interval '15 seconds'",
			nil, "4|CircuitHalfOpened|00:00:10\n5|CircuitClosed|00:00:05"},
		{"SELECT id, backend_name, backends, attempt, recovery_duration_ms, in_previous_state_ms FROM helios_proxy.circuit_events ORDER BY id",
			nil, "1|replica-1|NULL|NULL|NULL|7200000\n2|NULL|replica-1,replica-2|NULL|NULL|NULL\n3|replica-2|NULL|2|NULL|1500\n4|replica-2|NULL|NULL|NULL|30000\n5|primary-1|NULL|NULL|95500|12000"},
		{"SELECT backend_name" + cbs + " WHERE backend_name = $1 OR port = $2 ORDER BY 1", []any{"Standby", "5432"}, "Standby\nprimary-1"},
		{"SELECT backend_name" + cbs + " WHERE backend_name = $1", []any{nil}, ""},
		{"SELECT count(*)" + cbs + " WHERE backend_name <> $1", []any{nil}, "0"},
		{"SELECT backend_name" + cbs + " ORDER BY 1 LIMIT $1 OFFSET $2", []any{"2", nil}, "Standby\nprimary-1"},
		{"SELECT backend_name" + cbs + " ORDER BY 1 LIMIT $1", []any{nil}, "Standby\nprimary-1\nreplica-1\nreplica-2\nréplica-ñ"},
		// Documented deviations: numeric is float8.
		{"SELECT round(2.5), round(2.5::float8), 1.50, avg(port), sum(requests_total), 0.1 + 0.2, (0.1::float8 + 0.2::float8)::numeric" + cbs,
			nil, "3|2|1.50|5633.2000000000000000|1099511629359|0.3|0.3"},
		{"SELECT round(1.005, 2), round(-1.005, 2), round(1234.5, -2), round(0.5, 0), round(0.004, 2), 2.675::numeric(10,2)" + cbs + " LIMIT 1",
			nil, "1.01|-1.01|1200|1|0.00|2.68"},
		{"SELECT sum(port), sum(latency_p50_ms), avg(error_rate), count(DISTINCT circuit_state), count(DISTINCT read_only)" + cbs,
			nil, "28166|207.25|0.16019999999999998|3|2"},
		{"SELECT latency_p99_ms" + cbs + " ORDER BY latency_p99_ms DESC", nil, "1e+15\n90\n40\n8\n1e-05"},
		{"SELECT round(latency_p50_ms::numeric, 1), count(*)" + cbs + " GROUP BY latency_p50_ms ORDER BY 1", nil, "0.8|1\n1.5|1\n2.0|1\n3.0|1\n200.0|1"},
		{"SELECT x FROM (VALUES (1)) v(x) WHERE x IN (SELECT port FROM helios_proxy.backends)", nil, ""},
	}
	db := New()
	for _, tt := range tests {
		st, err := db.Prepare(tt.sql)
		if err != nil {
			if tt.want == "" && strings.Contains(err.Error(), "0A000") {
				continue // the last case: refused, as it should be
			}
			t.Errorf("Prepare(%q): %v", tt.sql, err)
			continue
		}
		var raw [][]byte
		for _, p := range tt.params {
			if p == nil {
				raw = append(raw, nil)
			} else {
				raw = append(raw, []byte(p.(string)))
			}
		}
		res, err := st.Execute(in, raw, nil)
		if err != nil {
			t.Errorf("Execute(%q): %v", tt.sql, err)
			continue
		}
		if got := flat(textRows(t, res)); got != tt.want {
			t.Errorf("%s:\n%s\nwant\n%s", tt.sql, got, tt.want)
		}
	}
}

func TestExecuteErrors(t *testing.T) {
	in := testInput()
	tests := []struct {
		sql     string
		params  [][]byte
		formats []int16
		code    string
		msg     string
	}{
		{"SELECT port / 0 FROM helios_proxy.backends", nil, nil, "22012", "division by zero"},
		{"SELECT backend_name::int FROM helios_proxy.backends", nil, nil, "22P02", `invalid input syntax for type integer: "primary-1"`},
		{"SELECT backend_name FROM helios_proxy.backends WHERE backend_name LIKE '%\\'", nil, nil, "22025", "must not end with escape character"},
		{"SELECT backend_name FROM helios_proxy.backends WHERE backend_name LIKE 'x' ESCAPE 'ab'", nil, nil, "22025", "invalid escape string"},
		{"SELECT 1 FROM helios_proxy.backends OFFSET -1", nil, nil, "2201X", "OFFSET must not be negative"},
		{"SELECT 1 FROM helios_proxy.backends LIMIT $1", [][]byte{[]byte("-2")}, nil, "2201W", "LIMIT must not be negative"},
		{"SELECT (port * 1000000)::int8 FROM helios_proxy.backends", nil, nil, "22003", "integer out of range"},
		{"SELECT requests_total * requests_total FROM helios_proxy.circuit_breaker_status", nil, nil, "22003", "bigint out of range"},
		{"SELECT 1e300::float8 * latency_p99_ms FROM helios_proxy.circuit_breaker_status", nil, nil, "22003", "value out of range: overflow"},
		{"SELECT latency_p95_ms::numeric(3,1) FROM helios_proxy.circuit_breaker_status", nil, nil, "22003", "numeric field overflow"},
		{"SELECT 1 FROM helios_proxy.backends WHERE port = $1", nil, nil, "08P01", "bind message supplies 0 parameters, but prepared statement requires 1"},
		{"SELECT 1 FROM helios_proxy.backends WHERE port = $1 AND host = $2", [][]byte{nil, nil}, []int16{0, 1, 0}, "08P01", "3 parameter formats but 2 parameters"},
		{"SELECT 1 FROM helios_proxy.backends WHERE port = $1", [][]byte{{0, 1}}, []int16{1}, "22P03", "incorrect binary data format in bind parameter 1"},
		{"SELECT 1 FROM helios_proxy.backends WHERE port = $1", [][]byte{[]byte("1")}, []int16{2}, "22023", "unsupported format code: 2"},
		{"SELECT 1 FROM helios_proxy.backends WHERE host = $1", [][]byte{{'a', 0xff}}, nil, "22021", "invalid byte sequence"},
		{"SELECT 1 FROM helios_proxy.backends WHERE port = $1", [][]byte{[]byte("x")}, nil, "22P02", `invalid input syntax for type integer: "x"`},
		{"SELECT 1 FROM helios_proxy.backends WHERE read_only = $1", [][]byte{[]byte("maybe")}, nil, "22P02", `invalid input syntax for type boolean: "maybe"`},
		{"SELECT 1 FROM helios_proxy.circuit_breaker_status WHERE state_since > $1", [][]byte{[]byte("soon")}, nil, "22007", "timestamp with time zone"},
	}
	db := New()
	for _, tt := range tests {
		st, err := db.Prepare(tt.sql)
		if err != nil {
			t.Errorf("Prepare(%q): %v", tt.sql, err)
			continue
		}
		_, err = st.Execute(in, tt.params, tt.formats)
		var e *Error
		if !errors.As(err, &e) || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
			t.Errorf("Execute(%q) = %v, want %s %q", tt.sql, err, tt.code, tt.msg)
		}
	}
}

func TestBinaryParams(t *testing.T) {
	m := pgtype.NewMap()
	enc := func(oid uint32, v any) []byte {
		b, err := m.Encode(oid, pgtype.BinaryFormatCode, v, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	st, err := New().Prepare("SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE port = $1 AND active_connections = $2 AND error_rate = $3 AND read_only = $4 AND last_failure_time = $5 AND backend_name = $6 AND state_since - last_failure_time = $7")
	if err != nil {
		t.Fatal(err)
	}
	b := testInput().Snapshot.Backends[1]
	params := [][]byte{
		enc(pgtype.Int4OID, int32(b.Port)), enc(pgtype.Int8OID, int64(b.ActiveConnections)), enc(pgtype.Float8OID, b.ErrorRate),
		enc(pgtype.BoolOID, b.ReadOnly), enc(pgtype.TimestamptzOID, b.LastFailureTime), enc(pgtype.TextOID, b.Name),
		enc(pgtype.IntervalOID, pgtype.Interval{Valid: true}),
	}
	res, err := st.Execute(testInput(), params, []int16{1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0][0] != "replica-1" {
		t.Errorf("rows = %v, want [[replica-1]]", res.Rows)
	}
}

// TestBinaryResults decodes every binary value with pgtype and compares it
// with the Go value in Rows, and checks the Go types Rows promises.
func TestBinaryResults(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Paris")
	in := testInput()
	in.TimeZone = loc
	res, _ := run(t, New(), in, "SELECT *, now() - state_since AS age, 'NaN'::float8 AS nan FROM helios_proxy.circuit_breaker_status")
	m := pgtype.NewMap()
	for r, row := range res.Rows {
		for c, v := range row {
			col := res.Columns[c]
			b, ok, err := res.AppendValue(nil, r, c, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				if v != nil {
					t.Errorf("row %d %s: NULL for %v", r, col.Name, v)
				}
				continue
			}
			var got any
			switch col.OID {
			case pgtype.Int4OID:
				var n int32
				err = m.Scan(col.OID, 1, b, &n)
				got = int64(n)
			case pgtype.TextOID:
				var s string
				err = m.Scan(col.OID, 1, b, &s)
				got = s
			case pgtype.Int8OID:
				var n int64
				err = m.Scan(col.OID, 1, b, &n)
				got = n
			case pgtype.Float8OID:
				var f float64
				err = m.Scan(col.OID, 1, b, &f)
				got = f
			case pgtype.BoolOID:
				var x bool
				err = m.Scan(col.OID, 1, b, &x)
				got = x
			case pgtype.TimestamptzOID:
				var x time.Time
				if err := m.Scan(col.OID, 1, b, &x); err != nil {
					t.Errorf("row %d %s: binary timestamptz: %v", r, col.Name, err)
				}
				if tv, ok := v.(time.Time); !ok || !x.Equal(tv) || tv.Location() != loc {
					t.Errorf("row %d %s = %v, binary %v", r, col.Name, v, x)
				}
				continue
			case pgtype.IntervalOID:
				var x pgtype.Interval
				err = m.Scan(col.OID, 1, b, &x)
				got = x
			default:
				t.Fatalf("column %s has OID %d", col.Name, col.OID)
			}
			if err != nil {
				t.Fatalf("row %d %s: %v", r, col.Name, err)
			}
			if f, ok := got.(float64); ok && math.IsNaN(f) {
				if g, ok := v.(float64); !ok || !math.IsNaN(g) {
					t.Errorf("row %d %s = %v, binary NaN", r, col.Name, v)
				}
				continue
			}
			if got != v {
				t.Errorf("row %d %s = %#v, binary decodes to %#v", r, col.Name, v, got)
			}
		}
	}
	if _, _, err := res.AppendValue(nil, 0, 0, 7); err == nil {
		t.Error("AppendValue(format 7) succeeded")
	}
}

func TestTimeZones(t *testing.T) {
	tests := []struct {
		tz   string
		want string
	}{
		{"", "2026-11-22 09:59:30.123456+00|2026-07-01 12:00:00+00|2026-11-22 10:00:00+00"},
		{"UTC", "2026-11-22 09:59:30.123456+00|2026-07-01 12:00:00+00|2026-11-22 10:00:00+00"},
		{"Europe/Paris", "2026-11-22 10:59:30.123456+01|2026-07-01 14:00:00+02|2026-11-22 09:00:00+00"},
		{"Asia/Kolkata", "2026-11-22 15:29:30.123456+05:30|2026-07-01 17:30:00+05:30|2026-11-22 04:30:00+00"},
		{"America/St_Johns", "2026-11-22 06:29:30.123456-03:30|2026-07-01 09:30:00-02:30|2026-11-22 13:30:00+00"},
	}
	for _, tt := range tests {
		in := testInput()
		if tt.tz != "" {
			loc, err := time.LoadLocation(tt.tz)
			if err != nil {
				t.Fatal(err)
			}
			in.TimeZone = loc
		}
		// The literal without an offset is read in the session's zone
		// (and shown here in UTC through ::text of a UTC-offset cast).
		_, rows := run(t, New(), in, "SELECT last_failure_time, '2026-07-01 12:00:00+00'::timestamptz, '2026-11-22 10:00:00'::timestamptz FROM helios_proxy.circuit_breaker_status WHERE backend_name = 'replica-1'")
		got := flat(rows)
		// Show the third value in UTC to check how it was read.
		parts := strings.Split(got, "|")
		res, _ := run(t, New(), in, "SELECT '2026-11-22 10:00:00'::timestamptz FROM helios_proxy.backends LIMIT 1")
		parts[2] = string(appendTimestamptz(nil, res.Rows[0][0].(time.Time).UnixMicro(), time.UTC))
		if got := strings.Join(parts, "|"); got != tt.want {
			t.Errorf("TimeZone %q: %s, want %s", tt.tz, got, tt.want)
		}
	}
}

func TestFloat8Text(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "-0"}, {1, "1"}, {-1.5, "-1.5"}, {0.1, "0.1"}, {math.Nextafter(0.3, 1), "0.30000000000000004"},
		{1e6, "1000000"}, {1e14, "100000000000000"}, {1e15, "1e+15"}, {123456789012345678, "1.2345678901234568e+17"},
		{0.0001, "0.0001"}, {0.00001, "1e-05"}, {1.5e-7, "1.5e-07"}, {1e100, "1e+100"}, {5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"}, {math.NaN(), "NaN"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"},
		{2500.5, "2500.5"}, {123456789012345.6, "123456789012345.6"},
		{-7, "-7"}, {-0.5, "-0.5"}, {0.000123, "0.000123"}, {29.525068, "29.525068"}, {999999999.999999, "999999999.999999"}, {999999999999999, "999999999999999"}, {-999999999999999, "-999999999999999"}, {-1e15, "-1e+15"},
	}
	for _, tt := range tests {
		if got := string(appendFloat8(nil, tt.f)); got != tt.want {
			t.Errorf("float8out(%v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestIntervals(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"5 minutes", "00:05:00"}, {"1 hour 30 min", "01:30:00"}, {"1.5 days", "1 day 12:00:00"}, {"2 days 03:00:00", "2 days 03:00:00"},
		{"-00:00:10", "-00:00:10"}, {"10", "00:00:10"}, {"3 days ago", "-3 days"}, {"1 year 2 months 3 days 04:05:06.5", "1 year 2 mons 3 days 04:05:06.5"},
		{"1 mon -2 days", "1 mon -2 days"}, {"-1 day +2 hours", "-1 days +02:00:00"}, {"0", "00:00:00"}, {"250ms", "00:00:00.25"},
		{"2 weeks", "14 days"}, {"1.5 months", "1 mon 15 days"}, {"100 hours", "100:00:00"}, {"1 us", "00:00:00.000001"},
	}
	for _, tt := range tests {
		v, err := parseInterval(tt.in)
		if err != nil {
			t.Errorf("parseInterval(%q): %v", tt.in, err)
			continue
		}
		if got := string(appendInterval(nil, v)); got != tt.want {
			t.Errorf("interval %q = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"", "five minutes", "5 parsecs", "1:2:3:4", "10:61"} {
		if _, err := parseInterval(bad); err == nil {
			t.Errorf("parseInterval(%q) succeeded", bad)
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		sql  string
		want []string
	}{
		{"SELECT 1 FROM helios_proxy.circuit_breaker_status; SELECT count(*) FROM helios_proxy.circuit_events",
			[]string{"SELECT 1 FROM helios_proxy.circuit_breaker_status", "SELECT count(*) FROM helios_proxy.circuit_events"}},
		{"SELECT ';' FROM helios_proxy.backends;;  SELECT $$;$$ ; -- ; comment\n SELECT /* ; */ 2;",
			[]string{"SELECT ';' FROM helios_proxy.backends", "SELECT $$;$$", "-- ; comment\n SELECT /* ; */ 2"}},
		{"SELECT 1", []string{"SELECT 1"}},
		{"  ", nil},
		{";", nil},
		{"BEGIN; SELECT * FROM helios_proxy.backends; COMMIT;", []string{"BEGIN", "SELECT * FROM helios_proxy.backends", "COMMIT"}},
	}
	db := New()
	for _, tt := range tests {
		got, err := db.Split(tt.sql)
		if err != nil {
			t.Errorf("Split(%q): %v", tt.sql, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, want %q", tt.sql, got, tt.want)
		}
		for _, s := range got {
			if !strings.Contains(tt.sql, s) {
				t.Errorf("Split(%q): %q is not a substring", tt.sql, s)
			}
		}
	}
	_, err := db.Split("SELECT 1; SELECT 2 FROM")
	var e *Error
	if !errors.As(err, &e) || e.Code != "42601" || e.Position != 24 {
		t.Errorf("Split(syntax error) = %#v, want 42601 at 24", err)
	}
}

func TestPrepareTyped(t *testing.T) {
	db := New()
	const sql = "SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE port = $1"
	untyped, err := db.Prepare(sql)
	if err != nil {
		t.Fatal(err)
	}
	typed, err := db.PrepareTyped(sql, []uint32{pgtype.Int8OID})
	if err != nil {
		t.Fatal(err)
	}
	if typed == untyped {
		t.Error("PrepareTyped returned the untyped statement")
	}
	if got := typed.ParamOIDs(); !slices.Equal(got, []uint32{pgtype.Int8OID}) {
		t.Errorf("ParamOIDs = %v, want [20]", got)
	}
	res, err := typed.Execute(testInput(), [][]byte{{0, 0, 0, 0, 0, 0, 0x15, 0x38}}, []int16{1})
	if err != nil || len(res.Rows) != 1 || res.Rows[0][0] != "primary-1" {
		t.Errorf("Execute(int8 5432) = %v, %v", res, err)
	}
	if again, _ := db.PrepareTyped(sql, []uint32{pgtype.Int8OID}); again != typed {
		t.Error("PrepareTyped is not cached")
	}
	_, err = db.PrepareTyped(sql, []uint32{114}) // json
	var e *Error
	if !errors.As(err, &e) || e.Code != "0A000" {
		t.Errorf("PrepareTyped(json) = %v, want 0A000", err)
	}
	for _, tt := range []struct {
		b    []byte
		want string
	}{
		{[]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 42}, "42"},
		{[]byte{0, 2, 0, 0, 0x40, 0, 0, 2, 0, 12, 0x13, 0x88}, "-12.50"},
		{[]byte{0, 1, 0xff, 0xff, 0, 0, 0, 4, 0x04, 0xd2}, "0.1234"},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 0}, "0"},
		{[]byte{0, 1, 0, 1, 0, 0, 0, 0, 0, 5}, "50000"},
	} {
		if got, ok := numericRecvValue(tt.b); !ok || got.s != tt.want {
			t.Errorf("numericRecvValue(%x) = %q, %v, want %q", tt.b, got.s, ok, tt.want)
		}
		if back := appendNumericBinary(nil, tt.want); string(back) != string(tt.b) {
			t.Errorf("appendNumericBinary(%q) = %x, want %x", tt.want, back, tt.b)
		}
	}
	if _, ok := numericRecvValue([]byte{0, 2, 0, 0, 0, 0, 0, 0, 0, 1}); ok {
		t.Error("numericRecvValue accepted a short value")
	}
}

func TestCache(t *testing.T) {
	db := New()
	const sql = "SELECT backend_name FROM helios_proxy.circuit_breaker_status ORDER BY 1"
	a, err := db.Prepare(sql)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := db.Prepare(sql); b != a {
		t.Error("second Prepare returned another *Stmt")
	}
	_, e1 := db.Prepare("SELECT nope FROM helios_proxy.backends")
	_, e2 := db.Prepare("SELECT nope FROM helios_proxy.backends")
	if e1 == nil || e1 != e2 {
		t.Errorf("errors not cached: %v, %v", e1, e2)
	}
	for i := range cacheSize {
		if _, err := db.Prepare(fmt.Sprintf("SELECT %d FROM helios_proxy.backends", i)); err != nil {
			t.Fatal(err)
		}
	}
	if db.lru.Len() != cacheSize || len(db.entries) != cacheSize {
		t.Errorf("cache holds %d/%d entries, want %d", db.lru.Len(), len(db.entries), cacheSize)
	}
	if c, _ := db.Prepare(sql); c == a {
		t.Error("the least recently used statement was not evicted")
	}
	long := "SELECT backend_name FROM helios_proxy.backends WHERE host <> '" + strings.Repeat("x", maxCachedSQL) + "'"
	if _, err := db.Prepare(long); err != nil {
		t.Fatal(err)
	}
	if _, ok := db.entries[long]; ok {
		t.Error("a statement longer than maxCachedSQL was cached")
	}
}

// TestConcurrent runs statements from many goroutines on one DB and one
// Input; run it with -race.
func TestConcurrent(t *testing.T) {
	db := New()
	in := manyBackends(50)
	queries := []string{
		"SELECT * FROM helios_proxy.circuit_breaker_status ORDER BY backend_name",
		"SELECT circuit_state, count(*), avg(latency_p95_ms) FROM helios_proxy.circuit_breaker_status GROUP BY 1 ORDER BY 1",
		"SELECT DISTINCT priority FROM helios_proxy.circuit_breaker_status ORDER BY 1",
		"SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE backend_name LIKE $1 ORDER BY 1",
		"SELECT * FROM helios_proxy.circuit_events WHERE event_time > now() - interval '1 minute'",
	}
	want := make([]string, len(queries))
	for i, q := range queries {
		st, err := New().Prepare(q)
		if err != nil {
			t.Fatal(err)
		}
		var params [][]byte
		if len(st.ParamOIDs()) == 1 {
			params = [][]byte{[]byte("backend-00%")}
		}
		res, err := st.Execute(in, params, nil)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = flat(textRows(t, res))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				q := (g + i) % len(queries)
				st, err := db.Prepare(queries[q])
				if err != nil {
					t.Error(err)
					return
				}
				var params [][]byte
				if len(st.ParamOIDs()) == 1 {
					params = [][]byte{[]byte("backend-00%")}
				}
				res, err := st.Execute(in, params, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if got := flat(textRows(t, res)); got != want[q] {
					t.Errorf("concurrent %q differs", queries[q])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestInputDefaults(t *testing.T) {
	in := testInput()
	in.Now = time.Time{} // now() falls back to Snapshot.Taken
	in.TimeZone = nil    // UTC
	_, rows := run(t, New(), in, "SELECT now() FROM helios_proxy.backends LIMIT 1")
	if got := flat(rows); got != "2026-11-22 10:00:00.123456+00" {
		t.Errorf("now() = %s", got)
	}
	_, rows = run(t, New(), Input{}, "SELECT count(*), max(port) FROM helios_proxy.circuit_breaker_status")
	if got := flat(rows); got != "0|NULL" {
		t.Errorf("over an empty Input: %s", got)
	}
}

func TestErrorValue(t *testing.T) {
	e := &Error{Code: "42703", Message: `column "x" does not exist`}
	if e.Error() != `sqlstate 42703: column "x" does not exist` || e.SQLState() != "42703" {
		t.Errorf("Error() = %q, SQLState() = %q", e.Error(), e.SQLState())
	}
	wrapped := fmt.Errorf("prepare: %w", ErrNotStatusQuery)
	if !errors.Is(wrapped, ErrNotStatusQuery) {
		t.Error("errors.Is through wrapping failed")
	}
}

// TestFormatAgainstTime checks the hand-written formatting against the
// standard library over many instants and zones.
func TestFormatAgainstTime(t *testing.T) {
	var locs []*time.Location
	for _, name := range []string{"UTC", "Europe/Paris", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham", "Africa/Monrovia", "America/Los_Angeles"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		locs = append(locs, loc)
	}
	us := int64(-62135596800000000) // 0001-01-01
	for i := 0; us < 253402300799000000; i++ {
		loc := locs[i%len(locs)]
		tm := time.UnixMicro(us).In(loc)
		want := tm.Format("2006-01-02 15:04:05.999999")
		_, off := tm.Zone()
		sign := "+"
		if off < 0 {
			sign, off = "-", -off
		}
		want += fmt.Sprintf("%s%02d", sign, off/3600)
		if off%3600 != 0 {
			want += fmt.Sprintf(":%02d", off%3600/60)
			if off%60 != 0 {
				want += fmt.Sprintf(":%02d", off%60)
			}
		}
		if got := string(appendTimestamptz(nil, us, loc)); got != want {
			t.Fatalf("appendTimestamptz(%d, %s) = %s, want %s", us, loc, got, want)
		}
		us += 987654321987 + int64(i)*7919
	}
	floats := make([]float64, 0, 400000)
	for i := range 200000 {
		floats = append(floats, math.Float64frombits(uint64(i)*0x9E3779B97F4A7C15))
		// Milliseconds from durations, as the proxy's latencies are,
		// over the range of the six-decimal shortcut and past it.
		d := time.Duration(uint64(i) * 0x9E3779B97F4A7C15 >> (4 + i%60))
		if i%2 == 1 {
			d = -d
		}
		floats = append(floats, float64(d)/float64(time.Millisecond))
	}
	for _, f := range floats {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		got := string(appendFloat8(nil, f))
		if back, err := strconv.ParseFloat(got, 64); err != nil || back != f {
			t.Fatalf("appendFloat8(%v) = %s, which reads back as %v", f, got, back)
		}
		// The straightforward two-pass version of the rule.
		want := strconv.FormatFloat(f, 'e', -1, 64)
		exp, _ := strconv.Atoi(want[strings.IndexByte(want, 'e')+1:])
		if exp >= -4 && exp < 15 {
			want = strconv.FormatFloat(f, 'f', -1, 64)
		}
		if got != want {
			t.Fatalf("appendFloat8(%v) = %s, want %s", f, got, want)
		}
	}
}

// TestAppendDataRowsMatchesResult: the streaming encoder the proxy uses
// writes exactly the DataRows that Execute's Result encodes, in both
// formats, and leaves dst alone on an evaluation error.
func TestAppendDataRowsMatchesResult(t *testing.T) {
	db := New()
	in := testInput()
	queries := []string{
		"SELECT * FROM helios_proxy.circuit_breaker_status",
		"SELECT * FROM helios_proxy.circuit_events ORDER BY event_time DESC",
		"SELECT * FROM helios_proxy.backends",
		"SELECT backend_name, latency_p95_ms FROM helios_proxy.circuit_breaker_status WHERE error_rate >= 0 ORDER BY latency_p95_ms DESC LIMIT 2 OFFSET 1",
		"SELECT circuit_state, count(*), avg(latency_p95_ms) FROM helios_proxy.circuit_breaker_status GROUP BY circuit_state ORDER BY 1",
		"SELECT DISTINCT circuit_state FROM helios_proxy.circuit_breaker_status ORDER BY 1",
		"SELECT now() - state_since, NULL, true FROM helios_proxy.circuit_breaker_status",
	}
	for _, sql := range queries {
		st, err := db.Prepare(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		for _, format := range []int16{0, 1} {
			res, err := st.Execute(in, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
			formats := make([]int16, len(res.Columns))
			var want []byte
			for r := range res.Rows {
				at := len(want)
				want = append(want, 'D', 0, 0, 0, 0, byte(len(res.Columns)>>8), byte(len(res.Columns)))
				for c := range res.Columns {
					formats[c] = format
					lenAt := len(want)
					want = append(want, 0, 0, 0, 0)
					var notNull bool
					want, notNull, _ = res.AppendValue(want, r, c, format)
					n := int32(-1)
					if notNull {
						n = int32(len(want) - lenAt - 4)
					}
					binary.BigEndian.PutUint32(want[lenAt:], uint32(n))
				}
				binary.BigEndian.PutUint32(want[at+1:], uint32(len(want)-at-1))
			}
			got, rows, err := st.AppendDataRows([]byte("prefix"), in, nil, nil, formats)
			if err != nil || rows != len(res.Rows) || !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("%s, format %d: AppendDataRows = %d rows, %v; differs from Execute's result: %t", sql, format, rows, err, !bytes.Equal(got[min(6, len(got)):], want))
			}
		}
	}
	// Many rows, and expressions besides columns, match Execute too.
	many := manyBackends(35)
	st, err := db.Prepare("SELECT *, latency_p95_ms * 2, upper(backend_name) FROM helios_proxy.circuit_breaker_status")
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Execute(many, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, rows, err := st.AppendDataRows(nil, many, nil, nil, make([]int16, len(res.Columns)))
	if err != nil || rows != len(many.Snapshot.Backends) {
		t.Fatalf("%d backends: AppendDataRows = %d rows, %v", len(many.Snapshot.Backends), rows, err)
	}
	for r := range res.Rows {
		var want []byte
		for c := range res.Columns {
			v, notNull, _ := res.AppendValue(nil, r, c, 0)
			n := int32(-1)
			if notNull {
				n = int32(len(v))
			}
			want = binary.BigEndian.AppendUint32(want, uint32(n))
			want = append(want, v...)
		}
		n := int(binary.BigEndian.Uint32(got[1:]))
		if !bytes.Equal(got[7:1+n], want) {
			t.Fatalf("%d backends, row %d differs from Execute's", len(many.Snapshot.Backends), r)
		}
		got = got[1+n:]
	}

	// Errors are those of row-by-row evaluation, as in PostgreSQL: the
	// first row's second column fails before the second row's first, and
	// the rows before the failing one are sent (unless the rows are
	// computed first, for ORDER BY).
	for _, tc := range []struct {
		sql, code string
		rows      int
	}{
		{"SELECT port / 0 FROM helios_proxy.backends", "22012", 0},
		{"SELECT CASE WHEN backend_name = 'primary-1' THEN 0 ELSE backend_name::int END, CASE WHEN backend_name = 'primary-1' THEN port / 0 ELSE 0 END FROM helios_proxy.circuit_breaker_status", "22012", 0},
		{"SELECT CASE WHEN backend_name = 'primary-1' THEN 0 ELSE backend_name::int END FROM helios_proxy.circuit_breaker_status", "22P02", 1},
		{"SELECT CASE WHEN backend_name = 'primary-1' THEN 0 ELSE backend_name::int END FROM helios_proxy.circuit_breaker_status ORDER BY port", "22P02", 0},
	} {
		st, err := db.Prepare(tc.sql)
		if err != nil {
			t.Fatal(err)
		}
		got, rows, err := st.AppendDataRows([]byte("prefix"), in, nil, nil, make([]int16, len(st.Columns())))
		var se *Error
		if !errors.As(err, &se) || se.Code != tc.code || rows != tc.rows || countDataRows(t, got[len("prefix"):]) != tc.rows || string(got[:len("prefix")]) != "prefix" {
			t.Errorf("%s: %q, %d rows, %v; want %d rows after dst and %s", tc.sql, got, rows, err, tc.rows, tc.code)
		}
	}
}

// TestWorkLimits: statements whose joins, correlated subqueries or
// recursion would run away stop with 54000 instead of exhausting the
// proxy's memory or time; the same shapes on small inputs run.
func TestWorkLimits(t *testing.T) {
	db := New()
	big := manyBackends(1000)
	tests := []struct {
		name, sql string
		in        Input
		want      string // SQLSTATE, "" for success
	}{
		{"cross join of three", "SELECT count(*) FROM helios_proxy.circuit_breaker_status a, helios_proxy.circuit_breaker_status b, helios_proxy.circuit_breaker_status c", big, "54000"},
		{"cross join of three, small", "SELECT count(*) FROM helios_proxy.circuit_breaker_status a, helios_proxy.circuit_breaker_status b, helios_proxy.circuit_breaker_status c", testInput(), ""},
		{"correlated cross join", "SELECT (SELECT count(*) FROM helios_proxy.backends b JOIN helios_proxy.backends c ON b.port <> c.port WHERE b.priority = a.priority) FROM helios_proxy.backends a", big, "54000"},
		{"equi-join of 1,000", "SELECT count(*) FROM helios_proxy.circuit_breaker_status a JOIN helios_proxy.backends b USING (backend_name)", big, ""},
		{"endless recursion", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n, helios_proxy.backends", testInput(), "54000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := db.Prepare(tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res, err := st.Execute(tt.in, nil, nil)
			var e *Error
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Execute = %v, want rows", err)
			case tt.want != "" && (!errors.As(err, &e) || e.Code != tt.want):
				t.Errorf("Execute = %v, want %s", err, tt.want)
			case tt.want == "" && len(res.Rows) != 1:
				t.Errorf("Execute = %d rows, want 1", len(res.Rows))
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("Execute took %v", d)
			}
		})
	}
}

// countDataRows counts the DataRow messages in b, which holds nothing else.
func countDataRows(t *testing.T, b []byte) int {
	t.Helper()
	n := 0
	for len(b) > 0 {
		if b[0] != 'D' || len(b) < 5 {
			t.Fatalf("not a DataRow: %q", b)
		}
		b = b[1+int(binary.BigEndian.Uint32(b[1:])):]
		n++
	}
	return n
}

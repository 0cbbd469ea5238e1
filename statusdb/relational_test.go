package statusdb

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestRelationalAgainstPostgreSQL checks joins, subqueries, WITH, set
// operations, window functions, DISTINCT ON and ANY/ALL over arrays
// against PostgreSQL, with the machinery of TestAgainstPostgreSQL. Every
// statement whose rows PostgreSQL returns in no defined order has an ORDER
// BY that makes the order total.
func TestRelationalAgainstPostgreSQL(t *testing.T) {
	runAgainstPostgreSQL(t, relationalChecks())
}

func relationalChecks() []crossCheck {
	const (
		cbs = " helios_proxy.circuit_breaker_status"
		ev  = " helios_proxy.circuit_events"
		be  = " helios_proxy.backends"
	)
	text := textParams
	one := func(oid uint32, v any) [][]byte { return [][]byte{bin(oid, v)} }
	s1, s2 := "primary-1", "Standby"
	binary := []int16{1}
	return []crossCheck{
		// Joins.
		{sql: "SELECT s.backend_name, s.circuit_state, b.host FROM" + cbs + " s JOIN" + be + " b ON b.backend_name = s.backend_name ORDER BY 1"},
		{sql: "SELECT * FROM" + be + " b JOIN" + cbs + " s USING (backend_name) ORDER BY backend_name"},
		{sql: "SELECT * FROM" + be + " NATURAL JOIN" + cbs + " ORDER BY backend_name"},
		{sql: "SELECT b.backend_name, e.id, e.event_type FROM" + be + " b LEFT JOIN" + ev + " e ON e.backend_name = b.backend_name ORDER BY b.backend_name, e.id"},
		{sql: "SELECT b.backend_name, b.port, e.id FROM" + be + " b RIGHT JOIN" + ev + " e ON e.backend_name = b.backend_name ORDER BY e.id"},
		{sql: "SELECT b.backend_name, e.id, e.backend_name FROM" + be + " b FULL JOIN" + ev + " e ON e.backend_name = b.backend_name ORDER BY e.id NULLS FIRST, b.backend_name"},
		{sql: "SELECT backend_name, b.port, e.id FROM" + be + " b FULL JOIN" + ev + " e USING (backend_name) ORDER BY 1 NULLS FIRST, 3 NULLS FIRST"},
		{sql: "SELECT * FROM" + be + " b RIGHT JOIN" + ev + " e USING (backend_name) ORDER BY id"},
		{sql: "SELECT count(*), count(e.id), count(b.port) FROM" + be + " b CROSS JOIN" + ev + " e"},
		{sql: "SELECT b.backend_name, e.id FROM" + be + " b," + ev + " e WHERE b.backend_name = e.backend_name AND e.id > 2 ORDER BY 2"},
		{sql: "SELECT a.backend_name, b.backend_name FROM" + be + " a JOIN" + be + " b ON a.priority = b.priority AND a.backend_name < b.backend_name ORDER BY 1, 2"},
		{sql: "SELECT b.backend_name, s.circuit_state, count(e.id) AS events, max(e.event_time) FROM" + be + " b JOIN" + cbs + " s USING (backend_name) LEFT JOIN" + ev + " e ON e.backend_name = s.backend_name GROUP BY 1, 2 ORDER BY 1"},
		{sql: "SELECT j.backend_name, count(*) FROM (" + be + " JOIN" + cbs + " USING (backend_name)) AS j GROUP BY 1 ORDER BY 1"},
		{sql: "SELECT j.port FROM (" + be + " JOIN" + cbs + " USING (backend_name)) AS j"},
		{sql: "SELECT helios_proxy.backends.port, helios_proxy.circuit_events.id FROM" + be + " JOIN" + ev + " ON helios_proxy.circuit_events.backend_name = helios_proxy.backends.backend_name ORDER BY 2"},
		{sql: "SELECT x.n, x.h FROM" + be + " AS x(n, h) ORDER BY 1 DESC"},
		{sql: "SELECT b.backend_name, e.id FROM" + be + " b LEFT JOIN" + ev + " e ON e.backend_name = b.backend_name AND e.event_type = 'CircuitOpened' ORDER BY 1, 2"},
		{sql: "SELECT b.backend_name FROM" + be + " b LEFT JOIN" + ev + " e ON e.backend_name = b.backend_name WHERE e.id IS NULL ORDER BY 1"},
		{sql: "SELECT b.backend_name, coalesce(e.event_type, 'none'), e.attempt, e.recovery_duration_ms FROM" + be + " b LEFT JOIN" + ev + " e ON e.backend_name = b.backend_name ORDER BY 1, e.id"},
		{sql: "SELECT s.*, b.weight * 2 AS w2 FROM" + cbs + " s JOIN" + be + " b ON b.port = s.port WHERE s.read_only ORDER BY s.port"},
		{sql: "SELECT b.backend_name, e.id FROM" + be + " b JOIN" + ev + " e ON e.id = (SELECT max(id) FROM" + ev + " e2 WHERE e2.backend_name = b.backend_name) ORDER BY 1"},
		{sql: "SELECT b.port, e.id FROM" + be + " b JOIN" + ev + " e ON b.port - 5430 = e.id ORDER BY 1"},
		{sql: "SELECT x.backend_name, y.backend_name, z.id FROM" + be + " x JOIN" + be + " y ON x.port + 1 = y.port LEFT JOIN" + ev + " z ON z.backend_name = y.backend_name AND z.id < 4 ORDER BY 1, 3"},
		{sql: "SELECT backend_name FROM" + be + " b JOIN" + ev + " e ON true"},
		{sql: "SELECT x.port FROM" + be + " b JOIN" + ev + " e ON true"},
		{sql: "SELECT 1 FROM" + be + "," + be},
		{sql: "SELECT 1 FROM" + be + " b JOIN" + cbs + " b ON true"},
		{sql: "SELECT 1 FROM" + be + " b JOIN" + ev + " e USING (nope)"},
		{sql: "SELECT 1 FROM" + be + " b JOIN" + ev + " e USING (port)"},
		{sql: "SELECT 1 FROM" + be + " b JOIN" + ev + " e ON b.port"},
		{sql: "SELECT 1 FROM" + be + " b JOIN" + ev + " e ON count(*) > 1"},
		{sql: "SELECT b.port, count(*) FROM" + be + " b JOIN" + cbs + " s USING (backend_name) GROUP BY b.priority"},
		{sql: "SELECT 1 FROM" + be + " b JOIN" + ev + " e ON b.port = e.backend_name"},

		// Subqueries.
		{sql: "SELECT backend_name, (SELECT count(*) FROM" + ev + " e WHERE e.backend_name = s.backend_name) AS n FROM" + cbs + " s ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + cbs + " WHERE latency_p95_ms > (SELECT avg(latency_p95_ms) FROM" + cbs + ") ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " WHERE backend_name IN (SELECT backend_name FROM" + ev + " WHERE event_type <> 'CircuitClosed') ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " WHERE backend_name NOT IN (SELECT backend_name FROM" + ev + ") ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " WHERE backend_name NOT IN (SELECT backend_name FROM" + ev + " WHERE backend_name IS NOT NULL) ORDER BY 1"},
		{sql: "SELECT backend_name, backend_name IN (SELECT backend_name FROM" + ev + "), NULL::text IN (SELECT backend_name FROM" + ev + "), NULL::text IN (SELECT backend_name FROM" + ev + " WHERE false) FROM" + be + " ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " b WHERE EXISTS (SELECT 1 FROM" + ev + " e WHERE e.backend_name = b.backend_name) ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " b WHERE NOT EXISTS (SELECT 1 FROM" + ev + " e WHERE e.backend_name = b.backend_name) ORDER BY 1"},
		{sql: "SELECT backend_name, (SELECT id FROM" + ev + " e WHERE e.backend_name = b.backend_name AND e.id > 100) FROM" + be + " b ORDER BY 1"},
		{sql: "SELECT (SELECT id FROM" + ev + ") FROM" + be},
		{sql: "SELECT backend_name, (SELECT id FROM" + ev + " e WHERE e.backend_name = b.backend_name) FROM" + be + " b ORDER BY 1"},
		{sql: "SELECT (SELECT id, event_type FROM" + ev + ") FROM" + be},
		{sql: "SELECT backend_name FROM" + be + " WHERE port > ALL (SELECT port FROM" + be + " WHERE priority = 2) ORDER BY 1"},
		{sql: "SELECT backend_name, port < ANY (SELECT port FROM" + cbs + " WHERE read_only), port >= ALL (SELECT port FROM" + cbs + " WHERE NOT read_only) FROM" + be + " ORDER BY 1"},
		{sql: "SELECT t.s, t.n FROM (SELECT circuit_state AS s, count(*) AS n FROM" + cbs + " GROUP BY 1) t ORDER BY 1"},
		{sql: "SELECT a, b FROM (SELECT backend_name, port FROM" + be + ") AS t(a, b) ORDER BY b DESC"},
		{sql: "SELECT * FROM (SELECT * FROM (SELECT backend_name, port FROM" + be + " WHERE port > 5432) x WHERE port < 6000) y ORDER BY 1"},
		{sql: "SELECT priority, (SELECT max(e.id) FROM" + ev + " e JOIN" + be + " b2 USING (backend_name) WHERE b2.priority = b.priority) FROM" + be + " b GROUP BY priority ORDER BY 1"},
		{sql: "SELECT port, (SELECT count(*) FROM" + ev + " e WHERE e.backend_name = b.backend_name) FROM" + be + " b GROUP BY port"},
		{sql: "SELECT circuit_state, count(*) FROM" + cbs + " GROUP BY 1 HAVING count(*) > (SELECT count(*) FROM" + ev + " WHERE event_type = 'CircuitClosed') ORDER BY 1"},
		{sql: "SELECT b.backend_name FROM" + be + " b WHERE EXISTS (SELECT 1 FROM" + ev + " e WHERE e.backend_name = b.backend_name AND EXISTS (SELECT 1 FROM" + cbs + " s WHERE s.backend_name = e.backend_name AND s.port = b.port AND e.id > 3)) ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " WHERE port IN (SELECT id + 5430 FROM" + ev + ") ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " WHERE port IN (SELECT backend_name FROM" + ev + ")"},
		{sql: "SELECT (SELECT max(port) FROM" + be + ") AS m, (SELECT min(port) FROM" + be + "), EXISTS (SELECT 1 FROM" + ev + " WHERE id > 4), (SELECT 'x') FROM" + be + " LIMIT 1"},
		{sql: "SELECT backend_name FROM" + be + " b ORDER BY (SELECT count(*) FROM" + ev + " e WHERE e.backend_name = b.backend_name) DESC, 1"},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = (SELECT port FROM" + be + " ORDER BY port DESC LIMIT 1)"},
		{sql: "SELECT backend_name, weight / (SELECT sum(weight) FROM" + be + ") AS share FROM" + be + " ORDER BY 1"},
		{sql: "SELECT id FROM" + ev + " e WHERE (SELECT circuit_state FROM" + cbs + " s WHERE s.backend_name = e.backend_name) = 'OPEN' ORDER BY 1"},
		{sql: "SELECT count(*) FILTER (WHERE backend_name IN (SELECT backend_name FROM" + ev + ")), sum((SELECT count(*)::int FROM" + ev + ")) FROM" + be},
		{sql: "SELECT * FROM (SELECT backend_name FROM" + be + ")"},
		{sql: "SELECT b.backend_name FROM" + be + " b WHERE b.port IN (SELECT s.port FROM" + cbs + " s WHERE s.priority = b.priority AND s.backend_name <> b.backend_name) ORDER BY 1"},

		// WITH.
		{sql: "WITH unhealthy AS (SELECT backend_name FROM" + cbs + " WHERE circuit_state <> 'CLOSED') SELECT * FROM unhealthy ORDER BY 1"},
		{sql: "WITH c AS (SELECT backend_name, port FROM" + be + " WHERE port > 5432), d AS (SELECT * FROM c WHERE port < 6000) SELECT d.backend_name, (SELECT count(*) FROM c) FROM d ORDER BY 1"},
		{sql: "WITH c AS (SELECT priority, count(*) AS n FROM" + be + " GROUP BY 1) SELECT a.priority, b.priority FROM c a JOIN c b ON a.n = b.n AND a.priority < b.priority ORDER BY 1, 2"},
		{sql: "WITH c(name, p) AS (SELECT backend_name, port FROM" + be + ") SELECT name, p FROM c WHERE p > 5433 ORDER BY 1"},
		{sql: "WITH c(a, b, x) AS (SELECT backend_name, port FROM" + be + ") SELECT * FROM c"},
		{sql: "SELECT backend_name FROM" + be + " WHERE port IN (WITH p AS (SELECT port FROM" + cbs + " WHERE read_only) SELECT port FROM p) ORDER BY 1"},
		{sql: "WITH m AS (SELECT max(id) AS id FROM" + ev + ") SELECT id, event_type FROM" + ev + " WHERE id = (SELECT id FROM m)"},
		{sql: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT i, (SELECT count(*) FROM" + be + " WHERE priority <= i) FROM n ORDER BY i"},
		{sql: "WITH RECURSIVE r(p) AS (SELECT priority FROM" + be + " UNION SELECT p + 1 FROM r WHERE p < 4) SELECT p FROM r ORDER BY p"},
		{sql: "WITH c AS (SELECT 1), c AS (SELECT 2) SELECT * FROM" + be},
		{sql: "WITH RECURSIVE n AS (SELECT 1 AS i UNION ALL SELECT i + 1::bigint FROM n WHERE i < 3) SELECT * FROM n, " + be},
		{sql: "WITH s AS (SELECT circuit_state, count(*) AS n FROM" + cbs + " GROUP BY 1) SELECT circuit_state, n, n * 100 / (SELECT sum(n)::bigint FROM s) AS pct FROM s ORDER BY n DESC, 1"},
		{sql: "WITH e AS (SELECT * FROM" + ev + " WHERE backend_name IS NOT NULL) SELECT b.backend_name, count(e.id) FROM" + be + " b LEFT JOIN e USING (backend_name) GROUP BY 1 ORDER BY 1"},

		// UNION, INTERSECT, EXCEPT.
		{sql: "SELECT backend_name FROM" + be + " UNION SELECT backend_name FROM" + ev + " ORDER BY 1 NULLS FIRST"},
		{sql: "SELECT port FROM" + be + " UNION ALL SELECT priority FROM" + be + " ORDER BY 1 DESC LIMIT 4"},
		{sql: "SELECT backend_name FROM" + be + " INTERSECT SELECT backend_name FROM" + ev + " ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " EXCEPT SELECT backend_name FROM" + ev + " ORDER BY 1"},
		{sql: "SELECT priority FROM" + be + " INTERSECT ALL SELECT priority FROM" + cbs + " WHERE priority > 1 ORDER BY 1"},
		{sql: "SELECT priority FROM" + be + " EXCEPT ALL SELECT priority FROM" + cbs + " WHERE read_only ORDER BY 1"},
		{sql: "SELECT priority FROM" + be + " INTERSECT SELECT priority FROM" + cbs + " ORDER BY 1"},
		{sql: "SELECT port FROM" + be + " UNION SELECT id FROM" + ev + " ORDER BY 1"},
		{sql: "SELECT 'x' UNION SELECT backend_name FROM" + be + " ORDER BY 1"},
		{sql: "SELECT NULL UNION SELECT port FROM" + be + " ORDER BY 1 NULLS FIRST"},
		{sql: "SELECT weight FROM" + be + " UNION SELECT port FROM" + be + " ORDER BY 1"},
		{sql: "SELECT port AS p, backend_name FROM" + be + " UNION SELECT id, event_type FROM" + ev + " ORDER BY p DESC LIMIT 3 OFFSET 1"},
		{sql: "(SELECT backend_name FROM" + be + " ORDER BY port LIMIT 2) UNION ALL (SELECT backend_name FROM" + be + " ORDER BY port DESC LIMIT 1) ORDER BY 1"},
		{sql: "SELECT priority FROM" + be + " EXCEPT SELECT 1 UNION SELECT 7 ORDER BY 1"},
		{sql: "SELECT priority FROM" + be + " UNION ALL SELECT 2 INTERSECT SELECT priority FROM" + cbs + " ORDER BY 1"},
		{sql: "SELECT count(*) FROM (SELECT backend_name FROM" + be + " UNION SELECT backend_name FROM" + ev + ") u"},
		{sql: "SELECT backend_name FROM" + be + " WHERE backend_name IN (SELECT backend_name FROM" + ev + " UNION SELECT 'Standby') ORDER BY 1"},
		{sql: "SELECT port FROM" + be + " UNION SELECT backend_name FROM" + be},
		{sql: "SELECT port FROM" + be + " UNION SELECT port, port FROM" + be},
		{sql: "SELECT port FROM" + be + " UNION SELECT port FROM" + be + " ORDER BY port + 1"},
		{sql: "SELECT port FROM" + be + " UNION SELECT port FROM" + be + " ORDER BY nope"},
		{sql: "SELECT port FROM" + be + " INTERSECT SELECT port FROM" + be + " ORDER BY 2"},

		// Window functions.
		{sql: "SELECT backend_name, row_number() OVER (ORDER BY port) FROM" + be + " ORDER BY 2"},
		{sql: "SELECT backend_name, priority, rank() OVER (ORDER BY priority), dense_rank() OVER (ORDER BY priority), percent_rank() OVER (ORDER BY priority), cume_dist() OVER (ORDER BY priority) FROM" + be + " ORDER BY backend_name"},
		{sql: "SELECT backend_name, priority, row_number() OVER (PARTITION BY priority ORDER BY port) FROM" + be + " ORDER BY priority, port"},
		{sql: "SELECT id, event_type, lag(event_type) OVER (ORDER BY id), lead(id, 2) OVER (ORDER BY id), lag(id, 1, 0) OVER (ORDER BY id), lead(event_type, 1, 'last') OVER (ORDER BY id) FROM" + ev + " ORDER BY id"},
		{sql: "SELECT id, backend_name, lag(id) OVER (PARTITION BY backend_name ORDER BY id), count(*) OVER (PARTITION BY backend_name) FROM" + ev + " ORDER BY id"},
		{sql: "SELECT backend_name, port, first_value(backend_name) OVER (ORDER BY port), last_value(backend_name) OVER (ORDER BY port) FROM" + be + " ORDER BY port"},
		{sql: "SELECT backend_name, priority, first_value(backend_name) OVER (ORDER BY priority), last_value(backend_name) OVER (ORDER BY priority DESC, port) FROM" + be + " ORDER BY port"},
		{sql: "SELECT backend_name, priority, sum(port) OVER (ORDER BY priority), count(*) OVER (PARTITION BY priority), avg(weight) OVER (PARTITION BY priority), max(port) OVER (), min(backend_name) OVER (ORDER BY port DESC) FROM" + be + " ORDER BY backend_name"},
		{sql: "SELECT port, sum(port) OVER (ORDER BY port ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), sum(priority) OVER (ORDER BY priority ROWS UNBOUNDED PRECEDING), sum(priority) OVER (ORDER BY priority RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) FROM" + be + " ORDER BY port"},
		{sql: "SELECT port, last_value(port) OVER (ORDER BY port ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), nth_value(backend_name, 2) OVER (ORDER BY port ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), count(*) OVER (ORDER BY priority GROUPS BETWEEN CURRENT ROW AND CURRENT ROW) FROM" + be + " ORDER BY port"},
		{sql: "SELECT priority, count(*), rank() OVER (ORDER BY count(*) DESC), sum(count(*)::int) OVER (), max(sum(port)) OVER (ORDER BY priority) FROM" + be + " GROUP BY priority ORDER BY priority"},
		{sql: "SELECT backend_name, rank() OVER w, row_number() OVER w, sum(port) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM" + be + " WINDOW w AS (ORDER BY priority, backend_name) ORDER BY 1"},
		{sql: "SELECT backend_name, row_number() OVER (ORDER BY backend_name DESC) FROM" + be},
		{sql: "SELECT backend_name, ntile(2) OVER (ORDER BY backend_name), ntile(3) OVER (ORDER BY backend_name), ntile(7) OVER (ORDER BY port) FROM" + be + " ORDER BY 1"},
		{sql: "SELECT backend_name, count(*) FILTER (WHERE read_only) OVER (ORDER BY port), sum(port) FILTER (WHERE priority > 1) OVER () FROM" + be + " ORDER BY port"},
		{sql: "SELECT backend_name, last_failure_time, rank() OVER (ORDER BY last_failure_time NULLS FIRST), rank() OVER (ORDER BY last_failure_time DESC) FROM" + cbs + " ORDER BY 1"},
		{sql: "SELECT * FROM (SELECT backend_name, priority, row_number() OVER (PARTITION BY priority ORDER BY weight DESC, backend_name) AS rn FROM" + be + ") t WHERE rn = 1 ORDER BY priority"},
		{sql: "SELECT backend_name, percent_rank() OVER (PARTITION BY backend_name), cume_dist() OVER (PARTITION BY priority ORDER BY port) FROM" + be + " ORDER BY 1"},
		{sql: "SELECT DISTINCT priority, count(*) OVER (PARTITION BY priority) FROM" + be + " ORDER BY 1"},
		{sql: "SELECT row_number() OVER (ORDER BY port) FROM" + be + " WHERE rank() OVER () > 1"},
		{sql: "SELECT sum(row_number() OVER ()) OVER () FROM" + be},
		{sql: "SELECT sum(rank() OVER ()) FROM" + be},
		{sql: "SELECT rank() OVER nope FROM" + be},
		{sql: "SELECT rank(1) OVER () FROM" + be},
		{sql: "SELECT lag(latency_p95_ms, 1, 0) OVER () FROM" + cbs},
		{sql: "SELECT priority FROM" + be + " GROUP BY rank() OVER ()"},
		{sql: "SELECT port, rank() OVER (ORDER BY weight) FROM" + be + " GROUP BY port"},
		{sql: "SELECT count(DISTINCT port) OVER () FROM" + be},
		{sql: "SELECT rank() OVER (w ORDER BY port) FROM" + be + " WINDOW w AS (ORDER BY priority)"},

		// DISTINCT ON.
		{sql: "SELECT DISTINCT ON (priority) priority, backend_name FROM" + be + " ORDER BY priority, backend_name"},
		{sql: "SELECT DISTINCT ON (priority) priority, weight FROM" + be},
		{sql: "SELECT DISTINCT ON (read_only, priority) read_only, priority, backend_name FROM" + be + " ORDER BY read_only, priority, port DESC"},
		{sql: "SELECT DISTINCT ON (backend_name) backend_name, id, event_type FROM" + ev + " ORDER BY backend_name NULLS FIRST, id DESC"},
		{sql: "SELECT DISTINCT ON (priority) backend_name FROM" + be + " ORDER BY port"},
		{sql: "SELECT DISTINCT ON (priority) priority, port FROM" + be + " ORDER BY priority DESC, port LIMIT 2"},
		{sql: "SELECT DISTINCT ON (port / 1000) port / 1000, backend_name FROM" + be + " ORDER BY port / 1000, backend_name DESC"},
		{sql: "SELECT DISTINCT ON (2) circuit_state, read_only, backend_name FROM" + cbs + " ORDER BY 2, 3"},

		// ANY and ALL over arrays.
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY('{5432,5434}') ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY(ARRAY[5432, 6432]) ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " WHERE backend_name = ANY($1) ORDER BY 1", params: text("{primary-1,Standby,\"nope x\"}")},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY($1) ORDER BY 1", params: one(pgtype.Int4ArrayOID, []int32{5432, 5433}), formats: binary},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY($1) ORDER BY 1", declared: []uint32{pgtype.Int8ArrayOID}, params: one(pgtype.Int8ArrayOID, []int64{6432, 5435, 1}), formats: binary},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY($1) ORDER BY 1", declared: []uint32{pgtype.Int8ArrayOID}, params: text("{5432, 6432}")},
		{sql: "SELECT backend_name FROM" + be + " WHERE backend_name <> ALL($1) ORDER BY 1", params: one(pgtype.TextArrayOID, []string{s1, s2}), formats: binary},
		{sql: "SELECT backend_name, backend_name = ANY($1), backend_name <> ALL($1) FROM" + be + " ORDER BY 1", params: one(pgtype.TextArrayOID, []*string{&s1, nil}), formats: binary},
		{sql: "SELECT port, port = ANY('{5432,NULL}'), port <> ALL('{5432,NULL}'), port = ANY('{}'), port <> ALL('{}'), NULL::int = ANY('{}'), NULL::int = ANY('{1}'), port = ANY(NULL::int[]) FROM" + be + " ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " WHERE backend_name LIKE ANY (ARRAY['rep%', 'S%']) ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + cbs + " WHERE latency_p95_ms > ANY(ARRAY[100, 1000.5]) AND error_rate < ALL('{0.4, 1}') ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY(ARRAY(SELECT port FROM" + cbs + " WHERE read_only)) ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY($1::int8[]) ORDER BY 1", params: text("{5433,5434}")},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY('{{5432,5433},{5434,6432}}'::int[]) AND backend_name = ANY('{ primary-1 , \"Standby\" ,replica-1}') ORDER BY 1"},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY($1) AND priority = ANY($2) ORDER BY 1", describeOnly: true},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY('{a}')"},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY(ARRAY['a'])"},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY(5)"},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY('1,2')"},
		{sql: "SELECT backend_name FROM" + be + " WHERE port = ANY(ARRAY[])"},
	}
}

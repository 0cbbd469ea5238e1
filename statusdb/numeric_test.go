package statusdb

import "testing"

// TestNumericAgainstPostgreSQL checks that numeric stays numeric: decimal
// literals, casts, avg and sum, round and the rest give PostgreSQL's type
// (1700), scale and digits, in text and binary.
func TestNumericAgainstPostgreSQL(t *testing.T) {
	runAgainstPostgreSQL(t, numericChecks())
}

func numericChecks() []crossCheck {
	const cbs = " FROM helios_proxy.circuit_breaker_status"
	const be = " FROM helios_proxy.backends"
	text := textParams
	return []crossCheck{
		{sql: "SELECT 2.5, 1.50, 0.0500, 5.0, -0.0, 00012.3400, 1e3, 1.5e-3, 12345678901234567890, .5, 5.", standalone: true},
		{sql: "SELECT 0.1 + 0.2, 1.5 - 2.25, 1.10 * 3, 2.5 * 2.5, 10.0 / 4, 1 / 3.0, 2.0 / 3, 7 % 2.5, -7.5 % 2", standalone: true},
		{sql: "SELECT 1::numeric / 3, 100::numeric / 7, 1234567::numeric / 0.001, 0.0001 / 3, 5 / 0.5, 99999999 / 1.5", standalone: true},
		{sql: "SELECT 1.0 / 0", standalone: true},
		{sql: "SELECT 1.5 % 0", standalone: true},
		{sql: "SELECT avg(port), sum(port), sum(requests_total), avg(requests_total), sum(priority), avg(priority)" + cbs},
		{sql: "SELECT priority, avg(port), sum(requests_total), avg(weight), avg(port::numeric(10,2))" + cbs + " GROUP BY priority ORDER BY priority"},
		{sql: "SELECT avg(port)" + cbs + " WHERE false"},
		{sql: "SELECT sum(x), avg(x), min(x), max(x) FROM (SELECT 1.5 AS x UNION ALL SELECT 2.25 UNION ALL SELECT NULL UNION ALL SELECT -0.125) v WHERE EXISTS (SELECT FROM helios_proxy.backends)"},
		{sql: "SELECT port::numeric, port::numeric(6,1), latency_p95_ms::numeric, error_rate::numeric(4,3), weight::decimal" + cbs + " ORDER BY backend_name"},
		{sql: "SELECT latency_p95_ms::numeric(3,1)" + cbs},
		{sql: "SELECT 1234.5::numeric(5,2)", standalone: true},
		{sql: "SELECT 'abc'::numeric", standalone: true},
		{sql: "SELECT ' 12.50 '::numeric, '-0.000'::numeric, '1e-2'::numeric, 'NaN'::numeric, '1.5E+2'::numeric, '+3'::numeric", standalone: true},
		{sql: "SELECT round(2.5), round(-2.5), round(1.005, 2), round(1234.5678, -2), round(0.004, 2), round(5, 2), round(1.5, 5), round(port::numeric / 7, 3)" + cbs},
		{sql: "SELECT trunc(2.789, 1), trunc(-2.789), trunc(1999.9, -2), ceil(1.2), ceil(-1.2), floor(1.8), floor(-1.8), ceiling(0.0001), abs(-2.50), -(1.20)", standalone: true},
		{sql: "SELECT round(latency_p95_ms, 1)" + cbs},
		{sql: "SELECT round(4), round(4.4::float8)", standalone: true},
		{sql: "SELECT 2.5::float8, 2.5::int, (-2.5)::int, 3.5::bigint, 0.1::float8 + 0.2, (1.0/3)::float8, 12.7::int4 + 1", standalone: true},
		{sql: "SELECT 1.5 = 1.50, 1.5 < 2, 2 > 1.99, 1.0 <> 1, 0.1 + 0.2 = 0.3, 3 = 3.0, 1.5 = 1.5::float8", standalone: true},
		{sql: "SELECT backend_name, port * 1.5, port + 0.25, latency_p95_ms * 1.5, error_rate + 0.1" + cbs + " ORDER BY 1"},
		{sql: "SELECT DISTINCT x FROM (SELECT 1.50 AS x UNION ALL SELECT 1.5 UNION ALL SELECT 2.0 UNION ALL SELECT 2) v WHERE EXISTS (SELECT FROM helios_proxy.backends) ORDER BY x"},
		{sql: "SELECT x, count(*) FROM (SELECT 1.50 AS x UNION ALL SELECT 1.5 UNION ALL SELECT 2.0) v WHERE EXISTS (SELECT FROM helios_proxy.backends) GROUP BY x ORDER BY x"},
		{sql: "SELECT x FROM (SELECT 10.5 AS x UNION ALL SELECT -3 UNION ALL SELECT 2.25 UNION ALL SELECT NULL UNION ALL SELECT 0) v WHERE EXISTS (SELECT FROM helios_proxy.backends) ORDER BY x DESC NULLS LAST"},
		{sql: "SELECT greatest(1, 2.5, 0.75), least(1.50, 3), coalesce(NULL, 1.0), nullif(1.0, 1), CASE WHEN true THEN 1 ELSE 2.50 END", standalone: true},
		{sql: "SELECT 1.5 UNION SELECT 2 UNION SELECT 1.50 FROM helios_proxy.backends ORDER BY 1"},
		{sql: "SELECT port::numeric / 1000 AS k, (port::numeric / 1000)::text" + be + " ORDER BY 1"},
		{sql: "SELECT backend_name, sum(port) OVER (ORDER BY backend_name), avg(port) OVER (PARTITION BY priority)" + be + " ORDER BY backend_name"},
		{sql: "SELECT backend_name" + cbs + " WHERE port > $1 ORDER BY 1", declared: []uint32{1700}, params: text("5433.5")},
		{sql: "SELECT $1::numeric + 1, $2::numeric(5,1)", params: text("1.25", "3.14159"), standalone: true},
		{sql: "SELECT $1 + 0.5", declared: []uint32{1700}, params: [][]byte{bin(1700, "-12.345")}, formats: []int16{1}, standalone: true},
		{sql: "SELECT $1 * 2", declared: []uint32{1700}, params: [][]byte{bin(1700, "0.00001")}, formats: []int16{1}, standalone: true},
		{sql: "SELECT 99999999999999999999.5 * 2, -0.000000001 * 3, 10000.0001, 0.00010000, 123456789012.345678901", standalone: true},
		{sql: "SELECT 1.5 = ANY('{1.5,2}'::numeric[]), 2 = ANY(ARRAY[1.0, 2.0]), 3.0 IN (1, 2, 3)", standalone: true},
		{sql: "SELECT 'NaN'::numeric + 1, 'NaN'::numeric > 1e10, 'NaN'::numeric = 'nan'", standalone: true},
		{sql: "SELECT count(*) FROM (SELECT avg(port) AS a" + cbs + ") s WHERE a > 5000.5"},
		{sql: "SELECT 2147483647.5::int", standalone: true},
		{sql: "SELECT sum(requests_total * 1000000000000)" + cbs},
	}
}

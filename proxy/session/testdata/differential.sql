-- The status differential's statements (differential_test.go explains
-- the format). Every statement runs through the proxy and on PostgreSQL
-- holding a copy of the same rows; every answer must be the same.

-- script seed
SELECT * FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT backend_name, circuit_state FROM helios_proxy.circuit_breaker_status WHERE circuit_state != 'CLOSED' ORDER BY 1
SELECT * FROM helios_proxy.circuit_events ORDER BY id
SELECT * FROM helios_proxy.backends ORDER BY backend_name
SELECT * FROM helios_proxy.cluster_members ORDER BY node
SELECT backend_name, latency_p95_ms, error_rate FROM helios_proxy.circuit_breaker_status ORDER BY latency_p95_ms DESC
SELECT count(*) FROM helios_proxy.circuit_breaker_status WHERE circuit_state = 'OPEN'
SELECT circuit_state, count(*) FROM helios_proxy.circuit_breaker_status GROUP BY circuit_state ORDER BY 1
SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE error_rate > 0.1 AND read_only ORDER BY 1
SELECT backend_name, open_reason, override FROM helios_proxy.circuit_breaker_status ORDER BY state_since
SELECT event_type, backend_name, reason FROM helios_proxy.circuit_events WHERE event_time > '2026-03-14 15:09:00+00' ORDER BY event_time
SELECT max(latency_p99_ms), min(latency_p50_ms), sum(active_connections), avg(error_rate) FROM helios_proxy.circuit_breaker_status
SELECT backend_name FROM helios_proxy.circuit_breaker_status ORDER BY backend_name LIMIT 2 OFFSET 1
SELECT backend_name, host || ':' || port AS addr FROM helios_proxy.backends ORDER BY 2
SELECT role, routing, timeline, replication_lag_bytes, fenced_reason, observed_role FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT DISTINCT role FROM helios_proxy.circuit_breaker_status ORDER BY role
SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE backend_name LIKE 'pg-%' ORDER BY 1
SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE backend_name ILIKE 'r%' ORDER BY 1
SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE last_failure_time IS NULL ORDER BY 1
SELECT backend_name, coalesce(open_reason, '-'), nullif(priority, 2) FROM helios_proxy.circuit_breaker_status ORDER BY 1
SELECT backend_name, CASE WHEN error_rate > 0.5 THEN 'bad' WHEN error_rate > 0 THEN 'meh' ELSE 'good' END FROM helios_proxy.circuit_breaker_status ORDER BY 1
SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE port BETWEEN 5432 AND 5433 ORDER BY 1
SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE priority IN (1, 3) ORDER BY 1
SELECT requests_total, failures_total, rejected_total, transitions_total FROM helios_proxy.circuit_breaker_status ORDER BY requests_total
SELECT backend_name, requests_total * 2, failures_total::float8 / nullif(requests_total, 0) FROM helios_proxy.circuit_breaker_status ORDER BY 1
SELECT HELIOS_PROXY.Backends.backend_name FROM helios_proxy.backends ORDER BY 1
SELECT b.* FROM "helios_proxy"."backends" AS b ORDER BY b.port, b.backend_name
SELECT nope FROM helios_proxy.backends
SELECT * FROM helios_proxy.nope
SELECT port / 0 FROM helios_proxy.backends
SELECT backend_name FROM helios_proxy.backends ORDER BY 7
SELECT backend_name FROM helios_proxy.backends WHERE port = 'x'
SELECT sum(backend_name) FROM helios_proxy.backends

-- script joins
SELECT s.backend_name, b.host FROM helios_proxy.circuit_breaker_status s JOIN helios_proxy.backends b ON b.backend_name = s.backend_name ORDER BY 1
SELECT s.backend_name, count(e.id) FROM helios_proxy.circuit_breaker_status s LEFT JOIN helios_proxy.circuit_events e ON e.backend_name = s.backend_name GROUP BY s.backend_name ORDER BY 1
SELECT backend_name, e.event_type FROM helios_proxy.backends JOIN helios_proxy.circuit_events e USING (backend_name) ORDER BY e.id
SELECT b.backend_name, m.node FROM helios_proxy.backends b CROSS JOIN helios_proxy.cluster_members m ORDER BY 1, 2
SELECT e.id, s.circuit_state FROM helios_proxy.circuit_events e RIGHT JOIN helios_proxy.circuit_breaker_status s ON s.backend_name = e.backend_name ORDER BY 1 NULLS FIRST, 2
SELECT e.id, s.backend_name FROM helios_proxy.circuit_events e FULL JOIN helios_proxy.circuit_breaker_status s ON s.backend_name = e.backend_name ORDER BY 1, 2
SELECT a.backend_name, b.backend_name FROM helios_proxy.backends a JOIN helios_proxy.backends b ON a.priority = b.priority AND a.backend_name < b.backend_name ORDER BY 1, 2
SELECT * FROM helios_proxy.backends NATURAL JOIN helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT s.backend_name, e.reason FROM helios_proxy.circuit_breaker_status s, helios_proxy.circuit_events e WHERE e.backend_name = s.backend_name AND e.to_state = 'OPEN' ORDER BY e.id
SELECT s.backend_name, x.n FROM helios_proxy.circuit_breaker_status s JOIN (SELECT backend_name, count(*) AS n FROM helios_proxy.circuit_events GROUP BY 1) x ON x.backend_name = s.backend_name ORDER BY 1
SELECT s.backend_name, l.last FROM helios_proxy.circuit_breaker_status s LEFT JOIN LATERAL (SELECT max(event_time) AS last FROM helios_proxy.circuit_events e WHERE e.backend_name = s.backend_name) l ON true ORDER BY 1
SELECT backend_name FROM helios_proxy.backends JOIN helios_proxy.nope USING (backend_name)
SELECT backend_name FROM helios_proxy.backends JOIN helios_proxy.circuit_breaker_status USING (backend_name) WHERE port > 0 ORDER BY 1
SELECT port FROM helios_proxy.backends JOIN helios_proxy.circuit_breaker_status USING (backend_name)

-- script subqueries
SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE latency_p95_ms > (SELECT avg(latency_p95_ms) FROM helios_proxy.circuit_breaker_status) ORDER BY 1
SELECT backend_name FROM helios_proxy.backends WHERE backend_name IN (SELECT backend_name FROM helios_proxy.circuit_events WHERE event_type = 'CircuitOpened') ORDER BY 1
SELECT backend_name FROM helios_proxy.backends b WHERE EXISTS (SELECT 1 FROM helios_proxy.circuit_events e WHERE e.backend_name = b.backend_name) ORDER BY 1
SELECT backend_name FROM helios_proxy.backends b WHERE NOT EXISTS (SELECT 1 FROM helios_proxy.circuit_events e WHERE e.backend_name = b.backend_name) ORDER BY 1
SELECT backend_name, (SELECT count(*) FROM helios_proxy.circuit_events e WHERE e.backend_name = b.backend_name) FROM helios_proxy.backends b ORDER BY 1
SELECT * FROM (SELECT backend_name, port FROM helios_proxy.backends WHERE port > 5432) AS t ORDER BY port, backend_name
SELECT backend_name FROM helios_proxy.backends WHERE backend_name NOT IN (SELECT backend_name FROM helios_proxy.circuit_events WHERE backend_name IS NOT NULL) ORDER BY 1
SELECT (SELECT backend_name FROM helios_proxy.backends)
SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE error_rate = (SELECT max(error_rate) FROM helios_proxy.circuit_breaker_status)
SELECT max(n) FROM (SELECT count(*) AS n FROM helios_proxy.circuit_events GROUP BY backend_name) t
SELECT backend_name FROM helios_proxy.backends WHERE port > ALL (SELECT port FROM helios_proxy.backends WHERE priority = 1) ORDER BY 1
SELECT backend_name FROM helios_proxy.backends WHERE port = ANY (SELECT port FROM helios_proxy.backends WHERE priority = 2) ORDER BY 1

-- script cte_setops
WITH open AS (SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE circuit_state <> 'CLOSED') SELECT * FROM open ORDER BY 1
WITH a AS (SELECT backend_name, port FROM helios_proxy.backends), b AS (SELECT * FROM a WHERE port > 5432) SELECT count(*) FROM b
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT i, (SELECT count(*) FROM helios_proxy.backends WHERE priority <= i) FROM n
WITH e AS MATERIALIZED (SELECT * FROM helios_proxy.circuit_events) SELECT event_type FROM e ORDER BY id DESC LIMIT 3
SELECT backend_name FROM helios_proxy.backends UNION SELECT backend_name FROM helios_proxy.circuit_events ORDER BY 1
SELECT backend_name FROM helios_proxy.backends UNION ALL SELECT backend_name FROM helios_proxy.circuit_events ORDER BY 1 NULLS LAST
SELECT backend_name FROM helios_proxy.backends INTERSECT SELECT backend_name FROM helios_proxy.circuit_events ORDER BY 1
SELECT backend_name FROM helios_proxy.backends EXCEPT SELECT backend_name FROM helios_proxy.circuit_events ORDER BY 1
SELECT backend_name FROM helios_proxy.backends EXCEPT ALL SELECT backend_name FROM helios_proxy.circuit_events ORDER BY 1
SELECT port FROM helios_proxy.backends UNION SELECT 'x'
SELECT port, host FROM helios_proxy.backends UNION SELECT 1
SELECT port FROM helios_proxy.backends UNION SELECT 5432.5 ORDER BY 1
(SELECT backend_name FROM helios_proxy.backends ORDER BY 1 LIMIT 1) UNION ALL (SELECT node FROM helios_proxy.cluster_members ORDER BY 1 DESC LIMIT 1)
SELECT DISTINCT ON (priority) priority, backend_name, port FROM helios_proxy.backends ORDER BY priority, port DESC, backend_name
SELECT DISTINCT ON (backend_name) backend_name, event_type FROM helios_proxy.circuit_events WHERE backend_name IS NOT NULL ORDER BY backend_name, id DESC
SELECT DISTINCT priority, read_only FROM helios_proxy.backends ORDER BY 1, 2

-- script windows
SELECT backend_name, row_number() OVER (ORDER BY latency_p95_ms DESC) FROM helios_proxy.circuit_breaker_status ORDER BY 2
SELECT backend_name, priority, rank() OVER (ORDER BY priority), dense_rank() OVER (ORDER BY priority) FROM helios_proxy.backends ORDER BY backend_name
SELECT id, event_type, lag(event_type) OVER (ORDER BY id), lead(event_time) OVER (ORDER BY id) FROM helios_proxy.circuit_events ORDER BY id
SELECT backend_name, priority, count(*) OVER (PARTITION BY priority), sum(port) OVER (PARTITION BY priority) FROM helios_proxy.backends ORDER BY 1
SELECT id, sum(id) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), avg(id) OVER (ORDER BY id) FROM helios_proxy.circuit_events ORDER BY id
SELECT backend_name, first_value(backend_name) OVER w, last_value(backend_name) OVER w FROM helios_proxy.backends WINDOW w AS (PARTITION BY priority ORDER BY backend_name ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) ORDER BY 1
SELECT backend_name, ntile(2) OVER (ORDER BY backend_name), percent_rank() OVER (ORDER BY port), cume_dist() OVER (ORDER BY port) FROM helios_proxy.backends ORDER BY 1
SELECT backend_name, latency_p95_ms, max(latency_p95_ms) OVER () - latency_p95_ms FROM helios_proxy.circuit_breaker_status ORDER BY 1
SELECT id, nth_value(id, 2) OVER (ORDER BY id) FROM helios_proxy.circuit_events ORDER BY id
SELECT * FROM (SELECT backend_name, row_number() OVER (PARTITION BY priority ORDER BY weight DESC) AS rn FROM helios_proxy.backends) t WHERE rn = 1 ORDER BY 1
SELECT backend_name, row_number() OVER () FROM helios_proxy.backends WHERE false

-- script arrays
SELECT backend_name FROM helios_proxy.backends WHERE backend_name = ANY(ARRAY['pg-primary', 'Réplica-ñ']) ORDER BY 1
SELECT backend_name FROM helios_proxy.backends WHERE port <> ALL('{5432,6543}') ORDER BY 1
SELECT backend_name FROM helios_proxy.backends WHERE backend_name = ANY($1) ORDER BY 1 \bind {pg-primary,pg-replica-b}
SELECT backend_name FROM helios_proxy.backends WHERE backend_name = ANY($1) ORDER BY 1 \bind {pg-primary,pg-replica-b} \types 1009
SELECT backend_name FROM helios_proxy.backends WHERE port = ANY($1) ORDER BY 1 \bind {5433,6543} \types 1007
SELECT backend_name FROM helios_proxy.backends WHERE port = ANY($1::int[]) ORDER BY 1 \bind {5433,NULL}
SELECT backend_name FROM helios_proxy.backends WHERE port > ALL($1) ORDER BY 1 \bind {5432,5433} \types 1007
SELECT backend_name FROM helios_proxy.backends WHERE backend_name = $1 \bind pg-primary
SELECT backend_name FROM helios_proxy.backends WHERE port = $1 AND priority = $2 \bind 5432 | 1
SELECT backend_name FROM helios_proxy.backends WHERE port = $1 \bind \N
SELECT $1::text || backend_name FROM helios_proxy.backends ORDER BY 1 \bind >
SELECT backend_name FROM helios_proxy.backends WHERE port = $1 \bind x
SELECT backend_name FROM helios_proxy.backends WHERE port = $2
SELECT array_agg(backend_name ORDER BY backend_name) FROM helios_proxy.backends
SELECT array_agg(port ORDER BY port DESC), array_length(array_agg(port), 1) FROM helios_proxy.backends
SELECT (array_agg(backend_name ORDER BY port))[1] FROM helios_proxy.backends
SELECT unnest(ARRAY[1, 2]) AS n, backend_name FROM helios_proxy.backends WHERE priority = 1 ORDER BY 1
SELECT string_to_array('a,b,c', ','), array_to_string(array_agg(backend_name ORDER BY 1), '|') FROM helios_proxy.backends
SELECT cardinality(array_agg(host)), array_position(array_agg(backend_name ORDER BY backend_name), 'pg-primary') FROM helios_proxy.backends

-- script strings
SELECT concat(backend_name, '@', host, ':', port) FROM helios_proxy.backends ORDER BY 1
SELECT concat_ws('/', backend_name, NULL, port) FROM helios_proxy.backends ORDER BY 1
SELECT substr(backend_name, 4), substring(backend_name FROM 1 FOR 2), left(backend_name, 3), right(backend_name, 2) FROM helios_proxy.backends ORDER BY 1
SELECT format('%s has %s%%', backend_name, error_rate * 100), format('%I.%L', backend_name, host) FROM helios_proxy.circuit_breaker_status ORDER BY 1
SELECT position('-' IN backend_name), strpos(backend_name, 'a'), length(backend_name), char_length(host), octet_length(backend_name) FROM helios_proxy.backends ORDER BY backend_name
SELECT backend_name FROM helios_proxy.backends WHERE backend_name ~ '^pg-r' ORDER BY 1
SELECT backend_name FROM helios_proxy.backends WHERE backend_name ~* '^R' ORDER BY 1
SELECT backend_name FROM helios_proxy.backends WHERE backend_name !~ 'replica' ORDER BY 1
SELECT regexp_replace(backend_name, '-(.)', '_\1', 'g'), regexp_match(host, '(\d+)\.(\d+)$') FROM helios_proxy.backends ORDER BY 1
SELECT backend_name FROM helios_proxy.backends WHERE backend_name ~ '('
SELECT upper(backend_name), lower(host), initcap(event_type) FROM helios_proxy.circuit_events e JOIN helios_proxy.backends USING (backend_name) ORDER BY e.id
SELECT replace(backend_name, 'pg', 'PG'), translate(host, '.', '_'), reverse(backend_name), repeat('*', priority) FROM helios_proxy.backends ORDER BY 1
SELECT trim(both 'p' FROM backend_name), ltrim(backend_name, 'pg-'), rtrim(host, '0123456789'), btrim('  x  ') FROM helios_proxy.backends ORDER BY 1
SELECT lpad(port::text, 8, '0'), rpad(backend_name, 14, '.'), split_part(host, '.', 2) FROM helios_proxy.backends ORDER BY 1
SELECT backend_name || ' ' || circuit_state, md5(backend_name), starts_with(backend_name, 'pg') FROM helios_proxy.circuit_breaker_status ORDER BY 1
SELECT string_agg(backend_name, ', ' ORDER BY backend_name) FROM helios_proxy.backends
SELECT string_agg(DISTINCT role, ',' ORDER BY role) FROM helios_proxy.circuit_breaker_status
SELECT quote_ident(backend_name), quote_literal(host), quote_nullable(NULL::text) FROM helios_proxy.backends ORDER BY 1
SELECT ascii(backend_name), chr(65 + priority), to_hex(port) FROM helios_proxy.backends ORDER BY 1
SELECT backend_name SIMILAR TO 'pg-%' FROM helios_proxy.backends ORDER BY backend_name
SELECT nope(backend_name) FROM helios_proxy.backends
SELECT substr(backend_name, 'x') FROM helios_proxy.backends

-- script strings_more
SELECT format('%2$s|%1$s|%-8s|%8s|%s', backend_name, port, host), format('%s', read_only), format('%L|%L', NULL, weight) FROM helios_proxy.backends ORDER BY backend_name
SELECT format('%*s|%-*s|', priority + 3, port, 6, priority) FROM helios_proxy.backends ORDER BY backend_name
SELECT format('%z', port) FROM helios_proxy.backends
SELECT format('%s %s', port) FROM helios_proxy.backends
SELECT format('%I', NULL::text) FROM helios_proxy.backends
SELECT format('100%') FROM helios_proxy.backends
SELECT concat(), concat_ws(NULL, backend_name) FROM helios_proxy.backends LIMIT 1
SELECT concat(read_only, weight, NULL, state_since) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT substr(backend_name, -1, 4), substr(backend_name, 0), substring(backend_name, 3), substring(host FOR 4), substring(backend_name FROM 20) FROM helios_proxy.backends ORDER BY backend_name
SELECT substr(backend_name, 2, -1) FROM helios_proxy.backends
SELECT substring(host FROM '\d+$'), substring(backend_name FROM '-(\w)'), substring(backend_name FROM 'zz') FROM helios_proxy.backends ORDER BY backend_name
SELECT substring(backend_name SIMILAR 'pg-#"r%#"-_' ESCAPE '#') FROM helios_proxy.backends ORDER BY backend_name
SELECT left(backend_name, -3), right(backend_name, -3), left(host, 100), left(backend_name, 0) FROM helios_proxy.backends ORDER BY backend_name
SELECT position('replica' IN backend_name), position('' IN host), strpos(host, 'internal'), strpos(backend_name, 'ñ') FROM helios_proxy.backends ORDER BY backend_name
SELECT octet_length(backend_name), char_length(backend_name), character_length(host), length(host) FROM helios_proxy.backends ORDER BY backend_name
SELECT initcap(backend_name), initcap(host || ' x_y 9ab'), upper(backend_name), lower(backend_name) FROM helios_proxy.backends ORDER BY backend_name
SELECT replace(host, '.', ''), replace(backend_name, '', 'x'), translate(backend_name, 'pgé', 'PG'), reverse(host) FROM helios_proxy.backends ORDER BY backend_name
SELECT repeat(backend_name, 0), repeat('ab', -1), repeat('-', port / 1000) FROM helios_proxy.backends ORDER BY backend_name
SELECT lpad(backend_name, 5), rpad(backend_name, 3), lpad(backend_name, 16, 'ñx'), rpad(host, 12, ''), lpad(host, -1, 'x') FROM helios_proxy.backends ORDER BY backend_name
SELECT split_part(host, '.', -1), split_part(backend_name, '-', 3), split_part(host, '', 1), split_part(host, 'x', 2) FROM helios_proxy.backends ORDER BY backend_name
SELECT split_part(host, '.', 0) FROM helios_proxy.backends
SELECT md5(host), md5(''), starts_with(host, '10.'), starts_with(backend_name, '') FROM helios_proxy.backends ORDER BY backend_name
SELECT quote_ident(backend_name || '"'), quote_ident('select'), quote_ident('user_name'), quote_ident('Upper'), quote_literal(backend_name || E'\\'''), quote_literal(port), quote_nullable(host), quote_nullable(NULL) FROM helios_proxy.backends ORDER BY backend_name
SELECT ascii(host), ascii(''), chr(port / 10), chr(233), to_hex(port * -1), to_hex(requests_total) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT chr(0) FROM helios_proxy.backends
SELECT chr(-1 * port) FROM helios_proxy.backends
SELECT chr(1114112 + port) FROM helios_proxy.backends
SELECT backend_name FROM helios_proxy.backends WHERE backend_name SIMILAR TO '(pg|R)%-[a-c]' ORDER BY 1
SELECT backend_name NOT SIMILAR TO '%replica%', backend_name SIMILAR TO 'pg!_%' ESCAPE '!', host SIMILAR TO '[0-9.]+' FROM helios_proxy.backends ORDER BY backend_name
SELECT backend_name LIKE 'pg#_%' ESCAPE '#', backend_name ILIKE 'PG-R%', backend_name NOT ILIKE '%A', host LIKE '10.1.0._' FROM helios_proxy.backends ORDER BY backend_name
SELECT backend_name LIKE 'x' ESCAPE 'ab' FROM helios_proxy.backends
SELECT nope() FROM helios_proxy.backends
SELECT lower(port) FROM helios_proxy.backends
SELECT concat_ws(',', 'a', backend_name) || nope FROM helios_proxy.backends
SELECT substring(backend_name, port, 'x') FROM helios_proxy.backends
SELECT lpad(backend_name, '5x') FROM helios_proxy.backends
SELECT strpos(backend_name) FROM helios_proxy.backends
SELECT md5(port) FROM helios_proxy.backends
SELECT substr(backend_name, $1), lpad(host, $2, $3) FROM helios_proxy.backends ORDER BY backend_name \bind 2 | 12 | *
SELECT format($1, backend_name, port) FROM helios_proxy.backends ORDER BY 1 \bind %s:%s
SELECT backend_name FROM helios_proxy.backends WHERE backend_name ~ $1 ORDER BY 1 \bind ^pg-r
SELECT regexp_replace(backend_name, $1, $2, 'g'), concat($3, port) FROM helios_proxy.backends ORDER BY 1 \bind - | _ | :
SELECT round(weight::numeric, $1), mod(port, $2), power($3, 2) FROM helios_proxy.backends ORDER BY backend_name \bind 1 | 7 | 1.5
SELECT split_part(host, $1, $2) FROM helios_proxy.backends ORDER BY backend_name \bind . | x
SELECT left(backend_name, $1) FROM helios_proxy.backends ORDER BY 1 \bind 3 \types 20
SELECT substr(NULL, 1), left(open_reason, 2), format(NULL), concat_ws(',', open_reason, override), lpad(open_reason, 3), regexp_replace(open_reason, 'a', 'b'), md5(open_reason), quote_literal(open_reason), split_part(open_reason, '_', 1), pg_typeof(open_reason), strpos(override, NULL), chr(NULL), sqrt(NULL) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT sqrt('4'), power(weight, '2'), left('12345', '2'), substr(port::text, '2'), repeat(host, '0'), to_hex('255') FROM helios_proxy.backends ORDER BY backend_name
SELECT substr(port, 1) FROM helios_proxy.backends
SELECT concat_ws(port, 'a') FROM helios_proxy.backends
SELECT to_hex(weight) FROM helios_proxy.backends
SELECT mod(weight, 2) FROM helios_proxy.backends
SELECT chr(1.5) FROM helios_proxy.backends
SELECT left(host, 2.5) FROM helios_proxy.backends
SELECT strpos(host, port) FROM helios_proxy.backends
SELECT lpad(host, 3, 4) FROM helios_proxy.backends
SELECT regexp_replace(host, '.', 1) FROM helios_proxy.backends
SELECT lower(*) FROM helios_proxy.backends
SELECT lower(DISTINCT host) FROM helios_proxy.backends
SELECT upper(host ORDER BY host) FROM helios_proxy.backends
SELECT length(host) FILTER (WHERE port > 0) FROM helios_proxy.backends
SELECT upper(host) OVER () FROM helios_proxy.backends
SELECT nope(DISTINCT host) FROM helios_proxy.backends
SELECT public.nope(port), 1 FROM helios_proxy.backends
SELECT pg_catalog.upper(host), pg_catalog.concat(port, 'x') FROM helios_proxy.backends ORDER BY 1

-- script regex
SELECT backend_name ~ 'a|ab', backend_name ~* 'PG-R', backend_name !~* 'é', host ~ '^\d+(\.\d+){3}$' FROM helios_proxy.backends ORDER BY backend_name
SELECT regexp_replace(backend_name, '[aeiou]', '*'), regexp_replace(backend_name, '[aeiou]', '*', 'g'), regexp_replace(backend_name, 'P', 'p', 'gi'), regexp_replace(host, '(\d+)\.(\d+)', '\2.\1 \& \\ \x') FROM helios_proxy.backends ORDER BY backend_name
SELECT regexp_replace(host, '\.', '/', 2), regexp_replace(host, '\.', '/', 1, 2), regexp_replace(host, '\.', '/', 1, 0), regexp_replace(backend_name, 'E', '3', 1, 1, 'i') FROM helios_proxy.backends ORDER BY backend_name
SELECT regexp_replace(backend_name, 'x*', '-', 'g'), regexp_replace(backend_name, '^', '>'), regexp_replace(backend_name, '$', '<', 'g') FROM helios_proxy.backends ORDER BY backend_name
SELECT regexp_replace(backend_name, 'a', 'b', 'z') FROM helios_proxy.backends
SELECT regexp_match(backend_name, 'replica-(.)'), regexp_match(host, '\d+'), regexp_match(backend_name, '(x)?(p)'), regexp_match(backend_name, 'R', 'i') FROM helios_proxy.backends ORDER BY backend_name
SELECT regexp_match(backend_name, 'a', 'g') FROM helios_proxy.backends
SELECT regexp_split_to_array(host, '\.'), regexp_split_to_array(backend_name, ''), regexp_split_to_array(backend_name, '-*'), regexp_split_to_array(backend_name, 'A', 'i') FROM helios_proxy.backends ORDER BY backend_name
SELECT regexp_split_to_array(host, '\.', 'g') FROM helios_proxy.backends
SELECT regexp_like(backend_name, '^pg'), regexp_like(backend_name, '^PG', 'i'), regexp_count(host, '\d'), regexp_count(backend_name, 'a', 5) FROM helios_proxy.backends ORDER BY backend_name
SELECT backend_name FROM helios_proxy.backends WHERE backend_name ~ '[[:upper:]]' OR backend_name ~ '\ya$' ORDER BY 1
SELECT backend_name FROM helios_proxy.backends WHERE backend_name ~ '***=pg-' ORDER BY 1
SELECT backend_name FROM helios_proxy.backends WHERE backend_name ~ '(?i)^r' ORDER BY 1
SELECT regexp_match(backend_name, '(.*)-(.*?)'), regexp_match(backend_name, 'p(.*?)a'), regexp_replace(backend_name, 'a*?', '.', 'g'), substring(host FROM '(.*?)\.') FROM helios_proxy.backends ORDER BY backend_name
SELECT backend_name ~* '^[P-R]', backend_name ~* '[^a-z-]', regexp_replace(backend_name, '[AEIOU]', '_', 'gi'), regexp_replace(backend_name, 'é', 'e', 'i') FROM helios_proxy.backends ORDER BY backend_name
SELECT regexp_match(backend_name || E'\nx', '^x', 'n'), regexp_match(backend_name || E'\nx', '.\nx'), regexp_match(backend_name || E'\nx', '..x', 'n'), backend_name || E'\n' ~ 'a.$' FROM helios_proxy.backends ORDER BY backend_name
SELECT regexp_match(backend_name, 'pg - (r \w+) # a comment', 'x'), regexp_match(backend_name, '\x70\u0067'), regexp_match(backend_name, '\yr\w*'), regexp_match(host, '\Ad+\Z'), regexp_match(backend_name, '\Y.a') FROM helios_proxy.backends ORDER BY backend_name
SELECT regexp_replace(host, '[.[:digit:]]', '', 'g'), regexp_replace(backend_name, '[\w]+', '<\&>', 'g'), regexp_match(backend_name, '(?i)P(G)'), regexp_match(backend_name, '***=g-'), regexp_count(backend_name, '[-a]') FROM helios_proxy.backends ORDER BY backend_name
SELECT substring(backend_name FROM '%#"r_p%#"-_' FOR '#'), backend_name SIMILAR TO '%(a|b)', backend_name SIMILAR TO 'pg-[^p]%', host SIMILAR TO '\d%' FROM helios_proxy.backends ORDER BY backend_name
SELECT backend_name, regexp_matches(backend_name, '[a-z]+', 'g') FROM helios_proxy.backends ORDER BY 1, 2
SELECT backend_name, regexp_matches(host, '(\d+)\.(\d+)') AS m FROM helios_proxy.backends ORDER BY backend_name
SELECT (regexp_matches(backend_name, '(.)-', 'g'))[1], regexp_split_to_table(host, '\.') FROM helios_proxy.backends ORDER BY 1, 2
SELECT regexp_split_to_table(backend_name, '-'), generate_series(1, 3) FROM helios_proxy.backends WHERE priority = 1
SELECT count(*) FROM (SELECT regexp_split_to_table(host, '\.') AS part FROM helios_proxy.backends) p WHERE part ~ '^\d+$'
SELECT priority, regexp_split_to_table(string_agg(backend_name, ','), ',') FROM helios_proxy.backends GROUP BY priority ORDER BY 1, 2
SELECT DISTINCT regexp_split_to_table(backend_name, '-') AS w FROM helios_proxy.backends ORDER BY w LIMIT 4
SELECT backend_name FROM helios_proxy.backends WHERE regexp_matches(backend_name, 'a') IS NOT NULL
SELECT count(regexp_matches(backend_name, 'a')) FROM helios_proxy.backends
SELECT regexp_matches(backend_name, 'a', 'z') FROM helios_proxy.backends
SELECT backend_name ~ '[' FROM helios_proxy.backends
SELECT backend_name ~ '*x' FROM helios_proxy.backends
SELECT backend_name ~ 'a{2,1}' FROM helios_proxy.backends
SELECT backend_name ~ 'x\' FROM helios_proxy.backends
SELECT backend_name ~ '[z-a]' FROM helios_proxy.backends
SELECT backend_name ~ '[[:nope:]]' FROM helios_proxy.backends
SELECT backend_name ~ '\q' FROM helios_proxy.backends
SELECT backend_name ~ 'a)' FROM helios_proxy.backends
SELECT backend_name ~ port FROM helios_proxy.backends

-- script math
SELECT mod(port, 7), mod(requests_total, 1000), mod(weight::numeric, 0.3), mod(-port, 10) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT mod(port, 0) FROM helios_proxy.backends
SELECT power(priority, 2), power(weight, 0.5), pow(2, priority), power(-2, 3) FROM helios_proxy.backends ORDER BY backend_name
SELECT power(0, -1 * priority) FROM helios_proxy.backends
SELECT power(-1 * weight, 0.5) FROM helios_proxy.backends
SELECT power(10, port) FROM helios_proxy.backends
SELECT sqrt(port), cbrt(port), exp(weight), ln(port), log(port), log10(weight) FROM helios_proxy.backends ORDER BY backend_name
SELECT sqrt(-1 * weight) FROM helios_proxy.backends
SELECT sqrt(port::numeric), sqrt(weight::numeric), sqrt(error_rate::numeric), sqrt(0.0), sqrt(requests_total::numeric * 1000), sqrt(1e-30 * priority), pg_typeof(sqrt(1.5)) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT sqrt(-1.5 * priority) FROM helios_proxy.backends
SELECT ln(weight - weight) FROM helios_proxy.backends
SELECT log(-1 * weight) FROM helios_proxy.backends
SELECT exp(port) FROM helios_proxy.backends
SELECT abs(-port), abs(weight - 1), abs(-requests_total), abs(-1.5), abs(error_rate::numeric - 1) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT ceil(weight), ceiling(-weight), floor(weight), round(weight), round(weight::numeric, 1), trunc(weight), trunc(weight::numeric, 1), round(error_rate::numeric, 2) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT round(2.5::float8 + priority), round(-2.5 - priority), round(12345.678, -2), trunc(-1.99), round(port / 7.0, 3) FROM helios_proxy.backends ORDER BY backend_name
SELECT sign(port - 5433), sign(weight - 1), sign(-1.5), sign(0.0) FROM helios_proxy.backends ORDER BY backend_name
SELECT greatest(port, priority, 6000), least(weight, 1, 0.5), greatest(backend_name, host), least(1, 2.5, port) FROM helios_proxy.backends ORDER BY backend_name
SELECT pi(), degrees(pi() / priority), radians(180), sin(0), cos(0), tan(0), atan(1), atan2(1, priority), asin(1), acos(1) FROM helios_proxy.backends ORDER BY backend_name
SELECT asin(weight + 1) FROM helios_proxy.backends
SELECT width_bucket(port, 5000, 7000, 4), width_bucket(weight, 0, 3, 3), width_bucket(error_rate::numeric, 0, 1, 10), width_bucket(port, 7000, 5000, 4) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT width_bucket(port, 1, 1, 4) FROM helios_proxy.backends
SELECT width_bucket(port, 1, 2, 0) FROM helios_proxy.backends
SELECT gcd(port, 48), lcm(priority, 4), gcd(requests_total, 1024) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT pg_typeof(power(port, 2)), pg_typeof(mod(port, 2)), pg_typeof(mod(requests_total, 2)), pg_typeof(sqrt(port)), pg_typeof(round(weight)), pg_typeof(round(port, 1)), pg_typeof(sign(port)), pg_typeof(abs(port)), pg_typeof(ceil(port)), pg_typeof(width_bucket(port, 1, 2, 3)) FROM helios_proxy.backends LIMIT 1
SELECT port / 0.0 FROM helios_proxy.backends
SELECT port % 0 FROM helios_proxy.backends
SELECT -2147483648::int4 * -1 FROM helios_proxy.backends LIMIT 1
SELECT port * 1000000 FROM helios_proxy.backends

-- script casts_more
SELECT port::varchar(2), backend_name::varchar(4), backend_name::character varying, read_only::varchar, weight::varchar(3) FROM helios_proxy.backends ORDER BY backend_name
SELECT backend_name::char(5), port::char, read_only::character(3), backend_name::bpchar, 'x'::char(3) FROM helios_proxy.backends ORDER BY backend_name
SELECT (backend_name::char(14))::text || '|', concat(backend_name::char(14), '|'), length(backend_name::varchar(3)) FROM helios_proxy.backends ORDER BY backend_name
SELECT upper(backend_name::char(14)), replace(host::char(22), '.', '/'), format('[%s]', port::char(6)), quote_literal(priority::char(3)), octet_length(backend_name::char(14)), rpad(backend_name::char(14), 16, '*') FROM helios_proxy.backends ORDER BY backend_name
SELECT backend_name::char(14) || '|', '|' || port::char(6), priority::char(3) = '1', priority::char(3) = '1  ', priority::char(3) = priority::char(5), backend_name::char(20) < host::char(20), length(backend_name::char(14)) FROM helios_proxy.backends ORDER BY backend_name
SELECT error_rate::real, weight::float4, latency_p99_ms::real, port::real, '1.5'::real, 0.1::real, 1e-40::real FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT error_rate::real::float8, (error_rate::real)::text, (weight::real)::int, 'NaN'::real, '-inf'::real FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT latency_p99_ms::real FROM helios_proxy.circuit_breaker_status
SELECT 'abc'::real FROM helios_proxy.backends
SELECT '1e39'::real FROM helios_proxy.backends
SELECT 1e39::real FROM helios_proxy.backends
SELECT read_only::real FROM helios_proxy.backends
SELECT backend_name::varchar(0) FROM helios_proxy.backends
SELECT 2.5::float8::int, 3.5::float8::int, (-2.5)::float8::int, 2.5::numeric::int, (-2.5)::numeric::int, 0.5::float8::bigint, 1.5::float8::bigint FROM helios_proxy.backends LIMIT 1
SELECT latency_p99_ms::int FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT latency_p99_ms::bigint, (latency_p99_ms * 1e7)::bigint FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT 'NaN'::float8::int FROM helios_proxy.backends
SELECT pg_typeof(backend_name), pg_typeof(port::varchar), pg_typeof(port::char(3)), pg_typeof(weight::real), pg_typeof(backend_name::name), pg_typeof('x'), pg_typeof(NULL), pg_typeof(requests_total), pg_typeof(read_only), pg_typeof(1.5), pg_typeof(port::int2) FROM helios_proxy.backends LIMIT 1
SELECT pg_typeof(backend_name)::text, pg_typeof(weight::real) = 'real'::regtype FROM helios_proxy.backends LIMIT 1
SELECT 2147483647 + priority FROM helios_proxy.backends
SELECT -2147483647 - 1 - priority FROM helios_proxy.backends
SELECT requests_total * 9223372036854775807 FROM helios_proxy.circuit_breaker_status
SELECT port::int2 * 100 FROM helios_proxy.backends
SELECT port::smallint, priority::int2, weight::smallint, (weight * 3)::numeric::int2, '12'::int2, pg_typeof(port::int2 + 1) FROM helios_proxy.backends ORDER BY backend_name
SELECT (port * 10)::smallint FROM helios_proxy.backends
SELECT latency_p99_ms::int2 FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT latency_p99_ms::int2 FROM helios_proxy.circuit_breaker_status
SELECT requests_total * requests_total * requests_total FROM helios_proxy.circuit_breaker_status WHERE port > 0 LIMIT 3
SELECT backend_name, 10 / (priority - 2) FROM helios_proxy.backends
SELECT '70000'::int2 FROM helios_proxy.backends
SELECT 'x'::smallint FROM helios_proxy.backends
SELECT read_only::smallint FROM helios_proxy.backends

-- script datetime
SELECT backend_name, extract(epoch FROM state_since), extract(hour FROM state_since), date_part('minute', state_since) FROM helios_proxy.circuit_breaker_status ORDER BY 1
SELECT backend_name, date_trunc('hour', state_since), date_trunc('day', last_failure_time) FROM helios_proxy.circuit_breaker_status ORDER BY 1
SELECT id, to_char(event_time, 'YYYY-MM-DD HH24:MI:SS.MS'), to_char(event_time, 'Dy DD Mon YYYY HH12:MI AM') FROM helios_proxy.circuit_events ORDER BY id
SELECT id, age('2026-03-15 00:00:00+00', event_time) FROM helios_proxy.circuit_events ORDER BY id
SELECT id, event_time AT TIME ZONE 'UTC', event_time AT TIME ZONE 'America/New_York' FROM helios_proxy.circuit_events ORDER BY id
SELECT id, event_time::date, event_time::time, event_time::text FROM helios_proxy.circuit_events ORDER BY id
SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE state_since < '2026-03-14 15:00:00+00'::timestamptz ORDER BY 1
SELECT backend_name, state_since + interval '1 hour 30 minutes', state_since - interval '2 days' FROM helios_proxy.circuit_breaker_status ORDER BY 1
SELECT max(event_time) - min(event_time) FROM helios_proxy.circuit_events
SELECT id, event_time - '2026-03-14 15:00:00+00'::timestamptz FROM helios_proxy.circuit_events ORDER BY id
SELECT date_trunc('minute', event_time) AS t, count(*) FROM helios_proxy.circuit_events GROUP BY 1 ORDER BY 1
SELECT extract(dow FROM event_time), extract(doy FROM event_time), extract(week FROM event_time), extract(quarter FROM event_time) FROM helios_proxy.circuit_events WHERE id = 1
SELECT extract(microseconds FROM event_time), extract(milliseconds FROM event_time), extract(julian FROM event_time) FROM helios_proxy.circuit_events WHERE id = 1
SELECT to_timestamp(0), to_char(to_timestamp(1773500966), 'YYYY'), make_interval(hours => 2)
SELECT justify_interval(interval '36 hours'), interval '1 day' * 3, interval '90 minutes' / 2
SELECT id FROM helios_proxy.circuit_events WHERE event_time > '2026-03-14 15:09:00+00'::timestamptz - interval '20 seconds' ORDER BY id
SELECT id FROM helios_proxy.circuit_events WHERE event_time > 'soon'
SELECT date_trunc('fortnight', event_time) FROM helios_proxy.circuit_events

-- script json
SELECT json_build_object('name', backend_name, 'state', circuit_state, 'p95', latency_p95_ms) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT row_to_json(b) FROM helios_proxy.backends b ORDER BY backend_name
SELECT json_agg(backend_name ORDER BY backend_name) FROM helios_proxy.backends
SELECT json_agg(b ORDER BY port, backend_name) FROM helios_proxy.backends b
SELECT jsonb_build_object('name', backend_name, 'ro', read_only, 'w', weight) FROM helios_proxy.backends ORDER BY backend_name
SELECT jsonb_agg(jsonb_build_object('id', id, 'type', event_type) ORDER BY id) FROM helios_proxy.circuit_events
SELECT json_object_agg(backend_name, port ORDER BY backend_name) FROM helios_proxy.backends
SELECT jsonb_object_agg(backend_name, circuit_state) FROM helios_proxy.circuit_breaker_status
SELECT to_json(backend_name), to_jsonb(port), to_json(state_since) FROM helios_proxy.circuit_breaker_status ORDER BY 1
SELECT json_build_array(backend_name, port, NULL) FROM helios_proxy.backends ORDER BY backend_name
SELECT jsonb_pretty(jsonb_build_object('a', 1, 'b', ARRAY[1, 2]))
SELECT (row_to_json(b) ->> 'port')::int FROM helios_proxy.backends b ORDER BY 1
SELECT to_jsonb(b) -> 'backend_name', to_jsonb(b) ? 'host' FROM helios_proxy.backends b ORDER BY 1

-- script aggregates
SELECT bool_and(read_only), bool_or(read_only), every(port > 0) FROM helios_proxy.backends
SELECT stddev(latency_p50_ms), stddev_pop(port), variance(priority), var_pop(weight) FROM helios_proxy.circuit_breaker_status
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_p95_ms), percentile_disc(0.9) WITHIN GROUP (ORDER BY port) FROM helios_proxy.circuit_breaker_status
SELECT percentile_cont(ARRAY[0.25, 0.75]) WITHIN GROUP (ORDER BY weight) FROM helios_proxy.backends
SELECT mode() WITHIN GROUP (ORDER BY priority) FROM helios_proxy.backends
SELECT count(*) FILTER (WHERE read_only), count(DISTINCT priority), count(open_reason) FROM helios_proxy.circuit_breaker_status
SELECT priority, avg(port), sum(weight), max(backend_name), min(host) FROM helios_proxy.backends GROUP BY priority HAVING count(*) > 1 ORDER BY 1
SELECT avg(port), avg(priority), sum(port), sum(requests_total) FROM helios_proxy.circuit_breaker_status
SELECT avg(port)::numeric(8,2), round(avg(error_rate)::numeric, 3), (weight * 100)::numeric(5,2) FROM helios_proxy.circuit_breaker_status GROUP BY weight ORDER BY weight
SELECT round(latency_p95_ms::numeric, 1), trunc(error_rate::numeric, 2), ceil(latency_p50_ms), floor(weight) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT sum(port)::numeric / 3, 10::numeric / 4, 1.5 * port FROM helios_proxy.backends ORDER BY 3
SELECT abs(-port), mod(port, 7), power(2, priority), sqrt(port), greatest(port, 6000), least(priority, 2) FROM helios_proxy.backends ORDER BY 1
SELECT corr(port, priority), regr_slope(port, priority), covar_pop(port, weight) FROM helios_proxy.backends
SELECT bit_and(port), bit_or(priority) FROM helios_proxy.backends
SELECT grouping(priority), priority, count(*) FROM helios_proxy.backends GROUP BY ROLLUP (priority) ORDER BY 2 NULLS LAST
SELECT priority, read_only, count(*) FROM helios_proxy.backends GROUP BY GROUPING SETS ((priority), (read_only), ()) ORDER BY 1, 2
SELECT avg(backend_name) FROM helios_proxy.backends
SELECT percentile_cont(2) WITHIN GROUP (ORDER BY port) FROM helios_proxy.backends
SELECT port FROM helios_proxy.backends GROUP BY priority

-- script casts_types
SELECT port::text, port::bigint, port::float8, port::numeric, priority::boolean FROM helios_proxy.backends ORDER BY backend_name
SELECT weight::int, latency_p95_ms::bigint, error_rate::real FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT CAST(port AS varchar(3)), port::char(2), backend_name::name, backend_name::varchar FROM helios_proxy.backends ORDER BY backend_name
SELECT '1'::int + port, '2.5'::float8 * weight, 'true'::boolean AND read_only FROM helios_proxy.backends ORDER BY backend_name
SELECT backend_name::int FROM helios_proxy.backends
SELECT requests_total::int FROM helios_proxy.circuit_breaker_status
SELECT 1e308::float8 * 10 FROM helios_proxy.backends
SELECT 'NaN'::float8, '-Infinity'::float8, 0.1::float8 + 0.2 FROM helios_proxy.backends LIMIT 1
SELECT pg_typeof(port), pg_typeof(weight), pg_typeof(state_since), pg_typeof(avg(port)) FROM helios_proxy.circuit_breaker_status GROUP BY port, weight, state_since ORDER BY 1 LIMIT 1
SELECT 2147483647 + port FROM helios_proxy.backends

-- script settings
SET DateStyle = 'German'
SELECT id, event_time FROM helios_proxy.circuit_events ORDER BY id LIMIT 2
SET DateStyle = 'SQL, DMY'
SELECT event_time, event_time::date FROM helios_proxy.circuit_events WHERE id = 1
SET DateStyle = 'Postgres, MDY'
SELECT event_time FROM helios_proxy.circuit_events WHERE id = 1
RESET DateStyle
SET IntervalStyle = 'iso_8601'
SELECT max(event_time) - min(event_time), make_interval(days => 1, secs => 1.5) FROM helios_proxy.circuit_events
SET IntervalStyle = 'sql_standard'
SELECT max(event_time) - min(event_time) FROM helios_proxy.circuit_events
SET IntervalStyle = 'postgres_verbose'
SELECT max(event_time) - min(event_time) FROM helios_proxy.circuit_events
RESET IntervalStyle
-- extra_float_digits is not a reported setting: on a backend database
-- the proxy knows its startup value (JDBC's 3), not a later SET, and its
-- answers keep the default shortest-exact output (a known difference,
-- statusdb/doc.go).
SET extra_float_digits = 0
\status-only SELECT latency_p95_ms, error_rate, weight / 3 FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SET extra_float_digits = 3
SELECT error_rate, weight / 3 FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SET extra_float_digits = -2
\status-only SELECT error_rate, weight / 3 FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
RESET extra_float_digits
SET TimeZone = 'Asia/Kolkata'
SELECT id, event_time, date_trunc('day', event_time), event_time::date FROM helios_proxy.circuit_events ORDER BY id
SELECT state_since FROM helios_proxy.circuit_breaker_status WHERE state_since > '2026-03-14 20:00:00' ORDER BY 1
SET TIME ZONE INTERVAL '-08:00' HOUR TO MINUTE
SELECT event_time FROM helios_proxy.circuit_events WHERE id = 1
SET TimeZone = 'Europe/Berlin'
SELECT to_char(event_time, 'YYYY-MM-DD HH24:MI TZ'), extract(timezone FROM event_time) FROM helios_proxy.circuit_events WHERE id = 1
RESET TimeZone
SHOW TimeZone
SELECT current_setting('DateStyle'), current_setting('IntervalStyle'), current_setting('extra_float_digits')

-- DBeaver's PostgreSQL plugin (plugins/org.jkiss.dbeaver.ext.postgresql,
-- dbeaver/dbeaver 2428359): what it sends on connect and while browsing
-- the helios_proxy schema in the navigator, through pgjdbc (the extended
-- protocol; setLong declares int8, setString varchar). Its newlines are
-- spaces here. On a backend database these catalog queries are relayed
-- (they name no helios_proxy table), as they should be: status database
-- only. These scripts come before any that creates a temporary table: the copy's pg_namespace keeps pg_temp_N and
-- pg_toast_temp_N once a session has made them, a new database has none.
-- script dbeaver_connect status
\shape SELECT version()
\shape SELECT current_database()
-- The database's row (PostgreDatabase.readDatabaseInfo: without it
-- DBeaver cannot open the connection). Each side's name is its own
-- ({{database}}: helios_proxy and copy, compared below), and datfrozenxid
-- is a transaction ID, which the proxy has none of (0, as
-- pg_class.relfrozenxid; statusdb/doc.go § Deviations).
\except datname,datfrozenxid SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname=$1 \bind {{database}} \types 1043
select description from pg_shdescription join pg_database on objoid = pg_database.oid where datname = $1 \bind {{database}} \types 1043
SELECT datname = current_database(), datname = $1 FROM pg_catalog.pg_database WHERE oid = $2 \bind {{database}} | {{database_oid}} \types 1043,20
SELECT d.datname = current_database(), n.nspname, shobj_description(d.oid, 'pg_database') IS NOT NULL, obj_description(d.oid, 'pg_database') FROM pg_catalog.pg_database d JOIN pg_catalog.pg_namespace n ON n.nspname = 'helios_proxy' WHERE d.datname = current_database()
-- The database list (PostgreDataSource, "show all databases") and the
-- template list: the status database lists itself only, where a server
-- lists its other databases (postgres, template0 and template1) too
-- (statusdb/doc.go).
\columns SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE 1 = 1 AND datallowconn AND NOT datistemplate OR db.datname =$1 ORDER BY db.datname \bind {{database}} \types 1043
\columns SELECT db.datname FROM pg_catalog.pg_database db WHERE datistemplate
SELECT count(*) FROM pg_catalog.pg_database db WHERE (datallowconn AND NOT datistemplate OR db.datname = $1) AND datname = current_database() \bind {{database}} \types 1043
-- Its size (PostgreDataSource.collectObjectStatistics): the copy's is
-- its files', the proxy's its relations' (statusdb/doc.go).
\except datname,pg_database_size SELECT db.datname,pg_database_size(db.oid) FROM pg_catalog.pg_database db WHERE db.oid=$1 \bind {{database_oid}} \types 20
SELECT pg_database_size(current_database()) > 0, pg_database_size($1::oid) > 0, pg_database_size(NULL::oid) \bind {{database_oid}}
SELECT pg_database_size('no such database')
SELECT pg_database_size(0)
SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1
SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1
select * from pg_catalog.pg_settings where name=$1 \bind standard_conforming_strings \types 1043
SELECT current_schema(),session_user
SHOW search_path
SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname
SELECT s.oid as schema_id from pg_catalog.pg_namespace s WHERE s.nspname =$1 \bind helios_proxy \types 1043
SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description FROM pg_catalog.pg_type t LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid WHERE t.typname IS NOT NULL AND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C')
SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name FROM pg_catalog.pg_type t LEFT OUTER JOIN pg_class c ON c.oid=t.typrelid LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid WHERE t.oid=$1 \bind 1184 \types 20
SELECT t.oid,t.*,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name FROM pg_catalog.pg_type t LEFT OUTER JOIN pg_class c ON c.oid=t.typrelid LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid WHERE t.typname=$1 \bind float8 \types 1043
-- format_type of types DBeaver now finds in pg_type
SELECT format_type(1266, -1), format_type(1560, NULL), format_type(1560, 5), format_type(1562, -1), format_type(1562, 7), format_type(1114, 3), format_type(1184, 0), format_type(1083, 6), format_type(1266, 2), format_type(3802, -1), format_type(2950, -1), format_type(1186, -1), format_type(869, -1), format_type(1270, -1), format_type(3904, -1), format_type(2249, -1), format_type(16, 5), format_type(1009, -1), format_type(1561, NULL), format_type(1231, -1), format_type(3912, -1), format_type(1186, 2147418114), format_type(1186, 470286339), format_type(1187, -1), format_type(2287, -1)
SELECT t.typname, format_type(t.oid, NULL) FROM pg_type t LEFT JOIN pg_type et ON et.oid = t.typelem WHERE t.typnamespace = 11 AND t.typtype <> 'c' AND (et.typcategory IS NULL OR et.typcategory <> 'C') ORDER BY t.oid
-- The roles: the status database's are PostgreSQL's built-in ones
-- (statusdb/doc.go), the copy also has the harness's role reader, which
-- the condition on the OID leaves out.
\columns SELECT a.oid,a.*,pd.description FROM pg_catalog.pg_roles a left join pg_catalog.pg_shdescription pd on a.oid = pd.objoid ORDER BY a.rolname
SELECT a.oid,a.*,pd.description FROM pg_catalog.pg_roles a left join pg_catalog.pg_shdescription pd on a.oid = pd.objoid WHERE a.oid < 16384 ORDER BY a.rolname
SELECT am.oid,am.* FROM pg_catalog.pg_am am ORDER BY am.oid
-- The collations: the status database has those of every PostgreSQL 15
-- cluster (default, C, POSIX, ucs_basic); a server adds its operating
-- system's (C.utf8, ...) and ICU's (about 800), which its build decides
-- (statusdb/doc.go).
\columns SELECT c.oid,c.* FROM pg_catalog.pg_collation c ORDER BY c.oid
SELECT c.oid,c.* FROM pg_catalog.pg_collation c WHERE c.collname IN ('default', 'C', 'POSIX', 'ucs_basic') ORDER BY c.oid
-- The extensions: none is available in the status database (it installs
-- none, and pg_extension is empty), where a server lists those its build
-- ships (statusdb/doc.go).
\columns SELECT name,default_version,installed_version,comment FROM pg_catalog.pg_available_extensions ORDER BY name
SELECT name,default_version,installed_version,comment FROM pg_catalog.pg_available_extensions WHERE name = 'no such extension'

-- script dbeaver_navigator status
-- The tables: the proxy's have no TOAST table and no transaction IDs
-- (statusdb/doc.go § Deviations).
\except reltoastrelid,relfrozenxid,relminmxid SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key FROM pg_catalog.pg_class c LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass WHERE c.relnamespace=$1 AND c.relkind not in ('i','I','c') \bind {{nsp}} \types 20
\except reltoastrelid,relfrozenxid,relminmxid SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key FROM pg_catalog.pg_class c LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass WHERE c.relnamespace=$1 AND c.relkind not in ('i','I','c') AND relname=$2 \bind {{nsp}} | circuit_events \types 20,1043
SELECT i.inhrelid relid, pc.relnamespace parent_ns, pc.oid parent_oid, i.inhseqno FROM pg_catalog.pg_inherits i, pg_class rc, pg_class pc WHERE rc.oid=i.inhrelid AND rc.relnamespace=$1 AND pc.oid=i.inhparent \bind {{nsp}} \types 20
SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid FROM pg_catalog.pg_attribute a INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid) LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum) LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid) LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.relnamespace=$1 ORDER BY a.attnum \bind {{nsp}} \types 20
SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid FROM pg_catalog.pg_attribute a INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid) LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum) LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid) LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.oid=$1 ORDER BY a.attnum \bind {{circuit_breaker_status}} \types 20
SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy FROM pg_catalog.pg_constraint c INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass WHERE t.relnamespace=$1 ORDER BY c.oid \bind {{nsp}} \types 20
SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy FROM pg_catalog.pg_constraint c INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass WHERE c.conrelid=$1 ORDER BY c.oid \bind {{backends}} \types 20
SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans FROM pg_catalog.pg_index i INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid WHERE  c.relnamespace=$1 ORDER BY c.relname \bind {{nsp}} \types 20
SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans FROM pg_catalog.pg_index i INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid WHERE  i.indrelid=$1 ORDER BY c.relname \bind {{backends}} \types 20
SELECT x.oid,x.*,p.pronamespace as func_schema_id,d.description FROM pg_catalog.pg_trigger x LEFT OUTER JOIN pg_catalog.pg_proc p ON p.oid=x.tgfoid  LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=x.oid AND d.objsubid=0  WHERE x.tgrelid = $1 AND NOT x.tgisinternal \bind {{backends}} \types 20
SELECT r.oid,r.*, pg_get_ruledef(r.oid) AS definition FROM pg_rewrite r WHERE r.ev_class={{circuit_events}} AND r.rulename <> '_RETURN'::name
SELECT * FROM pg_default_acl WHERE defaclnamespace = $1 \bind {{nsp}} \types 20
SELECT p.oid AS proc_oid,p.proname AS proc_name,a.* FROM pg_catalog.pg_aggregate a,pg_catalog.pg_proc p WHERE p.oid=a.aggfnoid AND p.pronamespace=$1 ORDER BY p.proname \bind {{nsp}} \types 20
select description from pg_catalog.pg_description join pg_catalog.pg_class on pg_description.objoid = pg_class.oid join pg_catalog.pg_namespace on pg_class.relnamespace = pg_namespace.oid where pg_class.relname = $1 and pg_namespace.nspname=$2 \bind backends | helios_proxy \types 1043,1043
-- Sizes: the copy's tables hold their rows on disk, the proxy's in
-- memory (the sizes of an empty table, statusdb/doc.go).
\except total_rel_size,rel_size select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size FROM pg_class c WHERE c.relnamespace=$1 \bind {{nsp}} \types 20
\except total_rel_size,rel_size select pg_catalog.pg_total_relation_size($1) as total_rel_size,pg_catalog.pg_relation_size($2) as rel_size \bind {{backends}} | {{backends}} \types 20,20

-- DBeaver's data editor on a helios_proxy table ("View data"): the rows
-- (JDBCTable.readData; an alias once a filter or order is set; the SQL
-- editor's own LIMIT 200) and the row count (countData, and
-- SQLQueryTransformerCount around a query of the editor).
-- script dbeaver_data
SELECT * FROM helios_proxy.circuit_breaker_status
SELECT * FROM helios_proxy.circuit_breaker_status LIMIT 200
SELECT x.* FROM helios_proxy.circuit_breaker_status x WHERE x.circuit_state <> 'CLOSED' ORDER BY x.backend_name DESC
SELECT COUNT(*) FROM helios_proxy.circuit_breaker_status
SELECT COUNT(*) FROM helios_proxy.circuit_events x WHERE x.event_type = 'CircuitOpened'
SELECT COUNT(*) FROM (SELECT * FROM helios_proxy.circuit_events ORDER BY event_time DESC ) dbvrcnt
SELECT * FROM helios_proxy.circuit_events ORDER BY event_time DESC LIMIT 200
SELECT x.* FROM helios_proxy.cluster_members x ORDER BY x.node

-- script transactions backend
CREATE TEMP TABLE t (x int)
BEGIN
INSERT INTO t VALUES (1)
SELECT port / 0 FROM helios_proxy.backends
INSERT INTO t VALUES (2)
SELECT 1 FROM helios_proxy.backends
COMMIT
SELECT count(*) FROM t
BEGIN
SELECT count(*) FROM helios_proxy.backends
INSERT INTO t VALUES (3)
SELECT backend_name FROM helios_proxy.backends WHERE port = 5432 ORDER BY 1
COMMIT
SELECT x FROM t ORDER BY 1
BEGIN
SELECT nope FROM helios_proxy.backends
ROLLBACK
SELECT count(*) FROM t
START TRANSACTION READ ONLY
SELECT count(*) FROM helios_proxy.circuit_events
SAVEPOINT s1
SELECT port / 0 FROM helios_proxy.backends
ROLLBACK TO SAVEPOINT s1
SELECT count(*) FROM helios_proxy.backends
RELEASE SAVEPOINT s1
END
\simple BEGIN; SELECT count(*) FROM helios_proxy.backends; COMMIT
\simple SELECT 1; SELECT count(*) FROM helios_proxy.backends
\simple SELECT count(*) FROM helios_proxy.backends; SELECT 1/0; SELECT 2
\simple INSERT INTO t VALUES (9); SELECT port / 0 FROM helios_proxy.backends
SELECT count(*) FROM t WHERE x = 9
COMMIT
ROLLBACK

-- script transactions_status status
BEGIN
SELECT count(*) FROM helios_proxy.backends
SELECT port / 0 FROM helios_proxy.backends
SELECT 1 FROM helios_proxy.backends
COMMIT
BEGIN
SELECT count(*) FROM helios_proxy.circuit_events
SAVEPOINT s1
SELECT port / 0 FROM helios_proxy.backends
SELECT 1
ROLLBACK TO SAVEPOINT s1
SELECT count(*) FROM helios_proxy.backends
SAVEPOINT s2
SAVEPOINT s3
RELEASE SAVEPOINT s2
ROLLBACK TO s3
ROLLBACK TO nope
ROLLBACK TO s1
RELEASE s1
COMMIT
SAVEPOINT s1
RELEASE s1
ROLLBACK TO s1
BEGIN
SET LOCAL application_name = 'a'
SAVEPOINT s
SET LOCAL application_name = 'b'
SHOW application_name
ROLLBACK TO s
SHOW application_name
SET application_name = 'c'
RELEASE s
SHOW application_name
ROLLBACK
SHOW application_name
\simple BEGIN; SELECT count(*) FROM helios_proxy.backends; COMMIT
\simple SELECT 1; SELECT count(*) FROM helios_proxy.backends
\simple SELECT count(*) FROM helios_proxy.backends; SELECT 1/0; SELECT 2
SELECT 1 FROM nowhere
SELECT 1 FROM nowhere.x
-- BEGIN's transaction modes last until the block ends (JDBC's
-- setReadOnly(true) with autocommit off sends BEGIN READ ONLY).
BEGIN READ ONLY
SHOW transaction_read_only
SELECT current_setting('transaction_read_only'), count(*) FROM helios_proxy.backends
COMMIT
SHOW transaction_read_only
START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE
SHOW transaction_isolation
SHOW transaction_deferrable
SHOW transaction_read_only
BEGIN ISOLATION LEVEL REPEATABLE READ
SHOW transaction_isolation
ROLLBACK
SHOW transaction_isolation
BEGIN ISOLATION LEVEL READ UNCOMMITTED READ WRITE
SHOW transaction_isolation
SHOW transaction_read_only
SET TRANSACTION READ ONLY
SHOW transaction_read_only
END
SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY
BEGIN READ WRITE
SHOW transaction_read_only
COMMIT
SHOW transaction_read_only
SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE
\simple BEGIN READ ONLY; SHOW transaction_read_only; COMMIT

-- regproc's input, as JDBC's type lookups compare pg_type.typinput with
-- (ResultSetMetaData.getColumnType of an interval, getTypeInfo).
-- script regproc
SELECT 'pg_catalog.array_in'::regproc, 'ARRAY_IN'::regproc, '"array_in"'::regproc, '-'::regproc, '0'::regproc, pg_typeof('-'::regproc)
SELECT 'array_in'::regproc::text, CAST('int4in' AS pg_catalog.regproc)
SELECT t.typname, t.typinput = 'pg_catalog.array_in'::regproc AS is_array, t.typtype FROM pg_catalog.pg_type t WHERE t.typname IN ('_int4', 'int4', 'interval', '_text') ORDER BY 1
SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid FROM pg_catalog.pg_type LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r from pg_namespace as ns join ( select s.r, (current_schemas(false))[s.r] as nspname from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r using ( nspname ) ) as sp ON sp.nspoid = typnamespace WHERE pg_type.oid = $1 ORDER BY sp.r, pg_type.oid DESC \bind 1186
SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid FROM pg_catalog.pg_type LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r from pg_namespace as ns join ( select s.r, (current_schemas(false))[s.r] as nspname from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r using ( nspname ) ) as sp ON sp.nspoid = typnamespace WHERE typname = $1 ORDER BY sp.r, pg_type.oid DESC \bind _float8
SELECT array_remove('{a,b,NULL,a}'::text[], 'a'), array_remove('{a,b,NULL,a}'::text[], NULL), array_remove(NULL::text[], 'a'), array_remove('{1,2,3}'::int4[], 2), pg_typeof(array_remove('{1}'::int4[], 2))
SELECT pg_encoding_to_char(6), pg_encoding_to_char(0), pg_encoding_to_char(41), pg_encoding_to_char(99), pg_typeof(pg_encoding_to_char(6))
SELECT c.relname, pg_get_viewdef(c.oid, true), pg_get_viewdef(c.oid), pg_get_function_result(c.oid), pg_get_function_arguments(c.oid), pg_get_function_identity_arguments(c.oid), pg_function_is_visible(c.oid) FROM pg_catalog.pg_class c WHERE c.relnamespace = 'helios_proxy'::regnamespace ORDER BY 1
SELECT 'abs'::regproc
SELECT 'nope'::regproc
SELECT 'public.array_in'::regproc
SELECT 'a.b.c.d'::regproc
SELECT 1

-- Type modifiers in RowDescription (JDBC's getPrecision/getScale and
-- getColumnDisplaySize read them), as PostgreSQL's exprTypmod finds them.
-- script typmods
SELECT backend_name::varchar(20) AS name, host::char(12) AS h, weight::numeric(6,2) AS w, port::numeric(7) AS p, port::numeric AS n, backend_name::varchar AS v FROM helios_proxy.backends ORDER BY 1
SELECT 'abc'::varchar(5), 'x'::char(3), 1.5::numeric(10,3), CAST('abc' AS character varying(2)), NULL::varchar(4)
SELECT s.name, s.w FROM (SELECT backend_name::varchar(20) AS name, weight::numeric(6,2) AS w FROM helios_proxy.backends) s ORDER BY 1
WITH c AS (SELECT backend_name::varchar(20) AS name, weight::numeric(6,2) AS w FROM helios_proxy.backends) SELECT * FROM c ORDER BY 1
SELECT backend_name::varchar(20) FROM helios_proxy.backends UNION SELECT host::varchar(20) FROM helios_proxy.backends ORDER BY 1
SELECT backend_name::varchar(20) FROM helios_proxy.backends UNION ALL SELECT host::varchar(30) FROM helios_proxy.backends ORDER BY 1
SELECT weight::numeric(6,2) FROM helios_proxy.backends INTERSECT SELECT weight::numeric(6,2) FROM helios_proxy.backends ORDER BY 1
SELECT CASE WHEN port > 5432 THEN weight::numeric(6,2) ELSE port::numeric(6,2) END, CASE WHEN port > 5432 THEN weight::numeric(6,2) ELSE port::numeric(8,2) END, CASE WHEN port > 5432 THEN weight::numeric(6,2) END, COALESCE(weight::numeric(6,1), port::numeric(6,1)), COALESCE(weight::numeric(6,1), port), NULLIF(weight::numeric(5,1), 0), GREATEST(weight::numeric(6,2), port::numeric(6,2)), LEAST(weight::numeric(6,2), 1) FROM helios_proxy.backends ORDER BY 1
SELECT b.n, e.n FROM (SELECT backend_name::varchar(20) AS n FROM helios_proxy.backends) b JOIN (SELECT backend_name::varchar(20) AS n FROM helios_proxy.circuit_events) e USING (n) ORDER BY 1 LIMIT 2
SELECT n FROM (SELECT port::numeric(6,1) AS n FROM helios_proxy.backends) b LEFT JOIN (SELECT port::numeric(6,1) AS n FROM helios_proxy.backends) e USING (n) ORDER BY 1 LIMIT 2
SELECT upper(backend_name::varchar(20)), max(weight::numeric(6,2)), min(backend_name::varchar(20)), backend_name::varchar(20) || 'x' FROM helios_proxy.backends GROUP BY backend_name ORDER BY 1
SELECT DISTINCT host::varchar(15) FROM helios_proxy.backends ORDER BY 1
SELECT $1::varchar(10), $2::numeric(5,1) FROM helios_proxy.backends LIMIT 1 \bind abc | 1.25
SELECT column_name, is_nullable, is_updatable FROM information_schema.columns WHERE table_schema = 'helios_proxy' AND table_name = 'backends' ORDER BY ordinal_position
SELECT table_name, is_insertable_into FROM information_schema.tables WHERE table_schema = 'helios_proxy' ORDER BY 1

-- script writes
INSERT INTO helios_proxy.backends (backend_name) VALUES ('x')
UPDATE helios_proxy.circuit_breaker_status SET circuit_state = 'OPEN'
DELETE FROM helios_proxy.circuit_events
TRUNCATE helios_proxy.circuit_events
DROP TABLE helios_proxy.backends
ALTER TABLE helios_proxy.backends ADD COLUMN x int
CREATE TABLE helios_proxy.x (y int)
DROP SCHEMA helios_proxy CASCADE
COMMENT ON TABLE helios_proxy.backends IS 'x'
GRANT SELECT ON helios_proxy.backends TO PUBLIC
SELECT * FROM helios_proxy.backends FOR UPDATE
LOCK TABLE helios_proxy.backends
BEGIN
LOCK TABLE helios_proxy.backends IN ACCESS SHARE MODE
SELECT backend_name FROM helios_proxy.backends FOR SHARE
ROLLBACK
BEGIN
LOCK helios_proxy.circuit_events IN ROW EXCLUSIVE MODE
ROLLBACK
BEGIN
DELETE FROM helios_proxy.backends
SELECT 1
ROLLBACK

-- script introspection
SELECT schema_name FROM information_schema.schemata WHERE schema_name = 'helios_proxy'
SELECT table_schema, table_name, table_type FROM information_schema.tables WHERE table_schema = 'helios_proxy' ORDER BY table_name
SELECT column_name, data_type, is_nullable, ordinal_position FROM information_schema.columns WHERE table_schema = 'helios_proxy' AND table_name = 'backends' ORDER BY ordinal_position
SELECT table_name, count(*) FROM information_schema.columns WHERE table_schema = 'helios_proxy' GROUP BY table_name ORDER BY 1
SELECT column_name, udt_name, numeric_precision, datetime_precision, character_maximum_length FROM information_schema.columns WHERE table_schema = 'helios_proxy' AND table_name = 'circuit_events' ORDER BY ordinal_position
SELECT n.nspname, c.relname, c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'helios_proxy' ORDER BY 2
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attnum FROM pg_attribute a WHERE a.attrelid = 'helios_proxy.cluster_members'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
SELECT t.typname FROM pg_type t JOIN pg_attribute a ON a.atttypid = t.oid WHERE a.attrelid = 'helios_proxy.backends'::regclass AND a.attnum > 0 ORDER BY a.attnum
SELECT schemaname, tablename, tableowner = current_user, hasindexes FROM pg_tables WHERE schemaname = 'helios_proxy' ORDER BY 2
SELECT viewname FROM pg_views WHERE schemaname = 'helios_proxy'
SELECT obj_description('helios_proxy.circuit_breaker_status'::regclass, 'pg_class')
SELECT col_description('helios_proxy.circuit_breaker_status'::regclass, 2), col_description('helios_proxy.backends'::regclass, 1)
SELECT d.objsubid, d.description FROM pg_description d WHERE d.objoid = 'helios_proxy.cluster_members'::regclass ORDER BY 1
SELECT obj_description('helios_proxy'::regnamespace, 'pg_namespace')
SELECT to_regclass('helios_proxy.backends')::text, to_regclass('helios_proxy.nope'), 'helios_proxy.circuit_events'::regclass::text
SELECT 'helios_proxy.nope'::regclass
SELECT has_table_privilege('helios_proxy.backends', 'SELECT'), has_table_privilege('helios_proxy.backends', 'INSERT'), has_schema_privilege('helios_proxy', 'USAGE')
SELECT pg_table_is_visible('helios_proxy.backends'::regclass)
SELECT relname, relnatts, relhasindex, relpersistence FROM pg_class WHERE relnamespace = 'helios_proxy'::regnamespace ORDER BY 1
SELECT c.relname, count(a.attnum) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 WHERE c.relnamespace = 'helios_proxy'::regnamespace GROUP BY 1 ORDER BY 1
SELECT conname FROM pg_constraint WHERE conrelid = 'helios_proxy.backends'::regclass
SELECT indexrelid FROM pg_index WHERE indrelid = 'helios_proxy.backends'::regclass
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'helios_proxy.backends'::regclass AND a.attnum > 0 ORDER BY a.attnum

-- script search_path status
SET search_path TO helios_proxy, public
SHOW search_path
SELECT backend_name FROM backends ORDER BY 1
SELECT count(*) FROM circuit_breaker_status s JOIN circuit_events e USING (backend_name)
SELECT current_schema(), current_schemas(false)
SELECT 'backends'::regclass::text, to_regclass('cluster_members')::text
SELECT pg_table_is_visible('helios_proxy.backends'::regclass)
SELECT relname FROM pg_class WHERE relname = 'backends' AND pg_table_is_visible(oid)
RESET search_path
SELECT backend_name FROM backends

-- script probes status
SELECT 1
SELECT 1 AS x, 'a' || 'b', true, NULL
\shape SELECT version()
SHOW client_encoding
SHOW standard_conforming_strings
SHOW TimeZone
SHOW transaction_isolation
SHOW search_path
SHOW integer_datetimes
SHOW max_identifier_length
SELECT current_schema()
\shape SELECT current_database()
SELECT current_user, session_user
\shape SELECT pg_backend_pid()
SELECT set_config('application_name', 'grafana', false)
SHOW application_name
SET statement_timeout = 5000
SHOW statement_timeout
RESET statement_timeout
DISCARD ALL
SHOW application_name
BEGIN
SELECT 1
COMMIT
SELECT nope()
SELECT 1 FROM nowhere

-- script catalog_oids
SELECT 'pg_class'::regclass, 'pg_catalog.pg_namespace'::regclass::oid, 'pg_description'::regclass::oid::regclass
SELECT d.description FROM pg_catalog.pg_description d WHERE d.objoid = 'helios_proxy.backends'::regclass AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
SELECT n.nspname, c.relname FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0 AND d.classoid = 'pg_class'::regclass) WHERE c.relnamespace = n.oid AND n.nspname LIKE 'helios\_proxy' ORDER BY 2
SELECT current_schema(), current_schemas(true), current_schemas(false)

-- script datetime_more
SELECT id, extract(second FROM event_time), extract(minute FROM event_time), extract(day FROM event_time), extract(month FROM event_time), extract(year FROM event_time) FROM helios_proxy.circuit_events ORDER BY id
SELECT extract(isodow FROM event_time), extract(isoyear FROM event_time), extract(decade FROM event_time), extract(century FROM event_time), extract(millennium FROM event_time) FROM helios_proxy.circuit_events WHERE id = 1
SELECT date_part('epoch', event_time), date_part('second', event_time), date_part('dow', event_time) FROM helios_proxy.circuit_events ORDER BY id
SELECT extract(epoch FROM interval '1 year 2 mons 3 days 04:05:06.5'), extract(hour FROM interval '27 hours'), extract(month FROM interval '14 months'), date_part('day', interval '40 days')
SELECT extract(epoch FROM max(event_time) - min(event_time)) FROM helios_proxy.circuit_events
SELECT extract(fortnight FROM event_time) FROM helios_proxy.circuit_events
SELECT date_trunc('second', event_time), date_trunc('week', event_time), date_trunc('month', event_time), date_trunc('quarter', event_time), date_trunc('year', event_time) FROM helios_proxy.circuit_events WHERE id = 1
SELECT date_trunc('decade', state_since), date_trunc('century', state_since), date_trunc('millennium', state_since), date_trunc('milliseconds', state_since) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT date_trunc('hour', interval '3 days 04:05:06'), date_trunc('day', event_time, 'America/New_York') FROM helios_proxy.circuit_events WHERE id = 1
SELECT to_char(event_time, 'FMMonth FMDD, YYYY'), to_char(event_time, 'Day Month DDD IW Q'), to_char(event_time, 'HH:MI:SS.US pm'), to_char(event_time, 'YY-MM "at" HH24"h"') FROM helios_proxy.circuit_events ORDER BY id
SELECT to_char(max(event_time) - min(event_time), 'HH24:MI:SS'), to_char(interval '1 day 03:04:05', 'DD HH24 MI') FROM helios_proxy.circuit_events
SELECT id, age(event_time, '2026-01-31 12:00:00+00'), age('2026-01-01 00:00:00+00', event_time) FROM helios_proxy.circuit_events ORDER BY id
SELECT event_time::timestamp, event_time::date + 0 = event_time::date FROM helios_proxy.circuit_events WHERE id = 1
SELECT event_time::timestamp, event_time::timestamp::timestamptz, event_time::date::timestamptz, event_time::time FROM helios_proxy.circuit_events ORDER BY id
SELECT '2026-03-14'::date, '2026-03-14 10:11:12'::timestamp, '10:11:12.5'::time, '2026-03-14 10:11:12'::timestamp + interval '1 day' FROM helios_proxy.backends LIMIT 1
SELECT (event_time AT TIME ZONE 'Asia/Tokyo') AT TIME ZONE 'Asia/Tokyo', event_time AT TIME ZONE '+05' FROM helios_proxy.circuit_events WHERE id = 1
SELECT id FROM helios_proxy.circuit_events WHERE event_time::date = '2026-03-14' ORDER BY id
SELECT event_time::date, count(*) FROM helios_proxy.circuit_events GROUP BY 1 ORDER BY 1
SELECT event_time AT TIME ZONE 'Nowhere/City' FROM helios_proxy.circuit_events
SELECT to_timestamp(1773500966.5), to_timestamp(extract(epoch FROM event_time)::float8) = event_time FROM helios_proxy.circuit_events WHERE id = 2
SELECT make_interval(1, 2, 3, 4, 5, 6, 7.25), make_interval(days => 10), make_interval(mins => 90, secs => 0.5)
SELECT justify_hours(interval '50 hours'), justify_days(interval '45 days'), justify_interval(interval '1 mon -1 hour'), justify_interval(interval '-40 days 3 hours')
SELECT interval '1 mon' * 1.5, interval '10 days' / 3, 2 * interval '1 hour 1 second', interval '1 year' / 7
SELECT max(event_time) - min(event_time) * 1 FROM helios_proxy.circuit_events
SELECT interval '1 day' / 0
SELECT (max(event_time) - min(event_time)) / 2, (max(event_time) - min(event_time)) * 0.1 FROM helios_proxy.circuit_events
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY event_time - '2026-03-14 15:00:00+00'::timestamptz) FROM helios_proxy.circuit_events
SELECT extract(year FROM '2026-03-14'::date), extract(dow FROM '2026-03-15'::date), extract(hour FROM '2026-03-14'::date)

-- script json_more
SELECT json_build_object('t', state_since, 'n', NULL, 'b', read_only, 'i', port, 'x', 1.50) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT jsonb_build_object('b', 1, 'a', 2, 'aa', 3, 'a', 4), jsonb_build_array(1, 'x', NULL, true)
SELECT json_build_object('k'), json_build_object(NULL, 1)
SELECT row_to_json(e) FROM helios_proxy.circuit_events e WHERE id IN (1, 2) ORDER BY id
SELECT to_jsonb(e) FROM helios_proxy.circuit_events e WHERE id = 3
SELECT to_json(latency_p99_ms), to_jsonb(latency_p99_ms), to_json(error_rate), to_jsonb(weight) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT json_agg(port), jsonb_agg(port ORDER BY port DESC), json_agg(DISTINCT priority ORDER BY priority) FROM helios_proxy.backends
SELECT json_agg(x.j) FROM (SELECT json_build_object('n', backend_name) AS j FROM helios_proxy.backends ORDER BY backend_name) x
SELECT priority, json_object_agg(backend_name, weight ORDER BY backend_name) FROM helios_proxy.backends GROUP BY priority ORDER BY 1
SELECT json_agg(backend_name) FILTER (WHERE port > 6000), jsonb_agg(NULL::text) FROM helios_proxy.backends
SELECT '{"b": 1, "a": [1, 2.50, "x"]}'::jsonb, '{"b":1,  "a":2}'::json, '[1, {"c": null}]'::jsonb -> 1
SELECT '{"a": {"b": 2}}'::json -> 'a' ->> 'b', '{"a": "x"}'::jsonb ->> 'a', '[10, 20]'::json -> -1, '{"a": 1}'::jsonb ? 'b'
SELECT row_to_json(b) -> 'weight', row_to_json(b) ->> 'read_only' FROM helios_proxy.backends b ORDER BY backend_name
SELECT '{bad'::jsonb
SELECT jsonb_pretty('{"a": {"b": [1, {}]}, "c": []}'::jsonb), json_typeof('[1]'::json), jsonb_typeof('"x"'::jsonb)
SELECT to_json(b) FROM helios_proxy.backends b ORDER BY 1

-- script aggregates_more
SELECT string_agg(backend_name, ',' ORDER BY port DESC, backend_name), string_agg(host, ';' ORDER BY host) FILTER (WHERE read_only) FROM helios_proxy.backends
SELECT array_agg(weight ORDER BY weight), array_agg(read_only ORDER BY backend_name), array_agg(DISTINCT priority) FROM helios_proxy.backends
SELECT array_agg(open_reason ORDER BY backend_name), array_agg(requests_total ORDER BY backend_name) FROM helios_proxy.circuit_breaker_status
SELECT priority, array_agg(backend_name ORDER BY backend_name DESC) FROM helios_proxy.backends GROUP BY priority ORDER BY 1
SELECT array_agg(port) FROM helios_proxy.backends WHERE false
SELECT string_agg(DISTINCT host, ',' ORDER BY port) FROM helios_proxy.backends
SELECT stddev(port), stddev_samp(priority), stddev_pop(weight), variance(port), var_samp(latency_p50_ms), var_pop(priority) FROM helios_proxy.circuit_breaker_status
SELECT stddev(requests_total), variance(requests_total), stddev(port::numeric / 7) FROM helios_proxy.circuit_breaker_status
SELECT stddev(port), var_pop(weight) FROM helios_proxy.backends WHERE priority = 3
SELECT covar_samp(port, weight), regr_intercept(latency_p50_ms, weight), regr_r2(port, priority), regr_count(port, priority), regr_avgx(port, priority), regr_avgy(port, priority), regr_sxx(port, weight), regr_syy(port, weight), regr_sxy(port, weight) FROM helios_proxy.circuit_breaker_status
SELECT corr(latency_p50_ms, latency_p95_ms), corr(port, port) FROM helios_proxy.circuit_breaker_status
SELECT bool_and(port > 5432), bool_or(port > 6000), every(read_only) FILTER (WHERE priority = 2), bit_and(requests_total), bit_or(port) FROM helios_proxy.circuit_breaker_status
SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY backend_name), percentile_disc(0) WITHIN GROUP (ORDER BY port), percentile_cont(1) WITHIN GROUP (ORDER BY weight DESC) FROM helios_proxy.backends
SELECT priority, percentile_cont(0.5) WITHIN GROUP (ORDER BY weight), mode() WITHIN GROUP (ORDER BY read_only) FROM helios_proxy.backends GROUP BY priority ORDER BY 1
SELECT mode() WITHIN GROUP (ORDER BY host), percentile_disc(ARRAY[0.1, 0.5, 1]) WITHIN GROUP (ORDER BY port) FROM helios_proxy.backends
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY port) FROM helios_proxy.backends WHERE false
SELECT string_agg(backend_name) FROM helios_proxy.backends
SELECT mode(port) FROM helios_proxy.backends
SELECT count(*) WITHIN GROUP (ORDER BY port) FROM helios_proxy.backends
SELECT array_agg(DISTINCT port ORDER BY host) FROM helios_proxy.backends
SELECT read_only, priority, sum(weight), grouping(read_only), grouping(read_only, priority) FROM helios_proxy.backends GROUP BY CUBE (read_only, priority) ORDER BY 1, 2
SELECT priority, count(*) FROM helios_proxy.backends GROUP BY ROLLUP (priority), read_only ORDER BY 1, 2
SELECT count(*), sum(port) FROM helios_proxy.backends GROUP BY ()
SELECT count(*) FROM helios_proxy.backends WHERE false GROUP BY ROLLUP (priority)
SELECT grouping(port) FROM helios_proxy.backends GROUP BY priority
SELECT backend_name FROM helios_proxy.backends WHERE grouping(port) = 0

-- script windows_more
SELECT id, sum(id) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING), count(*) OVER (ORDER BY id ROWS 2 PRECEDING), max(id) OVER (ORDER BY id ROWS BETWEEN 2 FOLLOWING AND 3 FOLLOWING) FROM helios_proxy.circuit_events ORDER BY id
SELECT id, array_agg(id) OVER (ORDER BY id ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING), first_value(id) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND 1 PRECEDING), last_value(id) OVER (ORDER BY id ROWS BETWEEN 1 FOLLOWING AND 1 FOLLOWING) FROM helios_proxy.circuit_events ORDER BY id
SELECT backend_name, port, sum(port) OVER (ORDER BY port RANGE BETWEEN 1 PRECEDING AND 1 FOLLOWING), count(*) OVER (ORDER BY port DESC RANGE BETWEEN 2000 PRECEDING AND CURRENT ROW) FROM helios_proxy.backends ORDER BY port, backend_name
SELECT id, count(*) OVER (ORDER BY event_time RANGE BETWEEN interval '10 seconds' PRECEDING AND CURRENT ROW), string_agg(id::text, ',') OVER (ORDER BY event_time RANGE BETWEEN CURRENT ROW AND interval '20 seconds' FOLLOWING) FROM helios_proxy.circuit_events ORDER BY id
SELECT backend_name, priority, sum(weight) OVER (ORDER BY priority GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW), count(*) OVER (ORDER BY priority GROUPS BETWEEN CURRENT ROW AND 1 FOLLOWING) FROM helios_proxy.backends ORDER BY priority, backend_name
SELECT backend_name, avg(latency_p50_ms) OVER (ORDER BY latency_p50_ms RANGE BETWEEN 2.5 PRECEDING AND 2.5 FOLLOWING) FROM helios_proxy.circuit_breaker_status ORDER BY 1
SELECT id, sum(id) OVER (ORDER BY id ROWS BETWEEN -1 PRECEDING AND CURRENT ROW) FROM helios_proxy.circuit_events
SELECT id, sum(id) OVER (ORDER BY id, event_time RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM helios_proxy.circuit_events
SELECT id, sum(id) OVER (ORDER BY backend_name RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM helios_proxy.circuit_events
SELECT id, sum(id) OVER w FROM helios_proxy.circuit_events WINDOW w AS (ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) ORDER BY id

-- script styles
SET DateStyle = 'ISO, DMY'
SELECT event_time, event_time::date, event_time::timestamp FROM helios_proxy.circuit_events WHERE id = 1
SET DateStyle = 'SQL, MDY'
SELECT event_time, event_time::date, event_time::timestamp, event_time::text FROM helios_proxy.circuit_events WHERE id = 1
SET DateStyle = 'Postgres, DMY'
SELECT event_time, event_time::date, event_time::timestamp FROM helios_proxy.circuit_events WHERE id = 1
SET DateStyle = 'German'
SHOW DateStyle
SELECT event_time::date, event_time::timestamp FROM helios_proxy.circuit_events WHERE id = 1
RESET DateStyle
SET IntervalStyle = 'postgres_verbose'
SELECT interval '-1 day 02:03:04.5', interval '1 year -1 mons', interval '0', interval '-1 sec', interval '1 sec' FROM helios_proxy.backends LIMIT 1
SET IntervalStyle = 'sql_standard'
SELECT interval '1 day' - interval '02:03:04.5', interval '1 year 2 mons', interval '-1 year -2 mons', interval '3 days 04:00:00', interval '-04:05:06', interval '0', interval '1 mon' - interval '1 day' FROM helios_proxy.backends LIMIT 1
SET IntervalStyle = 'iso_8601'
SELECT interval '-1 day 02:03:04.5', interval '1 year 2 mons', interval '0', interval '-00:00:00.25' FROM helios_proxy.backends LIMIT 1
SET IntervalStyle = 'nope'
RESET IntervalStyle
SET TimeZone = 'America/Sao_Paulo'
SELECT event_time, to_char(event_time, 'TZ OF'), extract(timezone_hour FROM event_time), date_trunc('day', event_time) FROM helios_proxy.circuit_events WHERE id = 1

-- script lateral
SELECT b.backend_name, x.n FROM helios_proxy.backends b, LATERAL (SELECT count(*) AS n FROM helios_proxy.circuit_events e WHERE e.backend_name = b.backend_name) x ORDER BY 1
SELECT b.backend_name, x.p FROM helios_proxy.backends b JOIN LATERAL (SELECT b.port + 1 AS p) x ON x.p > 5433 ORDER BY 1
SELECT s.backend_name, t.event_type, t.id FROM helios_proxy.circuit_breaker_status s LEFT JOIN LATERAL (SELECT e.event_type, e.id FROM helios_proxy.circuit_events e WHERE e.backend_name = s.backend_name ORDER BY e.id DESC LIMIT 1) t ON true ORDER BY 1
WITH c AS (SELECT backend_name, port FROM helios_proxy.backends) SELECT c.backend_name, l.m FROM c, LATERAL (SELECT max(c2.port) AS m, count(*) FROM c c2 WHERE c2.port < c.port) l ORDER BY 1
SELECT b.backend_name, (SELECT count(*) FROM LATERAL (SELECT b.priority) z) FROM helios_proxy.backends b ORDER BY 1
SELECT b.backend_name, x.k FROM helios_proxy.backends b CROSS JOIN LATERAL (SELECT m.node AS k FROM helios_proxy.cluster_members m WHERE m.node > b.backend_name ORDER BY 1 LIMIT 1) x ORDER BY 1
SELECT * FROM helios_proxy.backends b, LATERAL (SELECT nope FROM helios_proxy.circuit_events WHERE backend_name = b.backend_name) x
SELECT pg_get_serial_sequence('helios_proxy.backends', 'port'), pg_catalog.pg_get_serial_sequence('helios_proxy.circuit_events', 'id')
SELECT pg_get_serial_sequence('helios_proxy.backends', 'nope')
SELECT pg_get_serial_sequence('helios_proxy.nope', 'id')

-- script more_checks
SELECT to_char(port, '99999'), to_char(weight, 'FM990.00'), to_char(error_rate, '0.999'), to_char(-12.5, '999D9'), to_char(requests_total, '9,999,999') FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT to_char(port, 'FM9999'), to_char(latency_p95_ms, '9999.9'), to_char(0.5, '9.99'), to_char(0, '999') FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT extract(hour FROM event_time::timestamp), extract(epoch FROM event_time::timestamp), extract(doy FROM event_time::date), date_part('year', event_time::date) FROM helios_proxy.circuit_events WHERE id = 1
SELECT event_time::date - '2026-01-01', event_time::date + 30, event_time::date - 1, event_time::date + interval '36 hours', event_time::date + '10:30'::time FROM helios_proxy.circuit_events WHERE id = 1
SELECT event_time::date < event_time, event_time::timestamp = event_time, '2026-03-14'::date = '2026-03-14 00:00:00'::timestamp FROM helios_proxy.circuit_events WHERE id = 1
SELECT event_time::timestamp - '2026-03-14 00:00:00'::timestamp, event_time::time - '15:00'::time FROM helios_proxy.circuit_events WHERE id = 1
SELECT stddev(weight::numeric), variance(latency_p95_ms::numeric), stddev_pop(priority::bigint) FROM helios_proxy.circuit_breaker_status
SELECT jsonb_build_object('k', jsonb_build_object('z', 1, 'a', ARRAY['x', NULL])), json_build_object('a', ARRAY[1.5, 2]), to_json(ARRAY[true, false])
SELECT '{"a":1,"a":2}'::jsonb, '{"a":1,"a":2}'::json, '{"a":1,"a":2}'::json -> 'a', '[1,2,3]'::jsonb -> 5, '  [1, 2.0e1, -0.5]'::jsonb
SELECT '{"a": [1, "two", {"b": null}]}'::jsonb ->> 'a', '"x\ny"'::jsonb, '"\u00e9"'::json ->> 0, '{"t": true}'::jsonb -> 't'
SELECT '[1,'::json
SELECT '{"a" 1}'::jsonb
SELECT '{"a": tru}'::jsonb
SELECT jsonb_agg(backend_name ORDER BY backend_name) -> 0, json_agg(weight ORDER BY weight) ->> 1 FROM helios_proxy.backends
SELECT date_trunc('week', '2026-03-15 12:00:00'::timestamp), date_trunc('quarter', '2026-12-31'::date), date_trunc('hour', event_time::timestamp) FROM helios_proxy.circuit_events WHERE id = 1
SELECT age('2026-03-31'::timestamp, '2026-02-28 12:00'::timestamp), age('2024-02-29 00:00:00+00', '2026-03-14 00:00:00+00')
SELECT to_char(1, 'FM9.99'), to_char(1.5, 'FM9.90'), to_char(12, 'FM0009'), to_char(-0.25, 'FM90.999'), to_char(1234.5::float8, '9,999.9')
SELECT backend_name, string_agg(event_type, ' > ' ORDER BY id) FROM helios_proxy.circuit_events GROUP BY backend_name ORDER BY 1 NULLS FIRST
SELECT count(*) OVER (ORDER BY port RANGE BETWEEN UNBOUNDED PRECEDING AND 1000 FOLLOWING), backend_name FROM helios_proxy.backends ORDER BY 2
SELECT id, lag(id) OVER w, sum(id) OVER (w ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) FROM helios_proxy.circuit_events WINDOW w AS (ORDER BY id) ORDER BY id
SELECT cardinality(ARRAY[1, 2, NULL]), array_position(ARRAY['a', 'b', NULL, 'b'], 'b'), array_position(ARRAY['a', NULL], NULL), array_position(ARRAY[1, 2, 3, 2], 2, 3), cardinality('{}'::int[])
SELECT cardinality(port) FROM helios_proxy.backends
SELECT array_position(array_agg(port), 'x') FROM helios_proxy.backends

-- script srf
SELECT backend_name, unnest(ARRAY[1, 2, 3]) AS a, generate_series(1, priority) AS g FROM helios_proxy.backends ORDER BY 1, 2 NULLS FIRST, 3
SELECT backend_name, generate_series(2, priority) FROM helios_proxy.backends ORDER BY 1, 2
SELECT unnest(ARRAY[1, 2]), backend_name FROM helios_proxy.backends WHERE priority = 1
SELECT DISTINCT unnest(ARRAY[priority, 1]) AS p FROM helios_proxy.backends ORDER BY 1
SELECT backend_name, unnest(ARRAY['a', 'b']) FROM helios_proxy.backends ORDER BY 1, 2 LIMIT 3 OFFSET 2
SELECT priority, unnest(array_agg(backend_name ORDER BY backend_name)) FROM helios_proxy.backends GROUP BY priority ORDER BY 1, 2
SELECT generate_series(1, count(*)::int) FROM helios_proxy.backends
SELECT unnest(ARRAY[1, 2]) + port AS p, upper(unnest(ARRAY['x'])) FROM helios_proxy.backends ORDER BY p, 2
SELECT backend_name, generate_subscripts(ARRAY['x', 'y', 'z'], 1) AS s, generate_subscripts(ARRAY[1, 2], 1, true) FROM helios_proxy.backends WHERE priority = 1 ORDER BY 1, 2
SELECT (information_schema._pg_expandarray(ARRAY[port, priority])).n, (information_schema._pg_expandarray(ARRAY[port, priority])).x FROM helios_proxy.backends ORDER BY 2, 1
SELECT information_schema._pg_expandarray(ARRAY[port, NULL]) AS k, backend_name FROM helios_proxy.backends WHERE priority = 1
SELECT information_schema._pg_expandarray(ARRAY[backend_name, 'a "b"', '']) FROM helios_proxy.backends WHERE port > 5432
SELECT (r.k).x, (r.k).n FROM (SELECT information_schema._pg_expandarray(ARRAY[host, 'x,y']) AS k FROM helios_proxy.backends) r ORDER BY 1, 2
SELECT backend_name, (regexp_matches(backend_name, '[a-z]+', 'g'))[1] AS m FROM helios_proxy.backends ORDER BY 1, 2
SELECT regexp_matches(backend_name, '^(pg)-(.*)$') FROM helios_proxy.backends WHERE backend_name LIKE 'pg-%' ORDER BY backend_name
SELECT regexp_split_to_table(backend_name, '-') AS part FROM helios_proxy.backends ORDER BY 1
SELECT row_number() OVER (ORDER BY backend_name), unnest(ARRAY[1, 2]) FROM helios_proxy.backends ORDER BY 1, 2
SELECT unnest('{}'::int[]), backend_name FROM helios_proxy.backends
SELECT backend_name, unnest(NULL::text[]) FROM helios_proxy.backends
SELECT x FROM (SELECT unnest(ARRAY[port, priority]) AS x FROM helios_proxy.backends) s ORDER BY 1
SELECT min(x), count(*) FROM (SELECT generate_series(1, priority) AS x FROM helios_proxy.backends) s
SELECT backend_name FROM helios_proxy.backends WHERE port IN (SELECT unnest(ARRAY[5432, 5433])) ORDER BY 1
SELECT count(unnest(ARRAY[1])) FROM helios_proxy.backends
SELECT backend_name FROM helios_proxy.backends WHERE unnest(ARRAY[port]) = 5432
SELECT CASE WHEN port > 0 THEN unnest(ARRAY[1]) END FROM helios_proxy.backends
SELECT coalesce(unnest(ARRAY[port]), 0) FROM helios_proxy.backends
SELECT lag(unnest(ARRAY[port])) OVER () FROM helios_proxy.backends
SELECT backend_name FROM helios_proxy.backends LIMIT generate_series(1, 2)
SELECT generate_series(1, 3, 0), backend_name FROM helios_proxy.backends
SELECT unnest(port) FROM helios_proxy.backends
SELECT (information_schema._pg_expandarray(ARRAY[port])).nope FROM helios_proxy.backends

-- script comma_joins
SELECT b.backend_name, s.circuit_state, e.id FROM helios_proxy.backends b, helios_proxy.circuit_breaker_status s, helios_proxy.circuit_events e WHERE s.backend_name = b.backend_name AND e.backend_name = s.backend_name AND b.priority >= 1 ORDER BY 3
SELECT count(*) FROM helios_proxy.backends a, helios_proxy.backends b, helios_proxy.backends c WHERE a.port = b.port AND b.port = c.port
SELECT a.backend_name, b.backend_name FROM helios_proxy.backends a, helios_proxy.backends b WHERE a.priority < b.priority OR a.port IS NULL ORDER BY 1, 2
SELECT a.backend_name, b.node FROM helios_proxy.backends a, helios_proxy.cluster_members b, helios_proxy.circuit_events e WHERE e.backend_name = a.backend_name AND e.id < 0 ORDER BY 1
SELECT c.relname, a.attnum FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c, pg_catalog.pg_attribute a, pg_catalog.pg_constraint con WHERE n.oid = c.relnamespace AND a.attrelid = c.oid AND con.conrelid = c.oid AND n.nspname = 'helios_proxy'
SELECT c.relname FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n, pg_catalog.pg_attribute a WHERE n.oid = c.relnamespace AND a.attrelid = c.oid AND n.nspname = 'helios_proxy' AND a.attname = 'port' ORDER BY 1
SELECT port & 15, port | 1, port # 3, priority::smallint & 1::smallint, 6::int8 & port FROM helios_proxy.backends ORDER BY 1, 2, 3
SELECT backend_name & 1 FROM helios_proxy.backends

-- script status_functions status
SELECT setting FROM pg_catalog.pg_settings WHERE name='max_index_keys'
SELECT name, setting, unit, category, short_desc, extra_desc, context, vartype, min_val, max_val, enumvals, sourcefile, pending_restart FROM pg_settings WHERE name IN ('max_index_keys', 'statement_timeout', 'IntervalStyle', 'search_path', 'extra_float_digits', 'default_transaction_isolation') ORDER BY name
SHOW max_index_keys
SELECT generate_series(1, 3) AS g, unnest('{a,b}'::text[]) AS u
SELECT generate_subscripts('{7,8,9}'::int[], 1, true) AS s, unnest('{7,8,9}'::int[]) AS v
SELECT regexp_matches('a1b22c333', '[0-9]+', 'g')

-- Grafana's PostgreSQL data source (grafana/grafana: the frontend's
-- postgresMetaQuery.ts and sqlUtil.ts, the backend's macros.go), through
-- pgx in the extended protocol: the version and TimescaleDB probes, the
-- query builder's schema, table and column lists (the search_path parsed
-- in SQL), and panel queries as the macros expand them for the range
-- 2026-03-14T15:08:00Z to 2026-03-14T15:10:00Z (the events lie in it):
-- $__timeFilter(c) is c BETWEEN 'from' AND 'to', $__timeGroupAlias(c,
-- '10s') floor(extract(epoch from c)/10)*10 AS "time", $__timeGroup
-- without the alias, $__unixEpochFilter(c) c >= from AND c <= to,
-- $__time(c) c AS "time", $__timeEpoch(c) extract(epoch from c) as
-- "time". Its newlines are spaces here.
-- script grafana
\shape SELECT current_setting('server_version_num')::int/100 as version
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'
SELECT quote_ident(table_name) AS "table" FROM information_schema.tables WHERE quote_ident(table_schema) = 'helios_proxy' ORDER BY 1
SELECT quote_ident(column_name) AS "column", data_type AS "type" FROM information_schema.columns WHERE CASE WHEN array_length(parse_ident('helios_proxy.circuit_events'),1) = 2 THEN quote_ident(table_schema) = (parse_ident('helios_proxy.circuit_events'))[1] AND quote_ident(table_name) = (parse_ident('helios_proxy.circuit_events'))[2] ELSE quote_ident(table_name) = 'helios_proxy.circuit_events' AND quote_ident(table_schema) IN ( SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series( array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1) ) as i, string_to_array(current_setting('search_path'),',') s ) END
SELECT $__timeGroupAlias FROM helios_proxy.circuit_events WHERE false
SELECT floor(extract(epoch from event_time)/10)*10 AS "time", count(*) AS "events" FROM helios_proxy.circuit_events WHERE event_time BETWEEN '2026-03-14T15:08:00Z' AND '2026-03-14T15:10:00Z' GROUP BY 1 ORDER BY 1
SELECT floor(extract(epoch from event_time)/60)*60 AS "time", backend_name AS metric, count(*) FROM helios_proxy.circuit_events WHERE event_time BETWEEN '2026-03-14T15:08:00Z' AND '2026-03-14T15:10:00Z' AND backend_name IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
SELECT floor(extract(epoch from event_time)/10)*10 AS "time", event_type AS metric, count(*) AS value FROM helios_proxy.circuit_events WHERE event_time BETWEEN '2026-03-14T15:08:00Z' AND '2026-03-14T15:10:00Z' GROUP BY floor(extract(epoch from event_time)/10)*10, event_type ORDER BY floor(extract(epoch from event_time)/10)*10, event_type
SELECT event_time AS "time", backend_name AS metric, latency_p95_ms FROM helios_proxy.circuit_events WHERE event_time BETWEEN '2026-03-14T15:08:00.123Z' AND '2026-03-14T15:10:00Z' AND latency_p95_ms > 0 ORDER BY 1
SELECT extract(epoch from event_time) as "time", error_rate FROM helios_proxy.circuit_events WHERE extract(epoch from event_time) >= 1773500880 AND extract(epoch from event_time) <= 1773501000 ORDER BY 1
SELECT event_time AS "time", event_type, backend_name, from_state, to_state, reason, detail FROM helios_proxy.circuit_events WHERE event_time BETWEEN '2026-03-14T15:08:00Z' AND '2026-03-14T15:10:00Z' ORDER BY event_time DESC LIMIT 100
SELECT backend_name, circuit_state, latency_p95_ms, error_rate, connection_saturation, last_failure_time FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT backend_name, circuit_state, latency_p95_ms FROM helios_proxy.circuit_breaker_status WHERE circuit_state <> 'CLOSED' ORDER BY latency_p95_ms DESC LIMIT 50 
SELECT circuit_state, COUNT(backend_name) AS "backends" FROM helios_proxy.circuit_breaker_status GROUP BY circuit_state ORDER BY circuit_state 
\shape SELECT now() AS time, count(*) AS "open circuits" FROM helios_proxy.circuit_breaker_status WHERE circuit_state = 'OPEN'
SELECT '2026-03-14T15:09:26Z'::timestamptz AS time, count(*) FILTER (WHERE circuit_state = 'OPEN') AS "open", count(*) AS "total" FROM helios_proxy.circuit_breaker_status
SELECT $1::timestamptz AS "time", avg(latency_p95_ms) AS p95 FROM helios_proxy.circuit_breaker_status \bind 2026-03-14T15:09:26Z
SELECT backend_name AS __text, backend_name AS __value FROM helios_proxy.backends ORDER BY 1
SELECT event_time AS time, event_type || ': ' || coalesce(backend_name, backends) AS text, reason AS tags FROM helios_proxy.circuit_events WHERE event_time BETWEEN '2026-03-14T15:08:00Z' AND '2026-03-14T15:10:00Z' ORDER BY 1
SELECT floor(extract(epoch from state_since)/3600)*3600 AS "time", count(*) FROM helios_proxy.circuit_breaker_status WHERE state_since BETWEEN '2026-03-13T00:00:00Z' AND '2026-03-15T00:00:00Z' GROUP BY 1 ORDER BY 1
SELECT floor(extract(epoch from event_time)/10)*10 AS "time", avg(latency_p95_ms) FILTER (WHERE latency_p95_ms > 0) AS "p95" FROM helios_proxy.circuit_events WHERE event_time BETWEEN '2026-03-14T15:08:00Z' AND '2026-03-14T15:10:00Z' GROUP BY 1 ORDER BY 1
SELECT time_bucket('10.000s',event_time) AS "time", count(*) FROM helios_proxy.circuit_events GROUP BY 1 ORDER BY 1
SELECT date_bin('10 seconds', event_time, TIMESTAMPTZ '2001-01-01') AS "time", count(*) FROM helios_proxy.circuit_events GROUP BY 1 ORDER BY 1
SELECT date_bin('1 minute', event_time, '2026-03-14 15:09:00+00') AS "time", max(error_rate) FROM helios_proxy.circuit_events WHERE event_time BETWEEN '2026-03-14T15:00:00Z' AND '2026-03-14T16:00:00Z' GROUP BY 1 ORDER BY 1
SELECT date_bin('15 minutes', state_since, TIMESTAMPTZ '2000-01-01 00:07:00+00'), date_bin('1 day 2 hours', last_failure_time, TIMESTAMPTZ '2030-01-01'), pg_typeof(date_bin('1 hour', state_since, '2000-01-01')) FROM helios_proxy.circuit_breaker_status ORDER BY backend_name
SELECT date_bin('1 hour', TIMESTAMP '2026-03-14 15:09:26', TIMESTAMP '2026-03-14 18:00:00'), date_bin('1 hour', TIMESTAMP '2026-03-14 15:00:00', TIMESTAMP '2026-03-14 18:00:00'), date_bin('1 microsecond', TIMESTAMP '2026-03-14 15:00:00.5', TIMESTAMP '2027-01-01')
SELECT date_bin('1 month', event_time, TIMESTAMPTZ '2001-01-01') FROM helios_proxy.circuit_events
SELECT date_bin('0 seconds', event_time, TIMESTAMPTZ '2001-01-01') FROM helios_proxy.circuit_events
SELECT date_bin('-1 hour', event_time, TIMESTAMPTZ '2001-01-01') FROM helios_proxy.circuit_events

-- The query builder's lists read the catalogs (no helios_proxy table):
-- on a backend database they are relayed, and answer for the backend.
-- script grafana_lists status
SELECT schema_name AS "name" FROM information_schema.schemata WHERE schema_name NOT IN ('information_schema', 'pg_catalog', 'pg_toast', '_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_internal', '_timescaledb_config', 'timescaledb_information', 'timescaledb_experimental') ORDER BY schema_name
SELECT CASE WHEN quote_ident(table_schema) IN ( SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series( array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1) ) as i, string_to_array(current_setting('search_path'),',') s ) THEN quote_ident(table_name) ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS "table" FROM information_schema.tables WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog', '_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_internal', '_timescaledb_config', 'timescaledb_information', 'timescaledb_experimental') ORDER BY CASE WHEN quote_ident(table_schema) IN ( SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series( array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1) ) as i, string_to_array(current_setting('search_path'),',') s ) THEN 0 ELSE 1 END, 1
SELECT quote_ident(column_name) AS "column", data_type AS "type" FROM information_schema.columns WHERE CASE WHEN array_length(parse_ident('backends'),1) = 2 THEN quote_ident(table_schema) = (parse_ident('backends'))[1] AND quote_ident(table_name) = (parse_ident('backends'))[2] ELSE quote_ident(table_name) = 'backends' AND quote_ident(table_schema) IN ( SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series( array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1) ) as i, string_to_array(current_setting('search_path'),',') s ) END
SET search_path TO helios_proxy, public
SELECT quote_ident(column_name) AS "column", data_type AS "type" FROM information_schema.columns WHERE CASE WHEN array_length(parse_ident('backends'),1) = 2 THEN quote_ident(table_schema) = (parse_ident('backends'))[1] AND quote_ident(table_name) = (parse_ident('backends'))[2] ELSE quote_ident(table_name) = 'backends' AND quote_ident(table_schema) IN ( SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series( array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1) ) as i, string_to_array(current_setting('search_path'),',') s ) END
SELECT CASE WHEN quote_ident(table_schema) IN ( SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series( array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1) ) as i, string_to_array(current_setting('search_path'),',') s ) THEN quote_ident(table_name) ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS "table" FROM information_schema.tables WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog', '_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_internal', '_timescaledb_config', 'timescaledb_information', 'timescaledb_experimental') ORDER BY CASE WHEN quote_ident(table_schema) IN ( SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series( array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1) ) as i, string_to_array(current_setting('search_path'),',') s ) THEN 0 ELSE 1 END, 1
SELECT backend_name, port FROM backends ORDER BY 1

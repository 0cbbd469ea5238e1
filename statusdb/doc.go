// Package statusdb answers SQL on the helios_proxy schema from a
// status.Snapshot, so that any PostgreSQL client can read circuit state
// through the proxy, even when every backend is down.
//
// # Use
//
//	if statusdb.Mentions(query) {             // hot path: a byte scan, no allocation
//		st, err := db.Prepare(sql)           // parse + plan, cached by SQL text
//		if errors.Is(err, statusdb.ErrNotStatusQuery) {
//			// not ours after all (e.g. the name was in a string): relay it
//		}
//		res, err := st.Execute(statusdb.Input{Snapshot: snap, Events: events, Now: now, TimeZone: loc}, bindValues, bindFormats)
//		for r := range res.Rows { dst, notNull, err = res.AppendValue(dst[:0], r, c, format) }
//	}
//
// A simple Query message with several statements goes through DB.Split
// first. For a Parse message that declares parameter types (JDBC, psycopg
// 3), use DB.PrepareTyped so that the declared types are honoured and
// echoed, as PostgreSQL does. Stmt.Columns and Stmt.ParamOIDs are exact before execution, for
// RowDescription and ParameterDescription. Every error a client should see
// is an *Error with a SQLSTATE and, where it helps, a 1-based character
// Position in the text given to Prepare (for a piece of a split Query,
// relative to that piece).
//
// # Schema
//
// helios_proxy.circuit_breaker_status, one row per backend in configuration
// order (column order is part of the contract):
//
//	backend_name text, circuit_state text ('CLOSED', 'OPEN', 'HALF_OPEN'),
//	latency_p50_ms float8, latency_p95_ms float8, latency_p99_ms float8,
//	error_rate float8 (0..1), connection_saturation float8 (0..1),
//	last_failure_time timestamptz (NULL if none), host text, port int4,
//	priority int4, weight float8, traffic_share float8,
//	active_connections int8, max_connections int8 (0 if unknown),
//	queue_depth int8, state_since timestamptz (NULL if unknown),
//	open_reason text (NULL when there is none, as for a closed circuit),
//	override text ('OPEN' or 'CLOSED', NULL without an override),
//	requests_total int8, failures_total int8, rejected_total int8,
//	transitions_total int8, replication_lag_ms float8, ramp_factor float8,
//	read_only bool, trusts_proxy bool (the backend lets the proxy's
//	connections in without a password), trusted_roles text (the roles it
//	lets in so, comma-separated, '*' for any role; NULL when none),
//	role text ('primary', 'replica' or 'unknown': as configured when
//	asserted, else as the health check found it), timeline int8 (the WAL
//	timeline it writes or receives; NULL if unknown),
//	replication_lag_bytes int8 (a replica's lag behind its primary in
//	bytes of WAL, as replication_lag_ms is in time; 0 on a primary),
//	routing text (what routing sends it: 'read-write', 'read-only',
//	'lagging' — a replica beyond max_replication_lag_ms —, 'fenced' — a
//	second primary —, or 'unreachable' — its circuit is OPEN),
//	fenced_reason text (why it is fenced; NULL when it is not),
//	observed_role text (what the health check found, 'unknown' before
//	one; differs from role when the configuration asserts another),
//	backend_waiting int8 (client sessions waiting on a lock inside the
//	backend; NULL unless collect_query_queue_depth)
//
// helios_proxy.circuit_events, one row per Input.Events entry, in the order
// given (normally oldest first):
//
//	id int8, event_time timestamptz, event_type text ('CircuitOpened', ...),
//	backend_name text (NULL for CascadeDetected), from_state text,
//	to_state text (NULL unless a transition), reason text, detail text
//	(NULL when empty), attempt int4 (NULL when 0: all but RecoveryFailed),
//	recovery_duration_ms float8 (NULL unless CircuitClosed),
//	in_previous_state_ms float8 (NULL unless a transition),
//	backends text (comma-separated, CascadeDetected only, else NULL),
//	latency_p95_ms float8, latency_p99_ms float8, error_rate float8,
//	connection_saturation float8 (the metrics at the time of the event)
//
// helios_proxy.backends, the configuration view:
//
//	backend_name text, host text, port int4, priority int4, weight float8,
//	read_only bool
//
// Metric and counter columns are never NULL (0 when there is no data), so
// that clients scanning into plain floats and integers work; NULL means
// "not applicable" and appears only in the columns marked above.
//
// # Why PostgreSQL's parser and our own evaluator
//
// The statement is parsed by github.com/pganalyze/pg_query_go, which is
// PostgreSQL's own grammar (libpg_query) compiled in through cgo. Clients
// send PostgreSQL SQL — `::text` casts, ILIKE, `interval '5 minutes'`,
// `$1` parameters, quoted identifiers, dollar quotes — and a real
// PostgreSQL grammar accepts exactly that, reports syntax errors with
// PostgreSQL's message and cursor position, and splits multi-statement
// Query strings correctly. A small evaluator over the parse tree then does
// the name resolution and typing the way PostgreSQL's parse analysis does,
// so column names, result types and parameter types are known exactly at
// Describe time, before any row exists; the query is compiled into
// closures over unboxed values, and the plan is cached by SQL text (256
// statements), which makes a repeated status query cost microseconds
// (parsing costs tens).
//
// Rejected: an embedded SQLite over the snapshot (modernc.org/sqlite). Its
// dialect rejects `::` casts, ILIKE and intervals, it names columns after
// the expression text, returns booleans as 0/1, types values dynamically
// (so RowDescription would be guessed), and resolves unqualified names
// PostgreSQL would not. A hand-written parser: a second, subtly different
// SQL grammar to maintain, with worse error positions. The cost of the
// chosen route is cgo (about 45 s more for a cold build, twice with -race)
// and an evaluator limited to what is listed below.
//
// Revisited for issue 12's breadth (joins, subqueries, CTEs, windows,
// set operations, the catalogs that psql and Grafana read, exact numeric,
// arrays, search_path, PostgreSQL's privilege errors): the evaluator was
// extended rather than replaced. An embedded engine would still have to
// be taught PostgreSQL's types, names and errors at Describe time, which
// is where the evaluator's value lies; the additions kept the seed query
// at its cost (CPU per execution within noise at 3 and 1,000 backends,
// p99 under 1 ms at 1,000 in BenchmarkStatusQuery) and added a work budget
// (54000 past about 4 million rows or values read) so that a cross join
// of 1,000-row tables cannot take the process's memory.
//
// The evaluator is checked against a real PostgreSQL 15 (see
// TestAgainstPostgreSQL): the same rows as real tables, the same statements,
// and byte-for-byte equal text and binary encodings, column names, type
// OIDs, parameter types, and error codes, messages and positions.
//
// # Supported SQL
//
// SELECT over the helios_proxy tables (optionally aliased, with column
// aliases; columns may be qualified by the alias, the table name or
// helios_proxy.table), resolved level by level as PostgreSQL does
// (42702 for an ambiguous name, 42P01 for a qualifier that names nothing):
//   - joins: [INNER] JOIN, LEFT/RIGHT/FULL [OUTER] JOIN, CROSS JOIN and
//     comma lists, with ON, USING (merged columns, COALESCE for FULL) or
//     NATURAL, and a join alias;
//   - subqueries: scalar (correlated or not; 21000 for more than one
//     row), EXISTS, [NOT] IN, op ANY/ALL (subquery), and in FROM with an
//     alias and column aliases; one that refers to nothing outside it
//     runs once per execution, a correlated one per row;
//   - WITH, including WITH RECURSIVE (non-recursive-term UNION [ALL]
//     recursive-term); a CTE is materialized when first read;
//   - UNION, INTERSECT and EXCEPT [ALL], with ORDER BY (result columns),
//     LIMIT and OFFSET, and parenthesized branches with their own;
//   - window functions row_number, rank, dense_rank, percent_rank,
//     cume_dist, ntile, lag, lead, first_value, last_value, nth_value and
//     count/sum/avg/min/max [FILTER] OVER (PARTITION BY ... ORDER BY ...),
//     named windows (WINDOW w AS ...), frames in ROWS, RANGE or GROUPS
//     mode whose bounds are UNBOUNDED, CURRENT ROW or an offset
//     PRECEDING/FOLLOWING (winframe.go: a bigint for ROWS and GROUPS; for
//     RANGE, over one ORDER BY column of a number type, of the column's
//     type, over timestamptz or interval an interval), and the
//     aggregates below OVER a window;
//   - LATERAL subqueries in FROM (lateral.go): FROM a, LATERAL (...) s
//     and a [INNER|LEFT|CROSS] JOIN LATERAL (...) s, run once per row of
//     the items before them;
//   - SELECT DISTINCT ON (...), with PostgreSQL's rule on ORDER BY;
//   - op ANY/ALL (array) for comparisons and [I]LIKE, over ARRAY[...],
//     ARRAY(SELECT ...), array literals ('{1,2}', '{a,NULL}'::text[]) and
//     array parameters ($1 typed int4[], text[], ... from its use, or as
//     declared), sent in text or binary;
//   - select lists with *, t.*, expressions and aliases; SELECT DISTINCT;
//   - WHERE with = <> != < > <= >=, AND, OR, NOT (three-valued logic),
//     [NOT] IN (list), [NOT] LIKE / ILIKE [ESCAPE], [NOT] BETWEEN
//     [SYMMETRIC], IS [NOT] NULL, IS [NOT] TRUE/FALSE/UNKNOWN,
//     IS [NOT] DISTINCT FROM;
//   - arithmetic + - * / % and unary minus with PostgreSQL's types, integer
//     division, overflow and division-by-zero errors; || on text (and
//     anything concatenated with text); timestamptz ± interval,
//     timestamptz - timestamptz, interval ± interval;
//   - CASE (both forms), COALESCE, NULLIF, GREATEST, LEAST, lower, upper,
//     length/char_length, abs, round(x), round(x, n), trunc, ceil/ceiling,
//     floor, now(), current_timestamp (and transaction_, statement_,
//     clock_timestamp(), all the same instant: Input.Now);
//   - casts with :: or CAST to text, varchar[(n)], char[(n)]/bpchar,
//     smallint/int2, int/int4/integer, int8/bigint, real/float4,
//     float8/double precision, numeric[(p,s)]/decimal, bool/boolean,
//     timestamptz/timestamp with time zone, interval (casts.go: real is
//     held as a float8 rounded to float32 and printed as float4out does;
//     varchar(n) and char(n) cut to n characters, char(n) pads with
//     spaces; smallint is range-checked; their columns carry OIDs 700,
//     1043, 1042 and 21, and varchar(n), char(n) and numeric(p,s) their
//     type modifiers (Column.TypeModifier: n + 4, ((p << 16) | s) + 4,
//     through column references, subqueries, CTEs, USING columns, set
//     operations whose sides agree, and CASE with ELSE, COALESCE,
//     GREATEST, LEAST and NULLIF whose branches agree, as PostgreSQL's
//     exprTypmod; information_schema's yes_or_no columns are
//     varchar(3));
//   - built-in functions (funcs.go), declared with their pg_proc
//     signatures and chosen as PostgreSQL's func_select_candidate
//     chooses (exact matches, then preferred types, then the string
//     category for unknown literals), so argument coercions, result
//     types and errors are PostgreSQL's: a literal that does not fit is
//     22P02 at the literal, a call nothing matches 42883 "function
//     f(types) does not exist" with PostgreSQL's hint (also for a name
//     PostgreSQL does not know; one it knows but statusdb lacks stays
//     0A000, from pg_proc's names in pgnames_gen.go);
//   - string functions (strfunc.go): concat, concat_ws, format (%s %I
//     %L %%, n$ positions, - and widths including * and *n$), substr,
//     substring (FROM/FOR, FROM pattern, SIMILAR ... ESCAPE), left,
//     right, position, strpos, octet_length, initcap (ASCII, as under
//     COLLATE "C"), replace, translate, reverse, repeat, lpad, rpad,
//     split_part (negative fields), md5, starts_with, quote_ident
//     (keywords quoted), quote_literal, quote_nullable, ascii, chr,
//     to_hex;
//   - regular expressions (regex.go): ~ ~* !~ !~*, SIMILAR TO [ESCAPE],
//     similar_to_escape, regexp_replace (flags g i c n m s x q; start and
//     n), regexp_match, regexp_split_to_array, regexp_like, regexp_count,
//     substring(s FROM pattern), and in the select list the
//     set-returning regexp_matches and regexp_split_to_table (with
//     generate_series of integers): one output row per value, before
//     DISTINCT, ORDER BY and LIMIT, several such calls in step with NULL
//     for the shorter, as PostgreSQL's ProjectSet (elsewhere 0A000, or
//     PostgreSQL's error in WHERE, aggregates and window functions). PostgreSQL's ARE syntax is translated to
//     Go's RE2: leftmost-longest matching (a|ab matches "ab") unless
//     PostgreSQL deems the pattern non-greedy (its first quantifier is),
//     . matching newlines unless
//     flag n, ASCII-only case folding, \y \Y \Z \A \b (backspace) \e
//     \x.. \u.... \cX, ***= and ***:, embedded options, expanded
//     syntax; \1..\9 and \& in replacements; RE2's errors reported with
//     PostgreSQL's messages ("parentheses () not balanced", "quantifier
//     operand invalid", "invalid escape \ sequence", ...);
//   - math functions (mathfunc.go): mod, power/pow, sqrt, cbrt, exp, ln,
//     log, log10, sign, pi, degrees, radians, sin, cos, tan, asin, acos,
//     atan, atan2, width_bucket, gcd, lcm, with PostgreSQL's result types
//     (an integer argument takes the float8 form, the preferred type:
//     power(2, 3) is float8, mod(int, int) int) and errors (2201E, 2201F,
//     2201G, 22003 overflow and underflow, 22012);
//   - pg_typeof (regtype);
//   - numeric is exact (numeric.go): decimal literals, casts to numeric
//     and numeric(p, s), avg of integers and numerics, sum of bigint and
//     numeric, round/trunc(numeric, n), ceil, floor and abs keep
//     PostgreSQL's type (1700), its display scale ("5.0", "0.0500") and
//     its result scales (select_div_scale for /, so avg(port) is
//     5433.0000000000000000), in text and binary form; a value is held as
//     its text output and computed with math/big (no dependency: status
//     queries compute few numerics, and the text form needs no pointer in
//     a value). NaN is supported; arithmetic on numeric Infinity is 0A000;
//   - count(*), count(x), sum, avg, min, max, with DISTINCT and
//     FILTER (WHERE ...); GROUP BY expressions, output names or ordinals,
//     GROUPING SETS, ROLLUP, CUBE and () with grouping(...)
//     (groupingsets.go); HAVING;
//   - aggregates computed from their collected rows (aggorder.go), with
//     ORDER BY in the call, DISTINCT (its ORDER BY must use the
//     arguments, 42P10) and FILTER: string_agg, array_agg (int4[] 1007,
//     text[] 1009, int8[] 1016, float8[] 1022, bool[], numeric[], name[]),
//     json_agg, jsonb_agg, json_object_agg, jsonb_object_agg, bool_and,
//     bool_or, every, bit_and, bit_or, stddev, stddev_samp, stddev_pop,
//     variance, var_samp, var_pop (float8 for float8, numeric for integers
//     and numeric, with PostgreSQL's result scales), corr, covar_pop,
//     covar_samp, regr_slope, regr_intercept, regr_r2, regr_count,
//     regr_avgx, regr_avgy, regr_sxx, regr_syy, regr_sxy (PostgreSQL's
//     Youngs-Cramer sums, so equal to the last bit), and the ordered-set
//     aggregates percentile_cont (float8 or interval), percentile_disc
//     (any sortable type), each with a fraction or ARRAY[...] of them,
//     and mode() WITHIN GROUP (ORDER BY ...);
//   - date and time (timefunc.go, timeout.go): the types date (1082),
//     time (1083) and timestamp (1114) besides timestamptz and interval,
//     with casts between them and from and to text (literals checked at
//     Prepare), comparisons (a date with a timestamptz as PostgreSQL,
//     at its midnight in TimeZone), date ± integer, date - date,
//     date/timestamp ± interval, date + time, timestamp - timestamp,
//     interval * and / number; extract(field FROM x) (numeric) and
//     date_part (float8) for every field PostgreSQL has (epoch, julian,
//     timezone, isodow, isoyear, ...; 22023 "unit ... not recognized");
//     date_trunc(unit, x [, zone]) in the session's TimeZone;
//     date_bin(stride, x, origin) of timestamptz or timestamp (22008 for
//     a stride not above zero, 0A000 for one with months); to_char of
//     timestamps and intervals (YYYY, MM, DD, HH24, HH12, MI, SS, MS, US,
//     AM/PM, Mon, Month, Dy, Day, DDD, IW, Q, TZ, OF, J, "text", FM) and
//     of numbers (9, 0, D, '.', ',', FM); age(a, b) and age(x);
//     AT TIME ZONE (timezone(zone, x)) both ways, with zone names and
//     POSIX offsets; to_timestamp(seconds); make_interval (by position or
//     name); justify_hours, justify_days, justify_interval;
//   - json (114) and jsonb (3802) (json.go): casts from text, their text
//     and binary forms (jsonb's as PostgreSQL normalizes it: keys sorted
//     by length then bytes, the last of duplicates, ", " and ": ", numbers
//     as numeric prints them; binary a version byte 1 and the text),
//     json_build_object, jsonb_build_object, json_build_array,
//     jsonb_build_array, row_to_json and to_json/to_jsonb of a value or of
//     a FROM item's whole row, jsonb_pretty, json_typeof, jsonb_typeof, and
//     the operators -> and ->> (by key or index) and ? (jsonb); JSON input
//     errors are PostgreSQL's (22P02 with its detail);
//   - ORDER BY expressions, output names or ordinals, ASC/DESC, NULLS
//     FIRST/LAST, COLLATE "C"; LIMIT/OFFSET/FETCH FIRST with constants or
//     parameters, LIMIT ALL;
//   - $n parameters in text or binary format, their types inferred from
//     context as PostgreSQL does.
//
// Refused with an *Error: a statement mixing helios_proxy tables with any
// other relation or set-returning function other than those below
// (0A000 "helios_proxy tables cannot be combined with
// backend tables"; an unqualified name is a backend's relation unless a
// WITH in scope defines it); writes and DDL on the schema and its tables,
// answered as PostgreSQL answers a role that owns nothing and holds only
// SELECT (ddl.go; never 25006, which the breaker treats as a demoted
// primary): INSERT, UPDATE, DELETE, MERGE, TRUNCATE and COPY FROM are
// 42501 "permission denied for table x"; DROP, ALTER (and RENAME, SET
// SCHEMA, OWNER TO), CREATE INDEX and COMMENT ON a table are 42501 "must
// be owner of table x" (of relation x for a column's comment, of schema
// helios_proxy for the schema); CREATE TABLE, VIEW, SEQUENCE and CREATE
// TABLE AS in helios_proxy are 42501 "permission denied for schema
// helios_proxy"; a table that does not exist is 42P01, the wrong kind of
// object for DROP 42809, and IF EXISTS succeeds; GRANT and REVOKE
// succeed, change nothing and raise PostgreSQL's WARNING ("no privileges
// were granted for ...") through Session.Notices. LATERAL functions and
// RIGHT or FULL JOIN LATERAL, row constructors, window frames with
// EXCLUDE, an aggregate of only an outer query's columns, other functions
// PostgreSQL has (a name it does not know is 42883, as there: the names
// are PostgreSQL 15's pg_proc, pgnames_gen.go), other operators and
// types, and any other statement naming a helios_proxy table are 0A000. A
// statement that names no helios_proxy relation is not ours
// (ErrNotStatusQuery).
//
// Unqualified names (searchpath.go): on a backend database, Prepare takes
// backends, circuit_events and circuit_breaker_status for a backend's
// relations; DB.PrepareOnPath, given the session's search_path, takes
// them for helios_proxy's tables when helios_proxy is the first schema on
// it (pg_catalog aside), as PostgreSQL would resolve them, unless a WITH
// of the statement defines the name (ResolvesOnPath tells a caller when;
// MentionsTable is its hot-path check, as Mentions is for the schema's
// name). The caller tracks the search_path, which PostgreSQL does not
// report in ParameterStatus, with PathChanges (pathchange.go: what each
// statement does to it or to the transaction that keeps or undoes a
// change), MentionsPath (a statement that could put helios_proxy on it)
// and MayChangePath (one that could change a path that is not the
// default); proxy/session/localpath.go follows it. On the status database, PrepareStandalone
// takes them for helios_proxy's tables and Stmt.Check requires
// helios_proxy anywhere on Input.Session's search_path (no other schema
// there holds a table), else 42P01 "relation ... does not exist" as
// PostgreSQL; so SET search_path TO helios_proxy, public, then SELECT
// count(*) FROM backends works there.
//
// # Protocol: portals, cursors, COPY, EXPLAIN
//
// What drivers and tools wrap around a status query (cursor.go, copy.go,
// explain.go), answered on both kinds of database and checked message by
// message against PostgreSQL 15 (proxy's TestProtocolAgainstPostgreSQL):
//   - DECLARE name [BINARY] [NO SCROLL|SCROLL] CURSOR [WITH HOLD] FOR
//     <status query> is a Stmt whose Declare gives the query and its
//     options; FETCH and MOVE (every direction: NEXT, PRIOR, FIRST, LAST,
//     ABSOLUTE n, RELATIVE n, n, ALL, FORWARD, BACKWARD) and CLOSE name |
//     ALL are Stmts whose Fetch says what to do. The caller keeps the
//     cursor's rows (computed at DECLARE, over that moment's snapshot) and
//     moves through them as PostgreSQL's DoPortalRunFetch does
//     (proxy/session/localrows.go). Without SCROLL or NO SCROLL a cursor
//     may go backwards when PostgreSQL's plan could (one table or none,
//     no grouping, aggregate, window or DISTINCT: Stmt.scrollable); an
//     error computing the rows is FETCH's, as PostgreSQL computes them
//     when fetched. On the status database PrepareStandalone returns them;
//     on a backend database Prepare returns DECLARE over a status query,
//     and PrepareCursor (with IsCursorCommand, its check on the hot path
//     of sessions holding such cursors) FETCH, MOVE and CLOSE, which the
//     caller answers only for cursors of its own.
//   - COPY (<status query>) TO STDOUT and COPY helios_proxy.t [(columns)]
//     TO STDOUT, in text or CSV format with HEADER, DELIMITER, NULL,
//     QUOTE, ESCAPE and FORCE_QUOTE, or in binary format (FORMAT binary,
//     BINARY: the values' binary forms, the header in the first CopyData
//     and the trailer in a last one, as PostgreSQL's CopyTo sends them;
//     psycopg's and pgx's binary copies): Stmt.Copy, whose AppendCopyData
//     writes one CopyData per line as PostgreSQL's CopyOneRowTo does
//     (psql's \copy). COPY to a file or program is
//     42501 as for a role without pg_write_server_files; COPY FROM is a
//     write (42501).
//   - EXPLAIN [ANALYZE] <status query> answers truthfully rather than
//     with an invented plan: one text column "QUERY PLAN" saying that the
//     proxy evaluates the statement in memory over its status snapshot,
//     without a backend, and which helios_proxy tables and catalogs it
//     reads; ANALYZE runs it and adds the rows it returned. Only FORMAT
//     TEXT (the others would invent a structure: 0A000); the statement's
//     own errors are EXPLAIN's, as in PostgreSQL.
//   - Stmt.ParameterError is 42P02 "there is no parameter $n" for a
//     statement with parameters in a simple Query, and 42P18 for a
//     parameter of Parse that neither its declared types nor the
//     statement determine; Stmt.CheckParams
//     checks Bind's values at Bind, as PostgreSQL does (22021 for bytes
//     that are not UTF-8, 22P02, 22P03, 08P01 for a wrong count). Regular
//     expression errors (2201B) are worded as PostgreSQL's regex library
//     words them.
//
// Execute with a row limit needs nothing from this package: the caller
// keeps the rows AppendDataRows gave it and sends them in pieces.
//
// # The status database
//
// A session on the helios_proxy database has no backend, so
// DB.PrepareStandalone also answers what drivers, pools and tools send on
// their own, over the session's state (Input.Session, a *Session):
// SELECT without FROM with the expressions above and version(),
// current_database(), current_schema (always "public", as in a new
// database), current_user/session_user/user/current_role (type name),
// pg_backend_pid(), current_setting(name [, missing_ok]) and
// set_config(name, value, is_local), pg_advisory_unlock_all() (void: a
// status session holds no lock); SHOW name and SHOW ALL; SET, SET
// LOCAL, SET TRANSACTION, SET SESSION CHARACTERISTICS, RESET, RESET ALL
// and DISCARD; UNLISTEN (nothing listens; asyncpg's pool resets a
// connection with SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
// RESET ALL); the empty statement; and it recognizes transaction control
// and DEALLOCATE for the caller (Stmt.Control), BEGIN's transaction
// modes (ISOLATION LEVEL, READ ONLY, DEFERRABLE: JDBC's setReadOnly
// sends BEGIN READ ONLY) set by Session.StartTransaction as SET
// TRANSACTION sets them. Settings follow
// PostgreSQL's transaction rules (the caller reports StartStatement and
// EndTransaction). The settings known are those in settingList (the
// reported ones, timeouts, isolation, search_path, extra_float_digits,
// ...); other names are 42704 as in PostgreSQL unless they are custom
// (dotted) names. DateStyle (ISO, SQL, Postgres, German; DMY or MDY),
// IntervalStyle (postgres, postgres_verbose, sql_standard, iso_8601),
// TimeZone (names and offsets: SET TIME ZONE INTERVAL '-08:00' HOUR TO
// MINUTE is "<-08>+08") and extra_float_digits shape text output as in
// PostgreSQL, on the status database and, through the session the proxy
// mirrors from the backend's ParameterStatus, on backend databases.
// Values the proxy cannot honour (client_encoding other than UTF8,
// standard_conforming_strings off) are 0A000. version() is
// "PostgreSQL 15.0 (HeliosProxy) on <platform>, compiled by <Go>,
// 64-bit", consistent with server_version "15.0 (HeliosProxy)" and
// server_version_num 150000.
//
// # Catalogs
//
// The status database also answers queries on pg_catalog and
// information_schema relations (catalog.go, catfunc.go), which show the
// helios_proxy schema as PostgreSQL 15 shows a schema of three ordinary
// tables (tables rather than views: \dt and every tool's table list show
// them, and \d+ has no view definition to invent), made as the
// differential test makes its copy: owned by the bootstrap superuser
// (OID 10, "postgres"), text columns COLLATE "C", a comment on the schema,
// every table and every column (column.doc in schema.go, so a new column
// is one entry there), USAGE on the schema and SELECT on the tables
// granted to PUBLIC. A client is taken to be an ordinary role holding just
// those grants (has_table_privilege, information_schema visibility).
// pg_namespace holds what a new database has (pg_toast, pg_catalog,
// public, information_schema) plus helios_proxy; pg_class, pg_attribute,
// pg_type, pg_description, pg_tables and information_schema.schemata,
// tables and columns hold helios_proxy's objects (pg_type also every
// built-in type but the system relations' row types, with their comments
// in pg_description, generated by scripts/gen-catalog-types.sh, in a new
// cluster's order; pg_am, pg_collation and pg_roles PostgreSQL's built-in
// rows); the system catalogs' own relations
// are not listed, and pg_views, pg_attrdef, pg_constraint, pg_index,
// pg_inherits, pg_policy, pg_trigger, pg_rewrite, pg_statistic_ext,
// pg_publication*, pg_sequence, pg_default_acl, ... are empty, as they
// are for such a schema. pg_database holds one row, the status database
// itself (datname the session's database, OID statusDatabaseOID,
// 3999999999, owner postgres, UTF8, datcollate and datctype C, the
// order statusdb compares text in, datallowconn, datconnlimit -1,
// datacl NULL), and pg_shdescription its comment (shobj_description);
// pg_database_size(name or oid) is the sum of its relations' sizes
// (pg_total_relation_size), 3D000 for another database as PostgreSQL
// answers an ordinary role. pg_proc and pg_aggregate have PostgreSQL
// 15's columns and no rows: no function lives in helios_proxy, so the
// queries tools scope to a schema (DBeaver's functions, aggregates and
// triggers, which join pg_proc) answer exactly; PostgreSQL's 3,244
// built-in functions, with their source text, are left out to keep the
// binary small (see Deviations). A regproc compared with an OID
// (p.oid = a.aggfnoid) is cast to oid as in PostgreSQL, "-" to 0 and a
// name, which pg_proc cannot resolve, to NULL. pg_available_extensions
// is empty: the status database installs none (pg_extension is empty
// too). Columns and type OIDs are PostgreSQL 15.18's (catalog_gen.go,
// generated from a real cluster). OIDs are fixed: helios_proxy is
// catalogOIDBase (4000000000), table i is catalogOIDBase+1+3i, its row
// type's array type +1 and its row type +2, far from the OIDs backends
// assign so that a proxy can route catalog queries by the OIDs they name.
// The differential test (TestCatalogAgainstPostgreSQL) maps the OIDs its
// PostgreSQL assigned to these before comparing.
//
// Types: oid, regclass, regtype, regnamespace, int2, "char", name,
// float4 and the information_schema domains (described by their base
// types, as in RowDescription) are carried by the evaluator types with
// the PostgreSQL type beside them (expr.pgt), which names the output
// column and picks the wire form; arrays in catalog columns (aclitem[],
// text[], ...) are held as their text form. Functions: format_type,
// pg_get_userbyid, pg_table_is_visible, pg_type_is_visible,
// obj_description, col_description, pg_get_expr (NULL: there are no
// defaults or constraints), pg_get_serial_sequence (NULL: no column owns
// a sequence; 42P01 for a relation that does not exist, but a column
// that does not exist is not checked), to_regclass/to_regtype/to_regnamespace,
// has_schema_privilege, has_table_privilege, quote_ident,
// array_to_string, pg_relation_is_publishable, pg_table_size,
// pg_total_relation_size (8192: what PostgreSQL 15 reports for an empty
// table with text columns, its TOAST index's metapage), pg_relation_size
// and pg_indexes_size (0), pg_size_pretty, pg_get_statisticsobjdef_columns,
// pg_get_constraintdef, pg_get_indexdef, pg_get_ruledef,
// pg_get_partkeydef, pg_get_function_result, pg_get_function_arguments,
// pg_get_function_identity_arguments, pg_function_is_visible and
// pg_get_viewdef (NULL, as PostgreSQL gives for an OID naming nothing:
// there are no extended statistics, constraints, indexes, rules,
// partitioned tables, functions or views), pg_encoding_to_char,
// pg_stat_get_numscans (0); pg_settings on the status database (catsettings.go: the
// session's settings with PostgreSQL 15's descriptions, source "default"
// or "session", boot_val and reset_val the status database's defaults;
// JDBC reads max_index_keys there); the bitwise operators & | # of
// integers (smallint with smallint is smallint); casts
// to oid, regclass, regtype, regnamespace, name, int2, "char" and from
// the reg types to text; the cast of a function's name to regproc
// ('pg_catalog.array_in'::regproc, as JDBC compares pg_type.typinput
// with: its type lookups, getTypeInfo), held as the name as
// pg_type's regproc columns are, with PostgreSQL's 42883 for a name
// pg_proc does not have and 42725 for one more than one function has
// (an OID is kept as its digits, "-" for 0: pg_proc holds no rows to
// name it by); the operators ~, !~, ~*, !~* (regex.go, which
// accepts the patterns psql sends).
//
// Array values (srf.go, array.go) are one-dimensional and held as their
// text form, as the catalogs' array columns are: ARRAY(SELECT ...) as a
// value (text[], name[], oid[], int4[], ...), array || array,
// comparisons of two arrays with = and <> and of an array with a
// literal, op ANY/ALL over an array column or value, the set-returning
// functions unnest(array), generate_series(start, stop [, step]) of
// integers, generate_subscripts(array, dim [, reverse]),
// regexp_matches(s, re [, flags]) and regexp_split_to_table(s, re
// [, flags]) in FROM (their arguments may refer to outer query levels;
// not LATERAL) and in the select list (see below), ARRAY[a, b,
// ...] of the elements' common type (arrayvalue.go), array_agg,
// cardinality, array_position(arr, elem [, start]), array_remove(arr,
// elem); string_to_array, parse_ident, array_lower, array_upper,
// array_length, subscripts arr[i] (no slices), casts of a literal or an
// array to int2[], int4[], text[], name[], oid[], ... (arrayfunc.go), and
// a scalar function in FROM (string_to_array(...) s: one row). They go
// to the wire in text or array_send's binary form. btrim, ltrim and rtrim
// (trim(...)) work on text. psql 15's \d, \d+, \dt, \dt+, \dn, \dv,
// \df, \da, \sv, \dp, \di, \ds, \dm, \dT, \dD
// queries and the Grafana PostgreSQL data source's schema, table and
// column queries (testdata/psql, testdata/tools) answer as PostgreSQL
// 15's, as do SQLAlchemy's reflection and JDBC's DatabaseMetaData
// (getTables, getColumns, getPrimaryKeys, getImportedKeys, getIndexInfo;
// proxy/session's TestStatusTools). Catalog queries that name no
// helios_proxy table are answered by PrepareStandalone only; Prepare
// (backend databases) leaves them to the backend.
//
// # Set-returning functions in the select list
//
// (projectset.go) As PostgreSQL 10+'s ProjectSet runs them: after
// grouping, HAVING and window functions, each output row or group is
// expanded into as many rows as its longest set-returning function
// returns, the functions advancing in lockstep and a shorter one giving
// NULL once it is done; a row for which every function returns nothing
// is dropped. DISTINCT, DISTINCT ON, ORDER BY, LIMIT and OFFSET apply to
// the expanded rows. A function may sit inside an expression
// (unnest(a) + 1, upper(unnest(a)), (regexp_matches(...))[1]), and take
// aggregates as arguments (unnest(array_agg(x)) with GROUP BY).
// information_schema._pg_expandarray(array) returns a record (x, n):
// (_pg_expandarray(a)).x and .n select its fields, and the whole record
// is a column of type record (text "(5,1)"; in binary record_send's
// form), whose fields a query
// around it can select too ((result.keys).x, as JDBC's getPrimaryKeys
// does). As in PostgreSQL: 0A000 for one in WHERE, HAVING, LIMIT or
// OFFSET ("set-returning functions are not allowed in WHERE"), in CASE or
// COALESCE, in an aggregate's or a window function's arguments. Not
// supported (0A000): one nested in another's arguments, in GROUP BY, in
// a window's PARTITION BY or ORDER BY, or in ORDER BY unless it is a
// select-list item; (f(x)).* .
//
// # Deviations from PostgreSQL
//
//   - Catalogs: pg_class.reltoastrelid is 0 (no TOAST table, though
//     pg_table_size counts a TOAST index's page, as PostgreSQL does for
//     the same empty table), relfrozenxid and relminmxid are 0, reltuples
//     -1 and relpages 0; regproc columns (pg_type.typinput, ...),
//     int2vector and oidvector are sent as text in binary format too.
//     Arrays have lower bound 1 and one dimension (a cast of an
//     int2vector to int2[] too, where PostgreSQL keeps its lower bound 0);
//     generate_series in FROM is materialized, so one of more than 4
//     million rows stops with 54000 (maxWork), as PostgreSQL's
//     FunctionScan, which materializes too, would not.
//
//   - DBeaver (its PostgreSQL plugin, testdata of proxy/session's
//     differential): on connect and in the navigator it answers as
//     PostgreSQL for the database's row and comment, the schemas, the
//     data types, the roles, the tables, columns, constraints, indexes,
//     inheritance, rules, triggers, functions, aggregates, default
//     privileges, settings and the data editor's queries. What differs
//     is what a server holds besides the status database: pg_database
//     lists the status database only (a proxy in front of several
//     servers has no one list of databases, and a client reaches no other
//     database here), so DBeaver's database list and template list
//     (with "show all databases") show it alone, without postgres,
//     template0 and template1; pg_roles lists PostgreSQL's built-in
//     roles, not the roles of the servers behind the proxy nor the
//     client's own; pg_collation lists the collations every PostgreSQL
//     15 cluster has (default, C, POSIX, ucs_basic), not those of the
//     operating system (C.utf8, ...) and ICU (about 800) that a server's
//     build brings; pg_available_extensions is empty, where a server
//     lists the extensions its build ships. pg_proc and pg_aggregate
//     hold no rows, so a query over pg_catalog's functions (DBeaver's
//     functions folder of pg_catalog, with system objects shown; a join
//     of pg_type's regproc columns to pg_proc) finds nothing.
//     datfrozenxid is 0, as relfrozenxid. Sizes (pg_total_relation_size,
//     pg_database_size, ...) are those of empty tables, whatever the
//     rows.
//
//   - Text compares and sorts in byte order, as under COLLATE "C"; lower,
//     upper and ILIKE fold ASCII letters only, as PostgreSQL does under C.
//
//   - Timestamps are truncated to microseconds from the snapshot (as pgx
//     sends them); text input of timestamptz and interval accepts the
//     ISO and postgres forms listed at parseTimestamptz and parseInterval,
//     not every form PostgreSQL accepts (no named time zones other than
//     UTC/GMT/Z in literals, no 'today' or 'infinity'). Interval input
//     does not follow IntervalStyle sql_standard's rule that a leading
//     minus applies to every field ('-1 2:03:04' under sql_standard);
//     literals are read as under postgres. date, time and timestamp are
//     held as µs (a date as its midnight), so their range is
//     timestamptz's, not date's; time has no 24:00:00. to_char covers the
//     patterns listed above (no ordinal suffixes TH, no roman numerals,
//     no EEEE, V, PL/MI/SG, L).
//
//   - jsonb values are held as their normalized text: ORDER BY, GROUP BY,
//     DISTINCT and comparisons of jsonb compare that text rather than
//     PostgreSQL's jsonb ordering (objects by number of pairs, ...); json
//     has no ordering or equality, as in PostgreSQL (42883). -> and ->>
//     re-parse their operand on each call; #>, #>>, @>, jsonb_set and the
//     jsonb_path functions are not implemented.
//
//   - Collected aggregates (string_agg with ORDER BY, array_agg, json_agg,
//     percentile_*, the statistics, ...) keep every row of a group, which
//     counts against the work budget (maxWork) like a materialized row;
//     OVER a window whose frame does not start at the partition's start
//     they are recomputed per frame. A grouping set's groups come out set
//     by set, in order of first appearance; PostgreSQL promises no order.
//
//   - extra_float_digits below 1 on a backend database is honoured only
//     when the client sent it at startup (JDBC): SET extra_float_digits
//     goes to the backend, which reports no ParameterStatus for it. The
//     styles shape result columns and casts to text; values inside
//     ||, array elements and JSON are shown in ISO and postgres styles
//     and with extra_float_digits 1.
//
//   - A write is refused for want of privilege before its statement is
//     analyzed, where PostgreSQL reports errors of analysis (a wrong
//     column or type in INSERT ... VALUES) first. On a backend database
//     without a Session, GRANT's and REVOKE's WARNING is not sent.
//
//   - An unqualified name of a helios_proxy table in a statement that
//     fails analysis, or in DDL, is taken for the table even when
//     search_path would not find it (the status database reports 42P01
//     for it only in a statement returning rows, at Check, which for the
//     extended protocol comes at Execute rather than at Parse); a
//     temporary table of the same name, which PostgreSQL finds first, is
//     not known.
//
//   - A parameter whose type nothing determines is text; PostgreSQL
//     sometimes refuses instead ("could not determine data type").
//
//   - Groups of a GROUP BY without ORDER BY come out in order of first
//     appearance, and ties in ORDER BY keep snapshot order; PostgreSQL
//     promises no order in either case. The same holds for the rows of
//     joins, UNION and DISTINCT without ORDER BY. Without ORDER BY, rows
//     with window functions come out in the window's order (the last
//     window's, if there are several), as PostgreSQL's usually do.
//
//   - Joins are nested loops over the materialized inputs, hashed on the
//     equalities of JOIN ... ON and, for a FROM list (FROM a, b, c), of
//     the WHERE clause, whose conditions a FROM list checks as soon as the
//     items they read have joined (pushdown.go; JDBC's getImportedKeys
//     joins nine catalog relations so); the schema's tables hold a row
//     per backend or event, so this is fast enough.
//
//   - A recursive CTE stops with 54000 after 100,000 rows, where
//     PostgreSQL would run for ever; and any statement stops with 54000
//     once it has read, paired in joins or materialized 4 million rows
//     and values (maxWork): a cross join of large tables or a correlated
//     subquery over one would otherwise take the proxy's memory or time,
//     where PostgreSQL runs until statement_timeout.
//
//   - varchar, char(n) and real are held as text and float8 with their
//     PostgreSQL type beside them: a result column has their OID, but an
//     operator on them works as on text and float8 (real * real is
//     double precision, not real; char(n) drops its trailing spaces in
//     ||, comparisons and text functions as in PostgreSQL, but keeps
//     them in ORDER BY, DISTINCT and GROUP BY, where PostgreSQL ignores
//     them); lengths are not enforced on input.
//
//   - Regular expressions run on Go's RE2 (see Supported SQL): back
//     references in a pattern (\1), lookahead and lookbehind
//     constraints, collating elements and equivalence classes ([[.a.]],
//     [[=a=]]) and basic or extended REs (flags b, e) are 0A000; \m and
//     \M match at any word boundary; within the match, subexpressions
//     take RE2's choices, which can differ from PostgreSQL's where an
//     alternation's shorter branch comes first ((r|re)(.*) gives "r" where
//     PostgreSQL gives "re") or a non-greedy pattern has a greedy part
//     after its first quantifier ((.*?)-(.*) matches "pg-replica-a" in
//     full, where PostgreSQL stops at "pg-"); a regexp_replace from a
//     start position other than 1 matches ^ at that position.
//     regexp_matches and regexp_split_to_table run on the same engine.
//
//   - power, exp, ln and log of numeric arguments are 0A000
//     (PostgreSQL computes them in numeric with result scales of its
//     own); the float8 forms work. repeat, lpad, rpad and format refuse
//     a result over 16 MB with PostgreSQL's 54000 "requested length too
//     large" (PostgreSQL allows 1 GB).
//
//   - An error in a select-list expression at the n-th row comes after
//     the n-1 rows before it, as in PostgreSQL, for a query whose rows are
//     not sorted, grouped or made distinct first (and, for a portal or a
//     cursor, once it is read that far); COPY computes all its rows
//     first, so its error comes before any row. An error in WHERE comes
//     before any row (PostgreSQL's, at the n-th row, after n-1). FETCH through the extended
//     protocol returns rows in the cursor's format (binary only for
//     DECLARE BINARY), whatever Bind's result formats. On a backend
//     database, a WITH HOLD cursor over a status query declared in a
//     block that ROLLBACK ends survives (the proxy sees the block end, not
//     how); and the search_path follower does not follow savepoints.
//
//   - On a backend database, a status statement's answer follows the
//     session's DateStyle, IntervalStyle and TimeZone as the backend
//     reports them (ParameterStatus) and extra_float_digits as the
//     startup message set it; a later SET extra_float_digits there, which
//     PostgreSQL does not report, is not seen (the default
//     shortest-exact output is kept).
//
//   - Output column names are not truncated to 63 bytes.
//
//   - Constant subexpressions are not folded while planning, so an error
//     in one (SELECT 1/0) comes when the statement runs, after its
//     RowDescription; PostgreSQL reports it before.
//
//   - Limits of the C parser (guard.go): a statement naming helios_proxy
//     whose expressions nest more than about 1,000 levels (each operator
//     of a chain such as 1+1+..., parenthesis, call, CASE, subquery and
//     UNION counts) is refused with 54001 "stack depth limit exceeded"
//     before it is parsed, where PostgreSQL 15 accepts chains of about
//     3,000 operators; one longer than 256 KiB with 54000. PostgreSQL's
//     own check does not run inside libpg_query, whose output functions
//     recurse once per level of the tree: without the guard, 25,000 terms
//     overflow an 8 MB thread stack and kill the process.
package statusdb

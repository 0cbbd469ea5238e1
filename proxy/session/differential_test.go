package session

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
	"github.com/heliosdb/heliosproxy/statusdb"
)

// The status differential: the statements of testdata/differential.sql,
// script by script, through the proxy and on a PostgreSQL 15 database
// ("copy") holding the same helios_proxy rows in real tables, in the
// simple protocol and in the extended protocol with text and with binary
// results, on both kinds of database a status statement reaches: the
// helios_proxy database (the proxy answers everything) and a backend
// database (the proxy answers what names helios_proxy and relays the rest
// to a database without that schema, so a status statement relayed by
// mistake fails instead of being answered by the copy). Every statement
// must give the same columns (names, type OIDs and type modifiers), values, command tags,
// error (SQLSTATE, message, position, detail, hint), notices and
// transaction status.
//
// The script format, one statement per line:
//
//	-- script <name> [status|backend]   a new session on each side; the
//	                                    kind restricts it to one kind of
//	                                    database
//	-- <anything else>                  a comment
//	\shape <sql>                        columns, tags, errors and row
//	                                    counts only (values differ by
//	                                    design: versions, pids, now())
//	\simple <sql>                       the simple protocol only (several
//	                                    statements in one Query)
//	\columns <sql>                      columns, errors and the command
//	                                    tag's name only (the rows depend
//	                                    on what the server holds besides
//	                                    the copy: its other databases,
//	                                    its build's extensions, ...)
//	\status-only <sql>                  on the helios_proxy database only:
//	                                    a known difference on a backend
//	                                    database, explained above it
//	\except col,col <sql>               these columns' values are not
//	                                    compared (a documented deviation
//	                                    or values that differ by design,
//	                                    explained above it)
//	<sql> \bind v1 | v2 | \N            Bind parameters (text format; \N is
//	                                    NULL): the extended protocol only
//	<sql> \types oid,oid                parameter types declared in Parse
//
// OIDs: the copy's PostgreSQL assigns its own to the helios_proxy schema,
// its tables and their row types, the proxy's are fixed. In a statement
// and its Bind values, {{nsp}} and {{<table>}} (e.g.
// {{circuit_breaker_status}}) stand for each side's OID, {{database}} for
// each side's database name and {{database_oid}} for its OID (the copy
// carries the status database's comment, as its schema does); the copy's OIDs in columns of type oid are
// mapped to the proxy's before values are compared (on the status
// database: on a backend database the relayed catalogs know no
// helios_proxy).

// differentialInput is the proxy's status as the differential sees it:
// backends in every circuit state and role, events of every kind, cluster
// members, NULLs, extreme and fractional numbers, non-ASCII names.
func differentialInput() statusdb.Input {
	t0 := time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)
	return statusdb.Input{
		Now: t0,
		Snapshot: status.Snapshot{
			Taken: t0,
			Backends: []status.Backend{
				{Name: "pg-primary", Host: "10.1.0.1", Port: 5432, Priority: 1, Weight: 1, CircuitState: status.Closed,
					LatencyP50Ms: 0.8, LatencyP95Ms: 4.25, LatencyP99Ms: 17, ErrorRate: 0.002, ConnectionSaturation: 0.31,
					TrafficShare: 0.6, ActiveConnections: 31, MaxConnections: 100, StateSince: t0.Add(-26 * time.Hour),
					RampFactor: 1, RequestsTotal: 981234, FailuresTotal: 12, SuccessesTotal: 981222, TransitionsTotal: 4,
					Role: status.RolePrimary, ObservedRole: status.RolePrimary, Routing: status.RoutingReadWrite, Timeline: 3},
				{Name: "pg-replica-a", Host: "10.1.0.2", Port: 5432, Priority: 2, Weight: 0.75, ReadOnly: true, CircuitState: status.Open,
					LatencyP50Ms: 310, LatencyP95Ms: 2999.5, LatencyP99Ms: 1e12, ErrorRate: 0.6, ConnectionSaturation: 1,
					LastFailureTime: t0.Add(-42 * time.Second), QueueDepth: 9, StateSince: t0.Add(-41 * time.Second),
					OpenReason: "hard_failure", RequestsTotal: 7000, FailuresTotal: 4200, RejectedTotal: 77, TransitionsTotal: 7,
					ReplicationLagMs: 0.000125, ReplicationLagBytes: 1 << 33, Role: status.RoleReplica, ObservedRole: status.RoleUnknown,
					Routing: status.RoutingUnreachable},
				{Name: "pg-replica-b", Host: "replica-b.db.internal", Port: 6543, Priority: 2, Weight: 0.25, ReadOnly: true,
					CircuitState: status.HalfOpen, LatencyP50Ms: 2.5, LatencyP95Ms: 25.125, LatencyP99Ms: 60, ErrorRate: 0.1 + 0.2,
					ConnectionSaturation: 0.5, LastFailureTime: t0.Add(-19*time.Second + 3*time.Microsecond), TrafficShare: 0.15,
					ActiveConnections: 4, MaxConnections: 50, StateSince: t0.Add(-9 * time.Second), Override: status.Open,
					RampFactor: 0.25, RequestsTotal: 90, FailuresTotal: 9, RejectedTotal: 3, TransitionsTotal: 5,
					ReplicationLagMs: 1500, ReplicationLagBytes: 65536, Role: status.RoleReplica, ObservedRole: status.RoleReplica,
					Routing: status.RoutingLagging, Timeline: 3},
				{Name: "Réplica-ñ", Host: "10.1.0.4", Port: 5433, Priority: 3, Weight: 2.5, CircuitState: status.Closed,
					LatencyP50Ms: 0.5, LatencyP95Ms: 1e6, LatencyP99Ms: 1e-6, StateSince: t0.Add(-3 * time.Minute),
					LastFailureTime: t0.Add(-72 * time.Hour), TrafficShare: 0.25, ActiveConnections: 2, MaxConnections: 200,
					Override: status.Closed, RampFactor: 0.1, RequestsTotal: 1 << 41, ReplicationLagMs: 12.5, TrustsProxy: true,
					TrustedRoles: []string{"*", "app"}, Role: status.RolePrimary, ObservedRole: status.RolePrimary,
					Routing: status.RoutingFenced, FencedReason: "a second primary: timeline 2 behind pg-primary's 3", Timeline: 2},
			},
			Members: []status.Member{
				{Node: "proxy-0", Address: "10.2.0.1:7946", State: status.MemberAlive, LastContact: t0, Version: "0.9.0", ConfigHash: "a1b2", Self: true},
				{Node: "proxy-1", Address: "10.2.0.2:7946", State: status.MemberSuspect, LastContact: t0.Add(-2500 * time.Millisecond), Version: "0.9.0", ConfigHash: "a1b2"},
				{Node: "proxy-2", Address: "10.2.0.3:7946", State: status.MemberDead, Version: "0.8.9", ConfigHash: "ffff"},
			},
		},
		Events: []status.Event{
			{ID: 1, Type: status.CircuitOpened, Time: t0.Add(-42 * time.Second), Backend: "pg-replica-a", From: status.Closed, To: status.Open,
				Reason: "hard_failure", Detail: "connection refused", InPrevious: 26 * time.Hour, LatencyP95Ms: 2999.5, LatencyP99Ms: 5000,
				ErrorRate: 0.6, ConnectionSaturation: 1},
			{ID: 2, Type: status.CascadeDetected, Time: t0.Add(-40 * time.Second), Reason: "multiple_open",
				Detail: "2 circuits opened within 10s", Backends: []string{"pg-replica-a", "pg-replica-b"}},
			{ID: 3, Type: status.RecoveryFailed, Time: t0.Add(-19 * time.Second), Backend: "pg-replica-b", From: status.HalfOpen, To: status.Open,
				Reason: "probe_failed", Attempt: 3, InPrevious: 2500 * time.Millisecond, ErrorRate: 0.3},
			{ID: 4, Type: status.OverrideSet, Time: t0.Add(-15 * time.Second), Backend: "pg-replica-b", To: status.Open,
				Reason: "maintenance", Author: "sre@example.com"},
			{ID: 5, Type: status.CircuitHalfOpened, Time: t0.Add(-9 * time.Second), Backend: "pg-replica-b", From: status.Open, To: status.HalfOpen,
				Reason: "open_duration_elapsed", InPrevious: 10 * time.Second},
			{ID: 6, Type: status.CircuitClosed, Time: t0.Add(-4 * time.Second), Backend: "pg-primary", From: status.HalfOpen, To: status.Closed,
				Reason: "probes_succeeded", RecoveryDuration: 61500 * time.Millisecond, InPrevious: 11 * time.Second, LatencyP95Ms: 4.25},
		},
	}
}

// diffStatement is one line of a script.
type diffStatement struct {
	sql        string
	shape      bool
	columns    bool
	simpleOnly bool
	statusOnly bool
	except     []string // columns whose values are not compared
	bind       [][]byte // nil: no Bind parameters
	bound      bool
	declared   []uint32
	line       int
}

type diffScript struct {
	name  string
	kind  string // "", "status" or "backend"
	stmts []diffStatement
}

// readDifferential parses testdata/differential.sql.
func readDifferential(t *testing.T) []diffScript {
	t.Helper()
	f, err := os.Open("testdata/differential.sql")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var scripts []diffScript
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "-- script "); ok {
			name, kind, _ := strings.Cut(rest, " ")
			scripts = append(scripts, diffScript{name: name, kind: kind})
			continue
		}
		if strings.HasPrefix(line, "--") {
			continue
		}
		if len(scripts) == 0 {
			t.Fatalf("testdata/differential.sql:%d: a statement before the first -- script", n)
		}
		st := diffStatement{line: n}
		if rest, ok := strings.CutPrefix(line, `\shape `); ok {
			st.shape, line = true, rest
		}
		if rest, ok := strings.CutPrefix(line, `\columns `); ok {
			st.columns, line = true, rest
		}
		if rest, ok := strings.CutPrefix(line, `\simple `); ok {
			st.simpleOnly, line = true, rest
		}
		if rest, ok := strings.CutPrefix(line, `\status-only `); ok {
			st.statusOnly, line = true, rest
		}
		if rest, ok := strings.CutPrefix(line, `\except `); ok {
			cols, sql, _ := strings.Cut(rest, " ")
			st.except, line = strings.Split(cols, ","), sql
		}
		if sql, types, ok := strings.Cut(line, ` \types `); ok {
			line = sql
			for _, s := range strings.Split(types, ",") {
				var oid uint32
				if _, err := fmt.Sscan(s, &oid); err != nil {
					t.Fatalf("testdata/differential.sql:%d: \\types %q", n, types)
				}
				st.declared = append(st.declared, oid)
			}
		}
		if sql, params, ok := strings.Cut(line, ` \bind `); ok {
			line, st.bound = sql, true
			for _, p := range strings.Split(params, " | ") {
				if p == `\N` {
					st.bind = append(st.bind, nil)
				} else {
					st.bind = append(st.bind, []byte(p))
				}
			}
		}
		st.sql = line
		scripts[len(scripts)-1].stmts = append(scripts[len(scripts)-1].stmts, st)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return scripts
}

// diffAnswer is everything a client sees of one statement.
type diffAnswer struct {
	cols    []string // name:oid, and " typmod n" unless it is -1
	rows    [][]string
	tags    []string
	err     string
	notices []string
	tx      byte
}

func (a diffAnswer) String() string {
	return fmt.Sprintf("cols %v rows %q tags %q err %q notices %q tx %c", a.cols, a.rows, a.tags, a.err, a.notices, a.tx)
}

// diffConn is one side's session.
type diffConn struct {
	conn    *pgconn.PgConn
	notices []string
	fill    map[string]string // {{name}} -> this side's value
}

// filled replaces the {{name}} placeholders of s by this side's values.
func (dc *diffConn) filled(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	for k, v := range dc.fill {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return s
}

func openDiffConn(t *testing.T, ctx context.Context, dsn string) *diffConn {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	dc := &diffConn{}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		dc.notices = append(dc.notices, n.Severity+" "+n.Code+": "+n.Message)
	}
	if dc.conn, err = pgconn.ConnectConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.conn.Close(context.Background()) })
	return dc
}

// run runs st in mode: "simple", "text" or "binary" (the extended
// protocol with results in that format).
func (dc *diffConn) run(ctx context.Context, st diffStatement, mode string) diffAnswer {
	dc.notices = nil
	var rs []*pgconn.Result
	var err error
	sql := dc.filled(st.sql)
	if mode == "simple" {
		mrr := dc.conn.Exec(ctx, sql)
		for mrr.NextResult() {
			rs = append(rs, readResult(mrr.ResultReader()))
		}
		err = mrr.Close()
	} else {
		var formats []int16
		if mode == "binary" {
			formats = []int16{1}
		}
		bind := make([][]byte, len(st.bind))
		for i, v := range st.bind {
			if v != nil {
				bind[i] = []byte(dc.filled(string(v)))
			}
		}
		if st.bind == nil {
			bind = nil
		}
		r := readResult(dc.conn.ExecParams(ctx, sql, bind, st.declared, nil, formats))
		rs, err = []*pgconn.Result{r}, r.Err
	}
	var a diffAnswer
	for _, r := range rs {
		for _, f := range r.FieldDescriptions {
			col := fmt.Sprintf("%s:%d", f.Name, f.DataTypeOID)
			if f.TypeModifier != -1 {
				col += fmt.Sprintf(" typmod %d", f.TypeModifier)
			}
			a.cols = append(a.cols, col)
		}
		for _, row := range r.Rows {
			vals := make([]string, len(row))
			for i, v := range row {
				if v == nil {
					vals[i] = "NULL"
				} else {
					vals[i] = string(v)
				}
			}
			a.rows = append(a.rows, vals)
		}
		if r.Err == nil {
			a.tags = append(a.tags, r.CommandTag.String())
		}
	}
	if pe, ok := err.(*pgconn.PgError); ok {
		a.err = fmt.Sprintf("%s: %s (position %d, detail %q, hint %q)", pe.Code, pe.Message, pe.Position, pe.Detail, pe.Hint)
	} else if err != nil {
		a.err = err.Error()
	}
	a.notices = slices.Clone(dc.notices)
	a.tx = dc.conn.TxStatus()
	return a
}

// readResult is rr.Read, keeping the columns of a result without rows
// too (Read takes them from the first row), unless it ended in an error:
// whether the RowDescription came before an error depends on when the
// error arose, and statusdb reports errors of constant expressions
// later than PostgreSQL does (statusdb/doc.go § Deviations).
func readResult(rr *pgconn.ResultReader) *pgconn.Result {
	r := &pgconn.Result{}
	for rr.NextRow() {
		row := make([][]byte, len(rr.Values()))
		for i, v := range rr.Values() {
			if v != nil {
				row[i] = slices.Clone(v)
			}
		}
		r.Rows = append(r.Rows, row)
	}
	r.CommandTag, r.Err = rr.Close()
	if r.Err == nil || len(r.Rows) > 0 {
		r.FieldDescriptions = slices.Clone(rr.FieldDescriptions())
	}
	return r
}

// loadCopy creates the helios_proxy schema in database copy of c as the
// proxy describes it (information_schema, comments) and inserts the rows
// the proxy answers for in, in binary, owned by the superuser and readable
// by reader; the database carries the status database's comment.
func loadCopy(t *testing.T, ctx context.Context, c *pgtest.Cluster, in statusdb.Input) {
	t.Helper()
	db := statusdb.New()
	query := func(sql string) *statusdb.Result {
		st, err := db.PrepareStandalone(sql, nil)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		res, err := st.Execute(in, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return res
	}
	text := func(r *statusdb.Result, row, col int) string {
		b, _, err := r.AppendValue(nil, row, col, 0)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	stmts := []string{"CREATE DATABASE copy", "CREATE ROLE reader LOGIN",
		"COMMENT ON DATABASE copy IS " + lit(text(query("SELECT shobj_description(oid, 'pg_database') FROM pg_database"), 0, 0))}
	schema := []string{"CREATE SCHEMA helios_proxy",
		"COMMENT ON SCHEMA helios_proxy IS " + lit(text(query("SELECT obj_description('helios_proxy'::regnamespace, 'pg_namespace')"), 0, 0))}
	tables := query("SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c WHERE c.relnamespace = 'helios_proxy'::regnamespace ORDER BY c.oid")
	for i := range tables.Rows {
		name := text(tables, i, 0)
		cols := query("SELECT a.attname, format_type(a.atttypid, a.atttypmod), co.collname, col_description(a.attrelid, a.attnum) " +
			"FROM pg_attribute a LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100 " +
			"WHERE a.attrelid = 'helios_proxy." + name + "'::regclass AND a.attnum > 0 ORDER BY a.attnum")
		var defs, comments []string
		for j := range cols.Rows {
			def := text(cols, j, 0) + " " + text(cols, j, 1)
			if coll, ok, _ := cols.AppendValue(nil, j, 2, 0); ok {
				def += ` COLLATE "` + string(coll) + `"`
			}
			defs = append(defs, def)
			comments = append(comments, "COMMENT ON COLUMN helios_proxy."+name+"."+text(cols, j, 0)+" IS "+lit(text(cols, j, 3)))
		}
		schema = append(schema, "CREATE TABLE helios_proxy."+name+" ("+strings.Join(defs, ", ")+")",
			"COMMENT ON TABLE helios_proxy."+name+" IS "+lit(text(tables, i, 1)))
		schema = append(schema, comments...)
	}
	schema = append(schema, "GRANT USAGE ON SCHEMA helios_proxy TO PUBLIC", "GRANT SELECT ON ALL TABLES IN SCHEMA helios_proxy TO PUBLIC")

	admin, err := pgconn.Connect(ctx, c.DSN(c.User, c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, s := range stmts {
		if _, err := admin.Exec(ctx, s).ReadAll(); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	cp, err := pgconn.Connect(ctx, c.DSN(c.User, c.Password, "copy"))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close(ctx)
	for _, s := range schema {
		if _, err := cp.Exec(ctx, s).ReadAll(); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	for i := range tables.Rows {
		name := text(tables, i, 0)
		st, err := db.PrepareStandalone("SELECT * FROM helios_proxy."+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := st.Execute(in, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ph []string
		var oids []uint32
		for j, col := range res.Columns {
			ph = append(ph, fmt.Sprintf("$%d", j+1))
			oids = append(oids, col.OID)
		}
		insert := "INSERT INTO helios_proxy." + name + " VALUES (" + strings.Join(ph, ", ") + ")"
		formats := slices.Repeat([]int16{1}, len(res.Columns))
		for r := range res.Rows {
			params := make([][]byte, len(res.Columns))
			for j := range res.Columns {
				b, ok, err := res.AppendValue(nil, r, j, 1)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					params[j] = b
				}
			}
			if err := cp.ExecParams(ctx, insert, params, oids, formats, nil).Read().Err; err != nil {
				t.Fatalf("%s: %v", insert, err)
			}
		}
	}
}

// startDifferential starts a PostgreSQL holding the copy (database copy,
// role reader) and a proxy in front of it answering for
// differentialInput; kinds are the proxy's DSNs for the helios_proxy
// database ("status") and a backend database ("backend").
func startDifferential(t *testing.T, ctx context.Context) (c *pgtest.Cluster, kinds map[string]string, copyDSN string) {
	t.Helper()
	c = pgtest.New(t, pgtest.Options{Name: "differential", Settings: map[string]string{"timezone": "UTC"}})
	in := differentialInput()
	loadCopy(t, ctx, c, in)

	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	b := config.DefaultBackend()
	b.Name, b.Host, b.Port = "pg-a", c.Host, c.Port
	cfg.Backends.Instances = []config.Backend{b}
	cfg.HealthChecks.Enabled = false
	tf := newFront(t, cfg)
	tf.host.status = &in
	serveFront(t, tf)
	kinds = map[string]string{
		"status":  strings.Replace(tf.dsn("reader", "unused"), "dbname=postgres", "dbname=helios_proxy", 1),
		"backend": tf.dsn("reader", "unused"),
	}
	return c, kinds, c.DSN("reader", "", "copy")
}

// diffOIDs returns the {{name}} values of the session at dsn (the OIDs
// of the helios_proxy schema and its tables, the database's name) and,
// by the name of each, its schema's, tables' and row types' OIDs.
func diffOIDs(t *testing.T, ctx context.Context, dsn string) (fill, byName map[string]string) {
	t.Helper()
	conn, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rs, err := conn.Exec(ctx, "SELECT 'helios_proxy'::regnamespace::oid, current_database(), "+
		"(SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()); "+
		"SELECT c.relname, c.oid, c.reltype, t.typarray FROM pg_catalog.pg_class c JOIN pg_catalog.pg_type t ON t.oid = c.reltype "+
		"WHERE c.relnamespace = 'helios_proxy'::regnamespace ORDER BY c.oid").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	fill = map[string]string{"nsp": string(rs[0].Rows[0][0]), "database": string(rs[0].Rows[0][1]), "database_oid": string(rs[0].Rows[0][2])}
	byName = map[string]string{"nsp": fill["nsp"], "database oid": fill["database_oid"]}
	for _, r := range rs[1].Rows {
		name := string(r[0])
		fill[name] = string(r[1])
		byName[name], byName[name+" type"], byName[name+" array"] = string(r[1]), string(r[2]), string(r[3])
	}
	return fill, byName
}

// mapOIDs replaces the copy's OIDs in a's columns of type oid by the
// proxy's (m), in text or binary form.
func (a *diffAnswer) mapOIDs(m map[string]string, binary bool) {
	for j, c := range a.cols {
		if !strings.HasSuffix(c, ":26") {
			continue
		}
		for _, row := range a.rows {
			v := row[j]
			if binary && len(v) == 4 {
				to, ok := m[fmt.Sprint(uint32(v[0])<<24|uint32(v[1])<<16|uint32(v[2])<<8|uint32(v[3]))]
				if ok {
					var n uint32
					fmt.Sscan(to, &n)
					row[j] = string([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
				}
			} else if to, ok := m[v]; ok && !binary {
				row[j] = to
			}
		}
	}
}

// mask replaces the values of the named columns by "(not compared)".
func (a *diffAnswer) mask(names []string) {
	for j, c := range a.cols {
		name, _, _ := strings.Cut(c, ":")
		if !slices.Contains(names, name) {
			continue
		}
		for _, row := range a.rows {
			row[j] = "(not compared)"
		}
	}
}

// maskTypes replaces the values of the columns of the given types by
// "(not compared)".
func (a *diffAnswer) maskTypes(oids ...uint32) {
	var names []string
	for _, c := range a.cols {
		name, oid, _ := strings.Cut(c, ":")
		oid, _, _ = strings.Cut(oid, " ")
		for _, o := range oids {
			if oid == fmt.Sprint(o) {
				names = append(names, name)
			}
		}
	}
	a.mask(names)
}

// TestStatusDifferential: see the comment at the top of this file.
func TestStatusDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, kinds, copyDSN := startDifferential(t, ctx)
	fill := map[string]map[string]string{}
	copyFill, copyOIDs := diffOIDs(t, ctx, copyDSN)
	ourFill, ourOIDs := diffOIDs(t, ctx, kinds["status"])
	oidMap := map[string]string{}
	for name, o := range copyOIDs {
		oidMap[o] = ourOIDs[name]
	}
	fill["status"], fill["backend"] = ourFill, copyFill
	total, compared, skipped, differs := 0, 0, 0, 0
	for _, script := range readDifferential(t) {
		total += len(script.stmts)
		for _, kind := range []string{"status", "backend"} {
			if script.kind != "" && script.kind != kind {
				continue
			}
			for _, mode := range []string{"simple", "text", "binary"} {
				t.Run(script.name+"/"+kind+"/"+mode, func(t *testing.T) {
					ours, theirs := openDiffConn(t, ctx, kinds[kind]), openDiffConn(t, ctx, copyDSN)
					// On a backend database, a catalog query naming no
					// helios_proxy table is relayed, and OIDs are the
					// backend's: the copy's stand in for them.
					ours.fill, theirs.fill = fill[kind], copyFill
					for _, st := range script.stmts {
						if mode == "simple" && st.bound || mode != "simple" && st.simpleOnly {
							continue
						}
						if st.statusOnly && kind != "status" {
							skipped++
							continue
						}
						got, want := ours.run(ctx, st, mode), theirs.run(ctx, st, mode)
						if kind == "status" {
							want.mapOIDs(oidMap, mode == "binary")
						}
						got.mask(st.except)
						want.mask(st.except)
						if mode == "binary" {
							// regproc, int2vector and oidvector go as
							// text in binary too (statusdb/doc.go §
							// Deviations).
							got.maskTypes(24, 22, 30)
							want.maskTypes(24, 22, 30)
						}
						if st.columns {
							got.rows, want.rows = nil, nil
							for _, a := range []*diffAnswer{&got, &want} {
								for i, tag := range a.tags {
									a.tags[i], _, _ = strings.Cut(tag, " ")
								}
							}
						}
						if st.shape {
							if len(got.rows) != len(want.rows) {
								t.Errorf("differential.sql:%d %s: %d rows, PostgreSQL %d", st.line, st.sql, len(got.rows), len(want.rows))
							}
							got.rows, want.rows = nil, nil
						}
						compared++
						if g, w := got.String(), want.String(); g != w {
							differs++
							t.Errorf("differential.sql:%d %s\n     got %s\nPostgreSQL %s", st.line, st.sql, g, w)
						}
					}
				})
			}
		}
	}
	t.Logf("%d statements; %d comparisons (statement × protocol mode × kind of database), %d differ; %d known differences not compared", total, compared, differs, skipped)

	// psql's describing commands: every catalog query they send (psql -E
	// shows them) goes through the proxy, the output must be the same.
	commands := map[string][]string{
		"status": {`\d helios_proxy.*`, `\d+ helios_proxy.circuit_breaker_status`, `\d helios_proxy.backends`, `\dt helios_proxy.*`, `\dt+ helios_proxy.*`, `\dn`, `\dn+`, `\dn helios_proxy`, `\dv helios_proxy.*`, `\d nope`, `\dt`,
			`\df`, `\df helios_proxy.*`, `\da`, `\sv helios_proxy.backends`, `\sv+ helios_proxy.circuit_events`, `\dp helios_proxy.*`, `\di helios_proxy.*`, `\ds`, `\dm`, `\dT helios_proxy.*`, `\dD`},
		"backend": {`\d helios_proxy.*`, `\d+ helios_proxy.circuit_breaker_status`, `\d helios_proxy.backends`, `\dt helios_proxy.*`, `\dt+ helios_proxy.*`, `\dn helios_proxy`, `\dn+ helios_proxy`, `\dv helios_proxy.*`, `\d+ helios_proxy.cluster_members`,
			`\df helios_proxy.*`, `\sv helios_proxy.backends`, `\dp helios_proxy.*`, `\di helios_proxy.*`},
	}
	psql := filepath.Join(c.BinDir, "psql")
	for _, kind := range []string{"status", "backend"} {
		for _, cmd := range commands[kind] {
			t.Run("psql/"+kind+"/"+cmd, func(t *testing.T) {
				args := []string{"-X", "-c", cmd}
				if strings.HasPrefix(cmd, `\dt+`) {
					// Each table's size differs (the proxy's are in memory,
					// the copy's take a page on disk) and with it the
					// aligned column's width: unaligned output, sizes
					// masked.
					args = append(args, "-A")
				}
				run := func(dsn string) string {
					out, err := exec.CommandContext(ctx, psql, append(args, "-d", dsn)...).CombinedOutput()
					if err != nil {
						return fmt.Sprintf("%s\nexit: %v", out, err)
					}
					return string(out)
				}
				got, want := run(kinds[kind]), run(copyDSN)
				sizes := regexp.MustCompile(`\|\d+ (bytes|kB)\|`)
				got, want = sizes.ReplaceAllString(got, "|size|"), sizes.ReplaceAllString(want, "|size|")
				if got != want {
					t.Errorf("psql %s:\n%s\nPostgreSQL:\n%s", cmd, got, want)
				}
			})
		}
	}
}

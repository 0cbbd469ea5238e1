package statusdb

import (
	"slices"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// EXPLAIN of a status query answers what is true of it: PostgreSQL's
// planner never sees it, so there is no plan tree, cost or row estimate
// to show. It answers, as PostgreSQL's EXPLAIN does in text format, one
// text column "QUERY PLAN" whose rows say that the proxy evaluates the
// statement in memory over its status snapshot, and which helios_proxy
// tables (and catalogs) it reads; EXPLAIN ANALYZE runs the statement and
// adds the rows it returned. Options other than ANALYZE and FORMAT are
// accepted and change nothing; a FORMAT other than TEXT is 0A000, since
// a JSON, XML or YAML plan would invent a structure. The statement
// explained is planned first, so its errors (42P01, 42703, a write's
// 42501, ...) are EXPLAIN's, as in PostgreSQL.

// explainRel is an EXPLAIN's rows.
type explainRel struct {
	inner   *Stmt
	lines   []string
	analyze bool
}

func (e *explainRel) rows(x *evalCtx) [][]value {
	lines := e.lines
	if e.analyze {
		n := len(e.inner.body.rows(x))
		lines = append(slices.Clip(lines), "  Rows returned: "+strconv.Itoa(n))
	}
	out := make([][]value, len(lines))
	for i, l := range lines {
		out[i] = []value{{s: l}}
	}
	return out
}

// explainStmt plans EXPLAIN over a statement inner prepares; refs are
// the relations the whole statement names.
func explainStmt(sql string, e *pg.ExplainStmt, inner func(*pg.Node) (*Stmt, error), refs relRefs) (*Stmt, error) {
	analyze := false
	for _, o := range e.Options {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		arg := strings.ToLower(defString(d.Arg))
		switch d.Defname {
		case "analyze":
			analyze = arg == "" || arg == "true" || arg == "on" || arg == "1"
		case "format":
			if arg != "text" {
				return nil, (&Error{Code: codeFeature, Message: "EXPLAIN of a helios_proxy query supports only FORMAT TEXT",
					Hint: "The statement is evaluated in memory by HeliosProxy: there is no PostgreSQL plan tree to describe."}).at(sql, d.Location)
			}
		case "verbose", "costs", "settings", "buffers", "wal", "timing", "summary":
		default:
			return nil, (&Error{Code: codeSyntax, Message: "unrecognized EXPLAIN option \"" + d.Defname + "\""}).at(sql, d.Location)
		}
	}
	q, err := inner(e.Query)
	if err != nil {
		return nil, err
	}
	if q.body == nil {
		return nil, unsupported("EXPLAIN of this statement")
	}
	var names []string
	for _, rv := range refs.helios {
		names = append(names, schemaName+"."+rv.Relname)
	}
	for _, rv := range refs.catalog {
		schema := rv.Schemaname
		if schema == "" {
			schema = "pg_catalog"
		}
		names = append(names, schema+"."+rv.Relname)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	lines := []string{"HeliosProxy in-memory evaluation (no PostgreSQL plan: the proxy answers this statement from its status snapshot, without a backend)"}
	if len(names) > 0 {
		lines = append(lines, "  Reads: "+strings.Join(names, ", "))
	}
	rel := &explainRel{inner: q, lines: lines, analyze: analyze}
	return &Stmt{sql: sql, tag: "EXPLAIN", cols: []Column{{Name: "QUERY PLAN", OID: tText.oid()}}, outTypes: []typ{tText},
		body: rel, events: q.events, paramTypes: q.paramTypes, paramOIDs: q.paramOIDs}, nil
}

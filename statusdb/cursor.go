package statusdb

import (
	"math"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Statements around a status query that the caller carries out with the
// rows the statement computes (protocol fidelity, issue 12 item 4):
// DECLARE ... CURSOR FOR <query>, FETCH, MOVE and CLOSE (Stmt.Declare,
// Stmt.Fetch), COPY (<query>) TO STDOUT (Stmt.Copy), and EXPLAIN, which
// answers rows of its own (explain.go).

// Declare is a DECLARE CURSOR over a status query: the caller computes
// Query's rows and keeps them under Name until FETCH, MOVE and CLOSE use
// them, as PostgreSQL keeps a portal.
type Declare struct {
	Name  string
	Query *Stmt
	// Binary: DECLARE BINARY, whose rows FETCH returns in binary format.
	Binary bool
	// Scroll says whether FETCH may go backwards: SCROLL, or neither SCROLL
	// nor NO SCROLL over a query PostgreSQL's plan could scan backwards
	// (one table or none, without grouping, aggregates, windows or
	// DISTINCT: Stmt.scrollable).
	Scroll bool
	// Hold: WITH HOLD, which outlives the transaction that commits it and
	// may be declared outside a transaction block.
	Hold bool
}

// FetchAll is Fetch.Count for ALL.
const FetchAll = math.MaxInt64

// FetchDirection is how FETCH and MOVE move, as PostgreSQL's grammar
// reduces NEXT, PRIOR, FIRST, LAST, ABSOLUTE, RELATIVE, FORWARD and
// BACKWARD to four directions and a count.
type FetchDirection uint8

const (
	FetchForward FetchDirection = iota
	FetchBackward
	FetchAbsolute
	FetchRelative
)

// Fetch is a FETCH, MOVE or CLOSE statement (Stmt.Fetch).
type Fetch struct {
	Name      string // the cursor; "" for CLOSE ALL
	Move      bool
	Close     bool
	Direction FetchDirection
	Count     int64 // FetchAll for ALL
}

// Declare returns the cursor a DECLARE statement declares, or nil.
func (s *Stmt) Declare() *Declare { return s.declare }

// Fetch returns what a FETCH, MOVE or CLOSE statement does, or nil.
func (s *Stmt) Fetch() *Fetch { return s.fetch }

// declareStmt plans DECLARE over a query inner prepares.
func declareStmt(sql string, d *pg.DeclareCursorStmt, inner func(*pg.Node) (*Stmt, error)) (*Stmt, error) {
	// CURSOR_OPT_* of PostgreSQL's parsenodes.h.
	const optBinary, optScroll, optNoScroll, optHold = 0x1, 0x2, 0x4, 0x20
	q, err := inner(d.Query)
	if err != nil {
		return nil, err
	}
	if !q.ReturnsRows() || q.tag != "" {
		return nil, unsupported("DECLARE CURSOR over this statement")
	}
	dc := &Declare{Name: d.Portalname, Query: q, Binary: d.Options&optBinary != 0, Hold: d.Options&optHold != 0}
	switch {
	case d.Options&optScroll != 0:
		dc.Scroll = true
	case d.Options&optNoScroll == 0:
		dc.Scroll = q.scrollable()
	}
	return &Stmt{sql: sql, tag: "DECLARE CURSOR", declare: dc, events: q.events, paramTypes: q.paramTypes, paramOIDs: q.paramOIDs}, nil
}

// scrollable reports whether PostgreSQL's plan for the statement could
// run backwards (ExecSupportsBackwardScan): a scan of one table (or of
// none) without grouping, aggregates, windows or DISTINCT.
func (s *Stmt) scrollable() bool {
	q := s.q
	return q != nil && q.from == nil && !q.grouped && len(q.aggs) == 0 && len(q.windows) == 0 && !q.distinct && len(q.distinctOn) == 0
}

// cursorStmt plans FETCH, MOVE and CLOSE; ok is false for other
// statements.
func cursorStmt(sql string, n *pg.Node) (st *Stmt, ok bool) {
	switch n := n.Node.(type) {
	case *pg.Node_FetchStmt:
		f := n.FetchStmt
		fe := &Fetch{Name: f.Portalname, Move: f.Ismove, Count: f.HowMany}
		switch f.Direction {
		case pg.FetchDirection_FETCH_BACKWARD:
			fe.Direction = FetchBackward
		case pg.FetchDirection_FETCH_ABSOLUTE:
			fe.Direction = FetchAbsolute
		case pg.FetchDirection_FETCH_RELATIVE:
			fe.Direction = FetchRelative
		}
		tag := "FETCH"
		if f.Ismove {
			tag = "MOVE"
		}
		return &Stmt{sql: sql, tag: tag, fetch: fe}, true
	case *pg.Node_ClosePortalStmt:
		tag := "CLOSE CURSOR"
		if n.ClosePortalStmt.Portalname == "" {
			tag = "CLOSE CURSOR ALL"
		}
		return &Stmt{sql: sql, tag: tag, fetch: &Fetch{Name: n.ClosePortalStmt.Portalname, Close: true}}, true
	case *pg.Node_DeclareCursorStmt:
		// Only its name, for PrepareCursor: a DECLARE that is not ours
		// may still clash with a cursor of ours.
		return &Stmt{sql: sql, tag: "DECLARE CURSOR", declare: &Declare{Name: n.DeclareCursorStmt.Portalname}}, true
	}
	return nil, false
}

// IsCursorCommand is the check for a session of a backend database that
// holds cursors over status queries: could sql be FETCH, MOVE, CLOSE or
// DECLARE (its first word, after spaces and comments)? Such a statement
// names no helios_proxy relation, so Mentions does not see it;
// PrepareCursor then says whether it is one.
func IsCursorCommand(sql []byte) bool {
	for len(sql) > 0 {
		switch c := sql[0]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '(':
			sql = sql[1:]
			continue
		case c == '-' && len(sql) > 1 && sql[1] == '-':
			i := strings.IndexByte(string(sql), '\n')
			if i < 0 {
				return false
			}
			sql = sql[i+1:]
			continue
		case c == '/' && len(sql) > 1 && sql[1] == '*':
			i := strings.Index(string(sql[2:]), "*/")
			if i < 0 {
				return false
			}
			sql = sql[i+4:]
			continue
		}
		break
	}
	for _, w := range []string{"fetch", "move", "close", "declare"} {
		if len(sql) > len(w) && strings.EqualFold(string(sql[:len(w)]), w) {
			c := sql[len(w)]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80) {
				return true
			}
		}
	}
	return false
}

// PrepareCursor plans a FETCH, MOVE or CLOSE statement for a session of a
// backend database that holds cursors over status queries, which then
// looks at Stmt.Fetch's name: a cursor of its own, or one of the
// backend's, to relay the statement to. For a DECLARE it returns a Stmt
// whose Declare has only the Name (Query nil), so that a caller can
// refuse a name its own cursors hold. Any other statement is
// ErrNotStatusQuery.
func (db *DB) PrepareCursor(sql string) (*Stmt, error) {
	return db.prepareCached(sql, nil, prepCursor)
}

// prepareCursor is what PrepareCursor caches.
func prepareCursor(sql string) (*Stmt, error) {
	tree, err := parse(sql)
	if err != nil {
		return nil, ErrNotStatusQuery // the backend reports it
	}
	if len(tree.Stmts) == 1 {
		if st, ok := cursorStmt(sql, tree.Stmts[0].Stmt); ok {
			return st, nil
		}
	}
	return nil, ErrNotStatusQuery
}

// innerPrepare prepares a statement nested in another (DECLARE's query,
// COPY's, EXPLAIN's) as prepareTree prepares a whole one: positions stay
// those in sql.
func innerPrepare(sql string, declared []uint32, standalone bool) func(*pg.Node) (*Stmt, error) {
	return func(n *pg.Node) (*Stmt, error) {
		return prepareTree(sql, &pg.ParseResult{Stmts: []*pg.RawStmt{{Stmt: n}}}, declared, standalone)
	}
}

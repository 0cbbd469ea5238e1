package statusdb

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
	"google.golang.org/protobuf/reflect/protoreflect"
)

const schemaName = "helios_proxy"

// declaredType maps a parameter type OID a client declares in Parse to
// the type the evaluator uses; 0 means "infer it".
func declaredType(oid uint32) (typ, bool) {
	switch oid {
	case 0, pgtype.UnknownOID:
		return tUnknown, true
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.QCharOID:
		return tText, true
	case pgtype.Int2OID, pgtype.Int4OID:
		return tInt4, true
	case pgtype.Int8OID:
		return tInt8, true
	case pgtype.Float4OID, pgtype.Float8OID:
		return tFloat8, true
	case pgtype.NumericOID:
		return tNumeric, true
	case pgtype.BoolOID:
		return tBool, true
	case pgtype.TimestamptzOID, pgtype.TimestampOID:
		return tTimestamptz, true
	case pgtype.IntervalOID:
		return tInterval, true
	}
	if elem, ok := arrayElemOIDs[oid]; ok {
		t, _ := declaredType(elem)
		return t | tArray, true
	}
	return 0, false
}

// prepare parses and plans one statement; it is what DB.Prepare caches.
// declared are the parameter types given by the client (0: infer).
func prepare(sql string, declared []uint32) (*Stmt, error) {
	return prepareFor(sql, declared, 0)
}

// prepareFor is prepare, for the status database when standalone
// (PrepareStandalone).
func prepareFor(sql string, declared []uint32, mode prepMode) (*Stmt, error) {
	if mode&prepCursor != 0 {
		return prepareCursor(sql)
	}
	standalone := mode&prepStandalone != 0
	tree, err := parse(sql)
	if err != nil {
		return nil, err
	}
	pathName, pathLoc := "", int32(-1)
	if mode != 0 && len(tree.Stmts) == 1 {
		pathName, pathLoc = qualifyOnPath(tree.Stmts[0].Stmt)
	}
	st, err := prepareTree(sql, tree, declared, standalone)
	if st != nil && pathName != "" && standalone && st.ReturnsRows() {
		st.pathName, st.pathLoc = pathName, pathLoc
	}
	if st != nil && len(st.paramOIDs) > 0 && len(tree.Stmts) == 1 {
		walk(tree.Stmts[0].Stmt.ProtoReflect(), func(m protoreflect.Message) {
			if p, ok := m.Interface().(*pg.ParamRef); ok && st.firstParam == nil {
				st.firstParam = errorf(codeUndefinedParameter, "there is no parameter $%d", p.Number).at(sql, p.Location)
			}
		})
	}
	return st, err
}

func prepareTree(sql string, tree *pg.ParseResult, declared []uint32, standalone bool) (*Stmt, error) {
	var refs relRefs
	for _, raw := range tree.Stmts {
		refs.scan(raw.Stmt.ProtoReflect())
	}
	refs.finish()
	if len(tree.Stmts) == 1 {
		if st, err, ok := ddl(sql, tree.Stmts[0].Stmt); ok {
			if err != nil {
				return nil, err
			}
			return st, nil
		}
	}
	if len(refs.helios) == 0 {
		if standalone || catalogOnSchema(tree, refs) {
			return prepareStandalone(sql, tree, refs, declared)
		}
		return nil, ErrNotStatusQuery
	}
	if len(tree.Stmts) > 1 {
		return nil, errorf(codeSyntax, "cannot insert multiple commands into a prepared statement")
	}
	switch n := tree.Stmts[0].Stmt.Node.(type) {
	case *pg.Node_SelectStmt:
		if refs.other != nil {
			return nil, mixed(sql, refs.other)
		}
		st, err := analyzeSelect(sql, n.SelectStmt, declared)
		if err != nil {
			return nil, err
		}
		return st, nil
	case *pg.Node_InsertStmt:
		return nil, write(sql, "INSERT", n.InsertStmt.Relation, refs)
	case *pg.Node_UpdateStmt:
		return nil, write(sql, "UPDATE", n.UpdateStmt.Relation, refs)
	case *pg.Node_DeleteStmt:
		return nil, write(sql, "DELETE", n.DeleteStmt.Relation, refs)
	case *pg.Node_MergeStmt:
		return nil, write(sql, "MERGE", n.MergeStmt.Relation, refs)
	case *pg.Node_TruncateStmt:
		return nil, write(sql, "TRUNCATE", refs.helios[0], refs)
	case *pg.Node_LockStmt:
		target := refs.helios[0]
		if err := write(sql, "LOCK", target, refs); err.Code != codeInsufficientPriv {
			return nil, err
		}
		accessShare := n.LockStmt.Mode == 1 // AccessShareLock
		return &Stmt{sql: sql, tag: "LOCK TABLE", utility: func(s *Session) *Error {
			switch {
			case !s.InBlock:
				return errorf("25P01", "LOCK TABLE can only be used in transaction blocks")
			case accessShare:
				return nil // the proxy's tables change under no lock
			}
			// Every other lock mode needs more than the SELECT privilege.
			return errorf(codeInsufficientPriv, "permission denied for table %s", target.Relname)
		}}, nil
	case *pg.Node_CopyStmt:
		if n.CopyStmt.IsFrom {
			return nil, write(sql, "COPY FROM", refs.helios[0], refs)
		}
		st, err, _ := copyStmt(sql, n.CopyStmt, innerPrepare(sql, declared, standalone))
		if err != nil {
			return nil, err
		}
		return st, nil
	case *pg.Node_DeclareCursorStmt:
		return declareStmt(sql, n.DeclareCursorStmt, innerPrepare(sql, declared, standalone))
	case *pg.Node_ExplainStmt:
		return explainStmt(sql, n.ExplainStmt, innerPrepare(sql, declared, standalone), refs)
	}
	return nil, &Error{Code: codeFeature, Message: "only SELECT is supported on helios_proxy tables",
		Hint: "The helios_proxy schema is answered by HeliosProxy itself; see the statusdb package documentation."}
}

// parseError converts the parser's error: positions are already 1-based
// characters.
func parseError(err error) *Error {
	var pe *parser.Error
	if errors.As(err, &pe) {
		return &Error{Code: codeSyntax, Message: pe.Message, Position: pe.Cursorpos}
	}
	return &Error{Code: codeSyntax, Message: err.Error()}
}

func mixed(sql string, loc *int32) *Error {
	e := &Error{Code: codeFeature, Message: "helios_proxy tables cannot be combined with backend tables",
		Detail: "The helios_proxy schema is answered by HeliosProxy from its own state, not by a backend database.",
		Hint:   "Query the helios_proxy tables on their own."}
	return e.at(sql, *loc)
}

// write refuses a statement that would change a helios_proxy table.
func write(sql, verb string, target *pg.RangeVar, refs relRefs) *Error {
	if target == nil || target.Schemaname != schemaName {
		return mixed(sql, &refs.helios[0].Location)
	}
	if tables[target.Relname] == nil {
		return errorf(codeUndefinedTable, "relation \"%s.%s\" does not exist", schemaName, target.Relname).at(sql, target.Location)
	}
	// As PostgreSQL refuses it to a role holding only SELECT.
	return errorf(codeInsufficientPriv, "permission denied for table %s", target.Relname)
}

// relRefs is what a statement reads from: helios_proxy relations and
// anything else (a backend's table, view or set-returning function). An
// unqualified name that a WITH of the statement defines is neither.
type relRefs struct {
	helios []*pg.RangeVar
	// catalog are the pg_catalog and information_schema relations it
	// reads, which statusdb answers too (catalog.go).
	catalog []*pg.RangeVar
	other   *int32 // location of the first other relation, nil if none
	// candidates are the other relations in order (nil: a function),
	// until finish drops the names of WITH queries.
	candidates []*pg.RangeVar
	ctes       map[string]bool
	// series counts the set-returning functions in FROM that statusdb
	// answers (srf.go).
	series int
	// named: a string constant names the schema ('helios_proxy',
	// 'helios_proxy.backends'::regclass, '^(helios_proxy)$').
	named bool
	// resolved: a string constant naming the schema is resolved as a
	// name ('helios_proxy.backends'::regclass, to_regclass(...),
	// has_table_privilege(...)).
	resolved bool
}

func (r *relRefs) scan(m protoreflect.Message) { walk(m, r.visit) }

func (r *relRefs) visit(m protoreflect.Message) {
	switch v := m.Interface().(type) {
	case *pg.RangeVar:
		if v.Schemaname == schemaName {
			r.helios = append(r.helios, v)
		} else if isCatalogRef(v) {
			r.catalog = append(r.catalog, v)
		} else {
			r.candidates = append(r.candidates, v)
		}
	case *pg.RangeFunction:
		if seriesFunctions(v) {
			r.series++
		} else {
			r.candidates = append(r.candidates, nil)
		}
	case *pg.RangeTableFunc:
		r.candidates = append(r.candidates, nil)
	case *pg.A_Const:
		r.named = r.named || namesSchema(v)
	case *pg.TypeCast:
		if c := v.Arg.GetAConst(); c != nil && namesSchema(c) && v.TypeName != nil && len(v.TypeName.Names) > 0 {
			r.resolved = r.resolved || strings.HasPrefix(v.TypeName.Names[len(v.TypeName.Names)-1].GetString_().GetSval(), "reg")
		}
	case *pg.FuncCall:
		if len(v.Funcname) == 0 {
			break
		}
		switch v.Funcname[len(v.Funcname)-1].GetString_().GetSval() {
		case "to_regclass", "to_regnamespace", "has_table_privilege", "has_schema_privilege", "has_column_privilege", "has_any_column_privilege", "pg_get_serial_sequence":
			for _, a := range v.Args {
				if c := a.GetAConst(); c != nil && namesSchema(c) {
					r.resolved = true
				}
			}
		}
	case *pg.CommonTableExpr:
		if r.ctes == nil {
			r.ctes = make(map[string]bool)
		}
		r.ctes[v.Ctename] = true
	}
}

// finish sets other once the whole statement is scanned. A name of a WITH
// query is taken for one wherever it appears; the analysis refuses it
// where no WITH in scope defines it.
func (r *relRefs) finish() {
	for _, rv := range r.candidates {
		switch {
		case rv == nil:
			loc := int32(-1)
			r.other = &loc
		case rv.Schemaname == "" && r.ctes[rv.Relname]:
			continue
		default:
			r.other = &rv.Location
		}
		return
	}
}

// catalogOnSchema reports whether a statement on a backend database is a
// query of the catalogs about the helios_proxy schema, which the proxy
// answers from its own catalog (the schema and PostgreSQL's built-in
// objects, not the backend's tables): a SELECT that reads catalog
// relations only and names the schema in a string constant, as tools do
// ('helios_proxy.backends'::regclass, nspname = 'helios_proxy').
//
// A SELECT without FROM qualifies when it resolves such a constant as a
// name ('helios_proxy.backends'::regclass, to_regclass, has_*_privilege).
func catalogOnSchema(tree *pg.ParseResult, refs relRefs) bool {
	if len(tree.Stmts) != 1 || refs.other != nil {
		return false
	}
	if _, ok := tree.Stmts[0].Stmt.Node.(*pg.Node_SelectStmt); !ok {
		return false
	}
	if len(refs.catalog) > 0 {
		return refs.named || refs.resolved
	}
	return refs.resolved && len(refs.candidates) == 0 && refs.series == 0
}

// namesSchema reports whether a constant names the helios_proxy schema
// or one of its objects: a string holding the name, or one of their OIDs
// (as a string or a number), which psql sends in its catalog queries
// after it has looked a table up.
func namesSchema(c *pg.A_Const) bool {
	n := int64(c.GetIval().GetIval())
	if sv := c.GetSval(); sv != nil {
		if lower := strings.ToLower(sv.Sval); strings.Contains(lower, schemaName) || strings.Contains(lower, escaped) {
			return true
		}
		n, _ = strconv.ParseInt(sv.Sval, 10, 64)
	} else if fv := c.GetFval(); fv != nil {
		n, _ = strconv.ParseInt(fv.Fval, 10, 64) // beyond int4, the parser's Float
	}
	return n >= int64(catalogOIDBase) && n < int64(relOID(len(tableOrder)))
}

// unknown is the first relation a SELECT on the status database reads
// that does not exist there: one of no schema or another schema than
// PostgreSQL's catalogs, not named like a catalog relation (pg_*, which
// statusdb may just not answer); nil if none.
func (r *relRefs) unknown() *pg.RangeVar {
	for _, rv := range r.candidates {
		switch {
		case rv == nil, rv.Catalogname != "":
			return nil
		case rv.Schemaname == "" && r.ctes[rv.Relname]:
			continue
		case rv.Schemaname == "pg_catalog" || rv.Schemaname == "information_schema" || rv.Schemaname == "" && strings.HasPrefix(rv.Relname, "pg_"):
			return nil
		}
		return rv
	}
	return nil
}

// qualified is rv's name as PostgreSQL's errors write it.
func qualified(rv *pg.RangeVar) string {
	if rv.Schemaname != "" {
		return rv.Schemaname + "." + rv.Relname
	}
	return rv.Relname
}

// plan is an analyzed query level: a SELECT, or a set operation over two
// levels (set).
type plan struct {
	lvl        *queryLevel
	from       *fromPlan // nil: the level reads lvl.tbl directly
	ctes       []*ctePlan
	distinct   bool
	distinctOn []*expr
	outs       []*expr
	cols       []Column // output names; OIDs are filled in for the statement's own columns
	where      *expr
	having     *expr
	group      []*expr
	groupSets  [][]int // GROUPING SETS, ROLLUP, CUBE: indices into group (groupingsets.go)
	sort       []sortSpec
	aggs       []*expr
	wins       []*expr
	specs      []*windowSpec
	srfs       []*expr // set-returning functions of the select list (projectset.go)
	limit      *expr
	offset     *expr
	set        *setPlan
}

// types returns the plan's output types.
func (p *plan) types() []typ {
	out := make([]typ, len(p.outs))
	for i, e := range p.outs {
		out[i] = e.typ
	}
	return out
}

func analyzeSelect(sql string, s *pg.SelectStmt, declared []uint32) (*Stmt, *Error) {
	a := &analyzer{shared: &shared{sql: sql}}
	for i, oid := range declared {
		t, ok := declaredType(oid)
		if !ok {
			return nil, errorf(codeFeature, "parameter $%d of type OID %d is not supported on helios_proxy tables", i+1, oid)
		}
		a.params = append(a.params, t)
	}
	p, err := a.query(s, true)
	if err != nil {
		return nil, err
	}
	cols := slices.Clone(p.cols)
	for i, e := range p.outs {
		if e.typ.isArray() {
			return nil, a.errAt(unsupported("an array result"), e.loc)
		}
		cols[i].OID = e.typ.oid()
		if e.name {
			cols[i].OID = pgtype.NameOID
		}
		if e.pgt != 0 {
			cols[i].OID = e.pgt
		}
	}
	st := &Stmt{sql: sql, cols: cols, paramTypes: make([]typ, len(a.params)), outTypes: p.types(), events: a.events}
	for i, e := range p.outs {
		if e.rec != nil {
			if st.recs == nil {
				st.recs = make([]*recordType, len(cols))
			}
			st.recs[i] = e.rec
		}
	}
	for i, c := range cols {
		if specialWire(c.OID) {
			if st.special == nil {
				st.special = make([]uint32, len(cols))
			}
			st.special[i] = c.OID
		}
	}
	for i, t := range a.params {
		if t == tUnknown {
			if (i >= len(a.used) || !a.used[i]) && st.undetermined == nil {
				// Neither declared nor referred to: PostgreSQL cannot
				// deduce it.
				st.undetermined = errorf("42P18", "could not determine data type of parameter $%d", i+1)
			}
			t = tText
		}
		st.paramTypes[i] = t
		oid := t.oid()
		if i < len(declared) && declared[i] != 0 && declared[i] != pgtype.UnknownOID {
			oid = declared[i] // as PostgreSQL, describe the type the client declared
		}
		st.paramOIDs = append(st.paramOIDs, oid)
	}
	rel, err := compileRelation(sql, p)
	if err != nil {
		return nil, err
	}
	st.body = rel
	st.q, _ = rel.(*query)
	return st, nil
}

// query analyzes a SELECT, a set operation or a subquery as the level of
// a. resolve says whether output columns of unknown type become text, as
// everywhere but in the branches of a set operation, whose types the
// operation settles.
func (a *analyzer) query(s *pg.SelectStmt, resolve bool) (*plan, *Error) {
	var outer *queryLevel
	if a.outer != nil {
		outer = a.outer.lvl
	}
	a.lvl = &queryLevel{outer: outer}
	var ctes []*ctePlan
	if s.WithClause != nil {
		var err *Error
		if ctes, err = a.with(s.WithClause); err != nil {
			return nil, err
		}
	}
	var p *plan
	var err *Error
	if s.Op != pg.SetOperation_SETOP_NONE {
		p, err = a.setOperation(s)
	} else {
		p, err = a.selectLevel(s, resolve)
	}
	if err != nil {
		return nil, err
	}
	p.lvl, p.ctes = a.lvl, ctes
	return p, nil
}

// subquery analyzes a subquery (in FROM, or an expression's) as the
// level of a.
func (a *analyzer) subquery(s *pg.SelectStmt) (*plan, *Error) {
	return a.query(s, true)
}

// selectLevel analyzes a SELECT without set operation.
func (a *analyzer) selectLevel(s *pg.SelectStmt, resolve bool) (*plan, *Error) {
	switch {
	case s.IntoClause != nil:
		return nil, unsupported("SELECT INTO")
	case len(s.LockingClause) > 0:
		// Row locks need the UPDATE privilege, which PostgreSQL refuses to
		// a role holding only SELECT.
		for _, f := range s.FromClause {
			if rv := f.GetRangeVar(); rv != nil && rv.Schemaname == schemaName {
				return nil, errorf(codeInsufficientPriv, "permission denied for table %s", rv.Relname)
			}
		}
		return nil, unsupported("SELECT FOR UPDATE/SHARE")
	case len(s.ValuesLists) > 0:
		return nil, unsupported("VALUES")
	case s.GroupDistinct:
		return nil, unsupported("GROUP BY DISTINCT")
	case s.LimitOption == pg.LimitOption_LIMIT_OPTION_WITH_TIES:
		return nil, unsupported("FETCH FIRST WITH TIES")
	}
	p := &plan{}
	if len(s.DistinctClause) > 0 {
		p.distinct = len(s.DistinctClause) == 1 && s.DistinctClause[0].Node == nil
	}
	var err *Error
	if p.from, err = a.fromClause(s.FromClause); err != nil {
		return nil, err
	}
	a.named = s.WindowClause

	// The select list.
	var outs []*expr
	var cols []Column
	a.srfOK = true
	for _, n := range s.TargetList {
		rt := n.GetResTarget()
		if rt == nil || len(rt.Indirection) > 0 {
			return nil, unsupported("this select-list item")
		}
		if cr := rt.Val.GetColumnRef(); cr != nil && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			var q []string
			for _, f := range cr.Fields[:len(cr.Fields)-1] {
				q = append(q, f.GetString_().GetSval())
			}
			o, c, err := a.star(q, cr.Location)
			if err != nil {
				return nil, err
			}
			outs, cols = append(outs, o...), append(cols, c...)
			continue
		}
		a.srfOK = true
		e, err := a.expr(rt.Val)
		a.srfOK = false
		if err != nil {
			return nil, err
		}
		name := rt.Name
		if name == "" {
			name, _ = a.figureColname(rt.Val)
		}
		outs = append(outs, e)
		cols = append(cols, Column{Name: name})
	}

	a.srfOK = false
	if s.WhereClause != nil {
		a.clause, a.winClause, a.srfClause = "WHERE", "WHERE", "WHERE"
		e, err := a.expr(s.WhereClause)
		if err != nil {
			return nil, err
		}
		if p.where, err = a.boolArg(e, "WHERE"); err != nil {
			return nil, err
		}
		if p.from != nil && p.from.kind == fList {
			p.from.filter = p.where
		}
	}
	if s.HavingClause != nil {
		a.clause, a.winClause, a.srfClause = "", "HAVING", "HAVING"
		e, err := a.expr(s.HavingClause)
		if err != nil {
			return nil, err
		}
		if p.having, err = a.boolArg(e, "HAVING"); err != nil {
			return nil, err
		}
	}
	a.clause, a.winClause, a.srfClause = "", "", ""
	for _, n := range s.SortClause {
		k, err := a.sortBy(n, outs, cols)
		if err != nil {
			return nil, err
		}
		p.sort = append(p.sort, k)
	}
	if err := a.groupClause(p, s.GroupClause, outs, cols); err != nil {
		return nil, err
	}
	if len(s.DistinctClause) > 0 && !p.distinct {
		if err := a.distinctOn(p, s.DistinctClause, outs, cols); err != nil {
			return nil, err
		}
	}
	if p.offset, err = a.limit(s.LimitOffset, "OFFSET"); err != nil {
		return nil, err
	}
	if p.limit, err = a.limit(s.LimitCount, "LIMIT"); err != nil {
		return nil, err
	}

	// Output types, now that parameters used elsewhere are typed.
	for i, e := range outs {
		if e.typ == tUnknown && e.kind == eParam && a.params[e.idx] != tUnknown {
			r := *e
			r.typ = a.params[e.idx]
			e = &r
		}
		if resolve {
			e = a.unknownToText(e)
		}
		outs[i] = e
	}
	for i, e := range outs {
		cols[i].mod = typmodOf(e) + 1
	}
	p.outs, p.cols = outs, cols
	p.aggs, p.wins, p.specs, p.srfs = a.aggs, a.wins, a.specs, a.srfs
	if err := a.srfPlacement(p); err != nil {
		return nil, err
	}
	if p.distinct {
		for i := range p.sort {
			if p.sort[i].out < 0 {
				key := p.sort[i].e.key()
				for j, o := range outs {
					if o.key() == key {
						p.sort[i].out = j
						break
					}
				}
			}
			if p.sort[i].out < 0 {
				return nil, a.errAt(errorf(codeInvalidColumnRef, "for SELECT DISTINCT, ORDER BY expressions must appear in select list"), p.sort[i].e.loc)
			}
		}
	}
	return p, nil
}

// sortBy analyzes one ORDER BY item.
func (a *analyzer) sortBy(n *pg.Node, outs []*expr, cols []Column) (sortSpec, *Error) {
	sb := n.GetSortBy()
	if sb == nil || sb.SortbyDir == pg.SortByDir_SORTBY_USING {
		return sortSpec{}, unsupported("ORDER BY USING")
	}
	e, out, err := a.targetEntry(sb.Node, outs, cols, "ORDER BY")
	if err != nil {
		return sortSpec{}, err
	}
	if err := a.orderable(e, sb.Node, sb.Location, "ordering"); err != nil {
		return sortSpec{}, err
	}
	return newSortSpec(e, out, sb), nil
}

// newSortSpec is the sort by e (output column out, or -1) in the
// direction and NULL placement sb asks for.
func newSortSpec(e *expr, out int, sb *pg.SortBy) sortSpec {
	k := sortSpec{e: e, out: out, desc: sb.SortbyDir == pg.SortByDir_SORTBY_DESC}
	k.nullsFirst = k.desc
	switch sb.SortbyNulls {
	case pg.SortByNulls_SORTBY_NULLS_FIRST:
		k.nullsFirst = true
	case pg.SortByNulls_SORTBY_NULLS_LAST:
		k.nullsFirst = false
	}
	return k
}

// distinctOn analyzes DISTINCT ON and orders the level as PostgreSQL's
// transformDistinctOnClause requires: the ORDER BY items must begin with
// the DISTINCT ON expressions, and any of these not in ORDER BY sort after
// it, ascending.
func (a *analyzer) distinctOn(p *plan, list []*pg.Node, outs []*expr, cols []Column) *Error {
	var keys []string
	for _, n := range list {
		e, _, err := a.targetEntry(n, outs, cols, "DISTINCT ON")
		if err != nil {
			return err
		}
		p.distinctOn = append(p.distinctOn, e)
		keys = append(keys, e.key())
	}
	covered := make([]bool, len(keys))
	skipped := false
	for _, k := range p.sort {
		i := slices.Index(keys, k.e.key())
		if i < 0 {
			skipped = true
			continue
		}
		if skipped {
			return a.errAt(errorf(codeInvalidColumnRef, "SELECT DISTINCT ON expressions must match initial ORDER BY expressions"), p.distinctOn[i].loc)
		}
		for j := range keys {
			covered[j] = covered[j] || keys[j] == keys[i]
		}
	}
	for i, e := range p.distinctOn {
		if covered[i] {
			continue
		}
		if skipped {
			return a.errAt(errorf(codeInvalidColumnRef, "SELECT DISTINCT ON expressions must match initial ORDER BY expressions"), e.loc)
		}
		for j := range keys {
			covered[j] = covered[j] || keys[j] == keys[i]
		}
		p.sort = append(p.sort, sortSpec{e: e, out: -1})
	}
	return nil
}

// targetEntry resolves an ORDER BY or GROUP BY item as PostgreSQL's
// findTargetlistEntrySQL92 does: a bare name matching an output column
// (in GROUP BY only when no input column has that name), an output column
// ordinal, or else an expression over the input columns. out is the
// output column used, or -1.
func (a *analyzer) targetEntry(n *pg.Node, outs []*expr, cols []Column, what string) (*expr, int, *Error) {
	if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) == 1 && cr.Fields[0].GetString_() != nil {
		name := cr.Fields[0].GetString_().Sval
		local := false
		if what == "GROUP BY" {
			c, err := a.unqualified(name, cr.Location)
			if err != nil {
				return nil, 0, err
			}
			local = c != nil
		}
		if !local {
			found := -1
			for i, c := range cols {
				if c.Name != name {
					continue
				}
				if found >= 0 && outs[found].key() != outs[i].key() {
					return nil, 0, a.errAt(errorf(codeAmbiguousColumn, "%s %q is ambiguous", what, name), cr.Location)
				}
				if found < 0 {
					found = i
				}
			}
			if found >= 0 {
				return outs[found], found, nil
			}
		}
	}
	if c := n.GetAConst(); c != nil {
		iv, ok := c.Val.(*pg.A_Const_Ival)
		if !ok || c.Isnull {
			return nil, 0, a.errAt(errorf(codeSyntax, "non-integer constant in %s", what), c.Location)
		}
		pos := int(iv.Ival.Ival)
		if pos < 1 || pos > len(outs) {
			return nil, 0, a.errAt(errorf(codeInvalidColumnRef, "%s position %d is not in select list", what, pos), c.Location)
		}
		return outs[pos-1], pos - 1, nil
	}
	e, err := a.expr(n)
	if err != nil {
		return nil, 0, err
	}
	return a.unknownToText(e), -1, nil
}

func (a *analyzer) limit(n *pg.Node, what string) (*expr, *Error) {
	if n == nil {
		return nil, nil
	}
	a.clause, a.srfClause = what, what
	e, err := a.expr(n)
	if err != nil {
		return nil, err
	}
	if ok, loc := e.hasColumn(); ok {
		return nil, a.errAt(errorf(codeInvalidColumnRef, "argument of %s must not contain variables", what), loc)
	}
	switch {
	case e.typ == tUnknown, e.typ == tInt4, e.typ == tInt8:
		r, err := a.coerce(e, tInt8)
		if err != nil {
			return nil, err
		}
		return r, nil
	case e.typ == tFloat8:
		return &expr{kind: eCast, typ: tInt8, args: []*expr{e}, loc: e.loc, scale: -1}, nil
	}
	return nil, a.errAt(errorf(codeDatatypeMismatch, "argument of %s must be type bigint, not type %s", what, e.typ), e.loc)
}

// sqlValueNames are the column names of the SQL value functions we answer.
var sqlValueNames = map[pg.SQLValueFunctionOp]string{
	pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP:   "current_timestamp",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N: "current_timestamp",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_USER:        "current_user",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_ROLE:        "current_role",
	pg.SQLValueFunctionOp_SVFOP_USER:                "user",
	pg.SQLValueFunctionOp_SVFOP_SESSION_USER:        "session_user",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:     "current_catalog",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:      "current_schema",
}

// figureColname names a select-list item as PostgreSQL's
// FigureColnameInternal does: the column or function name, the type of a
// cast of something nameless, "case", or "?column?".
func (sh *shared) figureColname(n *pg.Node) (string, int) {
	if n == nil {
		return "?column?", 0
	}
	switch v := n.Node.(type) {
	case *pg.Node_ColumnRef:
		if s := v.ColumnRef.Fields[len(v.ColumnRef.Fields)-1].GetString_(); s != nil {
			return s.Sval, 2
		}
	case *pg.Node_FuncCall:
		if s := v.FuncCall.Funcname[len(v.FuncCall.Funcname)-1].GetString_(); s != nil {
			return s.Sval, 2
		}
	case *pg.Node_AExpr:
		if v.AExpr.Kind == pg.A_Expr_Kind_AEXPR_NULLIF {
			return "nullif", 2
		}
	case *pg.Node_TypeCast:
		name, strength := sh.figureColname(v.TypeCast.Arg)
		if strength <= 1 && v.TypeCast.TypeName != nil && len(v.TypeCast.TypeName.Names) > 0 {
			if s := v.TypeCast.TypeName.Names[len(v.TypeCast.TypeName.Names)-1].GetString_(); s != nil {
				return s.Sval, 1
			}
		}
		return name, strength
	case *pg.Node_CaseExpr:
		name, strength := sh.figureColname(v.CaseExpr.Defresult)
		if strength <= 1 {
			return "case", 1
		}
		return name, strength
	case *pg.Node_CoalesceExpr:
		return "coalesce", 2
	case *pg.Node_GroupingFunc:
		return "grouping", 2
	case *pg.Node_AArrayExpr:
		return "array", 2
	case *pg.Node_AIndirection:
		name := ""
		for _, i := range v.AIndirection.Indirection {
			if s := i.GetString_(); s != nil {
				name = s.Sval
			}
		}
		if name != "" {
			return name, 2
		}
		return sh.figureColname(v.AIndirection.Arg)
	case *pg.Node_MinMaxExpr:
		if v.MinMaxExpr.Op == pg.MinMaxOp_IS_LEAST {
			return "least", 2
		}
		return "greatest", 2
	case *pg.Node_CollateClause:
		return sh.figureColname(v.CollateClause.Arg)
	case *pg.Node_SqlvalueFunction:
		if name, ok := sqlValueNames[v.SqlvalueFunction.Op]; ok {
			return name, 2
		}
	case *pg.Node_SubLink:
		switch v.SubLink.SubLinkType {
		case pg.SubLinkType_EXISTS_SUBLINK:
			return "exists", 2
		case pg.SubLinkType_ARRAY_SUBLINK:
			return "array", 2
		case pg.SubLinkType_EXPR_SUBLINK:
			// The subquery's column, as analyzed.
			if name, ok := sh.subNames[v.SubLink]; ok {
				return name, 2
			}
		}
	}
	return "?column?", 0
}

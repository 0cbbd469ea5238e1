package statusdb

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// The FROM clause: helios_proxy tables, subqueries, CTEs and joins.
// A level that reads one table (the common case) reads it directly, each
// column through its getter; any other FROM clause is materialized into
// rows of values, one tuple per combination, and columns read the tuple.

type fromKind uint8

const (
	fTable fromKind = iota // a helios_proxy table
	fSub                   // a subquery (its own level)
	fCTE                   // a WITH query, cteUp levels out
	fSelf                  // a recursive CTE's reference to itself: the working table
	fJoin                  // left JOIN right
	fList                  // FROM a, b, ...: every combination
	fFunc                  // unnest(array) or generate_series(...) (srf.go)
)

// fromPlan is an analyzed FROM item.
type fromPlan struct {
	kind  fromKind
	width int // values in the item's tuple
	tbl   *table
	sub   *plan
	cte   *ctePlan
	up    int // fCTE, fSelf: levels out to the WITH that defines it
	// fJoin: the tuple is left's, then right's, then the merged USING
	// columns that neither side holds as such.
	jt          pg.JoinType
	left, right *fromPlan
	on          *expr   // over left's and right's values
	merged      []*expr // the merged columns' slots
	parts       []*fromPlan
	filter      *expr // fList: the level's WHERE, whose conditions are checked as soon as their columns are there (pushdown.go)
	srf         *expr // fFunc: the call, its arguments analyzed at this level
	lateral     bool  // fSub: LATERAL, run per row of the items before it (lateral.go)
}

// fromItem is a FROM item with the names it brings.
type fromItem struct {
	plan  *fromPlan
	items []*rangeItem // the namespace entries, positions relative to the item's tuple
	top   *rangeItem   // the item's own entry: the columns USING, NATURAL and * see
}

// directTable returns the helios_proxy table a FROM clause consisting of
// it alone reads, which a level then reads without materializing.
func directTable(list []*pg.Node) *table {
	if len(list) != 1 {
		return nil
	}
	rv := list[0].GetRangeVar()
	if rv == nil || rv.Catalogname != "" {
		return nil
	}
	return relationNamed(rv)
}

// relationNamed returns the helios_proxy table or catalog relation rv
// names, or nil. An unqualified name is a pg_catalog relation's, as
// pg_catalog is searched first (a WITH query of the name is resolved
// before this).
func relationNamed(rv *pg.RangeVar) *table {
	switch rv.Schemaname {
	case schemaName:
		return tables[rv.Relname]
	case "pg_catalog", "information_schema":
		return lookupCatalog(rv.Schemaname, rv.Relname)
	case "":
		return lookupCatalog("", rv.Relname)
	}
	return nil
}

// isCatalogRef reports whether rv names a catalog relation statusdb
// answers: pg_catalog.x, information_schema.x, or an unqualified pg_catalog
// relation name.
func isCatalogRef(rv *pg.RangeVar) bool {
	return rv.Catalogname == "" && rv.Schemaname != schemaName && relationNamed(rv) != nil
}

// fromClause analyzes the FROM list and makes its names the level's
// scope. It returns nil for a level that reads a table directly (or, with
// no FROM, one empty row), and sets a.lvl.tbl for it.
func (a *analyzer) fromClause(list []*pg.Node) (*fromPlan, *Error) {
	if len(list) == 0 {
		a.lvl.tbl = oneRow
		return nil, nil
	}
	var all []*rangeItem
	var parts []*fromPlan
	width := 0
	for _, n := range list {
		var f *fromItem
		var err *Error
		if r := lateralSubselect(n); r != nil {
			f, err = a.lateralItem(r, all)
		} else {
			f, err = a.fromItem(n)
		}
		if err != nil {
			return nil, err
		}
		items := f.items
		if width > 0 {
			items = shiftAll(items, width)
		}
		if err := a.conflicts(all, items); err != nil {
			return nil, err
		}
		all = append(all, items...)
		parts = append(parts, f.plan)
		width += f.plan.width
	}
	a.scope = all
	if t := directTable(list); t != nil {
		a.lvl.tbl = t
		return nil, nil
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return &fromPlan{kind: fList, width: width, parts: parts}, nil
}

func shiftAll(items []*rangeItem, off int) []*rangeItem {
	out := make([]*rangeItem, len(items))
	for i, it := range items {
		out[i] = it.shifted(off)
	}
	return out
}

// conflicts refuses two FROM items of one level with the same name.
func (a *analyzer) conflicts(have, adding []*rangeItem) *Error {
	for _, x := range adding {
		for _, y := range have {
			if x.relVisible && y.relVisible && x.name == y.name {
				return errorf("42712", "table name %q specified more than once", x.name)
			}
		}
	}
	return nil
}

func (a *analyzer) fromItem(n *pg.Node) (*fromItem, *Error) {
	switch v := n.Node.(type) {
	case *pg.Node_RangeVar:
		return a.rangeVar(v.RangeVar)
	case *pg.Node_RangeSubselect:
		return a.rangeSubselect(v.RangeSubselect)
	case *pg.Node_JoinExpr:
		return a.join(v.JoinExpr)
	case *pg.Node_RangeFunction:
		return a.rangeFunction(v.RangeFunction)
	}
	return nil, unsupported("this FROM item")
}

// aliased names an item's columns as an alias list says, checking its
// length; names are the item's own column names.
func (a *analyzer) aliased(rel string, names []string, alias *pg.Alias) ([]string, *Error) {
	if alias == nil || len(alias.Colnames) == 0 {
		return names, nil
	}
	if len(alias.Colnames) > len(names) {
		return nil, errorf(codeInvalidColumnRef, "table %q has %d columns available but %d columns specified", rel, len(names), len(alias.Colnames))
	}
	out := append([]string(nil), names...)
	for i, c := range alias.Colnames {
		out[i] = c.GetString_().GetSval()
	}
	return out, nil
}

// relItem is the item of a table, subquery or CTE with the given columns.
func relItem(name string, tbl *table, names []string, types []typ, flags []*expr) *rangeItem {
	it := &rangeItem{name: name, table: tbl, relVisible: true, colsVisible: true}
	for i, n := range names {
		c := rangeCol{name: n, typ: types[i], pos: i, src: [2]string{name, n}}
		if flags != nil {
			c.isName, c.pgt, c.rec = flags[i].name, flags[i].pgt, flags[i].rec
			c.mod = typmodOf(flags[i]) + 1
		}
		it.cols = append(it.cols, c)
	}
	return it
}

func (a *analyzer) rangeVar(rv *pg.RangeVar) (*fromItem, *Error) {
	if rv.Catalogname != "" {
		return nil, errorf(codeFeature, "cross-database references are not implemented: %s.%s.%s", rv.Catalogname, rv.Schemaname, rv.Relname).at(a.sql, rv.Location)
	}
	name := rv.Relname
	if rv.Alias != nil {
		name = rv.Alias.Aliasname
	}
	if rv.Schemaname == "" {
		if it, err := a.cteRef(rv, name); err == nil || lookupCatalog("", rv.Relname) == nil {
			return it, err
		}
	}
	tbl := relationNamed(rv)
	if rv.Schemaname != schemaName && rv.Schemaname != "pg_catalog" && rv.Schemaname != "information_schema" && rv.Schemaname != "" {
		return nil, mixed(a.sql, &rv.Location)
	}
	if tbl == nil {
		full := rv.Relname
		if rv.Schemaname != "" {
			full = rv.Schemaname + "." + rv.Relname
		}
		return nil, errorf(codeUndefinedTable, "relation %q does not exist", full).at(a.sql, rv.Location)
	}
	a.events = a.events || tbl.name == "circuit_events"
	plan := &fromPlan{kind: fTable, tbl: tbl, width: len(tbl.cols)}
	if rv.Alias == nil {
		// The common case: the table's own names, shared.
		it := &rangeItem{name: name, table: tbl, cols: tableCols[tbl], relVisible: true, colsVisible: true}
		return &fromItem{plan: plan, items: []*rangeItem{it}, top: it}, nil
	}
	names := make([]string, len(tbl.cols))
	types := make([]typ, len(tbl.cols))
	for i, c := range tbl.cols {
		names[i], types[i] = c.name, c.typ
	}
	names, err := a.aliased(name, names, rv.Alias)
	if err != nil {
		return nil, err
	}
	it := relItem(name, nil, names, types, nil)
	for i, c := range tbl.cols {
		it.cols[i].pgt, it.cols[i].mod = c.pgt, c.mod
	}
	return &fromItem{plan: plan, items: []*rangeItem{it}, top: it}, nil
}

// tableCols are the columns of each table named without alias, which
// analyses share and never modify.
var tableCols = map[*table][]rangeCol{}

func init() {
	add := func(tbl *table) {
		names := make([]string, len(tbl.cols))
		types := make([]typ, len(tbl.cols))
		for i, c := range tbl.cols {
			names[i], types[i] = c.name, c.typ
		}
		cols := relItem(tbl.name, nil, names, types, nil).cols
		for i, c := range tbl.cols {
			cols[i].pgt, cols[i].mod = c.pgt, c.mod
		}
		tableCols[tbl] = cols
	}
	for _, tbl := range tables {
		add(tbl)
	}
	for _, tbl := range catalogs {
		add(tbl)
	}
}

// cteRef is a FROM item naming a WITH query of this level or an
// enclosing one; any other unqualified name is a backend's relation.
func (a *analyzer) cteRef(rv *pg.RangeVar, name string) (*fromItem, *Error) {
	for up, an := 0, a; an != nil; up, an = up+1, an.outer {
		for _, c := range an.ctes {
			if c.name != rv.Relname {
				continue
			}
			for b := a; b != an; b = b.outer {
				b.correlated = true
			}
			names, err := a.aliased(name, c.names, rv.Alias)
			if err != nil {
				return nil, err
			}
			it := relItem(name, nil, names, c.types, c.flags)
			for i := range it.cols {
				it.cols[i].mod = c.mods[i]
			}
			kind := fCTE
			if c.building {
				kind = fSelf
				c.selfRefs++
			}
			return &fromItem{plan: &fromPlan{kind: kind, cte: c, up: up, width: len(names)}, items: []*rangeItem{it}, top: it}, nil
		}
	}
	return nil, mixed(a.sql, &rv.Location)
}

func (a *analyzer) rangeSubselect(r *pg.RangeSubselect) (*fromItem, *Error) {
	if r.Lateral {
		return nil, unsupported("LATERAL")
	}
	sel := r.Subquery.GetSelectStmt()
	if sel == nil {
		return nil, unsupported("this subquery")
	}
	if r.Alias == nil {
		// PostgreSQL 15's grammar refuses it, pointing at the parenthesis.
		e := &Error{Code: codeSyntax, Message: "subquery in FROM must have an alias", Hint: "For example, FROM (SELECT ...) [AS] foo."}
		return nil, e.at(a.sql, openParen(a.sql, sel))
	}
	p, err := a.child().subquery(sel)
	if err != nil {
		return nil, err
	}
	name := r.Alias.Aliasname
	names := make([]string, len(p.cols))
	for i, c := range p.cols {
		names[i] = c.Name
	}
	if names, err = a.aliased(name, names, r.Alias); err != nil {
		return nil, err
	}
	it := relItem(name, nil, names, p.types(), p.outs)
	for i := range it.cols {
		it.cols[i].mod = p.cols[i].mod // a set operation's, not its left side's
	}
	return &fromItem{plan: &fromPlan{kind: fSub, sub: p, width: len(names)}, items: []*rangeItem{it}, top: it}, nil
}

// openParen finds the outermost parenthesis before a parenthesized
// SELECT, which the parse tree does not locate: the one before its first
// select-list item; -1 if there is none.
func openParen(sql string, s *pg.SelectStmt) int32 {
	for s.Larg != nil {
		s = s.Larg
	}
	if len(s.TargetList) == 0 {
		return -1
	}
	i := int(s.TargetList[0].GetResTarget().GetLocation())
	for i > 0 && i <= len(sql) && sql[i-1] != '(' {
		i--
	}
	if i <= 0 {
		return -1
	}
	i--
	for i > 0 && (sql[i-1] == '(' || isArraySpace(sql[i-1])) {
		i--
	}
	for sql[i] != '(' {
		i++
	}
	return int32(i)
}

func (a *analyzer) join(j *pg.JoinExpr) (*fromItem, *Error) {
	if j.JoinUsingAlias != nil {
		return nil, unsupported("an alias for JOIN USING")
	}
	l, err := a.fromItem(j.Larg)
	if err != nil {
		return nil, err
	}
	var r *fromItem
	if lr := lateralSubselect(j.Rarg); lr != nil {
		if j.Jointype == pg.JoinType_JOIN_RIGHT || j.Jointype == pg.JoinType_JOIN_FULL {
			return nil, unsupported("LATERAL in a RIGHT or FULL JOIN")
		}
		r, err = a.lateralItem(lr, l.items)
	} else {
		r, err = a.fromItem(j.Rarg)
	}
	if err != nil {
		return nil, err
	}
	lw, rw := l.plan.width, r.plan.width
	rItems := shiftAll(r.items, lw)
	rTop := r.top.shifted(lw)
	if err := a.conflicts(l.items, rItems); err != nil {
		return nil, err
	}
	f := &fromPlan{kind: fJoin, jt: j.Jointype, left: l.plan, right: r.plan}
	top := &rangeItem{colsVisible: true}

	// USING and NATURAL: the columns both sides have, merged.
	var using []string
	if j.IsNatural {
		for _, c := range l.top.cols {
			if len(rTop.find(c.name)) > 0 {
				using = append(using, c.name)
			}
		}
	}
	for _, n := range j.UsingClause {
		name := n.GetString_().GetSval()
		for _, u := range using {
			if u == name {
				return nil, errorf("42701", "column name %q appears more than once in USING clause", name)
			}
		}
		using = append(using, name)
	}
	saved := a.scope
	defer func() { a.scope = saved }()
	a.scope = append(append([]*rangeItem(nil), l.items...), rItems...)
	mergedPos := map[*rangeCol]bool{}
	for _, name := range using {
		lc, err := usingColumn(l.top, name, "left")
		if err != nil {
			return nil, err
		}
		rc, err := usingColumn(rTop, name, "right")
		if err != nil {
			return nil, err
		}
		mergedPos[lc], mergedPos[rc] = true, true
		le, re := a.columnExpr(a, 0, lc, -1), a.columnExpr(a, 0, rc, -1)
		cond, err := a.binary("=", le, re, -1)
		if err != nil {
			return nil, err
		}
		f.on = andExpr(f.on, cond)
		t, err := a.commonType("JOIN/USING", []*expr{le, re})
		if err != nil {
			return nil, err
		}
		col := rangeCol{name: name, typ: t, src: lc.src}
		switch {
		case f.jt == pg.JoinType_JOIN_FULL:
			col.pos = lw + rw + len(f.merged)
			l2, _ := a.coerce(le, t)
			r2, _ := a.coerce(re, t)
			f.merged = append(f.merged, &expr{kind: eCoalesce, typ: t, args: []*expr{l2, r2}, loc: -1})
		case f.jt == pg.JoinType_JOIN_RIGHT && rc.typ == t:
			col.pos, col.src, col.mod = rc.pos, rc.src, rc.mod
		case f.jt != pg.JoinType_JOIN_RIGHT && lc.typ == t:
			col.pos, col.mod = lc.pos, lc.mod
		default:
			src := le
			if f.jt == pg.JoinType_JOIN_RIGHT {
				src, col.src = re, rc.src
			}
			col.pos = lw + rw + len(f.merged)
			c, _ := a.coerce(src, t)
			f.merged = append(f.merged, c)
		}
		top.cols = append(top.cols, col)
	}
	if j.Quals != nil {
		a.clause, a.winClause = "JOIN conditions", "JOIN conditions"
		e, err := a.expr(j.Quals)
		if err != nil {
			return nil, err
		}
		a.clause, a.winClause = "", ""
		if f.on, err = a.boolArg(e, "JOIN/ON"); err != nil {
			return nil, err
		}
	}
	for _, side := range []*rangeItem{l.top, rTop} {
		for i := range side.cols {
			if !mergedPos[&side.cols[i]] {
				top.cols = append(top.cols, side.cols[i])
			}
		}
	}
	f.width = lw + rw + len(f.merged)
	if j.Alias != nil {
		names := make([]string, len(top.cols))
		for i, c := range top.cols {
			names[i] = c.name
		}
		names, err := a.aliased(j.Alias.Aliasname, names, j.Alias)
		if err != nil {
			return nil, err
		}
		for i := range top.cols {
			top.cols[i].name = names[i]
		}
		top.name, top.relVisible = j.Alias.Aliasname, true
		return &fromItem{plan: f, items: []*rangeItem{top}, top: top}, nil
	}
	var items []*rangeItem
	for _, it := range append(append([]*rangeItem(nil), l.items...), rItems...) {
		hidden := *it
		hidden.colsVisible = false
		items = append(items, &hidden)
	}
	return &fromItem{plan: f, items: append(items, top), top: top}, nil
}

// usingColumn finds a USING column on one side of a join.
func usingColumn(it *rangeItem, name, side string) (*rangeCol, *Error) {
	cols := it.find(name)
	switch len(cols) {
	case 0:
		return nil, errorf(codeUndefinedColumn, "column %q specified in USING clause does not exist in %s table", name, side)
	case 1:
		return cols[0], nil
	}
	return nil, errorf(codeAmbiguousColumn, "common column name %q appears more than once in %s table", name, side)
}

func andExpr(a, b *expr) *expr {
	if a == nil {
		return b
	}
	return &expr{kind: eAnd, typ: tBool, args: []*expr{a, b}, loc: -1}
}

// source compiles a FROM item into the function that materializes its
// tuples for an evaluation context of the level.
func (c *compiler) source(f *fromPlan) (func(x *evalCtx) [][]value, *Error) {
	switch f.kind {
	case fTable:
		tbl := f.tbl
		return func(x *evalCtx) [][]value {
			n, w := tbl.rows(x.in), len(tbl.cols)
			x.work(n * w)
			rows := make([][]value, n)
			flat := make([]value, n*w)
			tx := evalCtx{in: x.in}
			for i := range n {
				tx.row = i
				row := flat[i*w : (i+1)*w : (i+1)*w]
				for j := range tbl.cols {
					row[j] = tbl.cols[j].get(&tx)
				}
				rows[i] = row
			}
			return rows
		}, nil
	case fSub:
		rel, err := compileRelation(c.sql, f.sub)
		if err != nil {
			return nil, err
		}
		return func(x *evalCtx) [][]value { return rel.rows(x.child()) }, nil
	case fCTE, fSelf:
		cte, up, self := f.cte, f.up, f.kind == fSelf
		return func(x *evalCtx) [][]value {
			for range up {
				x = x.outer
			}
			if self {
				return x.cteState(cte).work
			}
			return x.cteRows(cte)
		}, nil
	case fFunc:
		return c.srfSource(f.srf)
	case fList:
		var parts []func(x *evalCtx) [][]value
		lats := make([]func(x *evalCtx, left []value) [][]value, len(f.parts))
		for i, p := range f.parts {
			if p.lateral {
				lat, err := c.lateralSource(p)
				if err != nil {
					return nil, err
				}
				lats[i] = lat
				parts = append(parts, nil)
				continue
			}
			s, err := c.source(p)
			if err != nil {
				return nil, err
			}
			parts = append(parts, s)
		}
		steps, err := c.pushDown(f)
		if err != nil {
			return nil, err
		}
		return func(x *evalCtx) [][]value {
			rows, w := [][]value{nil}, 0
			for i, p := range parts {
				if lats[i] != nil {
					rows = lateralProduct(x, rows, w, lats[i], f.parts[i].width)
					w += f.parts[i].width
					rows = steps[i].filter(x, rows)
					continue
				}
				rows = steps[i].join(x, rows, p(x), w, w+f.parts[i].width)
				w += f.parts[i].width
			}
			return rows
		}, nil
	}
	return c.joinSource(f)
}

func (c *compiler) joinSource(f *fromPlan) (func(x *evalCtx) [][]value, *Error) {
	left, err := c.source(f.left)
	if err != nil {
		return nil, err
	}
	var right func(x *evalCtx) [][]value
	var lateral func(x *evalCtx, left []value) [][]value
	if f.right.lateral {
		lateral, err = c.lateralSource(f.right)
	} else {
		right, err = c.source(f.right)
	}
	if err != nil {
		return nil, err
	}
	var on evalFn
	if f.on != nil {
		if on, err = c.compile(f.on); err != nil {
			return nil, err
		}
	}
	merged, _, err := c.compileAll(f.merged)
	if err != nil {
		return nil, err
	}
	lw, rw, w := f.left.width, f.right.width, f.width
	lkeys, rkeys, types := equiKeys(f.on, lw)
	lkey, _, err := c.compileAll(lkeys)
	if err != nil {
		return nil, err
	}
	if lateral != nil {
		lkey = nil // no index: the right rows differ from one left row to the next
	}
	rkey, _, err := c.compileAll(rkeys)
	if err != nil {
		return nil, err
	}
	keepLeft := f.jt == pg.JoinType_JOIN_LEFT || f.jt == pg.JoinType_JOIN_FULL
	keepRight := f.jt == pg.JoinType_JOIN_RIGHT || f.jt == pg.JoinType_JOIN_FULL
	return func(x *evalCtx) [][]value {
		ls := left(x)
		var rs [][]value
		if lateral == nil {
			rs = right(x)
		}
		jx := *x
		jx.src = nil
		var out [][]value
		emit := func(l, r []value) {
			x.work(w)
			t := make([]value, w)
			fill(t[:lw], l)
			fill(t[lw:lw+rw], r)
			jx.tuple = t
			for i, m := range merged {
				t[lw+rw+i] = m(&jx)
			}
			out = append(out, t)
		}
		scratch := make([]value, w)
		// With equality conditions between the sides, each left row meets
		// only the right rows with its keys (NULL keys meet none).
		var index map[string][]int
		var buf []byte
		keyOf := func(fns []evalFn) (string, bool) {
			jx.tuple = scratch
			var ok bool
			buf, ok = joinKey(&jx, fns, types, buf)
			return string(buf), ok
		}
		if lkey != nil {
			index = make(map[string][]int, len(rs))
			for j, r := range rs {
				copy(scratch[lw:], r)
				if k, ok := keyOf(rkey); ok {
					index[k] = append(index[k], j)
				}
			}
		}
		matchedRight := make([]bool, len(rs))
		try := func(l []value, j int) bool {
			r := rs[j]
			if on != nil {
				copy(scratch[lw:], r)
				jx.tuple = scratch
				if !isTrue(on(&jx)) {
					return false
				}
			}
			matchedRight[j] = true
			emit(l, r)
			return true
		}
		for _, l := range ls {
			if lateral != nil {
				rs = lateral(x, padded(l, lw))
				matchedRight = make([]bool, len(rs))
			}
			matched := false
			copy(scratch, l)
			if index != nil {
				if k, ok := keyOf(lkey); ok {
					x.work(len(index[k]))
					for _, j := range index[k] {
						matched = try(l, j) || matched
					}
				}
			} else {
				x.work(len(rs))
				for j := range rs {
					matched = try(l, j) || matched
				}
			}
			if !matched && keepLeft {
				emit(l, nil)
			}
		}
		if keepRight {
			for j, r := range rs {
				if !matchedRight[j] {
					emit(nil, r)
				}
			}
		}
		return out
	}, nil
}

// equiKeys finds the conditions l = r among the conjuncts of a join's
// condition where l reads only the left side's columns and r only the
// right's (lw values), for a hash join: it returns both sides' keys and
// the types they are compared as. The whole condition is still checked
// for each pair the keys bring together.
func equiKeys(on *expr, lw int) (lkeys, rkeys []*expr, types []typ) {
	for _, e := range conjuncts(on) {
		if e.kind != eCompare || e.op != "=" {
			continue
		}
		l, r := e.args[0], e.args[1]
		ls, rs := side(l, lw), side(r, lw)
		switch {
		case ls == 1 && rs == 2:
		case ls == 2 && rs == 1:
			l, r = r, l
		default:
			continue
		}
		lkeys, rkeys, types = append(lkeys, l), append(rkeys, r), append(types, e.cmp)
	}
	return lkeys, rkeys, types
}

// side reports which side of a join e reads: 1 left, 2 right, 0 neither
// or both (or something a hash key cannot hold, such as a subquery).
func side(e *expr, lw int) int {
	switch e.kind {
	case eSubLink, eWindow, eAgg, eArrayOp:
		return -1
	case eColumn:
		switch {
		case e.up > 0:
			return 0
		case e.idx < lw:
			return 1
		}
		return 2
	}
	s := 0
	for _, a := range e.args {
		switch as := side(a, lw); {
		case as < 0 || s != 0 && as != 0 && as != s:
			return -1
		case as != 0:
			s = as
		}
	}
	return s
}

// fill copies src into dst, or NULLs when src is nil (the missing side of
// an outer join).
func fill(dst, src []value) {
	if src == nil {
		for i := range dst {
			dst[i] = null
		}
		return
	}
	copy(dst, src)
}

package statusdb

import (
	"strconv"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// WITH queries. A CTE is a query level nested in the one whose WITH
// defines it; it is materialized the first time an execution of that
// level reads it, and read as often as it is named. WITH RECURSIVE runs
// the recursive branch over the rows the previous round produced (the
// working table) until a round produces none.

// maxRecursiveRows bounds what a recursive CTE may produce: PostgreSQL
// would run a query that never stops for ever, and the proxy must not.
const maxRecursiveRows = 100_000

// ctePlan is an analyzed WITH query.
type ctePlan struct {
	name     string
	names    []string
	types    []typ
	flags    []*expr     // the outputs, for their numeric and name marks
	mods     []int32     // the outputs' type modifiers + 1 (Column.mod)
	plan     *plan       // the query, or the non-recursive branch of a recursive one
	rec      *plan       // the recursive branch; nil if none
	recLvl   *queryLevel // the level of the recursive UNION, between the WITH's and its branches'
	all      bool        // UNION ALL between the branches
	building bool        // the recursive branch is being analyzed: a reference reads the working table
	selfRefs int
	rel, rr  relation
}

// with analyzes a WITH clause and makes its queries visible to the level
// and the levels inside it.
func (a *analyzer) with(w *pg.WithClause) ([]*ctePlan, *Error) {
	var out []*ctePlan
	for _, n := range w.Ctes {
		ce := n.GetCommonTableExpr()
		for _, c := range out {
			if c.name == ce.Ctename {
				return nil, a.errAt(errorf("42712", "WITH query name %q specified more than once", ce.Ctename), ce.Location)
			}
		}
		sel := ce.Ctequery.GetSelectStmt()
		switch {
		case sel == nil:
			return nil, a.errAt(unsupported("a data-modifying statement in WITH"), ce.Location)
		case ce.SearchClause != nil || ce.CycleClause != nil:
			return nil, a.errAt(unsupported("SEARCH and CYCLE"), ce.Location)
		}
		c := &ctePlan{name: ce.Ctename}
		var err *Error
		if w.Recursive && refersTo(sel, ce.Ctename) {
			err = a.recursiveCTE(c, ce, sel)
		} else {
			err = a.plainCTE(c, ce, sel)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		a.ctes = append(a.ctes, c)
	}
	return out, nil
}

// columns names a CTE's columns after its outputs or its column list.
func (a *analyzer) cteColumns(c *ctePlan, ce *pg.CommonTableExpr, p *plan) *Error {
	c.flags, c.types = p.outs, p.types()
	c.mods = make([]int32, len(p.cols))
	for i, col := range p.cols {
		c.mods[i] = col.mod
	}
	c.names = make([]string, len(p.cols))
	for i, col := range p.cols {
		c.names[i] = col.Name
	}
	if len(ce.Aliascolnames) > len(c.names) {
		return a.errAt(errorf(codeInvalidColumnRef, "WITH query %q has %d columns available but %d columns specified", c.name, len(c.names), len(ce.Aliascolnames)), ce.Location)
	}
	for i, n := range ce.Aliascolnames {
		c.names[i] = n.GetString_().GetSval()
	}
	return nil
}

func (a *analyzer) plainCTE(c *ctePlan, ce *pg.CommonTableExpr, sel *pg.SelectStmt) *Error {
	p, err := a.child().subquery(sel)
	if err != nil {
		return err
	}
	c.plan = p
	return a.cteColumns(c, ce, p)
}

// recursiveCTE analyzes non-recursive-term UNION [ALL] recursive-term:
// the first branch types the columns, then the second is analyzed with
// the CTE's name meaning the working table.
func (a *analyzer) recursiveCTE(c *ctePlan, ce *pg.CommonTableExpr, sel *pg.SelectStmt) *Error {
	if sel.Op != pg.SetOperation_SETOP_UNION || refersTo(sel.Larg, c.name) {
		return a.errAt(&Error{Code: "42P19", Message: "recursive query " + strconv.Quote(c.name) + " does not have the form non-recursive-term UNION [ALL] recursive-term"}, ce.Location)
	}
	if len(sel.SortClause) > 0 || sel.LimitCount != nil || sel.LimitOffset != nil || sel.WithClause != nil {
		return a.errAt(unsupported("ORDER BY, LIMIT or WITH in a recursive query"), ce.Location)
	}
	mid := a.child() // the UNION's level
	mid.lvl = &queryLevel{outer: a.lvl}
	left, err := mid.child().query(sel.Larg, true)
	if err != nil {
		return err
	}
	c.plan, c.all, c.recLvl = left, sel.All, mid.lvl
	if err := a.cteColumns(c, ce, left); err != nil {
		return err
	}
	c.building = true
	a.ctes = append(a.ctes, c)
	right, err := mid.child().query(sel.Rarg, false)
	a.ctes = a.ctes[:len(a.ctes)-1]
	c.building = false
	if err != nil {
		return err
	}
	if len(right.outs) != len(left.outs) {
		loc := int32(-1)
		if len(right.outs) > 0 {
			loc = right.outs[0].loc
		}
		return a.errAt(errorf(codeSyntax, "each UNION query must have the same number of columns"), loc)
	}
	for i, lo := range left.outs {
		t, err := a.commonTypeOf("UNION", []*expr{lo, right.outs[i]})
		if err != nil {
			return err
		}
		if t != lo.typ {
			return a.errAt(&Error{Code: codeDatatypeMismatch,
				Message: "recursive query " + strconv.Quote(c.name) + " column " + strconv.Itoa(i+1) + " has type " + lo.typ.String() + " in non-recursive term but type " + t.String() + " overall",
				Hint:    "Cast the output of the non-recursive term to the correct type."}, lo.loc)
		}
		if err := a.coerceOut(right, i, t); err != nil {
			return err
		}
	}
	c.rec = right
	return nil
}

// refersTo reports whether a statement names the relation name without
// schema anywhere (a recursive CTE's reference to itself).
func refersTo(s *pg.SelectStmt, name string) bool {
	var refs relRefs
	refs.scan(s.ProtoReflect())
	for _, rv := range refs.candidates {
		if rv != nil && rv.Schemaname == "" && rv.Relname == name {
			return true
		}
	}
	return false
}

func (c *ctePlan) compile(sql string) *Error {
	var err *Error
	if c.rel, err = compileRelation(sql, c.plan); err != nil {
		return err
	}
	if c.rec != nil {
		if c.rr, err = compileRelation(sql, c.rec); err != nil {
			return err
		}
	}
	return nil
}

// cteState is a WITH query's rows in one execution of its level.
type cteState struct {
	rows, work [][]value
	done       bool
}

func (x *evalCtx) cteState(c *ctePlan) *cteState {
	if x.ctes == nil {
		x.ctes = make(map[*ctePlan]*cteState)
	}
	st := x.ctes[c]
	if st == nil {
		st = &cteState{}
		x.ctes[c] = st
	}
	return st
}

// cteRows returns the rows of c, a WITH query of x's level, computing them
// the first time.
func (x *evalCtx) cteRows(c *ctePlan) [][]value {
	st := x.cteState(c)
	if st.done {
		return st.rows
	}
	if c.rr == nil {
		st.rows = c.rel.rows(x.child())
		st.done = true
		return st.rows
	}
	mid := x.child()
	rows := c.rel.rows(mid.child())
	var seen map[string]bool
	var buf []byte
	distinct := func(in [][]value) [][]value {
		if c.all {
			return in
		}
		out := in[:0:0]
		for _, row := range in {
			buf = appendKey(buf[:0], c.types, row)
			if !seen[string(buf)] {
				seen[string(buf)] = true
				out = append(out, row)
			}
		}
		return out
	}
	if !c.all {
		seen = make(map[string]bool)
	}
	rows = distinct(rows)
	work := rows
	for len(work) > 0 {
		st.work = work
		work = distinct(c.rr.rows(mid.child()))
		rows = append(rows, work...)
		if len(rows) > maxRecursiveRows {
			failErr(&Error{Code: "54000", Message: "recursive query " + strconv.Quote(c.name) + " produced more than " + strconv.Itoa(maxRecursiveRows) + " rows",
				Hint: "HeliosProxy stops recursive queries on the helios_proxy schema at this size; add a condition that ends the recursion."})
		}
	}
	st.rows, st.work, st.done = rows, nil, true
	return rows
}

package statusdb

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// A query level's FROM clause as its expressions see it. Each rangeItem
// is what PostgreSQL puts in the level's namespace: a helios_proxy table,
// a subquery or CTE, or a join, with its columns' positions in the
// level's row. A join without an alias hides the columns of its two sides
// from unqualified names (its own columns, with USING columns merged, are
// what those see) but not their names as qualifiers.

type rangeItem struct {
	name        string // alias, table, CTE or subquery alias; "" for a join without one
	table       *table // the helios_proxy table, if the item is one without alias: also helios_proxy.name.col
	cols        []rangeCol
	relVisible  bool // can qualify a column (t.col, t.*)
	colsVisible bool // its columns can be named unqualified
}

type rangeCol struct {
	name   string
	typ    typ
	pos    int  // in the level's row
	isName bool // text of type name (OID 19)
	pgt    uint32
	rec    *recordType // a record's fields
	mod    int32       // the type modifier + 1 (0: none), of a subquery's column
	// src is the relation and column as PostgreSQL names them in
	// grouping errors ("s"."port"), after join aliases are flattened.
	src [2]string
}

// shifted returns a copy of the item with its positions moved by off, for
// a join's right side.
func (it *rangeItem) shifted(off int) *rangeItem {
	c := *it
	c.cols = make([]rangeCol, len(it.cols))
	for i, col := range it.cols {
		col.pos += off
		c.cols[i] = col
	}
	return &c
}

// find returns the item's columns named name.
func (it *rangeItem) find(name string) []*rangeCol {
	var out []*rangeCol
	for i := range it.cols {
		if it.cols[i].name == name {
			out = append(out, &it.cols[i])
		}
	}
	return out
}

// level says how a query level's columns are read when it runs: straight
// from a helios_proxy table (the common case: column i is the table's
// getter), or from the tuple of its materialized FROM clause.
type queryLevel struct {
	tbl   *table
	outer *queryLevel
}

// get returns the evaluation of column pos of the level up levels out
// from l, for an evaluation context of l.
func (l *queryLevel) get(up, pos int) evalFn {
	for range up {
		l = l.outer
	}
	get := func(x *evalCtx) value { return x.tuple[pos] }
	if l.tbl != nil {
		get = l.tbl.cols[pos].get
	}
	switch up {
	case 0:
		return get
	case 1:
		return func(x *evalCtx) value { return get(x.outer) }
	}
	return func(x *evalCtx) value {
		for range up {
			x = x.outer
		}
		return get(x)
	}
}

// columnRef resolves col, q.col and helios_proxy.table.col at this query
// level, then at the enclosing ones (an outer reference).
func (a *analyzer) columnRef(cr *pg.ColumnRef) (*expr, *Error) {
	names := make([]string, 0, len(cr.Fields))
	for _, f := range cr.Fields {
		s, ok := f.Node.(*pg.Node_String_)
		if !ok {
			return nil, a.errAt(unsupported("* in an expression"), cr.Location)
		}
		names = append(names, s.String_.Sval)
	}
	col, q := names[len(names)-1], names[:len(names)-1]
	if len(q) > 2 {
		return nil, a.errAt(errorf(codeFeature, "cross-database references are not implemented: %s", strings.Join(names, ".")), cr.Location)
	}
	for up, an := 0, a; an != nil; up, an = up+1, an.outer {
		if len(q) == 0 {
			c, err := an.unqualified(col, cr.Location)
			if err != nil {
				return nil, err
			}
			if c != nil {
				return a.columnExpr(an, up, c, cr.Location), nil
			}
			continue
		}
		it := an.qualified(q)
		if it == nil {
			continue
		}
		cols := it.find(col)
		switch {
		case len(cols) > 1:
			return nil, a.errAt(errorf(codeAmbiguousColumn, "column reference %q is ambiguous", col), cr.Location)
		case len(cols) == 0:
			return nil, a.errAt(errorf(codeUndefinedColumn, "column %s.%s does not exist", q[len(q)-1], col), cr.Location)
		}
		return a.columnExpr(an, up, cols[0], cr.Location), nil
	}
	if len(q) > 0 {
		return nil, a.errAt(errorf(codeUndefinedTable, "missing FROM-clause entry for table %q", q[len(q)-1]), cr.Location)
	}
	for an := a; an != nil; an = an.outer {
		if an.qualified([]string{col}) != nil {
			return nil, a.errAt(unsupported("a whole-row reference"), cr.Location)
		}
	}
	return nil, a.errAt(errorf(codeUndefinedColumn, "column %q does not exist", col), cr.Location)
}

// unqualified finds the column name among the items whose columns are
// visible; nil if none has it.
func (a *analyzer) unqualified(name string, loc int32) (*rangeCol, *Error) {
	var found *rangeCol
	for _, it := range a.scope {
		if !it.colsVisible {
			continue
		}
		for i := range it.cols {
			if it.cols[i].name != name {
				continue
			}
			if found != nil {
				return nil, a.errAt(errorf(codeAmbiguousColumn, "column reference %q is ambiguous", name), loc)
			}
			found = &it.cols[i]
		}
	}
	return found, nil
}

// qualified finds the item a qualifier names: an alias, a table or CTE
// name, or helios_proxy.table for a table without alias.
func (a *analyzer) qualified(q []string) *rangeItem {
	for _, it := range a.scope {
		switch {
		case !it.relVisible:
		case len(q) == 1 && it.name == q[0]:
			return it
		case len(q) == 2 && q[0] == schemaName && it.table != nil && it.name == q[1]:
			return it
		}
	}
	return nil
}

// columnExpr is the reference to column c of the level an, up levels out
// from a. An outer reference makes every level in between correlated,
// and is remembered for the grouping check of the level it refers to.
func (a *analyzer) columnExpr(an *analyzer, up int, c *rangeCol, loc int32) *expr {
	e := &expr{kind: eColumn, typ: c.typ, idx: c.pos, up: up, loc: loc, name: c.isName, pgt: c.pgt, rec: c.rec, colName: c.src, mod: c.mod}
	if up > 0 {
		b := a
		for range up - 1 {
			b.correlated = true
			b = b.outer
		}
		b.correlated = true
		b.outerRefs = append(b.outerRefs, e)
	}
	return e
}

// star expands *, or q.* for a qualifier q, into column references.
func (a *analyzer) star(q []string, loc int32) ([]*expr, []Column, *Error) {
	var items []*rangeItem
	if len(q) == 0 {
		for _, it := range a.scope {
			if it.colsVisible {
				items = append(items, it)
			}
		}
		if len(items) == 0 {
			return nil, nil, a.errAt(errorf(codeSyntax, "SELECT * with no tables specified is not valid"), loc)
		}
	} else {
		it := a.qualified(q)
		if it == nil {
			if len(q) > 2 {
				return nil, nil, a.errAt(errorf(codeFeature, "cross-database references are not implemented: %s.*", strings.Join(q, ".")), loc)
			}
			return nil, nil, a.errAt(errorf(codeUndefinedTable, "missing FROM-clause entry for table %q", q[len(q)-1]), loc)
		}
		items = append(items, it)
	}
	var outs []*expr
	var cols []Column
	for _, it := range items {
		for i := range it.cols {
			c := &it.cols[i]
			outs = append(outs, &expr{kind: eColumn, typ: c.typ, idx: c.pos, loc: loc, name: c.isName, pgt: c.pgt, rec: c.rec, colName: c.src, mod: c.mod})
			cols = append(cols, Column{Name: c.name, mod: c.mod})
		}
	}
	return outs, cols, nil
}

package statusdb

import (
	"slices"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// UNION, INTERSECT and EXCEPT [ALL]. Each branch is a query level of its
// own (PostgreSQL analyzes the leaves as subqueries); the operation takes
// its column names from the leftmost branch and settles each column's
// type as select_common_type does, converting the branches' outputs. Its
// ORDER BY may name only result columns.

// setPlan is an analyzed set operation.
type setPlan struct {
	op            string // "UNION", "INTERSECT" or "EXCEPT"
	all           bool
	left, right   *plan
	sort          []sortSpec // by result column (out)
	limit, offset *expr
}

// setOperation analyzes a set operation with its ORDER BY and LIMIT as
// the level of a.
func (a *analyzer) setOperation(s *pg.SelectStmt) (*plan, *Error) {
	switch {
	case s.IntoClause != nil:
		return nil, unsupported("SELECT INTO")
	case len(s.LockingClause) > 0:
		return nil, unsupported("SELECT FOR UPDATE/SHARE")
	case s.LimitOption == pg.LimitOption_LIMIT_OPTION_WITH_TIES:
		return nil, unsupported("FETCH FIRST WITH TIES")
	}
	p, err := a.setTree(s, true)
	if err != nil {
		return nil, err
	}
	// ORDER BY sees the result columns only.
	res := &rangeItem{colsVisible: true}
	for i, o := range p.outs {
		res.cols = append(res.cols, rangeCol{name: p.cols[i].Name, typ: o.typ, pos: i, isName: o.name, pgt: o.pgt})
	}
	a.scope = []*rangeItem{res}
	for _, n := range s.SortClause {
		k, err := a.sortBy(n, p.outs, p.cols)
		if err != nil {
			return nil, err
		}
		switch {
		case k.out >= 0:
		case k.e.kind == eColumn && k.e.up == 0:
			k.out = k.e.idx
		default:
			return nil, a.errAt(&Error{Code: codeFeature, Message: "invalid UNION/INTERSECT/EXCEPT ORDER BY clause",
				Detail: "Only result column names can be used, not expressions or functions.",
				Hint:   "Add the expression/function to every SELECT, or move the UNION into a FROM clause."}, k.e.loc)
		}
		k.e = p.outs[k.out]
		p.set.sort = append(p.set.sort, k)
	}
	if p.set.offset, err = a.limit(s.LimitOffset, "OFFSET"); err != nil {
		return nil, err
	}
	if p.set.limit, err = a.limit(s.LimitCount, "LIMIT"); err != nil {
		return nil, err
	}
	return p, nil
}

// setTree analyzes the operands of a set operation: a branch with its
// own ORDER BY, LIMIT or WITH is a leaf like a plain SELECT.
func (a *analyzer) setTree(s *pg.SelectStmt, top bool) (*plan, *Error) {
	leaf := s.Op == pg.SetOperation_SETOP_NONE ||
		!top && (len(s.SortClause) > 0 || s.LimitCount != nil || s.LimitOffset != nil || s.WithClause != nil || len(s.LockingClause) > 0)
	if leaf {
		return a.child().query(s, false)
	}
	l, err := a.setTree(s.Larg, false)
	if err != nil {
		return nil, err
	}
	r, err := a.setTree(s.Rarg, false)
	if err != nil {
		return nil, err
	}
	what := map[pg.SetOperation]string{pg.SetOperation_SETOP_UNION: "UNION", pg.SetOperation_SETOP_INTERSECT: "INTERSECT", pg.SetOperation_SETOP_EXCEPT: "EXCEPT"}[s.Op]
	if len(l.outs) != len(r.outs) {
		loc := int32(-1)
		if len(r.outs) > 0 {
			loc = r.outs[0].loc
		}
		return nil, a.errAt(errorf(codeSyntax, "each %s query must have the same number of columns", what), loc)
	}
	p := &plan{set: &setPlan{op: what, all: s.All, left: l, right: r}, cols: slices.Clone(l.cols)}
	for i := range p.cols {
		if i < len(r.cols) && r.cols[i].mod != p.cols[i].mod {
			p.cols[i].mod = 0 // the sides' modifiers differ: none
		}
	}
	for i := range l.outs {
		lo, ro := l.outs[i], r.outs[i]
		t, err := a.commonTypeOf(what, []*expr{lo, ro})
		if err != nil {
			return nil, err
		}
		if err := a.coerceOut(l, i, t); err != nil {
			return nil, err
		}
		if err := a.coerceOut(r, i, t); err != nil {
			return nil, err
		}
		p.outs = append(p.outs, &expr{kind: eColumn, typ: t, idx: i, loc: lo.loc, name: lo.name && ro.name, pgt: samePgt(lo, ro)})
	}
	return p, nil
}

// setQuery is a compiled set operation.
type setQuery struct {
	op            string
	all           bool
	left, right   relation
	types         []typ
	sort          []sortKey
	limit, offset evalFn
}

func compileSet(sql string, p *plan) (*setQuery, *Error) {
	sp := p.set
	left, err := compileRelation(sql, sp.left)
	if err != nil {
		return nil, err
	}
	right, err := compileRelation(sql, sp.right)
	if err != nil {
		return nil, err
	}
	q := &setQuery{op: sp.op, all: sp.all, left: left, right: right, types: p.types()}
	for _, s := range sp.sort {
		k := sortKey{out: s.out, typ: s.e.typ, desc: s.desc, nullsFirst: s.nullsFirst}
		k.cmp = k.comparator()
		q.sort = append(q.sort, k)
	}
	c := &compiler{sql: sql, lvl: p.lvl}
	if q.limit, q.offset, err = c.bounds(sp.limit, sp.offset); err != nil {
		return nil, err
	}
	return q, nil
}

func (s *setQuery) rows(x *evalCtx) [][]value {
	l, r := s.left.rows(x.child()), s.right.rows(x.child())
	offset, limit := bound(x, s.offset, 0), bound(x, s.limit, -1)
	var buf []byte
	key := func(row []value) string {
		buf = appendKey(buf[:0], s.types, row)
		return string(buf)
	}
	var out [][]value
	switch {
	case s.op == "UNION" && s.all:
		out = append(append(out, l...), r...)
	case s.op == "UNION":
		seen := make(map[string]bool, len(l)+len(r))
		for _, rows := range [][][]value{l, r} {
			for _, row := range rows {
				if k := key(row); !seen[k] {
					seen[k] = true
					out = append(out, row)
				}
			}
		}
	default:
		// INTERSECT and EXCEPT: count the right rows, then let each left
		// row through (INTERSECT) or not (EXCEPT) while a copy remains.
		count := make(map[string]int, len(r))
		for _, row := range r {
			count[key(row)]++
		}
		seen := make(map[string]bool, len(l))
		for _, row := range l {
			k := key(row)
			if !s.all {
				if seen[k] {
					continue
				}
				seen[k] = true
			}
			inRight := count[k] > 0
			if s.all && inRight {
				count[k]--
			}
			if inRight == (s.op == "INTERSECT") {
				out = append(out, row)
			}
		}
	}
	if len(s.sort) > 0 {
		slices.SortStableFunc(out, func(a, b []value) int {
			for k := range s.sort {
				o := s.sort[k].out
				if c := s.sort[k].cmp(&a[o], &b[o]); c != 0 {
					return c
				}
			}
			return 0
		})
	}
	out = out[min(offset, len(out)):]
	if limit >= 0 && limit < len(out) {
		out = out[:limit]
	}
	return out
}

// samePgt is the PostgreSQL type both branches' column has beside its
// evaluator type (name, oid, an array held as text, ...), or 0.
func samePgt(l, r *expr) uint32 {
	if l.pgt == r.pgt && l.typ == r.typ {
		return l.pgt
	}
	return 0
}

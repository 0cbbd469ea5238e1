package statusdb

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Subqueries in expressions: EXISTS, scalar subqueries, IN/ANY/ALL
// (subquery) and ARRAY(subquery). A subquery is a query level of its own;
// one that refers to nothing outside itself runs once per execution (the
// first time it is needed, as PostgreSQL runs an InitPlan), a correlated
// one once per evaluation.

// subPlan is an analyzed subquery of an expression.
type subPlan struct {
	id         int // numbers the statement's subqueries, for the once-per-execution cache
	kind       pg.SubLinkType
	plan       *plan
	correlated bool
	outerRefs  []*expr // its references to the enclosing level's columns
}

// subPlan analyzes the subquery of a SubLink as a level nested in a's.
func (a *analyzer) subPlan(sl *pg.SubLink) (*subPlan, *Error) {
	sel := sl.Subselect.GetSelectStmt()
	if sel == nil {
		return nil, a.errAt(unsupported("this subquery"), sl.Location)
	}
	sub := a.child()
	p, err := sub.subquery(sel)
	if err != nil {
		return nil, err
	}
	sp := &subPlan{id: a.nsub, kind: sl.SubLinkType, plan: p, correlated: sub.correlated, outerRefs: sub.outerRefs}
	a.nsub++
	switch sl.SubLinkType {
	case pg.SubLinkType_EXPR_SUBLINK, pg.SubLinkType_ARRAY_SUBLINK:
		if len(p.outs) != 1 {
			return nil, a.errAt(errorf(codeSyntax, "subquery must return only one column"), sl.Location)
		}
	case pg.SubLinkType_ANY_SUBLINK, pg.SubLinkType_ALL_SUBLINK:
		switch {
		case len(p.outs) > 1:
			return nil, a.errAt(errorf(codeSyntax, "subquery has too many columns"), sl.Location)
		case len(p.outs) == 0:
			return nil, a.errAt(errorf(codeSyntax, "subquery has too few columns"), sl.Location)
		}
	}
	return sp, nil
}

func (a *analyzer) subLink(sl *pg.SubLink) (*expr, *Error) {
	switch sl.SubLinkType {
	case pg.SubLinkType_EXISTS_SUBLINK, pg.SubLinkType_EXPR_SUBLINK, pg.SubLinkType_ANY_SUBLINK, pg.SubLinkType_ALL_SUBLINK,
		pg.SubLinkType_ARRAY_SUBLINK:
	default:
		return nil, a.errAt(unsupported("this subquery"), sl.Location)
	}
	if sl.Testexpr.GetRowExpr() != nil {
		return nil, a.errAt(unsupported("a row constructor"), sl.Location)
	}
	sp, err := a.subPlan(sl)
	if err != nil {
		return nil, err
	}
	e := &expr{kind: eSubLink, typ: tBool, sub: sp, loc: sl.Location}
	switch sl.SubLinkType {
	case pg.SubLinkType_EXPR_SUBLINK:
		out := sp.plan.outs[0]
		e.typ, e.name, e.pgt = out.typ, out.name, out.pgt
		if a.subNames == nil {
			a.subNames = make(map[*pg.SubLink]string)
		}
		a.subNames[sl] = sp.plan.cols[0].Name
		return e, nil
	case pg.SubLinkType_EXISTS_SUBLINK:
		return e, nil
	case pg.SubLinkType_ARRAY_SUBLINK:
		// An array value is held as its text form, as the catalogs' array
		// columns are (arrayValueOID).
		out := a.unknownToText(sp.plan.outs[0])
		sp.plan.outs[0] = out
		oid, ok := arrayValueOID(out)
		if !ok {
			return nil, a.errAt(unsupported("an array of "+out.typ.String()), sl.Location)
		}
		e.typ, e.pgt = tText, oid
		return e, nil
	}
	// test op ANY/ALL (subquery), IN and NOT IN.
	e.op, e.all = "=", sl.SubLinkType == pg.SubLinkType_ALL_SUBLINK
	if len(sl.OperName) > 0 {
		e.op = opName(sl.OperName)
	}
	test, err := a.expr(sl.Testexpr)
	if err != nil {
		return nil, err
	}
	e.loc = leftmost(test.loc, sl.Location)
	out := sp.plan.outs[0]
	probe := &expr{kind: eConst, typ: out.typ, val: null, loc: out.loc}
	switch {
	case e.op == "~~" || e.op == "!~~" || e.op == "~~*" || e.op == "!~~*":
		c, err := a.like(e.op, test, probe, nil, sl.Location)
		if err != nil {
			return nil, err
		}
		test, e.cmp = c.args[0], tText
	case isComparison(e.op):
		t, l, _, err := a.unify(e.op, test, probe, sl.Location)
		if err != nil {
			return nil, err
		}
		test, e.cmp = l, t
	default:
		return nil, a.errAt(unsupported("operator "+e.op+" with ANY/ALL"), sl.Location)
	}
	if err := a.coerceOut(sp.plan, 0, e.cmp); err != nil {
		return nil, err
	}
	e.args = []*expr{test}
	return e, nil
}

// coerceOut converts output column i of a level to t, in every branch of
// a set operation.
func (a *analyzer) coerceOut(p *plan, i int, t typ) *Error {
	if p.outs[i].typ == t {
		return nil
	}
	if p.set != nil {
		if err := a.coerceOut(p.set.left, i, t); err != nil {
			return err
		}
		if err := a.coerceOut(p.set.right, i, t); err != nil {
			return err
		}
		o := *p.outs[i]
		o.typ = t
		p.outs[i] = &o
		return nil
	}
	c, err := a.coerce(p.outs[i], t)
	if err != nil {
		return err
	}
	if c == nil {
		return a.errAt(errorf(codeDatatypeMismatch, "cannot convert %s to %s", p.outs[i].typ, t), p.outs[i].loc)
	}
	p.outs[i] = c
	return nil
}

// subRows compiles a subquery into the function returning its rows for
// the enclosing level's context: computed once per execution unless it is
// correlated.
func (c *compiler) subRows(sp *subPlan) (func(x *evalCtx) [][]value, *Error) {
	rel, err := compileRelation(c.sql, sp.plan)
	if err != nil {
		return nil, err
	}
	if sp.correlated {
		return func(x *evalCtx) [][]value { return rel.rows(x.child()) }, nil
	}
	id := sp.id
	return func(x *evalCtx) [][]value {
		if rows, ok := x.run.subs[id]; ok {
			return rows
		}
		rows := rel.rows(x.child())
		if x.run.subs == nil {
			x.run.subs = make(map[int][][]value)
		}
		x.run.subs[id] = rows
		return rows
	}, nil
}

func (c *compiler) subLink(e *expr, args []evalFn) (evalFn, *Error) {
	rows, err := c.subRows(e.sub)
	if err != nil {
		return nil, err
	}
	switch e.sub.kind {
	case pg.SubLinkType_EXISTS_SUBLINK:
		return func(x *evalCtx) value { return boolValue(len(rows(x)) > 0) }, nil
	case pg.SubLinkType_EXPR_SUBLINK:
		return func(x *evalCtx) value {
			rs := rows(x)
			switch len(rs) {
			case 0:
				return null
			case 1:
				return rs[0][0]
			}
			fail("21000", "more than one row returned by a subquery used as an expression")
			return null
		}, nil
	case pg.SubLinkType_ARRAY_SUBLINK:
		t := e.sub.plan.outs[0].typ
		return func(x *evalCtx) value {
			rs := rows(x)
			vals := make([]value, len(rs))
			for i, r := range rs {
				vals[i] = r[0]
			}
			return value{s: arrayOut(t, vals, x.loc)}
		}, nil
	}
	test, match, all := args[0], comparer(e.op, e.cmp), e.all
	return func(x *evalCtx) value {
		v := test(x)
		rs := rows(x)
		return quantified(v, len(rs), func(i int) value { return rs[i][0] }, match, all)
	}, nil
}

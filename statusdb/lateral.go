package statusdb

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// LATERAL subqueries in FROM: FROM a, LATERAL (SELECT ... a.x ...) s and
// a [LEFT] JOIN LATERAL (...) s ON ...: the subquery may refer to the FROM
// items before it, and runs once per row of them. It is analyzed as a
// level nested in a pseudo-level whose row is that left row (scope the
// items before it), itself nested where the FROM clause's level is.

// lateralSubselect returns r when it is a LATERAL subquery.
func lateralSubselect(n *pg.Node) *pg.RangeSubselect {
	if r := n.GetRangeSubselect(); r != nil && r.Lateral {
		return r
	}
	return nil
}

// lateralItem analyzes a LATERAL subquery that sees left (positions
// relative to the left row).
func (a *analyzer) lateralItem(r *pg.RangeSubselect, left []*rangeItem) (*fromItem, *Error) {
	var outerLvl *queryLevel
	if a.lvl != nil {
		outerLvl = a.lvl.outer
	}
	la := &analyzer{shared: a.shared, outer: a.outer, lvl: &queryLevel{outer: outerLvl}, scope: left, ctes: a.ctes}
	r.Lateral = false // rangeSubselect refuses LATERAL where nothing is set up for it
	f, err := la.rangeSubselect(r)
	r.Lateral = true
	if err != nil {
		return nil, err
	}
	f.plan.lateral = true
	return f, nil
}

// lateralSource compiles a LATERAL subquery: its rows for a left row.
func (c *compiler) lateralSource(f *fromPlan) (func(x *evalCtx, left []value) [][]value, *Error) {
	rel, err := compileRelation(c.sql, f.sub)
	if err != nil {
		return nil, err
	}
	return func(x *evalCtx, left []value) [][]value {
		if x.ctes == nil {
			x.ctes = make(map[*ctePlan]*cteState)
		}
		lx := x.child()
		lx.outer, lx.tuple, lx.ctes = x.outer, left, x.ctes
		return rel.rows(lx.child())
	}, nil
}

// lateralProduct is every row of rows (w values) followed by each row
// the lateral source gives for it.
func lateralProduct(x *evalCtx, rows [][]value, w int, lat func(x *evalCtx, left []value) [][]value, rw int) [][]value {
	var out [][]value
	for _, l := range rows {
		for _, r := range lat(x, padded(l, w)) {
			x.work(w + rw)
			t := make([]value, w+rw)
			fill(t[:w], l)
			fill(t[w:], r)
			out = append(out, t)
		}
	}
	return out
}

// padded is l as a row of w values (a nil row is all NULL).
func padded(l []value, w int) []value {
	if len(l) == w {
		return l
	}
	t := make([]value, w)
	fill(t, l)
	return t
}

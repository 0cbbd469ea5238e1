package statusdb

import (
	"slices"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// GROUP BY GROUPING SETS, ROLLUP and CUBE, and grouping(): the level's
// GROUP BY expressions are the union of the sets' (plan.group); each set
// is a list of indices into them (plan.groupSets), and a group of a set
// has NULL for the expressions outside it. The groups come out set by
// set, in order of first appearance within a set.

// groupItem analyzes one GROUP BY item into the grouping sets it stands
// for, adding its expressions to p.group.
func (a *analyzer) groupItem(p *plan, n *pg.Node, outs []*expr, cols []Column) ([][]int, *Error) {
	gs := n.GetGroupingSet()
	if gs == nil {
		i, err := a.groupExpr(p, n, outs, cols)
		if err != nil {
			return nil, err
		}
		return [][]int{{i}}, nil
	}
	// list analyzes a parenthesized list (or a single expression) of a
	// ROLLUP or CUBE into one set.
	list := func(n *pg.Node) ([]int, *Error) {
		if g := n.GetGroupingSet(); g != nil && g.Kind == pg.GroupingSetKind_GROUPING_SET_SIMPLE {
			var set []int
			for _, c := range g.Content {
				i, err := a.groupExpr(p, c, outs, cols)
				if err != nil {
					return nil, err
				}
				set = append(set, i)
			}
			return set, nil
		}
		i, err := a.groupExpr(p, n, outs, cols)
		return []int{i}, err
	}
	var sets [][]int
	switch gs.Kind {
	case pg.GroupingSetKind_GROUPING_SET_EMPTY:
		return [][]int{{}}, nil
	case pg.GroupingSetKind_GROUPING_SET_SIMPLE:
		set, err := list(n)
		return [][]int{set}, err
	case pg.GroupingSetKind_GROUPING_SET_ROLLUP, pg.GroupingSetKind_GROUPING_SET_CUBE:
		var parts [][]int
		for _, c := range gs.Content {
			set, err := list(c)
			if err != nil {
				return nil, err
			}
			parts = append(parts, set)
		}
		if gs.Kind == pg.GroupingSetKind_GROUPING_SET_CUBE {
			return cube(parts, a.errAt(errorf("54001", "CUBE is limited to 12 elements"), gs.Location))
		}
		for k := len(parts); k >= 0; k-- {
			sets = append(sets, slices.Concat(parts[:k]...))
		}
	case pg.GroupingSetKind_GROUPING_SET_SETS:
		for _, c := range gs.Content {
			sub, err := a.groupItem(p, c, outs, cols)
			if err != nil {
				return nil, err
			}
			sets = append(sets, sub...)
		}
	default:
		return nil, unsupported("this grouping set")
	}
	return sets, nil
}

// cube is CUBE's sets over its parts: every subset, the whole first.
func cube(parts [][]int, tooMany *Error) ([][]int, *Error) {
	if len(parts) > 12 {
		return nil, tooMany
	}
	var sets [][]int
	for mask := (1 << len(parts)) - 1; mask >= 0; mask-- {
		var set []int
		for i, part := range parts {
			if mask&(1<<(len(parts)-1-i)) != 0 {
				set = append(set, part...)
			}
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// groupExpr analyzes a GROUP BY expression and returns its index in
// p.group, adding it unless an equal one is there.
func (a *analyzer) groupExpr(p *plan, n *pg.Node, outs []*expr, cols []Column) (int, *Error) {
	a.clause, a.winClause = "GROUP BY", "GROUP BY"
	e, _, err := a.targetEntry(n, outs, cols, "GROUP BY")
	if err != nil {
		return 0, err
	}
	if ok, loc := e.hasAgg(); ok {
		return 0, a.errAt(errorf(codeGrouping, "aggregate functions are not allowed in GROUP BY"), loc)
	}
	if ok, loc := e.has(eWindow); ok {
		return 0, a.errAt(errorf(codeWindowing, "window functions are not allowed in GROUP BY"), loc)
	}
	if err := a.orderable(e, n, -1, "equality"); err != nil {
		return 0, err
	}
	k := e.key()
	for i, g := range p.group {
		if g.key() == k {
			return i, nil
		}
	}
	p.group = append(p.group, e)
	return len(p.group) - 1, nil
}

// groupClause analyzes GROUP BY: the sets are the cross product of its
// items' sets; nil when it has no grouping sets.
func (a *analyzer) groupClause(p *plan, items []*pg.Node, outs []*expr, cols []Column) *Error {
	sets := [][]int{{}}
	hasSets := false
	for _, n := range items {
		if n.GetGroupingSet() != nil {
			hasSets = true
		}
		sub, err := a.groupItem(p, n, outs, cols)
		if err != nil {
			return err
		}
		var next [][]int
		for _, s := range sets {
			for _, t := range sub {
				next = append(next, slices.Concat(s, t))
			}
		}
		sets = next
	}
	a.clause, a.winClause = "", ""
	if hasSets && len(p.group) > 64 {
		return unsupported("grouping sets of more than 64 expressions")
	}
	if hasSets {
		p.groupSets = sets
	}
	return nil
}

// groupingFunc types grouping(e, ...): int4, its arguments checked
// against GROUP BY when compiled.
func (a *analyzer) groupingFunc(g *pg.GroupingFunc) (*expr, *Error) {
	if a.clause != "" && a.clause != "GROUP BY" {
		return nil, a.errAt(errorf(codeGrouping, "grouping operations are not allowed in %s", a.clause), g.Location)
	}
	if len(g.Args) > 31 {
		return nil, a.errAt(errorf("54011", "GROUPING must have fewer than 32 arguments"), g.Location)
	}
	args, err := a.exprs(g.Args)
	if err != nil {
		return nil, err
	}
	return &expr{kind: eFunc, op: "grouping", typ: tInt4, args: args, loc: g.Location}, nil
}

// groupingFn compiles grouping(...) in a grouped level: bit i (from the
// left) is set when argument i is not in the group's grouping set.
func (c *compiler) groupingFn(e *expr) (evalFn, *Error) {
	if !c.grouped {
		return nil, errorf(codeGrouping, "arguments to GROUPING must be grouping expressions of the associated query level").at(c.sql, e.loc)
	}
	idx := make([]int, len(e.args))
	for i, a := range e.args {
		idx[i] = slices.Index(c.groupKeys, a.key())
		if idx[i] < 0 {
			return nil, errorf(codeGrouping, "arguments to GROUPING must be grouping expressions of the associated query level").at(c.sql, a.loc)
		}
	}
	return func(x *evalCtx) value {
		r := int64(0)
		for _, k := range idx {
			r <<= 1
			if x.grp.absent&(1<<k) != 0 {
				r |= 1
			}
		}
		return value{n: r}
	}, nil
}

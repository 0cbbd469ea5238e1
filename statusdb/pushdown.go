package statusdb

// FROM a, b, c WHERE ...: instead of forming every combination and then
// filtering, each condition of the WHERE clause (a conjunct) is checked as
// soon as the items it reads have joined the combination, and the
// equalities between the items before and the item joining are hash join
// keys, as for JOIN ... ON. A catalog query of JDBC's joins nine catalog
// relations this way (getImportedKeys); their full product would be far
// beyond the work budget. The WHERE clause is still evaluated over the
// result, so this changes only how much is read.

// listStep is what a FROM list does when its item number i joins: the
// conditions that become checkable then, those reading only the item
// itself (checked on its rows first), and the hash keys.
type listStep struct {
	own          []evalFn // conditions on the item's columns alone
	conds        []evalFn // the other conditions that become checkable
	lkey, rkey   []evalFn // equalities between the items before and this one
	types        []typ
	width, start int // the item's values and where they start in the tuple
}

// pushDown plans the steps of a FROM list f with its level's WHERE
// clause (f.filter).
func (c *compiler) pushDown(f *fromPlan) ([]listStep, *Error) {
	conj := conjuncts(f.filter)
	steps := make([]listStep, len(f.parts))
	start := 0
	for i, p := range f.parts {
		st := &steps[i]
		st.start, st.width = start, p.width
		end := start + p.width
		var joinConds []*expr
		for _, e := range conj {
			lo, hi, ok := columnSpan(e)
			if !ok || hi < start || hi >= end {
				continue // checked at another step, or only by the WHERE clause
			}
			f, err := c.compile(e)
			if err != nil {
				return nil, err
			}
			if lo >= start && !p.lateral {
				st.own = append(st.own, f)
				continue
			}
			st.conds = append(st.conds, f)
			joinConds = append(joinConds, e)
		}
		if len(joinConds) > 0 && !p.lateral {
			var on *expr
			for _, e := range joinConds {
				on = andExpr(on, e)
			}
			lkeys, rkeys, types := equiKeys(on, start)
			var err *Error
			if st.lkey, _, err = c.compileAll(lkeys); err != nil {
				return nil, err
			}
			if st.rkey, _, err = c.compileAll(rkeys); err != nil {
				return nil, err
			}
			st.types = types
		}
		start = end
	}
	return steps, nil
}

// conjuncts are the operands of e's ANDs (none for nil).
func conjuncts(e *expr) []*expr {
	if e == nil {
		return nil
	}
	if e.kind != eAnd {
		return []*expr{e}
	}
	var out []*expr
	for _, a := range e.args {
		out = append(out, conjuncts(a)...)
	}
	return out
}

// columnSpan returns the lowest and highest positions of the level's
// columns e reads; ok is false when it reads none, or holds what cannot
// be checked early (a subquery, an aggregate, a window or set-returning
// function).
func columnSpan(e *expr) (lo, hi int, ok bool) {
	lo, hi = -1, -1
	var walk func(e *expr) bool
	walk = func(e *expr) bool {
		switch e.kind {
		case eSubLink, eWindow, eAgg, eArrayOp, eSRF:
			return false
		case eColumn:
			if e.up == 0 {
				if lo < 0 || e.idx < lo {
					lo = e.idx
				}
				hi = max(hi, e.idx)
			}
		}
		for _, a := range e.args {
			if !walk(a) {
				return false
			}
		}
		return e.filter == nil || walk(e.filter)
	}
	if !walk(e) {
		return 0, 0, false
	}
	return lo, hi, hi >= 0
}

// filter keeps the rows (of the items so far) for which the step's
// conditions hold; a lateral item's rows are checked so.
func (st *listStep) filter(x *evalCtx, rows [][]value) [][]value {
	conds := append(st.own[:len(st.own):len(st.own)], st.conds...)
	if len(conds) == 0 {
		return rows
	}
	jx := *x
	jx.src = nil
	kept := rows[:0]
	for _, r := range rows {
		jx.tuple = r
		if allTrue(&jx, conds) {
			kept = append(kept, r)
		}
	}
	return kept
}

// join combines the rows of the items so far (w values each) with the
// joining item's rows, into tuples of end values.
func (st *listStep) join(x *evalCtx, rows, next [][]value, w, end int) [][]value {
	jx := *x
	jx.src = nil
	scratch := make([]value, end)
	if len(st.own) > 0 {
		kept := make([][]value, 0, len(next))
		for _, r := range next {
			x.work(1)
			copy(scratch[w:], r)
			jx.tuple = scratch
			if allTrue(&jx, st.own) {
				kept = append(kept, r)
			}
		}
		next = kept
	}
	var index map[string][]int
	var buf []byte
	keyOf := func(fns []evalFn) (string, bool) {
		jx.tuple = scratch
		var ok bool
		buf, ok = joinKey(&jx, fns, st.types, buf)
		return string(buf), ok
	}
	if len(st.lkey) > 0 {
		index = make(map[string][]int, len(next))
		for j, r := range next {
			copy(scratch[w:], r)
			if k, ok := keyOf(st.rkey); ok {
				index[k] = append(index[k], j)
			}
		}
	}
	var out [][]value
	try := func(l, r []value) {
		x.work(1)
		fill(scratch[:w], l)
		copy(scratch[w:], r)
		jx.tuple = scratch
		if !allTrue(&jx, st.conds) {
			return
		}
		x.work(end)
		t := make([]value, end)
		copy(t, scratch)
		out = append(out, t)
	}
	for _, l := range rows {
		if index == nil {
			for _, r := range next {
				try(l, r)
			}
			continue
		}
		fill(scratch[:w], l)
		k, ok := keyOf(st.lkey)
		if !ok {
			continue // a NULL key equals nothing
		}
		for _, j := range index[k] {
			try(l, next[j])
		}
	}
	return out
}

// joinKey appends to buf[:0] a hash join's key evaluated over x's
// tuple; false when a part of it is NULL, which equals nothing.
func joinKey(x *evalCtx, fns []evalFn, types []typ, buf []byte) ([]byte, bool) {
	vals := make([]value, len(fns))
	for i, f := range fns {
		if vals[i] = f(x); vals[i].null {
			return buf, false
		}
	}
	return appendKey(buf[:0], types, vals), true
}

func allTrue(x *evalCtx, conds []evalFn) bool {
	for _, f := range conds {
		if !isTrue(f(x)) {
			return false
		}
	}
	return true
}
